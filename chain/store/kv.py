"""The bottom storage layer: a tiny key-value interface and its two backends.

``KVStore`` is the one seam between the chain and its database.  Keys and
values are ``bytes``; ``write`` applies a whole batch atomically (``None``
deletes a key), which is how a block is committed: its state changes, its
tree nodes, the block, its receipts and the head pointer in one write.

- ``MemoryKV`` keeps a dict, for tests and the in-process chain.
- ``LevelDBKV`` keeps a LevelDB directory through plyvel; every write is
  one ``WriteBatch``, so a crash leaves each batch either wholly applied or
  not at all.  By default the batch is synced (``sync=True``), so a
  returned ``write`` survives even a crash of the machine; ``sync=False``
  trades that last guarantee for speed (see ``LevelDBKV``).

Both behave identically, down to their errors: a batch with a key or value
that is not ``bytes`` raises ``TypeError`` and applies nothing, and any use
after ``close`` raises ``StoreError``.  ``iterate`` returns an iterator over
a snapshot taken when it is called: writes made while iterating are not seen.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol

import plyvel

from wasmchain.protocol.errors import ChainError

Changes = Mapping[bytes, bytes | None]
"""A batch for ``KVStore.write``: a value to put, or ``None`` to delete."""


class StoreError(ChainError):
    """Root of the key-value store's errors: the database cannot be used."""

    reason = "storage_error"


class DatabaseLocked(StoreError):
    """The LevelDB directory is held by another ``LevelDBKV`` (usually a running node)."""

    reason = "database_locked"


class DatabaseMissing(StoreError):
    """``create=False`` and there is no database at the path."""

    reason = "database_missing"


class KVStore(Protocol):
    """A sorted key-value store with atomic batch writes."""

    def get(self, key: bytes) -> bytes | None:
        """The value stored under ``key``, or ``None``."""

    def iterate(
        self, prefix: bytes = b"", *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """The items whose key starts with ``prefix``, in byte order (descending if ``reverse``).

        ``start``, if given, is where iteration begins (inclusive, in the
        direction of iteration): keys before it are skipped.
        """

    def write(self, changes: Changes) -> None:
        """Apply ``changes`` as one atomic batch, in sorted key order; ``None`` deletes."""

    def close(self) -> None:
        """Release the store; closing twice is harmless."""


LEVELDB_OPTIONS = {
    "write_buffer_size": 64 << 20,
    "lru_cache_size": 64 << 20,
    "bloom_filter_bits": 10,
}
"""LevelDB's tuning (none of it changes what is stored).  A block of 500 transfers writes ~2 MB, mostly
tree nodes under random hashes: with LevelDB's 4 MB default write buffer, every other block flushed a table
that overlapped the whole next level, and at a million accounts background compaction slowed the commits
~4x.  64 MB buffers flush 16x less often; the 64 MB block cache keeps the upper tree levels and hot
accounts; bloom filters (10 bits a key, as geth and Bitcoin Core use) let a read of a missing key (a new
transaction's index entry, which ``commit`` reads for its undo record) skip the tables that lack it."""


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix``; ``None`` if unbounded."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _checked_batch(changes: Changes) -> list[tuple[bytes, bytes | None]]:
    """The batch as a list, checked: ``TypeError`` for a key or value that is not bytes.

    Materializing and checking the whole batch first is what lets both
    backends apply all of it or none of it.  The keys of a mapping are
    distinct, so their order cannot change what the batch stores: it is
    not sorted (a block's batch holds ~30,000 keys).
    """
    batch = list(changes.items())
    for key, value in batch:
        if type(key) is not bytes:
            raise TypeError(f"a key must be bytes, found {type(key).__name__}: {key!r}")
        if value is not None and type(value) is not bytes:
            raise TypeError(f"the value of {key!r} must be bytes or None, found {type(value).__name__}")
    return batch


def _closed(what: str) -> StoreError:
    return StoreError(f"the {what} is closed")


class MemoryKV:
    """A ``KVStore`` in a dict."""

    def __init__(self, items: Mapping[bytes, bytes] | None = None) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] | None = None
        """The keys, sorted; rebuilt on the next ``iterate`` after a key is added or removed."""
        self._open = True
        if items:
            self.write(items)

    def get(self, key: bytes) -> bytes | None:
        if not self._open:
            raise _closed("memory store")
        return self._data.get(key)

    def iterate(
        self, prefix: bytes = b"", *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        if not self._open:
            raise _closed("memory store")
        if self._keys is None:
            self._keys = sorted(self._data)
        keys = self._keys
        low, high = prefix, prefix_upper_bound(prefix)
        first = bisect.bisect_left(keys, low)
        stop = len(keys) if high is None else bisect.bisect_left(keys, high, first)
        if start is not None:
            if reverse:
                stop = bisect.bisect_right(keys, start, first, stop)
            else:
                first = bisect.bisect_left(keys, start, first, stop)
        data = self._data
        items = [(key, data[key]) for key in keys[first:stop]]
        if reverse:
            items.reverse()
        return iter(items)

    def write(self, changes: Changes) -> None:
        if not self._open:
            raise _closed("memory store")
        batch = _checked_batch(changes)
        data = self._data
        reshaped = False
        for key, value in batch:  # nothing below can fail: the batch is all-or-nothing
            if value is None:
                reshaped = data.pop(key, None) is not None or reshaped
            else:
                reshaped = reshaped or key not in data
                data[key] = value
        if reshaped:
            self._keys = None

    def close(self) -> None:
        self._open = False


class LevelDBKV:
    """A ``KVStore`` in a LevelDB directory, held exclusively while open.

    ``create=True`` creates the directory and database if missing;
    ``create=False`` raises ``DatabaseMissing`` instead.  A directory
    already open elsewhere, in this process or another, raises
    ``DatabaseLocked``.  Usable as a context manager (closes on exit).

    ``sync`` (default ``True``) is whether each ``write`` waits for an
    fsync of LevelDB's log before returning; it costs about 1 ms a write.
    Without it a batch is still atomic, and a returned ``write`` is in the
    operating system's page cache, so it survives the process crashing or
    being killed; only an operating-system crash or power loss can lose the
    last writes (whole batches, never part of one).  A devnet, whose every
    block can be produced again, runs with ``sync=False``; a node whose
    writes must outlive the machine keeps the default.
    """

    def __init__(self, path: Path, *, create: bool, sync: bool = True) -> None:
        self.path = path
        self.sync = sync
        """Whether each write is synced to disk before ``write`` returns."""
        if not create and not (path / "CURRENT").is_file():
            raise DatabaseMissing(f"no database at {path}: run `wasmchain init` to create one")
        if create:
            path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(path), create_if_missing=create, **LEVELDB_OPTIONS)
        except plyvel.IOError as error:
            if _message(error).startswith("IO error: lock "):  # LevelDB could not take the LOCK file
                raise DatabaseLocked(
                    f"data directory {path} is in use by another process (is a node running? use --rpc to talk to it)"
                ) from error
            raise StoreError(f"cannot open the database at {path}: {_message(error)}") from error
        except plyvel.Error as error:
            raise StoreError(f"cannot open the database at {path}: {_message(error)}") from error
        self._open = True

    def get(self, key: bytes) -> bytes | None:
        if not self._open:
            raise _closed(f"database at {self.path}")
        value: bytes | None = self._db.get(key)
        return value

    def compact(self) -> None:
        """Compact the whole database now (LevelDB's ``CompactRange``), so that no background
        compaction of earlier bulk writes slows the writes that follow (a benchmark does this)."""
        if not self._open:
            raise _closed(f"database at {self.path}")
        self._db.compact_range()

    def iterate(
        self, prefix: bytes = b"", *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        if not self._open:
            raise _closed(f"database at {self.path}")
        high = prefix_upper_bound(prefix)
        if not reverse:
            low = prefix if start is None else max(prefix, start)
            if high is not None and low >= high:
                return iter(())
            forward: Iterator[tuple[bytes, bytes]] = self._db.iterator(start=low or None, stop=high)
            return forward
        # plyvel 1.5's bounded reverse iterators drop keys at the lower bound
        # (e.g. ``start=b"b", stop=b"c"`` over a, b, c yields nothing), so walk
        # LevelDB's own raw iterator down from the upper bound instead.
        raw = self._db.raw_iterator()
        if start is not None and (high is None or start < high):
            raw.seek(start)
            if not raw.valid():
                raw.seek_to_last()
            elif raw.key() != start:
                raw.prev()
        elif high is None:
            raw.seek_to_last()
        else:
            raw.seek(high)
            if raw.valid():
                raw.prev()
            else:
                raw.seek_to_last()
        return _descending(raw, prefix)

    def write(self, changes: Changes) -> None:
        if not self._open:
            raise _closed(f"database at {self.path}")
        batch = _checked_batch(changes)
        writes = self._db.write_batch(sync=self.sync)
        for key, value in batch:
            if value is None:
                writes.delete(key)
            else:
                writes.put(key, value)
        writes.write()

    def close(self) -> None:
        if self._open:
            self._open = False
            self._db.close()

    def __enter__(self) -> LevelDBKV:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _message(error: Exception) -> str:
    """plyvel's error text, which it carries as bytes."""
    detail = error.args[0] if error.args else ""
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


def _descending(raw: plyvel.RawIterator, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """From the raw iterator's position down, while the keys start with ``prefix``."""
    while raw.valid():
        key: bytes = raw.key()
        if not key.startswith(prefix):
            break
        yield key, raw.value()
        raw.prev()
