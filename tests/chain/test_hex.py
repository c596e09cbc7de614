"""Hex is strict wherever it is taken (issue 12, item 3).

``bytes.fromhex`` skips whitespace, so ``"0x 92 9c"`` was taken as two bytes by
every parser that used it: an RPC parameter, a signed transaction, an
address, a hash, a storage key, the CLI's hashes and ``--args``.  One helper
(``protocol/hexstr.py``) now takes digits only, and each caller refuses
anything else with its own message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import CONTRACTS, GENESIS
from wasmchain.cli import commands, runner
from wasmchain.cli.main import main
from wasmchain.node.jsonrpc import INVALID_PARAMS
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol import genesis, smt
from wasmchain.protocol.args import ArgsError, encode_args, parse_args
from wasmchain.protocol.errors import ChainError, GenesisError, InvalidEncoding
from wasmchain.protocol.hexstr import from_0x, from_hex
from wasmchain.protocol.keys import dev_key, format_address, parse_address
from wasmchain.protocol.transactions import Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

G = load_genesis(GENESIS)
DEV0 = dev_key(0)
ADDRESS = format_address(DEV0.address)


def spaced(text: str) -> str:
    """``0x`` hex with a space between every two digits: what ``bytes.fromhex`` accepted."""
    digits = text.removeprefix("0x")
    return "0x " + " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


NOT_HEX = [
    "92 9c",
    " 929c",
    "929c ",
    "92\t9c",
    "92\n9c",
    "929c\n",
    "92_9c",
    "+929",
    "٩٢",  # Arabic-Indic digits: str.isdigit() says yes
    "９２",  # full-width digits
    "0x92",  # a prefix is the caller's business
    "929",
    "zz",
]


@pytest.mark.parametrize("text", NOT_HEX)
def test_from_hex_takes_an_even_number_of_hex_digits_and_nothing_else(text: str) -> None:
    with pytest.raises(ValueError):
        from_hex(text)
    with pytest.raises(ValueError):
        from_0x("0x" + text)


def test_from_hex_takes_what_the_tools_print() -> None:
    assert from_hex("") == b""
    assert from_hex("929c") == from_hex("929C") == b"\x92\x9c"
    assert from_0x("0x" + DEV0.address.hex()) == DEV0.address
    with pytest.raises(ValueError):
        from_0x("929c")  # no prefix
    with pytest.raises(ValueError):
        from_0x("0X929c")  # the node prints 0x


def test_bytes_fromhex_is_what_was_lenient() -> None:
    """The hazard itself: fromhex takes the spaced text as the address it spells."""
    assert bytes.fromhex(spaced(ADDRESS)[2:]) == DEV0.address


# -- RPC parameters -------------------------------------------------------------------------------


@pytest.fixture
def rpc() -> Dispatcher:
    return Dispatcher(Node(Chain.create(MemoryKV(), G), clock=None))


def error_of(rpc: Dispatcher, method: str, params: dict[str, Any]) -> dict[str, Any]:
    raw = rpc.handle(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode())
    assert raw is not None
    answer = json.loads(raw)
    assert "error" in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


def signed_transfer_hex() -> str:
    tx = Transaction(G.chain_id, 0, 10**6, 1, DEV0.public_key, TxKind.TRANSFER, to=dev_key(1).address, value=5)
    return "0x" + tx.sign(DEV0).encoded.hex()


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("get_balance", {"address": spaced(ADDRESS)}, "address must be 0x followed by 40 hex digits"),
        ("get_account", {"address": ADDRESS[:10] + "\n" + ADDRESS[10:]}, "address must be 0x followed by 40"),
        ("get_transaction", {"hash": spaced("ab" * 32)}, "hash must be 0x followed by 64 hex digits"),
        ("get_block", {"block": "0x" + " " * 2 + "ab" * 31 + "a"}, "block must be"),
        ("submit_transaction", {"tx": "0x 92 9c"}, "tx must be 0x followed by an even number of hex digits"),
        ("submit_transaction", {"tx": spaced(signed_transfer_hex())}, "tx must be 0x followed by an even number"),
        ("view", {"contract": ADDRESS, "method": "m", "args_hex": "0x 80"}, "args_hex must be 0x followed"),
        ("view", {"contract": ADDRESS, "method": "m", "args": {"to": spaced(ADDRESS)}}, "starts with 0x but is not"),
        ("get_proof", {"address": ADDRESS, "key": "0x 61 62"}, "storage key '0x 61 62' starts with 0x but is not hex"),
    ],
    ids=["address", "address-newline", "hash", "block-hash", "tx", "signed-tx", "args-hex", "args", "storage-key"],
)
def test_rpc_parameters_refuse_hex_with_spaces(rpc: Dispatcher, method: str, params: Any, message: str) -> None:
    error = error_of(rpc, method, params)
    assert error["code"] == INVALID_PARAMS and message in error["message"], error


def test_a_spaced_transaction_changes_nothing_and_the_same_one_unspaced_goes_in(rpc: Dispatcher) -> None:
    before = rpc.node.chain.head.height
    error_of(rpc, "submit_transaction", {"tx": spaced(signed_transfer_hex())})
    assert rpc.node.chain.head.height == before
    assert rpc.call("submit_transaction", {"tx": signed_transfer_hex()})["status"] == "included"


# -- addresses, arguments, hashes outside RPC -------------------------------------------------------


@pytest.mark.parametrize("text", [spaced(ADDRESS), spaced(ADDRESS)[2:], ADDRESS[:20] + "\t" + ADDRESS[21:]])
def test_parse_address_refuses_spaces(text: str) -> None:
    with pytest.raises(ChainError, match="an address is 0x followed by 40 hex digits"):
        parse_address(text)
    assert parse_address(ADDRESS) == parse_address(ADDRESS[2:]) == DEV0.address


def test_args_refuse_a_0x_string_that_is_not_hex() -> None:
    """A 0x string is bytes (an address pasted into --args); one that is not hex is a mistake, not text."""
    assert encode_args({"to": ADDRESS}) == encode_args({"to": DEV0.address})
    for text in (spaced(ADDRESS), "0x929", "0xzz"):
        with pytest.raises(ArgsError, match=r"args\.to: .* starts with 0x but is not an even number of hex digits"):
            encode_args({"to": text})
    with pytest.raises(ArgsError, match=r"args\.to"):
        parse_args(json.dumps({"to": spaced(ADDRESS)}))
    assert encode_args({"name": "text without the prefix"})  # other strings stay strings


def test_the_cli_refuses_spaced_addresses_hashes_and_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ChainError, match="followed by 64 hex digits"):
        commands._hex32(spaced("ab" * 32), "transaction hash")
    assert commands._hex32("0x" + "ab" * 32, "transaction hash") == bytes([0xAB]) * 32
    with pytest.raises(ValueError):
        runner._hex("0x 01")
    token = str(CONTRACTS / "token" / "token.wasm")
    assert main(["vm", "run", token, "--method", "m", "--input-hex", "92 9c"]) == 2
    assert "--input-hex is not hex" in capsys.readouterr().err
    assert main(["vm", "run", token, "--method", "m", "--caller", spaced(ADDRESS)]) == 2
    assert "--caller must be 0x followed by 40 hex digits" in capsys.readouterr().err


def test_genesis_and_proofs_refuse_spaced_hex() -> None:
    with pytest.raises(GenesisError, match="is not valid hex"):
        genesis._hex("0x 01 02", "storage value", GenesisError)
    with pytest.raises(InvalidEncoding, match="expected 64 hex digits"):
        smt._hash_from_hex(" " + "ab" * 31 + " ", "sibling")  # 64 characters, 31 bytes
