"""The database schema: every key of a chain's database, and the encoding of the records stored there.

One LevelDB (or a ``MemoryKV`` in tests) holds one chain:

| key | value |
| --- | --- |
| ``b"S" + state_key`` | the state: ``state_key`` and its value as ``protocol/state.py`` lays them out |
| ``b"N" + node_hash`` | a sparse Merkle tree node (see ``protocol/smt.py``) |
| ``b"B" + height`` | the block (``Block.encode``; the height is 8 bytes, big-endian) |
| ``b"R" + height`` | the block's receipts (``encode_receipts``) |
| ``b"H" + block_hash`` | the block's height (8 bytes, big-endian) |
| ``b"T" + tx_hash`` | ``[height, index]`` of the transaction |
| ``b"U" + height`` | the block's undo record: ``[[key, value before] or [key], ...]`` (absent before), sorted by key, |
| | for the state and transaction-index keys the block wrote |
| ``b"Mgenesis"`` | the genesis document (canonical JSON) |
| ``b"Mhead"`` | ``[height]`` of the last committed block |

Nothing else in the package builds a key: it calls the functions here.

The split with the protocol: ``protocol/state.py`` owns the *state keys*
(``account_key``, ``code_key``, ``storage_key``), which are also the leaves
of the Merkle tree and so part of the protocol; this module owns the
*database* prefix ``b"S"`` they are stored under.  The protocol's ``State``
reads and writes state keys through a journal; the store gives it a
``Journal`` over ``StateTable(kv)``, the state's part of the database seen
with state keys, so the protocol never learns the database layout (and
never imports the store).  A block's state changes are state keys
throughout; ``state_db_key`` turns them into database keys for the one
atomic write and its undo record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from wasmchain.protocol.codec import decode, encode
from wasmchain.store.kv import KVStore
from wasmchain.vm.host import Hash32

STATE_PREFIX = b"S"
"""Every state key, under this prefix (iterate with ``iterate_state``)."""
NODE_PREFIX = b"N"
"""Merkle tree nodes, by hash (content-addressed, never deleted)."""
_BLOCK = b"B"
_RECEIPTS = b"R"
_BLOCK_HASH = b"H"
_TX_INDEX = b"T"
_UNDO = b"U"
_GENESIS = b"Mgenesis"
_HEAD = b"Mhead"

HEIGHT_SIZE = 8
"""A height in a key (and in the block-hash index's value): big-endian, this many bytes."""


def _height(height: int) -> bytes:
    return height.to_bytes(HEIGHT_SIZE, "big")


# -- keys --------------------------------------------------------------------------------------


def state_db_key(state_key: bytes) -> bytes:
    """Where a state key (``protocol/state.py``) is stored."""
    return STATE_PREFIX + state_key


def node_key(node_hash: bytes) -> bytes:
    """Where a Merkle tree node is stored."""
    return NODE_PREFIX + node_hash


def block_key(height: int) -> bytes:
    return _BLOCK + _height(height)


def receipts_key(height: int) -> bytes:
    return _RECEIPTS + _height(height)


def block_hash_key(block_hash: Hash32) -> bytes:
    """The index from a block's hash to its height."""
    return _BLOCK_HASH + block_hash


def tx_index_key(tx_hash: Hash32) -> bytes:
    """The index from a transaction's hash to its block and position (``encode_tx_location``)."""
    return _TX_INDEX + tx_hash


def is_tx_index_key(key: bytes) -> bool:
    return key.startswith(_TX_INDEX)


def undo_key(height: int) -> bytes:
    """Where the undo record of the block at ``height`` is stored (``encode_undo``)."""
    return _UNDO + _height(height)


def genesis_key() -> bytes:
    """The genesis document the chain was created with."""
    return _GENESIS


def head_key() -> bytes:
    """The height of the last committed block (``encode_head``)."""
    return _HEAD


# -- records -----------------------------------------------------------------------------------


def encode_head(height: int) -> bytes:
    return encode([height])


def decode_head(data: bytes) -> int:
    value = decode(data, what="head")
    return value[0]  # type: ignore[no-any-return]


def encode_block_height(height: int) -> bytes:
    """The value of a ``block_hash_key``."""
    return _height(height)


def decode_block_height(data: bytes) -> int:
    return int.from_bytes(data, "big")


def encode_tx_location(height: int, index: int) -> bytes:
    """The value of a ``tx_index_key``: the block's height and the transaction's index in it."""
    return encode([height, index])


def decode_tx_location(data: bytes) -> tuple[int, int]:
    height, index = decode(data, what="transaction index")
    return height, index


def encode_undo(before: Mapping[bytes, bytes | None]) -> bytes:
    """A block's undo record: each database key it wrote and its value before the block
    (``None``: absent), sorted by key."""
    return encode([[key] if before[key] is None else [key, before[key]] for key in sorted(before)])


def decode_undo(record: bytes) -> dict[bytes, bytes | None]:
    """Database key -> its value before the block (``None``: absent), in key order."""
    return {entry[0]: entry[1] if len(entry) == 2 else None for entry in decode(record, what="undo record")}


def state_key_of(db_key: bytes) -> bytes | None:
    """The state key stored under ``db_key``; ``None`` if ``db_key`` is not a state entry."""
    return db_key[len(STATE_PREFIX) :] if db_key.startswith(STATE_PREFIX) else None


def iterate_state(kv: KVStore) -> Iterator[tuple[bytes, bytes]]:
    """The stored state: (state key, value), in key order."""
    start = len(STATE_PREFIX)
    for key, value in kv.iterate(STATE_PREFIX):
        yield key[start:], value


class StateTable:
    """The state's part of a database, keyed by state key: the base of the ``Journal`` that the
    protocol's ``State`` reads and writes through.  It only reads: a block's state changes are
    written in the chain's one atomic batch (``state_db_key``)."""

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    def get(self, key: bytes) -> bytes | None:
        return self.kv.get(STATE_PREFIX + key)

    def iterate(self, prefix: bytes = b"", *, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """The state's items whose key starts with ``prefix``, in key order, from ``start`` (a state key, inclusive)
        if given."""
        skip = len(STATE_PREFIX)
        for key, value in self.kv.iterate(STATE_PREFIX + prefix, start=None if start is None else STATE_PREFIX + start):
            yield key[skip:], value
