"""The block archive: a self-describing file of blocks, for export, import and replay.

Byte by byte (docs/replay.md has the whole story)::

    magic     b"wasmchain-blocks\\n"                      17 bytes
    header    u32 big-endian length, then canonical msgpack
              [format_version, chain_id, genesis_hash, genesis_document_hash,
               vm_version, gas_schedule_hash, genesis_document, first, last, last_hash]
    records   last - first + 1 of them, each a u32 big-endian length, then canonical msgpack
              [encoded block, encoded receipts, [[state key, value] or [state key], ...]]

``genesis_hash`` is the hash of block 0; ``genesis_document`` is the
genesis as canonical JSON (contract code inlined), so a file replays with
nothing else; ``gas_schedule_hash`` is ``VMParams.fingerprint()`` of its
``vm`` section (the gas schedule and limits); ``last_hash`` is the hash of
block ``last``, so that every byte of the file is committed to (each
block's hash is in the next one's header, the last one's is here).  A record's state changes are
what the block did to the state: each state key it wrote, sorted, with the
value right after the block (absent: deleted).  They let a replay name the
keys that differ without the original database.

Reading is strict: the magic, the version, every length (a truncated file
is an error naming the record and its byte offset), every value decoded
canonically, and nothing after the last record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from wasmchain.protocol.blocks import Block, Receipt, decode_receipts
from wasmchain.protocol.codec import decode, encode
from wasmchain.protocol.errors import ChainError, InvalidBlock, InvalidEncoding
from wasmchain.store.chain import Chain
from wasmchain.vm import VM_VERSION, InvalidParams, VMParams
from wasmchain.vm.host import Hash32

MAGIC = b"wasmchain-blocks\n"
FORMAT_VERSION = 1
LENGTH = struct.Struct(">I")
"""The length prefix of the header and of every record: u32 big-endian."""
MAX_LENGTH = (1 << 32) - 1

StateChanges = dict[bytes, bytes | None]
"""State key (as in ``state.py``, without the database's ``b"S"``) -> value after the block, or ``None``: deleted."""


class ArchiveError(ChainError):
    """A file that is not a block archive, or a damaged one; the message says where."""

    reason = "archive_error"


@dataclass(frozen=True)
class ArchiveHeader:
    """What a file holds and the rules it was produced under."""

    chain_id: str
    genesis_hash: Hash32
    """The hash of block 0."""
    genesis_document_hash: Hash32
    """SHA-256 of ``genesis_document``, as exported."""
    vm_version: str
    """The VM version of the exporting node (``vm.VM_VERSION``)."""
    gas_schedule_hash: Hash32
    """``VMParams.fingerprint()`` of the genesis ``vm`` section: gas schedule and limits."""
    genesis_document: bytes
    """The genesis as canonical JSON, contract code inlined as hex."""
    first: int
    """The first block's height (at least 1: block 0 follows from the genesis document)."""
    last: int
    """The last block's height; ``first - 1`` for a file with no blocks."""
    last_hash: Hash32
    """The hash of block ``last`` (of block ``first - 1`` for a file with no blocks)."""
    version: int = FORMAT_VERSION

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def fields(self) -> list[Any]:
        return [
            self.version,
            self.chain_id,
            self.genesis_hash,
            self.genesis_document_hash,
            self.vm_version,
            self.gas_schedule_hash,
            self.genesis_document,
            self.first,
            self.last,
            self.last_hash,
        ]

    @classmethod
    def from_canonical(cls, value: Any) -> ArchiveHeader:
        if not isinstance(value, list) or not value:
            raise ArchiveError("the header is not an array")
        if value[0] != FORMAT_VERSION:
            raise ArchiveError(f"format version {value[0]!r}: this node reads version {FORMAT_VERSION}")
        if len(value) != 10:
            raise ArchiveError(f"the header has {len(value)} fields, expected 10")
        _, chain_id, genesis_hash, document_hash, vm_version, gas_hash, document, first, last, last_hash = value
        hashes = (genesis_hash, document_hash, gas_hash, last_hash)
        if not (
            isinstance(chain_id, str)
            and isinstance(vm_version, str)
            and isinstance(document, bytes)
            and all(isinstance(h, bytes) and len(h) == 32 for h in hashes)
            and isinstance(first, int)
            and isinstance(last, int)
        ):
            raise ArchiveError("header fields have the wrong types")
        if not 1 <= first <= last + 1:
            raise ArchiveError(f"the header's range {first}..{last} is not a range of blocks from 1")
        try:
            canonical = json.dumps(json.loads(document), sort_keys=True, separators=(",", ":")).encode() == document
        except ValueError:
            canonical = False
        if not canonical:
            raise ArchiveError("the genesis document is not canonical JSON (sorted keys, no spaces)")
        return cls(chain_id, genesis_hash, document_hash, vm_version, gas_hash, document, first, last, last_hash)


@dataclass(frozen=True)
class Record:
    """One block with what its producer recorded about it."""

    block: Block
    receipts: tuple[Receipt, ...]
    changes: StateChanges | None
    """The block's state changes; ``None`` when the source does not carry them (a database)."""
    block_hash: Hash32 | None = None
    """The block's hash as the source records it apart from the block (an archive's ``last_hash``), if it does."""


def header_for(chain: Chain, first: int, last: int) -> ArchiveHeader:
    genesis = chain.genesis
    return ArchiveHeader(
        chain_id=genesis.chain_id,
        genesis_hash=chain.header(0).hash,
        genesis_document_hash=genesis.document_hash,
        vm_version=VM_VERSION,
        gas_schedule_hash=genesis.vm.fingerprint(),
        genesis_document=genesis.document,
        first=first,
        last=last,
        last_hash=chain.header(last).hash,
    )


def encode_changes(changes: StateChanges) -> list[list[bytes]]:
    return [[key] if value is None else [key, value] for key, value in sorted(changes.items())]


def write_archive(
    out: Path, chain: Chain, first: int, last: int, progress: Callable[[int, int], None] | None = None
) -> tuple[ArchiveHeader, int, int]:
    """Write blocks ``first..last`` of ``chain`` to ``out`` (through a temporary file, renamed at the end).

    Returns the header, the number of transactions and the file's size.
    ``progress(blocks, transactions)`` is called after each block.
    """
    header = header_for(chain, first, last)
    changes = chain.state_changes(first, last)
    temporary = out.with_name(out.name + ".partial")
    transactions = 0
    try:
        with open(temporary, "wb") as file:
            file.write(MAGIC)
            _write_item(file, encode(header.fields()))
            for height in range(first, last + 1):
                block, receipts = chain.stored_block(height)
                _write_item(file, encode([block, receipts, encode_changes(changes.pop(height))]))
                transactions += len(decode(receipts, what="receipts"))
                if progress is not None:
                    progress(height - first + 1, transactions)
            size = file.tell()
        os.replace(temporary, out)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ArchiveError(f"cannot write {out}: {error.strerror or error}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return header, transactions, size


def _write_item(file: BinaryIO, data: bytes) -> None:
    if len(data) > MAX_LENGTH:
        raise ArchiveError(f"an item of {len(data)} bytes does not fit a u32 length prefix")
    file.write(LENGTH.pack(len(data)))
    file.write(data)


class ArchiveReader:
    """An open archive: the header at once, then the records, each checked as it is read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: BinaryIO = open(path, "rb")
        except OSError as error:
            raise ArchiveError(f"cannot read {path}: {error.strerror or error}") from None
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            magic = self._file.read(len(MAGIC))
            if magic != MAGIC:
                raise ArchiveError(f"{path} is not a wasmchain block archive (it does not start with {MAGIC!r})")
            data = self._read_item("the header", len(MAGIC), is_record=False)
            try:
                self.header = ArchiveHeader.from_canonical(decode(data, what="the header"))
            except InvalidEncoding as error:
                raise ArchiveError(f"{path}: {error}") from None
            except ArchiveError as error:
                raise ArchiveError(f"{path}: {error}") from None
            self._records_offset = self._file.tell()
        except BaseException:
            self._file.close()
            raise

    def records(self) -> Generator[Record, None, None]:
        """The records in file order, each decoded strictly; then a check that the file ends there."""
        self._file.seek(self._records_offset)
        header = self.header
        for index in range(header.count):
            offset = self._file.tell()
            where = f"record {index} (block {header.first + index}, byte offset {offset})"
            data = self._read_item(where, offset)
            record = _decode_record(data, f"{self.path}: {where}")
            yield record if index < header.count - 1 else dataclasses.replace(record, block_hash=header.last_hash)
        offset = self._file.tell()
        if self._file.read(1):
            raise ArchiveError(
                f"{self.path}: {self.size - offset} unexpected byte(s) after the last record "
                f"(block {header.last}), at byte offset {offset}"
            )

    def _read_item(self, where: str, offset: int, *, is_record: bool = True) -> bytes:
        """The item at ``offset`` (the file's position): its length prefix, then that many bytes."""
        prefix = self._file.read(LENGTH.size)
        if len(prefix) < LENGTH.size:
            if not prefix and is_record:
                raise ArchiveError(
                    f"{self.path}: truncated: {where} is missing; the header promises blocks "
                    f"{self.header.first}..{self.header.last}"
                )
            raise ArchiveError(
                f"{self.path}: truncated: {where} has {len(prefix)} of the {LENGTH.size} bytes of its length prefix"
            )
        (length,) = LENGTH.unpack(prefix)
        left = self.size - offset - LENGTH.size
        if length > left:
            raise ArchiveError(
                f"{self.path}: truncated: {where} is {length} bytes long, but only {left} bytes are left in the file"
            )
        data = self._file.read(length)
        if len(data) != length:  # the file shrank while we read it
            raise ArchiveError(f"{self.path}: truncated: {where} ends after {len(data)} of its {length} bytes")
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _decode_record(data: bytes, where: str) -> Record:
    try:
        value = decode(data, what="the record")
        if not (
            isinstance(value, list)
            and len(value) == 3
            and isinstance(value[0], bytes)
            and isinstance(value[1], bytes)
            and isinstance(value[2], list)
        ):
            raise ArchiveError("a record is [block, receipts, state changes]")
        block = Block.decode(value[0])
        receipts = tuple(decode_receipts(value[1]))
        changes = _decode_changes(value[2])
    except (InvalidEncoding, InvalidBlock, ArchiveError) as error:
        raise ArchiveError(f"{where}: {error}") from None
    return Record(block, receipts, changes)


def _decode_changes(entries: list[Any]) -> StateChanges:
    changes: StateChanges = {}
    previous = b""
    for index, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) in (1, 2) and all(isinstance(part, bytes) for part in entry)):
            raise ArchiveError(f"state change {index} is not [key, value] or [key]")
        key = entry[0]
        if index and key <= previous:
            raise ArchiveError(
                f"state change {index}: keys must be sorted and unique (0x{key.hex()} after 0x{previous.hex()})"
            )
        changes[key] = entry[1] if len(entry) == 2 else None
        previous = key
    return changes


def document_hash(document: bytes) -> Hash32:
    return hashlib.sha256(document).digest()


def recorded_params(document: bytes) -> VMParams:
    """The ``vm`` section of a genesis document, whatever VM version it names.

    ``VMParams.from_dict`` refuses another VM's version; this reads the
    parameters as written, so that their fingerprint can be compared and a
    replay can be refused with a clear message (or, if asked, run).
    """
    try:
        parsed = json.loads(document)
        section = dict(parsed["vm"])
        written = section.get("version")
        section["version"] = VM_VERSION
        params = VMParams.from_dict(section)
    except (ValueError, TypeError, KeyError) as error:
        raise ArchiveError(f"the genesis document has no readable vm section: {error}") from None
    except InvalidParams as error:
        raise ArchiveError(f"the genesis document's {error}") from None
    if not isinstance(written, str):
        raise ArchiveError(f"the genesis document's vm.version is not a string: {written!r}")
    return VMParams(written, params.allow_floats, params.limits, params.gas)
