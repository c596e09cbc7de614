"""The embedded CLI on a data directory, as the README tour uses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chain import smt
from chain.cli import main
from chain.keys import dev_key, format_address
from chain.kv import LevelDBKV
from tests.helpers import CONTRACTS, GENESIS

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


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    run = Cli(tmp_path / "node", capsys)
    code, report = run("init", "--genesis", str(GENESIS))
    assert code == 0, report
    return run


def deploy_token(cli: Cli, supply: int = 1_000_000) -> str:
    code, receipt = cli("deploy", str(CONTRACTS / "token" / "token.wasm"), "--from", "dev0",
                        "--init", "init", "--args", json.dumps({"supply": supply}))
    assert code == 0, receipt
    return str(receipt["address"])


def test_the_readme_tour(cli: Cli) -> None:
    token = deploy_token(cli)
    code, receipt = cli("call", token, "transfer", "--from", "dev0", "--args", json.dumps({"to": DEV1, "amount": 250}))
    assert code == 0
    assert set(receipt) >= {"tx_hash", "block_height", "status", "gas_used", "return", "events", "error"}
    assert receipt["events"] == [{"contract": token, "name": "Transfer",
                                  "data": {"from": DEV0, "to": DEV1, "amount": 250},
                                  "data_hex": receipt["events"][0]["data_hex"]}]
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
    assert smt.verify(bytes.fromhex(block["state_root"][2:]), bytes.fromhex(proof["state_key"][2:]),
                      bytes.fromhex(proof["value"][2:]), smt.Proof.from_json(proof["proof"]))
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
    code, receipt = cli("call", token, "transfer", "--from", "dev1", "--args", json.dumps({"to": DEV0, "amount": 5}))
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
    assert code == 2 and poor["error"].startswith("rejected: balance 0 is below value plus maximum fee")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("call", "0x" + "00" * 20, "get", "--from", "dev0"), "rejected: no contract at 0x0000"),
        (("call", "0x1234", "get", "--from", "dev0"), "an address is 0x followed by 40 hex digits"),
        (("transfer", "dev1", "5", "--from", "nobody"), "no key named 'nobody'"),
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
    assert code == 2 and "has no method \"mint\"" in report["error"]
    code, report = cli("call", token, "transfer", "--from", "dev0", "--args", "{not json")
    assert code == 2 and "--args is not valid JSON" in report["error"]
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0")
    code, report = cli("deploy", str(bad), "--from", "dev0")
    assert code == 2 and "invalid module: memory" in report["error"]
    code, head = cli("block", "latest")
    assert head["height"] == 1  # only the deploy made a block


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


@pytest.mark.parametrize(("argv", "message"), [
    (("block", "²"), "block height or hash"),
    (("block", "99999999999999999999999"), "no block at height"),
    (("view", "dev0", "get", "--gas", "-5"), "--gas must be between"),
    (("call", "dev0", "\udcff", "--from", "dev0"), "not valid UTF-8"),
])
def test_odd_arguments_exit_2_without_a_traceback(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    code, report = cli(*argv)
    assert code == 2 and message in report["error"]


def test_text_output_lists_one_key_a_line(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "list", "--data", str(cli.data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "keys:"
    assert lines[1].split() == ["dev0", DEV0, "0x" + dev_key(0).public_key.hex()]
    assert len(lines) == 11
