"""chain/client/profile.py: a profile as a table, speedscope JSON and folded stacks, with names from .names files."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest

from tests.helpers import ALICE, BOB, CONTRACTS, Sandbox, contract_address
from wasmchain.client.profile import folded_stacks, load_names, profile_table, speedscope, top_functions
from wasmchain.vm import Message
from wasmchain.vm.profile import profile_to_json
from wasmchain.vm.trace import Tracer

TOKEN = contract_address(1)
VAULT = contract_address(2)


def args(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)


@pytest.fixture(scope="module")
def withdraw_profile() -> dict:
    """The profile of a vault withdraw (the vault calls the token)."""
    sandbox = Sandbox()
    sandbox.deploy((CONTRACTS / "token" / "token.wasm").read_bytes(), TOKEN)
    sandbox.deploy((CONTRACTS / "vault" / "vault.wasm").read_bytes(), VAULT)
    assert sandbox.call(TOKEN, "init", args(supply=1_000), caller=ALICE).ok
    assert sandbox.call(VAULT, "init", args(token=TOKEN), caller=ALICE).ok
    assert sandbox.call(TOKEN, "transfer", args(to=VAULT, amount=100), caller=ALICE).ok
    tracer = Tracer(profile=True)
    message = Message(ALICE, VAULT, "withdraw", args(to=BOB, amount=5), 10**8)
    assert sandbox.runtime.execute(sandbox.host, sandbox.env, message, tracer=tracer).ok
    return json.loads(json.dumps(profile_to_json(tracer)))


def test_names_files_load_by_module_hash() -> None:
    names = load_names([CONTRACTS])
    assert {item.label for item in names.values()} == {"counter", "token", "vault"}
    token = next(item for item in names.values() if item.label == "token")
    assert "token::balance" in token.functions.values()


def test_a_bad_names_file_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.names"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="bad.names"):
        load_names([bad])


def test_folded_stacks_sum_to_the_total_and_nest_frames(withdraw_profile: dict) -> None:
    lines = folded_stacks(withdraw_profile, load_names([CONTRACTS]))
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == withdraw_profile["gas"]
    assert lines[0].startswith("vault.withdraw ")  # the frame's own stack: instantiation
    nested = [line for line in lines if "token.transfer" in line]
    assert nested and all(line.startswith("vault.withdraw;withdraw;") for line in nested)
    assert any(";token::" in line for line in nested)  # names from token.names
    assert all(line.count(" ") >= 1 and ";" not in line.rsplit(" ", 1)[1] for line in lines)


def test_without_names_functions_are_numbered(withdraw_profile: dict) -> None:
    lines = folded_stacks(withdraw_profile)
    assert any("func[" in line for line in lines)
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == withdraw_profile["gas"]


def test_speedscope_parses_with_the_total(withdraw_profile: dict) -> None:
    document = json.loads(json.dumps(speedscope(withdraw_profile, load_names([CONTRACTS]))))
    assert document["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    (profile,) = document["profiles"]
    assert profile["type"] == "sampled" and profile["endValue"] == withdraw_profile["gas"]
    assert sum(profile["weights"]) == withdraw_profile["gas"]
    assert len(profile["samples"]) == len(profile["weights"])
    frames = document["shared"]["frames"]
    assert all(0 <= index < len(frames) for sample in profile["samples"] for index in sample)


def test_the_table_lists_top_functions_and_the_total(withdraw_profile: dict) -> None:
    names = load_names([CONTRACTS])
    rows = top_functions(withdraw_profile, names)
    assert sum(row.own for row in rows) == withdraw_profile["gas"]
    text = profile_table(withdraw_profile, names, top=5)
    lines = text.splitlines()
    assert lines[0].split() == ["self", "gas", "share", "total", "gas", "calls", "function"]
    assert len(lines) == 1 + 5 + 1 + 1
    assert f"{withdraw_profile['gas']:,}" in lines[-1]
    assert "[vault] (frame)" in text  # the vault frame's instantiation: 100,000
