"""``wasmchain trace``, ``wasmchain simulate ... --trace`` and ``wasmchain profile`` on an embedded node."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CONTRACTS, GENESIS, ROOT
from wasmchain.cli import render
from wasmchain.cli.commands import Session
from wasmchain.cli.main import main
from wasmchain.node.datadir import DataDir
from wasmchain.protocol.keys import dev_key, format_address

DEV0 = format_address(dev_key(0).address)
DEV1 = format_address(dev_key(1).address)


class Cli:
    """Runs ``wasmchain`` on one data directory: exit code, stdout and stderr."""

    def __init__(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data = data
        self.capsys = capsys

    def run(self, *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--data", str(self.data)])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def json(self, *argv: str) -> tuple[int, Any]:
        code, out, _ = self.run(*argv, "--json")
        return code, json.loads(out)

    def rpc(self, method: str, **params: Any) -> Any:
        with Session(DataDir(self.data)) as session:
            return session.call(method, **params)


@pytest.fixture(autouse=True)
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WASMCHAIN_RPC", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    run = Cli(tmp_path / "node", capsys)
    code, _, err = run.run("init", "--genesis", str(GENESIS))
    assert code == 0, err
    return run


@pytest.fixture
def contracts(cli: Cli) -> tuple[str, str]:
    """A token (1,000 to dev0) and a vault over it holding 100, owned by dev0."""
    code, token = cli.json(
        "deploy", str(CONTRACTS / "token" / "token.wasm"), "--from", "dev0", "--init", "init", "--args",
        '{"supply": 1000}',
    )  # fmt: skip
    assert code == 0, token
    code, vault = cli.json(
        "deploy", str(CONTRACTS / "vault" / "vault.wasm"), "--from", "dev0", "--init", "init", "--args",
        json.dumps({"token": token["address"]}),
    )  # fmt: skip
    assert code == 0, vault
    code, funded = cli.json(
        "call", token["address"], "transfer", "--from", "dev0", "--args",
        json.dumps({"to": vault["address"], "amount": 100}),
    )  # fmt: skip
    assert code == 0, funded
    return token["address"], vault["address"]


def tx(cli: Cli, *argv: str) -> dict[str, Any]:
    _, receipt = cli.json(*argv)
    assert isinstance(receipt, dict) and "tx_hash" in receipt, receipt
    return receipt


def failing(cli: Cli, *argv: str) -> dict[str, Any]:
    """A transaction that fails, sent anyway (``--no-preflight``: its pre-flight would refuse it) and mined."""
    return tx(cli, *argv, "--no-preflight")


def test_a_failing_transfer_shows_its_frame_marked_and_why(cli: Cli, contracts: tuple[str, str]) -> None:
    token, _ = contracts
    receipt = failing(cli, "call", token, "transfer", "--from", "dev1", "--args", json.dumps({"to": DEV0, "amount": 5}))
    assert receipt["status"] == "abort"
    code, out, err = cli.run("trace", receipt["tx_hash"])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    trace = cli.rpc("debug_trace_transaction", hash=receipt["tx_hash"], verbose=False)
    frame_gas = receipt["gas_used"] - trace["intrinsic_gas"]
    assert lines[0] == (
        f"transaction {receipt['tx_hash']} (block {receipt['block_height']}, index 0): "
        f"call {token}::transfer from {DEV1}"
    )
    assert lines[1] == "Traces:"
    assert lines[2] == f"  [{frame_gas}] {token}::transfer(to: {DEV0}, amount: 5) ✗"
    assert lines[3] == '    ├─ storage_has "supply": present'
    assert lines[4] == f'    ├─ storage_read "b"+{DEV1} = (absent)'
    assert lines[5] == "    └─ ← abort: insufficient balance: have 0, need 5"
    footer = lines[lines.index("") + 1 :]
    assert footer[0] == "status: abort: insufficient balance: have 0, need 5"
    assert footer[1] == (
        f"gas: {receipt['gas_used']} used = {trace['intrinsic_gas']} intrinsic + {frame_gas} in contract frames "
        f"(limit {trace['gas_limit']}, price 1)"
    )
    assert footer[2] == f"fee: {receipt['gas_used']}, refund: {trace['gas_limit'] - receipt['gas_used']}"
    assert footer[3] == "state diff: 1 key changed (1 account)"
    assert footer[4].startswith(f"  account {DEV1}: balance ") and footer[4].endswith(", nonce 0 -> 1")
    assert footer[-1] == "re-executed: matches the receipt"
    assert "\x1b" not in out  # not a terminal: no colour


def test_a_vault_call_shows_the_nested_token_frame(cli: Cli, contracts: tuple[str, str]) -> None:
    token, vault = contracts
    receipt = failing(
        cli, "call", vault, "withdraw", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 500})
    )
    code, out, _ = cli.run("trace", receipt["tx_hash"])
    assert code == 0
    lines = out.splitlines()
    trace = cli.rpc("debug_trace_transaction", hash=receipt["tx_hash"], verbose=False)
    nested = trace["frame"]["steps"][2]["frame"]
    assert lines[2] == f"  [{trace['frame']['gas_used']}] {vault}::withdraw(to: {DEV1}, amount: 500) ✗"
    assert lines[3] == f'    ├─ storage_read "token" = {token}'
    assert lines[4] == f'    ├─ storage_read "owner" = {DEV0}'
    assert lines[5] == f"    ├─ [{nested['gas_used']}] {token}::transfer(to: {DEV1}, amount: 500) ✗"
    assert lines[6] == '    │   ├─ storage_has "supply": present'
    assert lines[7] == f'    │   ├─ storage_read "b"+{vault} = 0x6400000000000000 (u64 100)'
    assert lines[8] == "    │   └─ ← abort: insufficient balance: have 100, need 500 (the caller got 1 aborted)"
    assert lines[9] == "    └─ ← abort: token transfer failed: insufficient balance: have 100, need 500"
    assert f"failed in: {token}::transfer (depth 1): abort: insufficient balance: have 100, need 500" in lines

    receipt = tx(cli, "call", vault, "withdraw", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 30}))
    code, out, _ = cli.run("trace", receipt["tx_hash"])
    lines = out.splitlines()
    assert "    ├─ [" in lines[5] and lines[5].endswith(f"{token}::transfer(to: {DEV1}, amount: 30)")
    write = f'    │   ├─ storage_write "b"+{vault}: 0x6400000000000000 (u64 100) -> 0x4600000000000000 (u64 70)'
    assert write in lines
    assert f"    │   ├─ emit Transfer(from: {vault}, to: {DEV1}, amount: 30)" in lines
    assert "    │   └─ ← return" in lines and lines[lines.index("") - 1] == "    └─ ← return"
    assert "status: ok" in lines and "state diff: 3 keys changed (1 account, 2 storage keys)" in lines
    assert "✗" not in out


def test_json_is_the_rpc_answer(cli: Cli, contracts: tuple[str, str]) -> None:
    token, _ = contracts
    receipt = tx(cli, "call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 5}))
    for flags, verbose in (((), False), (("-v",), True), (("--verbose",), True)):
        code, printed = cli.json("trace", receipt["tx_hash"], *flags)
        assert code == 0
        assert printed == cli.rpc("debug_trace_transaction", hash=receipt["tx_hash"], verbose=verbose)


def test_verbose_adds_the_host_calls(cli: Cli, contracts: tuple[str, str]) -> None:
    token, _ = contracts
    receipt = tx(cli, "call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 5}))
    _, plain, _ = cli.run("trace", receipt["tx_hash"])
    _, verbose, _ = cli.run("trace", receipt["tx_hash"], "-v")
    assert "host apply_effects [" not in plain
    assert "    ├─ host apply_effects [" in verbose


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert render.colour_for(Terminal()) is True
    assert render.colour_for(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert render.colour_for(Terminal()) is False


def test_colour_marks_failed_frames_red(cli: Cli, contracts: tuple[str, str]) -> None:
    token, _ = contracts
    receipt = failing(cli, "call", token, "transfer", "--from", "dev1", "--args", json.dumps({"to": DEV0, "amount": 5}))
    report = cli.rpc("debug_trace_transaction", hash=receipt["tx_hash"], verbose=False)
    coloured = render.trace_lines(report, colour=True)
    assert f"\x1b[31m{token}::transfer\x1b[0m" in coloured[2]
    assert [line for line in coloured if "\x1b" not in line] != coloured
    assert "\x1b" not in "".join(render.trace_lines(report))


def test_bad_input_is_exit_2_with_a_message(cli: Cli, contracts: tuple[str, str]) -> None:
    code, out, err = cli.run("trace", "0x1234")
    assert (code, out) == (2, "")
    assert err == "error: a transaction hash is 0x followed by 64 hex digits, found '0x1234'\n"
    code, out, err = cli.run("trace", "0x" + "zz" * 32)
    assert code == 2 and "is 0x followed by 64 hex digits" in err
    unknown = "0x" + "ab" * 32
    code, out, err = cli.run("trace", unknown)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and unknown in err and "Traceback" not in err
    code, printed = cli.json("trace", unknown)
    assert code == 2 and printed["status"] == "invalid" and unknown in printed["error"]


def test_a_native_transfer_traces_without_frames(cli: Cli) -> None:
    receipt = tx(cli, "transfer", "dev1", "5", "--from", "dev0")
    code, out, _ = cli.run("trace", receipt["tx_hash"])
    assert code == 0
    assert "  (no contract code ran: a native transfer)" in out.splitlines()
    assert "re-executed: matches the receipt" in out


def test_an_unreachable_node_is_exit_2(cli: Cli) -> None:
    code, out, err = cli.run("trace", "0x" + "ab" * 32, "--rpc", "http://127.0.0.1:9")
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and "Traceback" not in err


def test_simulate_with_trace(cli: Cli, contracts: tuple[str, str]) -> None:
    token, vault = contracts
    args = ("simulate", "call", vault, "withdraw", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 500}))
    code, out, _ = cli.run(*args, "--trace")
    assert code == 1  # the simulated call fails, as simulate says without --trace
    lines = out.splitlines()
    assert lines[0].endswith(f"(simulated on the head, not mined): call {vault}::withdraw from {DEV0}")
    assert any(line.startswith("    ├─ [") and f"{token}::transfer(" in line for line in lines)
    assert f"failed in: {token}::transfer (depth 1): abort: insufficient balance: have 100, need 500" in lines
    assert lines[-1] == "simulated: not a transaction of the chain, nothing was kept"
    code, printed = cli.json(*args, "--trace", "-v")
    assert code == 1
    assert printed["matches_receipt"] is None and printed["block"] is None and printed["verbose"] is True
    assert printed["frame"]["steps"][2]["frame"]["method"] == "transfer"
    code, plain = cli.json(*args)
    assert (code, plain["gas_used"], plain["status"]) == (1, printed["gas_used"], printed["status"])
    code, out, err = cli.run(*args, "-v")
    assert code == 2 and err == "error: --verbose shows a trace's host calls: add --trace\n"
    code, out, _ = cli.run("simulate", "transfer", "dev1", "5", "--from", "dev0", "--trace")
    assert code == 0 and "  (no contract code ran: a native transfer)" in out.splitlines()


# -- wasmchain profile ---------------------------------------------------------------------------------


@pytest.fixture
def withdrawal(cli: Cli, contracts: tuple[str, str]) -> dict[str, Any]:
    """A mined vault withdraw (vault -> token): its receipt."""
    _, vault = contracts
    return tx(cli, "call", vault, "withdraw", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 30}))


def test_profile_table_names_functions_from_the_names_files_beside_the_modules(
    cli: Cli, withdrawal: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # contracts/token/token.names and vault.names are found beside the .wasm files
    code, out, err = cli.run("profile", withdrawal["tx_hash"])
    assert (code, err) == (0, "")
    trace = cli.rpc("debug_profile_transaction", hash=withdrawal["tx_hash"])
    lines = out.splitlines()
    assert lines[0] == (
        f"gas profile of transaction {withdrawal['tx_hash']} (block {withdrawal['block_height']}): "
        f"{trace['frame']['gas_used']} gas in contract frames "
        f"(+ {trace['intrinsic_gas']} intrinsic = {withdrawal['gas_used']})"
    )
    assert lines[1].split() == ["self", "gas", "share", "total", "gas", "calls", "function"]
    assert lines[-1].split() == [f"{trace['frame']['gas_used']:,}", "total", "gas", "in", "2", "frame(s)"]
    # ABI 2: the token's writes and event go to the host in one apply_effects, charged to the SDK's flush.
    assert any(line.endswith("[token] wasmchain_sdk::io::flush_state") for line in lines)
    assert any("[vault] " in line for line in lines)
    code, printed = cli.json("profile", withdrawal["tx_hash"])
    assert (code, printed) == (0, trace)


def test_profile_without_names_shows_function_indices(
    cli: Cli, withdrawal: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli.run("profile", withdrawal["tx_hash"])
    assert code == 0 and "func[" in out and "flush_state" not in out
    code, named, _ = cli.run("profile", withdrawal["tx_hash"], "--names", str(CONTRACTS / "token" / "token.names"))
    assert code == 0 and "flush_state" in named


def test_folded_stacks_and_speedscope_add_up_to_the_frames_gas(
    cli: Cli, withdrawal: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    trace = cli.rpc("debug_profile_transaction", hash=withdrawal["tx_hash"])
    code, out, _ = cli.run("profile", withdrawal["tx_hash"], "--format", "folded")
    assert code == 0
    stacks = [line.rsplit(" ", 1) for line in out.splitlines()]
    assert sum(int(gas) for _, gas in stacks) == trace["frame"]["gas_used"] == trace["profile"]["gas"]
    assert any(stack.startswith("vault.withdraw;") and ";token.transfer;" in stack for stack, _ in stacks)
    output = tmp_path / "withdraw.speedscope.json"
    code, out, _ = cli.run("profile", withdrawal["tx_hash"], "--format", "speedscope", "--output", str(output))
    assert code == 0
    assert out == (
        f"wrote the speedscope gas profile of transaction {withdrawal['tx_hash']} (block "
        f"{withdrawal['block_height']}) to {output} (open it at https://www.speedscope.app)\n"
    )
    document = json.loads(output.read_text())
    assert document["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert sum(document["profiles"][0]["weights"]) == trace["profile"]["gas"]


def test_profile_bad_input_is_exit_2(
    cli: Cli, withdrawal: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    receipt = tx(cli, "transfer", "dev1", "5", "--from", "dev0")
    code, out, err = cli.run("profile", receipt["tx_hash"])
    assert (code, out) == (2, "")
    assert "is a native transfer" in err and "nothing to profile" in err and "Traceback" not in err
    code, out, err = cli.run("profile", "0x12")
    assert (code, out) == (2, "") and "is 0x followed by 64 hex digits" in err
    code, out, err = cli.run("profile", "0x" + "ab" * 32)
    assert (code, out) == (2, "") and "0x" + "ab" * 32 in err
    bad = tmp_path / "bad.names"
    bad.write_text("{}")
    code, out, err = cli.run("profile", withdrawal["tx_hash"], "--names", str(bad))
    assert (code, out) == (2, "") and err.startswith(f"error: --names: {bad} is not a .names file")
    code, out, err = cli.run("profile", withdrawal["tx_hash"], "--names", str(tmp_path / "missing.names"))
    assert code == 2 and "missing.names is not a .names file" in err
    with pytest.raises(SystemExit) as usage:
        cli.run("profile", withdrawal["tx_hash"], "--format", "svg")
    assert usage.value.code == 2 and "invalid choice: 'svg'" in cli.capsys.readouterr().err


def test_simulate_with_profile(
    cli: Cli, contracts: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, vault = contracts
    monkeypatch.chdir(ROOT)  # the example contracts' .names files name the functions
    args = ("simulate", "call", vault, "withdraw", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 30}))
    code, trace = cli.json(*args, "--profile")  # the debug_profile_call object
    assert code == 0 and trace["block"] is None and trace["profile"]["gas"] == trace["frame"]["gas_used"] > 0
    code, out, err = cli.run(*args, "--profile")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("gas profile of transaction 0x") and "(simulated): " in lines[0]
    assert f"{trace['profile']['gas']} gas in contract frames" in lines[0]
    assert any("[token] wasmchain_sdk::io::flush_state" in line for line in lines[1:])  # token's function, by name
    code, out, _ = cli.run(*args, "--profile", "--format", "folded")
    assert code == 0
    assert sum(int(line.rsplit(" ", 1)[1]) for line in out.splitlines()) == trace["profile"]["gas"]
    output = tmp_path / "sim.speedscope.json"
    code, out, _ = cli.run(*args, "--profile", "--format", "speedscope", "-o", str(output))
    assert code == 0 and out.startswith("wrote the speedscope gas profile of transaction 0x")
    assert sum(json.loads(output.read_text())["profiles"][0]["weights"]) == trace["profile"]["gas"]
    # a failing simulation is profiled too, and exits 1 as simulate does
    failing = (
        "simulate",
        "call",
        vault,
        "withdraw",
        "--from",
        "dev0",
        "--args",
        json.dumps({"to": DEV1, "amount": 10**6}),
    )
    code, out, _ = cli.run(*failing, "--profile")
    assert code == 1 and out.startswith("gas profile of transaction 0x")
    # bad combinations and nothing to profile: exit 2, one line
    code, out, err = cli.run(*args, "--format", "folded")
    assert (code, out) == (2, "") and err == "error: --format, --names and --output shape a profile: add --profile\n"
    code, out, err = cli.run(*args, "--profile", "--trace")
    assert (code, out) == (2, "") and "--trace and --profile: choose one" in err
    code, out, err = cli.run("simulate", "transfer", "dev1", "5", "--from", "dev0", "--profile")
    assert (code, out) == (2, "") and "is a native transfer" in err and "Traceback" not in err


def test_a_broken_names_file_beside_a_module_is_skipped_with_a_warning(
    cli: Cli, withdrawal: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "build" / "mine"
    module.mkdir(parents=True)
    (module / "mine.wasm").write_bytes(b"\0asm")
    (module / "mine.names").write_text("not json")
    (tmp_path / "build" / "elsewhere.names").write_text("not json")  # no .wasm beside it: not read
    deep = tmp_path / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "x.wasm").write_bytes(b"\0asm")
    (deep / "x.names").write_text("not json")  # 4 levels down: not read
    monkeypatch.chdir(tmp_path)
    code, out, err = cli.run("profile", withdrawal["tx_hash"])
    assert code == 0 and "total gas in 2 frame(s)" in out
    broken = module / "mine.names"
    assert err.splitlines() == [
        f"warning: skipped {broken}: {broken} is not a .names file (module hash and functions): "
        "Expecting value: line 1 column 1 (char 0)"
    ]


def test_a_reader_that_goes_away_is_no_traceback(cli: Cli, withdrawal: dict[str, Any]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "WASMCHAIN_RPC"}
    command = [sys.executable, "-m", "wasmchain.cli.main", "profile", withdrawal["tx_hash"], "--data", str(cli.data)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `| head` does once it has its lines
    with process.stderr:
        error = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert error == ""
