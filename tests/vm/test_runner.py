"""``wasmchain vm validate`` and ``wasmchain vm run``, as a contract author uses them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from tests.chain.test_rpc_interface import TOKEN_WIT, with_interface
from tests.helpers import CONTRACTS, GENESIS
from wasmchain.cli.main import main

COUNTER = CONTRACTS / "counter" / "counter.wasm"
TOKEN = CONTRACTS / "token" / "token.wasm"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code, out, _ = run_cli(capsys, *argv, "--json")
    return code, json.loads(out)


def test_counter_twice_against_one_state_file_advances_and_is_byte_identical(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = tmp_path / "counter.json"
    argv = ("vm", "run", str(COUNTER), "--method", "increment", "--state", str(state), "--json")
    first_code, first, _ = run_cli(capsys, *argv)
    second_code, second, _ = run_cli(capsys, *argv)
    assert (first_code, second_code) == (0, 0)
    first_report, second_report = json.loads(first), json.loads(second)
    assert (first_report["return"], second_report["return"]) == (1, 2)
    assert first_report["status"] == "ok" and first_report["error"] is None
    assert set(first_report) >= {"status", "gas_used", "return_hex", "error", "events"}
    # Replaying from the same starting state gives the same bytes.
    replay_state = tmp_path / "replay.json"
    code, replay_first, _ = run_cli(
        capsys, "vm", "run", str(COUNTER), "--method", "increment", "--state", str(replay_state), "--json"
    )
    assert replay_first == first
    code, replay_second, _ = run_cli(
        capsys, "vm", "run", str(COUNTER), "--method", "increment", "--state", str(replay_state), "--json"
    )
    assert replay_second == second
    assert state.read_text() == replay_state.read_text()
    code, got = run_json(capsys, "vm", "run", str(COUNTER), "--method", "get", "--state", str(state))
    assert (code, got["return"]) == (0, 2)


def test_token_through_the_runner(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = tmp_path / "token.json"
    alice, bob = "0x" + "a1" * 20, "0x" + "b0" * 20
    base = ("vm", "run", str(TOKEN), "--state", str(state))
    code, init = run_json(capsys, *base, "--method", "init", "--args", '{"supply": 1000}', "--caller", alice)
    assert code == 0, init
    code, sent = run_json(
        capsys, *base, "--method", "transfer", "--caller", alice, "--args", json.dumps({"to": bob, "amount": 250})
    )
    assert code == 0, sent
    assert [(e["name"], e["data"]) for e in sent["events"]] == [("Transfer", {"from": alice, "to": bob, "amount": 250})]
    # Decoded with the module's interface, as the node's reports decode them: the types used are named.
    assert (init["return_type"], [e["data_type"] for e in init["events"]]) == (None, ["transfer"])
    assert sent["events"][0] == {
        "contract": "0x" + "c0" * 20,
        "name": "Transfer",
        "data": {"from": alice, "to": bob, "amount": 250},
        "data_hex": sent["events"][0]["data_hex"],
        "data_type": "transfer",
    }
    code, balance = run_json(capsys, *base, "--method", "balance_of", "--args", json.dumps({"owner": bob}))
    assert (code, balance["return"], balance["return_type"]) == (0, 250, "u64")
    before = state.read_text()
    code, overdraft = run_json(
        capsys, *base, "--method", "transfer", "--caller", bob, "--args", json.dumps({"to": alice, "amount": 251})
    )
    assert (code, overdraft["status"]) == (1, "abort")
    assert "insufficient balance" in overdraft["error"]
    assert state.read_text() == before  # a failed call leaves the state file alone
    code, supply = run_json(capsys, *base, "--method", "total_supply")
    assert supply["return"] == 1000


def test_validate_reports_methods_and_rejects_with_the_rule(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, report = run_json(capsys, "vm", "validate", str(COUNTER))
    assert code == 0 and report["valid"] and {"increment", "get"} <= set(report["methods"])
    bad = tmp_path / "bad.wat"
    bad.write_text('(module (import "env" "clock" (func)) (memory (export "memory") 1))')
    code, report = run_json(capsys, "vm", "validate", str(bad))
    assert (code, report["valid"], report["rule"]) == (2, False, "import")
    assert "env" in report["error"]
    code, out, err = run_cli(capsys, "vm", "validate", str(bad))
    assert code == 2 and "import" in err and "Traceback" not in err


FLOATS = (
    '(module (memory (export "memory") 1) (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0))))'
)


def test_plain_functions_report_types_and_bits(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    genesis = json.loads(GENESIS.read_text())
    genesis["vm"]["allow_floats"] = True
    floats_genesis = tmp_path / "floats.json"
    floats_genesis.write_text(json.dumps(genesis))
    module = tmp_path / "nan.wat"
    module.write_text(FLOATS)
    code, report = run_json(capsys, "vm", "run", str(module), "--method", "nan", "--genesis", str(floats_genesis))
    assert code == 0
    assert report["results"] == [{"type": "f32", "bits": "0x7fc00000"}]
    # The devnet genesis refuses floats, as the chain would.
    code, refused = run_json(capsys, "vm", "run", str(module), "--method", "nan")
    assert (code, refused["status"]) == (2, "invalid")
    assert "float_instruction" in refused["error"]


LOOP = '(module (memory (export "memory") 1) (func (export "spin") (loop $l (br $l))))'


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--method", "increment", "--args", "{not json"), "--args is not valid JSON"),
        (("--method", "increment", "--args", '{"x": 1.5}'), 'argument "x" is not a parameter of increment'),
        (("--method", "increment", "--input-hex", "zz"), "--input-hex is not hex"),
        (("--method", "increment", "--gas", "0"), "--gas must be positive"),
        (("--method", "increment", "--caller", "0x12"), "--caller must be 0x followed by 40 hex digits"),
        (("--method", "nope"), 'no method "nope"'),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_error(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, report = run_json(capsys, "vm", "run", str(COUNTER), *argv)
    assert code == 2
    assert message in report["error"]


def test_a_declared_method_takes_arguments_of_its_types(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """As ``wasmchain call``: checked before anything runs (exit 2, nothing written), the argument named."""
    state = tmp_path / "token.json"
    base = ("vm", "run", str(TOKEN), "--state", str(state))
    code, report = run_json(
        capsys, *base, "--method", "transfer", "--args", '{"to": "0x' + "b0" * 20 + '", "amount": "lots"}'
    )
    assert code == 2 and report["error"].startswith('--args of transfer(to: address, amount: u64): argument "amount"')
    assert not state.exists()
    code, report = run_json(capsys, *base, "--method", "transfer", "--args", '{"to": "dev1", "amount": 1}')
    assert code == 2 and 'argument "to"' in report["error"] and "the runner has no keystore" in report["error"]
    code, out, err = run_cli(capsys, *base, "--method", "transfer", "--args", "{}")
    assert code == 2 and 'argument "to"' in err and "Traceback" not in err
    # Raw input is checked too.
    bad_input = msgpack.packb({"owner": 5})
    code, report = run_json(capsys, *base, "--method", "balance_of", "--input-hex", bad_input.hex())
    assert code == 2 and report["error"].startswith(
        '--input-hex of balance-of(owner: address) -> u64: argument "owner"'
    )
    good_input = msgpack.packb({"owner": b"\xb0" * 20}, use_bin_type=True)
    code, report = run_json(capsys, *base, "--method", "balance_of", "--input-hex", good_input.hex())
    assert (code, report["return"], report["return_type"]) == (0, 0, "u64")
    # A method may be named by its WIT name: its export runs.
    code, report = run_json(capsys, *base, "--method", "total-supply")
    assert (code, report["status"], report["return_type"]) == (0, "ok", "u64")


def test_what_the_interface_does_not_declare_or_fit_runs_and_decodes_untyped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An export the world does not name takes plain JSON; values not fitting their declared types are plain msgpack."""
    wit = (
        TOKEN_WIT.replace("    balance-of: func(owner: address) -> u64;\n", "")
        .replace("total-supply: func() -> u64;", "total-supply: func() -> string;")
        .replace("amount: u64,", "amount: string,")
    )
    module = tmp_path / "token.wasm"
    module.write_bytes(with_interface(TOKEN.read_bytes(), wit))
    state = tmp_path / "token.json"
    base = ("vm", "run", str(module), "--state", str(state))
    code, init = run_json(capsys, *base, "--method", "init", "--args", '{"supply": 7}')
    assert code == 0, init
    assert [(e["data"]["amount"], e["data_type"]) for e in init["events"]] == [(7, None)]
    code, supply = run_json(capsys, *base, "--method", "total_supply")
    assert (code, supply["return"], supply["return_type"]) == (0, 7, None)
    # Untyped: an address is any "0x" bytes, and an argument of the wrong type reaches the contract.
    code, balance = run_json(capsys, *base, "--method", "balance_of", "--args", json.dumps({"owner": "0x" + "a1" * 20}))
    assert (code, balance["return"], balance["return_type"]) == (0, 7, None)
    code, wrong = run_json(capsys, *base, "--method", "balance_of", "--args", '{"owner": 5}')
    assert (code, wrong["status"]) == (1, "abort"), wrong


def test_bad_files_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, report = run_json(capsys, "vm", "run", str(tmp_path / "missing.wasm"), "--method", "get")
    assert code == 2 and "cannot read" in report["error"]
    garbage = tmp_path / "garbage.wasm"
    garbage.write_bytes(b"\x00asm\x01\x00\x00\x00\xff\xff")
    code, report = run_json(capsys, "vm", "run", str(garbage), "--method", "get")
    assert code == 2 and "malformed" in report["error"]
    not_wat = tmp_path / "text.wat"
    not_wat.write_text("(module (func $f (i32.bogus)))")
    code, report = run_json(capsys, "vm", "run", str(not_wat), "--method", "get")
    assert code == 2 and "neither a wasm binary nor valid WAT" in report["error"]
    bad_state = tmp_path / "state.json"
    bad_state.write_text('{"storage": {"k": "v"}}')
    code, report = run_json(capsys, "vm", "run", str(COUNTER), "--method", "get", "--state", str(bad_state))
    assert code == 2 and "state file" in report["error"]
    bad_genesis = tmp_path / "genesis.json"
    bad_genesis.write_text('{"vm": {"version": "wasmtime-1/abi-9"}}')
    code, report = run_json(capsys, "vm", "run", str(COUNTER), "--method", "get", "--genesis", str(bad_genesis))
    assert code == 2 and "vm" in report["error"]


def test_a_runaway_contract_exits_1_out_of_gas(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    module = tmp_path / "loop.wat"
    module.write_text(LOOP)
    code, report = run_json(capsys, "vm", "run", str(module), "--method", "spin", "--gas", "5000000")
    assert (code, report["status"], report["gas_used"]) == (1, "out_of_gas", 5_000_000)


def test_the_console_script_runs_in_a_fresh_process(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "wasmchain"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "wasmchain.cli.main"]
    shutil.copy(COUNTER, tmp_path / "counter.wasm")
    result = subprocess.run(
        [
            *command,
            "vm",
            "run",
            "counter.wasm",
            "--method",
            "increment",
            "--state",
            "s.json",
            "--json",
            "--genesis",
            str(GENESIS),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["return"] == 1
    assert json.loads((tmp_path / "s.json").read_text())["storage"]
