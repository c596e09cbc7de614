"""The database schema: the bytes of every key and record are pinned, and no module but
``store/schema.py`` defines a database key prefix or builds a key from one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import GENESIS, ROOT
from wasmchain.protocol.codec import encode
from wasmchain.protocol.keys import dev_key
from wasmchain.protocol.state import account_key
from wasmchain.protocol.transactions import Transaction, TxKind
from wasmchain.store import schema
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

SCHEMA = ROOT / "chain" / "store" / "schema.py"
DATABASE_KEYS = frozenset({b"S", b"N", b"B", b"R", b"H", b"T", b"U", b"M", b"Mgenesis", b"Mhead"})
"""The prefixes and fixed keys of the database (the table in schema.py's docstring)."""


def test_the_keys_are_the_documented_bytes() -> None:
    """The file format: changing any of these makes every existing database unreadable."""
    h32, height = bytes(range(32)), (5).to_bytes(8, "big")
    assert schema.state_db_key(b"a" + bytes(20)) == b"Sa" + bytes(20)
    assert schema.node_key(h32) == b"N" + h32
    assert schema.block_key(5) == b"B" + height
    assert schema.receipts_key(5) == b"R" + height
    assert schema.block_hash_key(h32) == b"H" + h32
    assert schema.tx_index_key(h32) == b"T" + h32
    assert schema.undo_key(5) == b"U" + height
    assert schema.genesis_key() == b"Mgenesis"
    assert schema.head_key() == b"Mhead"
    assert schema.is_tx_index_key(schema.tx_index_key(h32)) and not schema.is_tx_index_key(schema.block_key(5))
    assert schema.state_key_of(b"Sxyz") == b"xyz" and schema.state_key_of(b"Txyz") is None


def test_the_records_are_the_documented_bytes() -> None:
    assert schema.encode_head(7) == encode([7]) and schema.decode_head(encode([7])) == 7
    assert (
        schema.encode_block_height(7) == (7).to_bytes(8, "big") and schema.decode_block_height(b"\0" * 7 + b"\7") == 7
    )
    assert schema.encode_tx_location(7, 2) == encode([7, 2]) and schema.decode_tx_location(encode([7, 2])) == (7, 2)
    before = {b"Tb": None, b"Sa": b"old"}
    assert schema.encode_undo(before) == encode([[b"Sa", b"old"], [b"Tb"]])  # sorted by key; absent: [key]
    assert schema.decode_undo(schema.encode_undo(before)) == {b"Sa": b"old", b"Tb": None}


def test_a_committed_block_writes_exactly_the_schema_keys() -> None:
    kv = MemoryKV()
    chain = Chain.create(kv, load_genesis(GENESIS))
    key = dev_key(0)
    signed = Transaction(
        "wasmchain-devnet", 0, 100_000, 1, key.public_key, TxKind.TRANSFER, to=dev_key(1).address, value=5
    ).sign(key)
    block, receipts = chain.produce([signed], chain.head.timestamp)
    assert receipts[0].ok
    stored = dict(kv.iterate())
    assert stored[schema.block_key(1)] == block.encode()
    assert stored[schema.block_hash_key(block.hash)] == schema.encode_block_height(1)
    assert stored[schema.tx_index_key(signed.hash)] == schema.encode_tx_location(1, 0)
    assert stored[schema.head_key()] == schema.encode_head(1)
    undo = schema.decode_undo(stored[schema.undo_key(1)])
    assert schema.state_db_key(account_key(key.address)) in undo
    assert undo[schema.tx_index_key(signed.hash)] is None  # the index did not exist before the block
    assert dict(schema.iterate_state(kv)) == {k[1:]: v for k, v in stored.items() if k.startswith(b"S")}
    assert dict(schema.StateTable(kv).iterate(b"a")) == {k[1:]: v for k, v in stored.items() if k.startswith(b"Sa")}


# -- nobody else builds a key ---------------------------------------------------------------------


def _named_like_a_key(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.isupper() and name.endswith(("_PREFIX", "_KEY"))  # a constant, not a variable like state_key


def _database_key_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, bytes) and node.value in DATABASE_KEYS


def key_building(source: str) -> list[str]:
    """What in ``source`` defines a database key prefix or builds a key from one, with the line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if (
                value is not None
                and isinstance(value, ast.Constant)
                and isinstance(value.value, bytes)
                and (any(_named_like_a_key(target) for target in targets) or value.value in DATABASE_KEYS)
            ):
                found.append(f"line {node.lineno}: a key prefix defined")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if any(_named_like_a_key(side) or _database_key_literal(side) for side in (node.left, node.right)):
                found.append(f"line {node.lineno}: a key built from a prefix")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("get", "iterate", "startswith") and any(
                _database_key_literal(arg) for arg in node.args
            ):
                found.append(f"line {node.lineno}: a database key written out")
    return found


@pytest.mark.parametrize(
    "source",
    [
        'TX_PREFIX = b"T"',
        'HEAD: bytes = b"Mhead"',
        "key = TX_PREFIX + tx_hash",
        "key = schema.NODE_PREFIX + node_hash",
        'key = b"S" + state_key',
        'kv.get(b"Mgenesis")',
        'kv.iterate(b"S")',
    ],
)
def test_the_scan_finds_a_key_built_outside_the_schema(source: str) -> None:
    assert key_building(source), source


def test_the_scan_lets_the_protocols_state_keys_and_hash_tags_be() -> None:
    allowed = 'ACCOUNT = b"a"\nkey = ACCOUNT + address\nnode = _LEAF_TAG + left + right\nleaf = b"\\x00" + other_key'
    assert key_building(allowed) == []


def source_files() -> list[Path]:
    return sorted(path for path in (ROOT / "chain").rglob("*.py") if path != SCHEMA)


def test_only_the_schema_builds_database_keys() -> None:
    assert len(source_files()) > 30
    offences = {
        str(path.relative_to(ROOT)): found for path in source_files() if (found := key_building(path.read_text()))
    }
    assert offences == {}
    assert key_building(SCHEMA.read_text())  # the scan sees the schema's own keys
