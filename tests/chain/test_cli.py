"""The embedded CLI on a data directory, as the README tour uses it."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from tests.helpers import CONTRACTS, GENESIS
from wasmchain.cli import commands, render
from wasmchain.cli.commands import Session, TxOptions
from wasmchain.cli.main import UsageError, build_parser, main
from wasmchain.cli.runner import RunnerError
from wasmchain.client.client import Client
from wasmchain.client.local import LocalTransport
from wasmchain.node.datadir import DataDir
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol import smt
from wasmchain.protocol.args import ArgsError
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.keys import contract_address, dev_key, format_address
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import LevelDBKV, MemoryKV

DEV0 = format_address(dev_key(0).address)
DEV1 = format_address(dev_key(1).address)


class Cli:
    def __init__(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data = data
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, dict[str, Any]]:
        code = main([*argv, "--data", str(self.data), "--json"])
        out = self.capsys.readouterr().out
        return code, json.loads(out)


@pytest.fixture(autouse=True)
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests use the embedded node, whatever the shell says (tests/chain/test_cli_rpc.py: a real one)."""
    monkeypatch.delenv("WASMCHAIN_RPC", raising=False)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    run = Cli(tmp_path / "node", capsys)
    code, report = run("init", "--genesis", str(GENESIS))
    assert code == 0, report
    return run


def deploy_token(cli: Cli, supply: int = 1_000_000) -> str:
    code, receipt = cli(
        "deploy",
        str(CONTRACTS / "token" / "token.wasm"),
        "--from",
        "dev0",
        "--init",
        "init",
        "--args",
        json.dumps({"supply": supply}),
    )
    assert code == 0, receipt
    return str(receipt["address"])


def test_the_readme_tour(cli: Cli) -> None:
    token = deploy_token(cli)
    code, receipt = cli("call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 250}))
    assert code == 0
    assert set(receipt) >= {"tx_hash", "block_height", "status", "gas_used", "return", "events", "error"}
    assert receipt["events"] == [
        {
            "contract": token,
            "name": "Transfer",
            "data": {"from": DEV0, "to": DEV1, "amount": 250},
            "data_hex": receipt["events"][0]["data_hex"],
            "data_type": "transfer",  # decoded with the token's declared event record
        }
    ]
    code, viewed = cli("view", token, "balance_of", "--args", json.dumps({"owner": DEV1}))
    assert (code, viewed["result"]) == (0, 250)
    code, viewed = cli("view", token, "balance_of", "--args", json.dumps({"owner": DEV0}))
    assert viewed["result"] == 1_000_000 - 250
    # A key name works where an address does, in positional arguments.
    code, balance = cli("balance", "dev1")
    assert balance == {"address": DEV1, "balance": 10**22}
    code, block = cli("block", "latest")
    assert block["height"] == 2 and block["transactions"] == [receipt["tx_hash"]]
    code, proof = cli("proof", token)
    assert proof["state_root"] == block["state_root"] and proof["verified"] is True
    # A client checks the proof with the few lines of smt.verify, independently of the node's verdict.
    assert smt.verify(
        bytes.fromhex(block["state_root"][2:]),
        bytes.fromhex(proof["state_key"][2:]),
        bytes.fromhex(proof["value"][2:]),
        smt.Proof.from_json(proof["proof"]),
    )
    code, absent = cli("proof", token, "no-such-key")
    assert absent["value"] is None and absent["verified"] is True
    code, tx = cli("tx", receipt["tx_hash"])
    assert tx["status"] == "ok" and tx["transaction"]["method"] == "transfer"


def test_native_transfer_and_account(cli: Cli) -> None:
    code, receipt = cli("transfer", "dev2", "1000", "--from", "dev0")
    assert code == 0 and receipt["status"] == "ok"
    code, account = cli("account", "dev2")
    assert account["balance"] == 10**22 + 1000 and account["nonce"] == 0
    code, sender = cli("account", "dev0")
    assert sender["nonce"] == 1
    assert sender["balance"] == 10**22 - 1000 - receipt["gas_used"]


def test_a_failed_call_is_included_exits_1_and_costs_only_nonce_and_fee(cli: Cli) -> None:
    token = deploy_token(cli, supply=10)
    _, before = cli("account", "dev1")
    call = ("call", token, "transfer", "--from", "dev1", "--args", json.dumps({"to": DEV0, "amount": 5}))
    code, receipt = cli(*call, "--no-preflight")  # sent anyway (the pre-flight refuses it: test_cli_preflight.py)
    assert (code, receipt["status"]) == (1, "abort")
    assert receipt["error"] == "insufficient balance: have 0, need 5"
    _, after = cli("account", "dev1")
    assert after["nonce"] == before["nonce"] + 1
    assert after["balance"] == before["balance"] - receipt["gas_used"]


def test_keys(cli: Cli) -> None:
    code, created = cli("keys", "new", "alice")
    assert code == 0 and created["address"].startswith("0x") and len(created["public_key"]) == 66
    assert cli("keys", "show", "alice")[1] == created
    names = [key["name"] for key in cli("keys", "list")[1]["keys"]]
    assert names[:10] == [f"dev{i}" for i in range(10)] and "alice" in names
    assert cli("keys", "show", "dev0")[1]["address"] == DEV0
    code, again = cli("keys", "new", "alice")
    assert code == 2 and "already exists" in again["error"]
    code, reserved = cli("keys", "new", "dev3")
    assert code == 2 and "reserved" in reserved["error"]
    # A new key has no funds: its transactions are rejected before execution.
    code, poor = cli("transfer", "dev0", "1", "--from", "alice")
    assert code == 2 and poor["error"].startswith("rejected: the value 1 leaves nothing of the balance 0 for the fee")
    code, poor = cli("transfer", "dev0", "1", "--from", "alice", "--no-preflight")
    assert code == 2 and poor["error"].startswith("rejected: balance 0 is below value plus maximum fee")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("call", "0x" + "00" * 20, "get", "--from", "dev0"), "rejected: no contract at 0x0000"),
        (("call", "0x1234", "get", "--from", "dev0"), "an address is 0x followed by 40 hex digits"),
        (("transfer", "dev1", "5", "--from", "nobody"), "no key named 'nobody'"),
        # issue 15: an unknown key name where an address goes says so, as --from does, and how to list the keys
        (("transfer", "bob", "5", "--from", "dev0"), "no key named 'bob' (known: dev0"),
        (("account", "dev42"), "no key named 'dev42' (known: dev0"),
        (("account", "dev42"), "`wasmchain keys list` shows them"),
        # ... and a block that is none of the accepted forms names them, latest included
        (("block", "-1"), "a block is a height (0 or more), a block hash (0x and 64 hex digits) or latest, found '-1'"),
        (("block", "foo"), "a block is a height (0 or more), a block hash (0x and 64 hex digits) or latest"),
        (("block", "0x12"), "a block hash (0x and 64 hex digits)"),
        (("transfer", "dev1", "5", "--from", "dev0", "--gas", "3000000000"), "above the block gas limit"),
        (("transfer", "dev1", "5", "--from", "dev0", "--gas", "10"), "below the intrinsic cost"),
        (("deploy", "/nonexistent.wasm", "--from", "dev0"), "cannot read /nonexistent.wasm"),
        (("view", "0x" + "00" * 20, "get"), "no contract at"),
        (("block", "99"), "no block at height 99"),
        (("tx", "0x" + "ab" * 32), "no transaction with hash"),
        (("tx", "0x12"), "64 hex digits"),
    ],
)
def test_bad_input_exits_2_with_a_clear_error(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    code, report = cli(*argv)
    assert code == 2
    assert message in report["error"]


def test_bad_contract_input(cli: Cli, tmp_path: Path) -> None:
    token = deploy_token(cli)
    code, report = cli("call", token, "mint", "--from", "dev0")
    assert code == 2 and 'has no method "mint"' in report["error"]
    code, report = cli("call", token, "transfer", "--from", "dev0", "--args", "{not json")
    assert code == 2 and "--args is not valid JSON" in report["error"]
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0")
    code, report = cli("deploy", str(bad), "--from", "dev0")
    assert code == 2 and "invalid module: memory" in report["error"]
    code, head = cli("block", "latest")
    assert head["height"] == 1  # only the deploy made a block


NOOP_WAT = '(module (memory (export "memory") 1) (func (export "noop")))'


def test_deploy_and_simulate_deploy_take_a_wat_text_module_as_vm_run_does(cli: Cli, tmp_path: Path) -> None:
    module = tmp_path / "noop.wat"
    module.write_text(NOOP_WAT)
    code, simulated = cli("simulate", "deploy", str(module), "--from", "dev0")
    assert code == 0 and simulated["status"] == "ok", simulated
    code, receipt = cli("deploy", str(module), "--from", "dev0")
    assert code == 0 and receipt["status"] == "ok", receipt
    account = cli("account", receipt["address"])[1]
    assert account["code_hash"] == "0x" + hashlib.sha256(wasmtime.wat2wasm(NOOP_WAT)).hexdigest()
    code, called = cli("call", receipt["address"], "noop", "--from", "dev0")
    assert code == 0 and called["status"] == "ok", called
    module.write_text("(module (func")  # neither a binary nor valid WAT: one line saying so, nothing sent
    code, report = cli("deploy", str(module), "--from", "dev0")
    assert code == 2 and f"{module} is neither a wasm binary nor valid WAT" in report["error"]
    assert cli("block")[1]["height"] == 2


def test_init_twice_and_missing_data(cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = cli("init", "--genesis", str(GENESIS))
    assert code == 2 and "already initialized" in report["error"]
    empty = Cli(tmp_path / "empty", capsys)
    code, report = empty("balance", "dev0")
    assert code == 2 and "wasmchain init" in report["error"]


def test_a_locked_data_directory_says_to_use_rpc(cli: Cli) -> None:
    with LevelDBKV(cli.data / "db", create=False):
        code, report = cli("balance", "dev0")
    assert code == 2
    assert "in use by another process" in report["error"] and "--rpc" in report["error"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("block", "²"), "a block is a height (0 or more), a block hash (0x and 64 hex digits) or latest"),
        (("block", "99999999999999999999999"), "no block at height"),
        (("view", "dev0", "get", "--gas", "-5"), "--gas must be between"),
        (("call", "dev0", "\udcff", "--from", "dev0"), "not valid UTF-8"),
    ],
)
def test_odd_arguments_exit_2_without_a_traceback(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    code, report = cli(*argv)
    assert code == 2 and message in report["error"]


def test_text_output_lists_one_key_a_line(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "list", "--data", str(cli.data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "keys:"
    assert lines[1].split() == ["dev0", DEV0, "0x" + dev_key(0).public_key.hex()]
    assert len(lines) == 11


# -- simulate and events ------------------------------------------------------------------------


def test_simulate_runs_what_a_transaction_would_and_keeps_nothing(cli: Cli) -> None:
    token = deploy_token(cli)
    transfer = ("call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 7}))
    code, simulated = cli("simulate", *transfer)
    assert code == 0 and simulated["status"] == "ok" and simulated["error"] is None
    assert simulated["block_height"] == 1 and cli("block")[1]["height"] == 1  # no block, no state change
    assert cli("view", token, "balance_of", "--args", json.dumps({"owner": DEV1}))[1]["result"] == 0
    code, receipt = cli(*transfer)
    assert code == 0
    assert (simulated["gas_used"], simulated["events"]) == (receipt["gas_used"], receipt["events"])
    # A failure exits 1, as the transaction would; one the chain would refuse is status invalid, exit 2.
    code, failed = cli(
        "simulate", "call", token, "transfer", "--from", "dev1", "--args", json.dumps({"to": DEV0, "amount": 8})
    )
    assert (code, failed["status"], failed["error"]) == (1, "abort", "insufficient balance: have 7, need 8")
    code, refused = cli("simulate", "transfer", "dev1", "5", "--from", "0x" + "11" * 20)  # any address: nothing signed
    assert (code, refused["status"]) == (2, "invalid") and refused["error"].startswith("balance 0 is below")
    code, moved = cli("simulate", "transfer", "dev1", "5", "--from", "dev2")
    assert code == 0 and moved["gas_used"] > 0 and cli("balance", "dev1")[1]["balance"] == 10**22


def test_simulate_deploy_predicts_the_address_and_the_init(cli: Cli) -> None:
    code, simulated = cli(
        "simulate",
        "deploy",
        str(CONTRACTS / "token" / "token.wasm"),
        "--from",
        "dev3",
        "--init",
        "init",
        "--args",
        json.dumps({"supply": 42}),
    )
    assert code == 0 and simulated["address"] == format_address(contract_address(dev_key(3).address, 0))
    assert simulated["events"][0]["data"]["amount"] == 42
    code, bare = cli("simulate", "deploy", str(CONTRACTS / "counter" / "counter.wasm"), "--from", "dev3")
    assert code == 0 and bare["address"] == simulated["address"] and bare["events"] == []
    code, report = cli(
        "simulate", "deploy", str(CONTRACTS / "counter" / "counter.wasm"), "--from", "dev3", "--args", "{}"
    )
    assert code == 2 and report["error"] == "--args needs --init METHOD"
    code, report = cli("simulate", "call", "dev0", "get", "--from", "dev0", "--gas", str(1 << 63))
    assert code == 2 and "--gas must be between 1 and 2**63-1" in report["error"]


def test_events_filter_by_contract_name_and_blocks(cli: Cli) -> None:
    token = deploy_token(cli, supply=100)
    other = deploy_token(cli, supply=5)
    cli("call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 3}))
    cli("transfer", "dev1", "1", "--from", "dev0")
    code, found = cli("events")
    assert code == 0
    assert [(e["block_height"], e["contract"], e["data"]["amount"]) for e in found["events"]] == [
        (1, token, 100),
        (2, other, 5),
        (3, token, 3),
    ]
    assert set(found["events"][0]) == {
        "block_height",
        "tx_hash",
        "tx_index",
        "log_index",
        "contract",
        "name",
        "data",
        "data_hex",
        "data_type",
    }
    assert [e["block_height"] for e in cli("events", "--contract", token)[1]["events"]] == [1, 3]
    assert cli("events", "--name", "Approval")[1] == {"events": []}
    assert [e["block_height"] for e in cli("events", "--from-block", "2", "--to-block", "2")[1]["events"]] == [2]
    assert [e["block_height"] for e in cli("events", "--limit", "2")[1]["events"]] == [1, 2]
    assert cli("events", "--from-block", "9")[1] == {"events": []}  # past the head: nothing yet
    code, report = cli("events", "--from-block", "3", "--to-block", "2")
    assert code == 2 and report["error"] == "from_block 3 is after to_block 2"
    code, report = cli("events", "--limit", "0")
    assert code == 2 and "limit must be between 1 and 10000" in report["error"]


def test_events_over_more_blocks_than_a_node_scans_at_once(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    token = deploy_token(cli, supply=100)
    for amount in (1, 2, 3):
        cli("call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": amount}))
    everything = cli("events")[1]
    monkeypatch.setattr(commands, "MAX_EVENT_BLOCK_RANGE", 1)  # a window a block
    assert cli("events")[1] == everything
    assert cli("events", "--limit", "3")[1] == {"events": everything["events"][:3]}
    assert cli("events", "--from-block", "2", "--to-block", "3")[1] == {"events": everything["events"][1:3]}


def test_events_text_output_is_one_event_a_line(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    token = deploy_token(cli, supply=100)
    code, receipt = cli("call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 3}))
    assert main(["events", "--from-block", "2", "--data", str(cli.data)]) == 0
    line = capsys.readouterr().out
    assert line == (f'2  {receipt["tx_hash"]}  {token}  Transfer  {{"from": "{DEV0}", "to": "{DEV1}", "amount": 3}}\n')


# -- a node that mines on an interval ------------------------------------------------------------


class IntervalMining(LocalTransport):
    """A node with a block time whose next block comes while the CLI waits (at its first look)."""

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "get_receipt":
            self.dispatcher.node.produce_block()
        return super().call(method, params)


def interval_node() -> Node:
    return Node(Chain.create(MemoryKV(), load_genesis(GENESIS)), block_time=3600, clock=None)


def test_a_pending_transaction_is_waited_for(tmp_path: Path) -> None:
    node = interval_node()
    session = Session(DataDir(tmp_path), client=Client(IntervalMining(Dispatcher(node))))
    code, receipt = commands.cmd_transfer(session, TxOptions("dev0"), "dev1", 5)
    assert (code, receipt["status"], receipt["block_height"]) == (0, "ok", 1)


def test_a_transaction_still_pending_after_wait_is_a_clear_error(tmp_path: Path) -> None:
    node = interval_node()
    session = Session(DataDir(tmp_path), client=Client(LocalTransport(Dispatcher(node))))
    with pytest.raises(ChainError, match=r"still pending after 0 s; look it up later with `wasmchain tx 0x[0-9a-f]+`"):
        commands.cmd_transfer(session, TxOptions("dev0", wait=0), "dev1", 5)
    assert len(node.mempool) == 1  # submitted: the next block will hold it
    with pytest.raises(ChainError, match="--wait must not be negative"):
        commands.cmd_transfer(session, TxOptions("dev0", wait=-1), "dev1", 5)


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every runnable command (a parser with no subcommands under it, or with optional ones and a handler of its
    own: ``devnet``, which starts a node without an action), with its parser's defaults."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found + [(path, parser._defaults)] if not found or "handler" in parser._defaults else found


def test_every_command_sets_its_own_handler() -> None:
    found = dict(_commands(build_parser()))
    assert {path[0] for path in found} == {
        "vm", "devnet", "follow", "node", "localnet", "init", "keys", "new", "build", "deploy", "call", "view",
        "transfer", "simulate",
        "abi", "trace", "profile", "balance", "account", "tx", "block", "proof", "export", "import", "replay", "events",
    }  # fmt: skip
    assert len(found) == 37
    assert {path for path in found if path[0] == "devnet"} == {
        ("devnet",), ("devnet", "mine"), ("devnet", "snapshot"), ("devnet", "revert"), ("devnet", "set-balance"),
        ("devnet", "set-next-timestamp"), ("devnet", "increase-time"),
    }  # fmt: skip
    handlers = [defaults["handler"] for defaults in found.values()]
    assert all(callable(handler) for handler in handlers) and len(set(handlers)) == len(handlers)
    servers = {("vm", "validate"), ("vm", "run"), ("devnet",), ("follow",), ("node",), ("localnet",)}
    for path, defaults in found.items():  # the chain commands' reports are printed by main, as text or JSON
        assert ("text" in defaults) == (path not in servers and path != ("profile",)), path  # profile: not a report
    assert found[("events",)]["text"] is render.events_lines
    assert found[("replay",)]["text"] is render.replay_lines
    assert found[("import",)]["text"] is render.import_lines
    assert found[("balance",)]["text"] is render.report_lines


def test_the_dispatch_calls_the_parsed_commands_handler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[tuple[str, ...]] = []
    monkeypatch.setattr(commands, "cmd_keys_show", lambda data, name: seen.append(("show", name)) or (1, {}))
    monkeypatch.setattr(commands, "cmd_keys_list", lambda data: seen.append(("list",)) or (0, {}))
    assert main(["keys", "show", "alice", "--data", str(tmp_path)]) == 1
    assert main(["keys", "list", "--data", str(tmp_path)]) == 0
    assert seen == [("show", "alice"), ("list",)]


@pytest.mark.parametrize(
    ("error", "reason"), [(UsageError, "usage"), (RunnerError, "runner"), (ArgsError, "invalid_args")]
)
def test_the_cli_errors_are_chain_errors_with_a_reason(error: type[ChainError], reason: str) -> None:
    assert issubclass(error, ChainError) and error.reason == reason


def test_each_cli_error_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["replay", "x", "--data", str(tmp_path), "--json"], "replay takes a FILE or --data DIR, not both"),  # usage
        (["vm", "validate", str(tmp_path / "none.wasm"), "--json"], "cannot read"),  # runner
        (
            ["vm", "run", str(CONTRACTS / "counter" / "counter.wasm"), "--method", "get", "--args", "1.5", "--json"],
            "--args of get() -> u64: arguments: expected an object of the parameters",
        ),  # args, checked against the module's interface
    ):
        assert main(argv) == 2
        report = json.loads(capsys.readouterr().out)
        assert message in report["error"] and report["status"] in ("invalid", "refused"), argv
