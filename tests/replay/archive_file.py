"""The export file, read and rewritten byte by byte, independently of ``chain.archive``.

Written from the format's description (docs/replay.md, the docstring of
``chain/archive.py``), with msgpack, ``struct`` and the tests' own Merkle
reference (``tests.helpers.reference_merkle_root``) only, so that the fault
tests tamper with the file the way an outsider would, and a mistake in the
code under test cannot hide in a shared helper::

    magic     b"wasmchain-blocks\\n"
    header    u32 big-endian length, msgpack [format_version, chain_id, genesis_hash,
              genesis_document_hash, vm_version, gas_schedule_hash, genesis_document, first, last, last_hash]
    records   each a u32 big-endian length, msgpack [encoded block, encoded receipts, state changes]
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from tests.helpers import reference_merkle_root

MAGIC = b"wasmchain-blocks\n"
LENGTH = struct.Struct(">I")

# Header fields by position.
H_GENESIS_DOCUMENT_HASH, H_VM_VERSION, H_GAS_SCHEDULE_HASH, H_GENESIS_DOCUMENT, H_FIRST, H_LAST, H_LAST_HASH = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
)
# Record fields by position.
R_BLOCK, R_RECEIPTS, R_CHANGES = 0, 1, 2
# Block, header and transaction fields by position (chain/blocks.py, chain/transactions.py).
B_HEADER, B_TRANSACTIONS = 0, 1
HEADER_FIELDS = (
    "chain_id",
    "height",
    "parent_hash",
    "timestamp",
    "tx_root",
    "receipts_root",
    "state_root",
    "gas_used",
    "overrides_root",
)
TX_FIELDS, TX_SIGNATURE = 0, 1
TX_ARGS = 11


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class ArchiveFile:
    """A whole export file as bytes: the magic, the header item, the record items."""

    magic: bytes
    header: bytes
    records: list[bytes] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> ArchiveFile:
        data = path.read_bytes()
        assert data.startswith(MAGIC), data[:40]
        offset = len(MAGIC)
        items = []
        while offset < len(data):
            (length,) = LENGTH.unpack_from(data, offset)
            offset += LENGTH.size
            assert offset + length <= len(data), "the file as exported is whole"
            items.append(data[offset : offset + length])
            offset += length
        return cls(MAGIC, items[0], items[1:])

    def to_bytes(self) -> bytes:
        return self.magic + b"".join(LENGTH.pack(len(item)) + item for item in [self.header, *self.records])

    def write(self, path: Path) -> None:
        path.write_bytes(self.to_bytes())

    # -- decoded views ------------------------------------------------------------

    def header_fields(self) -> list[Any]:
        fields: list[Any] = unpack(self.header)
        return fields

    def record(self, index: int) -> list[Any]:
        value: list[Any] = unpack(self.records[index])
        return value

    def block(self, index: int) -> list[Any]:
        """The block of record ``index``: ``[header fields, [[tx fields, signature], ...], ...]``."""
        value: list[Any] = unpack(self.record(index)[R_BLOCK])
        return value

    def height_of(self, index: int) -> int:
        height: int = self.block(index)[B_HEADER][HEADER_FIELDS.index("height")]
        return height

    def offset_of_record(self, index: int) -> int:
        """The byte offset of record ``index``'s length prefix in the file."""
        return (
            len(self.magic)
            + LENGTH.size
            + len(self.header)
            + sum(LENGTH.size + len(item) for item in self.records[:index])
        )

    # -- tampering ----------------------------------------------------------------

    def flip_in_block(self, index: int, needle: bytes, position: int = 0) -> None:
        """Flip the lowest bit of byte ``position`` of ``needle`` where it occurs (once) inside record ``index``'s
        encoded block; the record keeps its length and stays well-formed msgpack."""
        record = self.record(index)
        block = record[R_BLOCK]
        assert block.count(needle) == 1, "the bytes to tamper with occur exactly once in the block"
        at = block.index(needle) + position
        record[R_BLOCK] = block[:at] + bytes([block[at] ^ 1]) + block[at + 1 :]
        tampered = pack(record)
        assert len(tampered) == len(self.records[index])
        self.records[index] = tampered

    def replace_block(self, index: int, block: list[Any]) -> None:
        record = self.record(index)
        record[R_BLOCK] = pack(block)
        self.records[index] = pack(record)

    def replace_header(self, fields: list[Any]) -> None:
        self.header = pack(fields)


merkle_root = reference_merkle_root
"""The RFC 6962 root (``tests.helpers``), as the header's tx and receipts roots use it."""
