"""docs/rpc.md is true: every method has a section listing exactly its parameters, and every example runs.

The examples run in document order on one node set up as the document
says (``docs_node``): each ```` ```json request ```` block goes through
``Dispatcher.handle`` and the ```` ```json response ```` block after it must be
the answer, exactly; a request with no response block after it must get
no answer (a notification).  In a documented answer, a string ending in
``...`` stands for any string that starts with what comes before the dots
(used for contract code only).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.chain.test_rpc import REJECTIONS
from tests.helpers import CONTRACTS, GENESIS, ROOT
from wasmchain.node.jsonrpc import FOLLOWER_REFUSED, INTERNAL_ERROR, REASONS, REQUIRED, TX_REJECTED
from wasmchain.node.network import CheckTxRefused, CometBFTUnreachable, NetworkRefused
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.args import encode_args
from wasmchain.protocol.keys import contract_address, dev_key, format_address
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

DOC = ROOT / "docs" / "rpc.md"
SECTION = re.compile(r"^### `([a-z_]+)`[ \t]*$", re.MULTILINE)
HEADING = re.compile(r"^#{2,3} ", re.MULTILINE)
EXAMPLE = re.compile(r"^[ \t]*```json (request|response)\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \|", re.MULTILINE)
ELIDED = "..."
REASON_ROW = re.compile(r"^\| `([a-z_]+)` \| `(-3\d{4})` \|", re.MULTILINE)


def setup_transactions() -> list[SignedTransaction]:
    """What the examples' node has done before the first example: dev0 deploys the token and pays dev1."""
    genesis = load_genesis(GENESIS)
    dev0, dev1 = dev_key(0), dev_key(1)
    token = contract_address(dev0.address, 0)

    def sign(nonce: int, kind: TxKind, **fields: Any) -> SignedTransaction:
        return Transaction(genesis.chain_id, nonce, 10**8, 1, dev0.public_key, kind, **fields).sign(dev0)

    return [
        sign(
            0,
            TxKind.DEPLOY,
            code=(CONTRACTS / "token" / "token.wasm").read_bytes(),
            method="init",
            args=encode_args({"supply": 1_000_000}),
        ),
        sign(
            1,
            TxKind.CALL,
            to=token,
            method="transfer",
            args=encode_args({"to": format_address(dev1.address), "amount": 250}),
        ),
    ]


def docs_node() -> Dispatcher:
    """A fresh devnet node (genesis.json, instant mining, timestamps parent + 1) after the setup transactions."""
    node = Node(Chain.create(MemoryKV(), load_genesis(GENESIS)), clock=None)
    for signed in setup_transactions():
        assert node.submit(signed).included
    return Dispatcher(node)


def sections(text: str) -> dict[str, str]:
    """Each method's section: from its heading to the next heading."""
    found: dict[str, str] = {}
    for match in SECTION.finditer(text):
        following = HEADING.search(text, match.end())
        found[match.group(1)] = text[match.end() : following.start() if following else len(text)]
    return found


def documented_params(section: str) -> list[tuple[str, str]]:
    """(name, default) of each row of the section's parameter table."""
    table = section.split("| param |", 1)
    if len(table) == 1:
        return []
    rows = table[1].split("\n\n", 1)[0]
    return [(match.group(1), match.group(3).strip()) for match in ROW.finditer(rows)]


def as_json(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


def matches(documented: Any, actual: Any) -> bool:
    if isinstance(documented, str) and documented.endswith(ELIDED) and isinstance(actual, str):
        return actual.startswith(documented[: -len(ELIDED)])
    if isinstance(documented, dict) and isinstance(actual, dict):
        return documented.keys() == actual.keys() and all(matches(documented[k], actual[k]) for k in documented)
    if isinstance(documented, list) and isinstance(actual, list):
        return len(documented) == len(actual) and all(map(matches, documented, actual))
    return type(documented) is type(actual) and documented == actual


TEXT = DOC.read_text()
DISPATCHER_METHODS = Dispatcher(Node(Chain.create(MemoryKV(), load_genesis(GENESIS)), clock=None)).methods


def test_every_method_has_a_section_and_every_section_a_method() -> None:
    assert sorted(sections(TEXT)) == sorted(DISPATCHER_METHODS)


@pytest.mark.parametrize("method", sorted(DISPATCHER_METHODS))
def test_a_section_lists_exactly_the_declared_parameters_in_order_with_their_defaults(method: str) -> None:
    section = sections(TEXT).get(method)
    assert section is not None, f"docs/rpc.md has no section for {method}"
    spec = DISPATCHER_METHODS[method].params
    declared = [(param.name, "required" if param.default is REQUIRED else param.default) for param in spec]
    documented = documented_params(section)
    assert [name for name, _ in documented] == [name for name, _ in declared]
    for (name, default_text), (_, default) in zip(documented, declared):
        if default == "required":
            assert default_text == "required", name
        else:
            assert json.loads(default_text.strip("`")) == as_json(default), name
    if not spec:
        assert "No parameters." in section
    examples = [json.loads(body) for kind, body in EXAMPLE.findall(section) if kind == "request"]
    assert any(isinstance(e, dict) and e.get("method") == method for e in examples), f"{method} has no example"


def test_every_example_gives_the_documented_answer() -> None:
    rpc = docs_node()
    blocks = EXAMPLE.findall(TEXT)
    assert blocks and blocks[0][0] == "request"
    ran = 0
    for index, (kind, body) in enumerate(blocks):
        if kind == "response":
            assert blocks[index - 1][0] == "request", f"a response with no request before it:\n{body}"
            continue
        raw = rpc.handle(body.encode())
        answer = None if raw is None else json.loads(raw)
        documented = (
            json.loads(blocks[index + 1][1]) if index + 1 < len(blocks) and blocks[index + 1][0] == "response" else None
        )
        assert matches(documented, answer), (
            f"request:\n{body}\ndocumented:\n{documented}\nactual:\n{json.dumps(answer, indent=2)}"
        )
        ran += 1
    assert ran >= len(DISPATCHER_METHODS)


def test_the_errors_list_every_reason_the_node_answers_with_its_code() -> None:
    """Each code's own reason, and every refusal of a transaction the tests provoke (tests/chain/test_rpc.py)."""
    documented = {reason: int(code) for reason, code in REASON_ROW.findall(TEXT)}
    expected = {reason: code for code, reason in REASONS.items()} | {reason: TX_REJECTED for reason in REJECTIONS}
    # a validator's own (wasmchain node, docs/network.md)
    expected |= {
        NetworkRefused.reason: FOLLOWER_REFUSED,
        CheckTxRefused.reason: TX_REJECTED,
        CometBFTUnreachable("").reason: INTERNAL_ERROR,
    }
    assert documented == expected
