"""Pending writes over a ``KVStore``, with nested checkpoints.

The journal sits between the state and the database for one block: every
contract storage write lands here, each call and each transaction opens a
checkpoint and either commits it (keep the changes) or reverts it (undo
them), and at the end of the block ``flush`` hands the net changes to the
one atomic database write.

It keeps two things:

- ``_overlay``: the current pending value of every key touched, ``None``
  for a deletion; reads look here first, then fall through to the base.
- ``_scopes``: per open checkpoint, the overlay entry each key had before
  the scope first touched it (``_ABSENT`` if the overlay had none).

It also remembers what the base answered to each read that reached it
(``read``): a block's undo record needs the values its changes replace, and
most of them were read before they were written.

So ``get`` and ``set`` are a dict lookup or two, and ``checkpoint``,
``commit`` and ``revert`` cost O(keys touched in the scope), never
O(everything pending).
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterator
from operator import itemgetter
from typing import Final, Protocol

from wasmchain.protocol.errors import ChainError


class JournalError(ChainError):
    """A journal used out of order: commit or revert with no checkpoint, flush with one open."""

    reason = "journal_error"


class JournalBase(Protocol):
    """What a journal reads through to: a ``KVStore``, or ``schema.StateTable`` (the state keyed by state key)."""

    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]: ...


class _Absent(enum.Enum):
    TOKEN = enum.auto()


_ABSENT: Final = _Absent.TOKEN
"""In an undo record: the key had no overlay entry (the base showed through)."""


class Journal:
    """Reads fall through to ``base``; writes stay pending until ``flush()``.

    Keys and values must be ``bytes``; they are stored as given, not copied.
    """

    def __init__(self, base: JournalBase) -> None:
        self.base = base
        self._overlay: dict[bytes, bytes | None] = {}
        self._scopes: list[dict[bytes, bytes | None | _Absent]] = []
        self.read: dict[bytes, bytes | None] = {}
        """What the base answered to the reads that reached it, by key: the values before the journal's changes
        (a block's undo record takes them from here rather than read them again)."""

    # -- reads and writes: the hot path -----------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """The journal's view of ``key``: pending if touched, else the base's."""
        overlay = self._overlay
        if key in overlay:
            return overlay[key]
        value = self.read[key] = self.base.get(key)
        return value

    def set(self, key: bytes, value: bytes) -> None:
        """Set ``key`` to ``value`` (pending)."""
        scopes = self._scopes
        if scopes:
            scope = scopes[-1]
            if key not in scope:
                scope[key] = self._overlay.get(key, _ABSENT)
        self._overlay[key] = value

    def delete(self, key: bytes) -> None:
        """Delete ``key`` (pending); deleting a missing key is harmless."""
        scopes = self._scopes
        if scopes:
            scope = scopes[-1]
            if key not in scope:
                scope[key] = self._overlay.get(key, _ABSENT)
        self._overlay[key] = None

    # -- checkpoints ------------------------------------------------------------

    @property
    def depth(self) -> int:
        """The number of open checkpoints."""
        return len(self._scopes)

    def checkpoint(self) -> None:
        """Open a nested scope: its changes can later be committed or reverted together."""
        self._scopes.append({})

    def commit(self) -> None:
        """Close the innermost scope keeping its changes, which now belong to the enclosing scope."""
        if not self._scopes:
            raise JournalError("commit with no open checkpoint: call checkpoint() first")
        inner = self._scopes.pop()
        if self._scopes:
            outer = self._scopes[-1]
            if len(inner) > len(outer):  # merge the smaller into the larger, keeping outer's records
                inner.update(outer)
                self._scopes[-1] = inner
            else:
                for key, previous in inner.items():
                    outer.setdefault(key, previous)

    def revert(self) -> None:
        """Close the innermost scope undoing its changes."""
        if not self._scopes:
            raise JournalError("revert with no open checkpoint: call checkpoint() first")
        overlay = self._overlay
        for key, previous in self._scopes.pop().items():
            if previous is _ABSENT:
                del overlay[key]
            else:
                overlay[key] = previous

    # -- the net result ---------------------------------------------------------

    def pending(self) -> dict[bytes, bytes | None]:
        """Every pending change against the base, sorted by key; ``None`` is a deletion.

        A key written and then deleted is reported as a deletion even if the
        base never had it: applying the result to the base gives exactly the
        journal's view either way.
        """
        return dict(sorted(self._overlay.items()))

    def flush(self) -> dict[bytes, bytes | None]:
        """Return ``pending()`` and forget it (the caller writes it to the base)."""
        if self._scopes:
            raise JournalError(f"flush with {len(self._scopes)} open checkpoint(s): commit or revert them first")
        changes = self.pending()
        self._overlay = {}
        return changes

    def discard(self) -> None:
        """Drop every pending change and every checkpoint (and what the base answered)."""
        self._overlay = {}
        self._scopes = []
        self.read = {}

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The journal's view of the keys starting with ``prefix``, sorted; deletions hidden.

        A snapshot as of the call: changes made while iterating are not seen.
        """
        touched = sorted((key, value) for key, value in self._overlay.items() if key.startswith(prefix))
        return _merge(self.base.iterate(prefix), touched)


def _merge(
    base: Iterator[tuple[bytes, bytes]], touched: list[tuple[bytes, bytes | None]]
) -> Iterator[tuple[bytes, bytes]]:
    """Base items overridden by the journal's, in key order, deleted keys dropped."""
    shadowed = {key for key, _ in touched}
    untouched = ((key, value) for key, value in base if key not in shadowed)
    for key, value in heapq.merge(untouched, touched, key=itemgetter(0)):
        if value is not None:
            yield key, value
