"""Typed contracts in the CLI: wasmchain abi, --args checked before anything is signed, a method's --help.

Every refusal must exit 2 with one line naming what is wrong, and leave the
chain as it was: the head and the sender's nonce are checked after each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.chain.test_cli import DEV0, DEV1, Cli, deploy_token
from tests.chain.test_rpc_interface import TOKEN_CODE, TOKEN_WIT, UNTYPED_TOKEN, with_interface
from tests.helpers import CONTRACTS, GENESIS
from wasmchain.cli import commands
from wasmchain.cli.main import main
from wasmchain.protocol.args import ArgsError
from wasmchain.protocol.keys import dev_key, format_address
from wasmchain.vm.wit.syntax import parse_wit

TOKEN_FILE = CONTRACTS / "token" / "token.wasm"
DEV2 = format_address(dev_key(2).address)


@pytest.fixture(autouse=True)
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WASMCHAIN_RPC", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    run = Cli(tmp_path / "node", capsys)
    code, report = run("init", "--genesis", str(GENESIS))
    assert code == 0, report
    return run


def text(cli: Cli, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """A command's exit code, stdout and stderr, without --json."""
    code = main([*argv, "--data", str(cli.data)])
    out, err = capsys.readouterr()
    return code, out, err


def state(cli: Cli) -> tuple[int, int]:
    """The head height and dev0's nonce: what a refused command must leave alone."""
    _, block = cli("block", "latest")
    _, account = cli("account", "dev0")
    return block["height"], account["nonce"]


# -- wasmchain abi ------------------------------------------------------------------------------------


def test_abi_of_a_module_file_prints_the_wit_and_the_method_table(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = text(cli, capsys, "abi", str(TOKEN_FILE))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert TOKEN_WIT.splitlines()[0] in lines and "world token {" in lines
    table = lines[lines.index("methods:") + 1 :]
    assert table[0].split() == ["name", "params", "result", "kind"]
    assert table[1].split() == ["init", "supply:", "u64", "-", "call"]
    assert table[2].split() == ["transfer", "to:", "address,", "amount:", "u64", "-", "call"]
    assert table[3].split() == ["balance_of", "owner:", "address", "u64", "read-only"]
    assert table[4].split() == ["total_supply", "-", "u64", "read-only"]
    assert lines[lines.index("events:") + 2].split() == [
        "Transfer",
        "from:",
        "address,",
        "to:",
        "address,",
        "amount:",
        "u64",
    ]
    code, report = cli("abi", str(TOKEN_FILE))
    assert code == 0 and report["interface"] == parse_wit(TOKEN_WIT).to_json() and report["file"] == str(TOKEN_FILE)


def test_abi_of_a_deployed_contract_asks_the_node(cli: Cli) -> None:
    token = deploy_token(cli)
    code, report = cli("abi", token)
    _, file_report = cli("abi", str(TOKEN_FILE))
    assert code == 0 and report["address"] == token and report["interface"] == file_report["interface"]
    assert report["code_hash"] == file_report["code_hash"]


def test_abi_of_an_untyped_module_or_contract_says_so_and_exits_0(
    cli: Cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    untyped = tmp_path / "untyped.wasm"
    untyped.write_bytes(UNTYPED_TOKEN)
    code, out, _ = text(cli, capsys, "abi", str(untyped))
    assert code == 0 and "has no interface" in out and "untyped" in out
    assert cli("abi", str(untyped)) == (
        0,
        {"file": str(untyped), "code_hash": cli("abi", str(untyped))[1]["code_hash"], "interface": None},
    )
    code, receipt = cli("deploy", str(untyped), "--from", "dev0")
    assert code == 0
    assert cli("abi", receipt["address"])[1]["interface"] is None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("dev0", "no contract at"),  # a key name resolves, but to an account
        ("0x" + "11" * 20, "no contract at"),
        ("nobody", "no key named 'nobody' (known: dev0"),
        ("missing.wasm", "cannot read"),
    ],
)
def test_abi_of_something_else_exits_2(cli: Cli, capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    code, out, err = text(cli, capsys, "abi", target)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


def test_abi_of_a_module_with_a_broken_interface_exits_2(
    cli: Cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.wasm"
    broken.write_bytes(with_interface(TOKEN_CODE, "package a:b;\nworld w { export f: func() -> f32; }\n"))
    code, _, err = text(cli, capsys, "abi", str(broken))
    assert code == 2 and "wasmchain:wit" in err and "f32" in err and "line 2" in err, err


# -- --args checked before anything is signed -------------------------------------------------------


def test_a_key_name_is_an_address_inside_args(cli: Cli) -> None:
    token = deploy_token(cli)
    code, receipt = cli("call", token, "transfer", "--args", '{"to": "dev1", "amount": 10}', "--from", "dev0")
    assert code == 0, receipt
    (event,) = receipt["events"]
    assert event["data"] == {"from": DEV0, "to": DEV1, "amount": 10} and event["data_type"] == "transfer"
    code, answer = cli("view", token, "balance_of", "--args", '{"owner": "dev1"}')
    assert (code, answer["result"], answer["result_type"]) == (0, 10, "u64")
    code, answer = cli("view", token, "balance-of", "--args", json.dumps({"owner": DEV1}))  # the WIT name too
    assert (code, answer["result"]) == (0, 10)
    code, simulated = cli(
        "simulate", "call", token, "transfer", "--args", '{"to": "dev2", "amount": 1}', "--from", "dev1"
    )
    assert code == 0 and simulated["events"][0]["data"]["to"] == DEV2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ('{"to": "dev1", "amount": "ten"}', ['"amount"', "u64", "ten"]),
        ('{"to": "dev1"}', ['"amount"', "u64"]),
        ('{"to": "dev1", "amount": 1, "memo": "hi"}', ['"memo"']),
        ('{"to": "nobody", "amount": 1}', ['"to"', "no key named 'nobody'"]),
        ('{"to": "0x1234", "amount": 1}', ['"to"', "address"]),
        ('{"to": "dev1", "amount": -1}', ['"amount"', "u64"]),
        ('{"to": "dev1", "amount": 1.5}', ['"amount"', "u64"]),
        ('["dev1", 1]', ["transfer(to: address, amount: u64)"]),
        ("{not json", ["not valid JSON"]),
    ],
)
def test_ill_typed_args_exit_2_naming_the_field_and_nothing_is_sent(
    cli: Cli, capsys: pytest.CaptureFixture[str], args: str, words: list[str]
) -> None:
    token = deploy_token(cli)
    before = state(cli)
    for argv in (
        ("call", token, "transfer", "--args", args, "--from", "dev0"),
        ("simulate", "call", token, "transfer", "--args", args, "--from", "dev0"),
    ):
        code, out, err = text(cli, capsys, *argv)
        assert (code, out) == (2, ""), (argv, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
        for word in words:
            assert word in err, (word, err)
    assert state(cli) == before


def test_the_refusal_shows_the_expected_type_and_an_example(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    token = deploy_token(cli)
    code, _, err = text(
        cli, capsys, "call", token, "transfer", "--args", '{"to": "dev1", "amount": "ten"}', "--from", "dev0"
    )
    assert code == 2
    assert "transfer(to: address, amount: u64)" in err and "e.g." in err, err
    code, report = cli("call", token, "transfer", "--args", '{"to": "dev1", "amount": "ten"}', "--from", "dev0")
    assert code == 2 and report["status"] == "invalid" and '"amount"' in report["error"]


def test_an_undeclared_method_exits_2_listing_the_declared_ones(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    token = deploy_token(cli)
    before = state(cli)
    for argv in (("call", token, "mint", "--from", "dev0"), ("view", token, "mint")):
        code, _, err = text(cli, capsys, *argv)
        assert code == 2 and 'has no method "mint" in its interface' in err, err
        for signature in (
            "init(supply: u64)",
            "transfer(to: address, amount: u64)",
            "balance-of(owner: address) -> u64",
        ):
            assert signature in err
    assert state(cli) == before


def test_deploy_init_args_are_checked_against_the_modules_own_interface(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(cli)
    for argv in (
        ("deploy", str(TOKEN_FILE), "--init", "init", "--args", '{"supply": "lots"}', "--from", "dev0"),
        ("deploy", str(TOKEN_FILE), "--init", "init", "--from", "dev0"),
        ("simulate", "deploy", str(TOKEN_FILE), "--init", "init", "--args", '{"supply": -5}', "--from", "dev0"),
        ("deploy", str(TOKEN_FILE), "--init", "setup", "--from", "dev0"),
    ):
        code, _, err = text(cli, capsys, *argv)
        assert code == 2 and err.startswith("error: "), (argv, err)
        assert "supply" in err or "setup" in err
    assert state(cli) == before


def test_an_untyped_contract_takes_args_as_plain_json(cli: Cli, tmp_path: Path) -> None:
    untyped = tmp_path / "untyped.wasm"
    untyped.write_bytes(UNTYPED_TOKEN)
    code, receipt = cli("deploy", str(untyped), "--from", "dev0", "--init", "init", "--args", '{"supply": 100}')
    assert code == 0
    address = receipt["address"]
    code, receipt = cli("call", address, "transfer", "--args", '{"to": "dev1", "amount": 1}', "--from", "dev0")
    assert code == 1 and "must be an address" in receipt["error"]  # no interface: the string reaches the contract
    code, receipt = cli("call", address, "transfer", "--args", json.dumps({"to": DEV1, "amount": 1}), "--from", "dev0")
    assert code == 0 and receipt["events"][0]["data_type"] is None


def test_addresses_nested_anywhere_take_key_names() -> None:
    interface = parse_wit(
        "package t:nested;\n"
        "interface types { type address = list<u8>; record leg { to: address, amount: u64 } }\n"
        "world w { use types.{address, leg}; export pay: func(legs: list<leg>, fallback: option<address>); }\n"
    )
    names = {"dev1": dev_key(1).address, "dev2": dev_key(2).address}

    def resolve(name: str) -> bytes:
        if name not in names:
            raise ValueError(f"no key named {name!r}")
        return names[name]

    args = '{"legs": [{"to": "dev1", "amount": 1}, {"to": "dev2", "amount": 2}], "fallback": "dev1"}'
    export, encoded = commands.encode_call_args(interface, "pay", args, resolve, "test")
    import msgpack

    assert export == "pay"
    assert msgpack.unpackb(encoded) == {
        "legs": [{"to": names["dev1"], "amount": 1}, {"to": names["dev2"], "amount": 2}],
        "fallback": names["dev1"],
    }
    with pytest.raises(ArgsError, match=r"legs\[1\]\.to"):
        commands.encode_call_args(
            interface, "pay", '{"legs": [{"to": "dev1", "amount": 1}, {"to": "eve", "amount": 2}]}', resolve, "test"
        )


# -- a method's --help ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [("call",), ("view",), ("simulate", "call")])
def test_help_after_a_method_prints_its_parameters(
    cli: Cli, capsys: pytest.CaptureFixture[str], prefix: tuple[str, ...]
) -> None:
    token = deploy_token(cli)
    code, out, err = text(cli, capsys, *prefix, token, "transfer", "--help")
    assert (code, err) == (0, ""), err
    lines = out.splitlines()
    assert lines[0] == "transfer(to: address, amount: u64)"
    assert any("Moves `amount`" in line for line in lines)  # the WIT doc comment
    assert ["to", "address", '"dev1"'] in [line.split() for line in lines]
    assert ["amount", "u64"] == [line.split() for line in lines if line.split()[:1] == ["amount"]][0][:2]
    assert f"example: wasmchain {' '.join(prefix)} {token} transfer --args" in out


def test_help_works_wherever_the_flag_is_and_with_options(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    token = deploy_token(cli)
    code, out, _ = text(cli, capsys, "call", "--from", "dev0", token, "-h", "balance_of", "--gas", "5")
    assert code == 0 and out.splitlines()[0] == "balance-of(owner: address) -> u64  (read-only)"
    code, report = cli("call", token, "transfer", "--help")
    assert code == 0 and report["declared"]["signature"] == "transfer(to: address, amount: u64)"


def test_help_of_an_undeclared_method_or_untyped_contract(
    cli: Cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token = deploy_token(cli)
    code, _, err = text(cli, capsys, "call", token, "mint", "--help")
    assert code == 2 and "transfer(to: address, amount: u64)" in err
    untyped = tmp_path / "untyped.wasm"
    untyped.write_bytes(UNTYPED_TOKEN)
    _, receipt = cli("deploy", str(untyped), "--from", "dev0")
    code, out, _ = text(cli, capsys, "call", receipt["address"], "transfer", "--help")
    assert code == 0 and "no interface" in out


def test_help_without_a_method_is_argparses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["call", "--help"])
    assert done.value.code == 0
    assert "usage: wasmchain call" in capsys.readouterr().out


# -- vm validate ---------------------------------------------------------------------------------------


def test_vm_validate_shows_typed_signatures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vm", "validate", str(TOKEN_FILE)]) == 0
    out = capsys.readouterr().out
    assert "interface: package wasmchain:token, world token (wasmchain:wit)" in out
    assert "export transfer: () -> ()  method transfer(to: address, amount: u64)" in out
    assert "export balance_of: () -> ()  view balance-of(owner: address) -> u64" in out
    assert "event Transfer: from: address, to: address, amount: u64" in out
    assert main(["vm", "validate", str(TOKEN_FILE), "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["interface"] == parse_wit(TOKEN_WIT).to_json() and report["interface_error"] is None
