"""The divergence model: where a re-execution differs from the record, and how.

Replay (``replay.py``) and the follower (``follow.py``) both re-execute blocks
made elsewhere and compare what they get with what was recorded.  The
comparisons are here, once:

- receipts: ``first_receipt_difference`` finds the first transaction whose
  receipts differ (a missing receipt differs in every field) and gives both
  receipts, the fields that differ, and the first event that differs;
- state: ``state_diffs`` (the keys a block wrote, on either side) and
  ``compare_states`` (two whole states) give each key whose values differ,
  with both values.

A replay reports a ``Divergence`` (its JSON is ``wasmchain replay --json``'s);
the follower words a ``ReceiptDifference`` into its refusal.  The text people
read is rendered by the CLI (``cli/render.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from wasmchain.protocol.blocks import Receipt
from wasmchain.protocol.state import ACCOUNT, CODE, STORAGE

MAX_STATE_DIFFS = 100
"""State keys a divergence lists at most (the count of the others is reported)."""

RECEIPT_FIELDS = tuple(item.name for item in fields(Receipt))
"""A receipt's fields, in the order a difference names them."""
EVENT_FIELDS = ("contract", "name", "data")
"""An event's fields, in the order a difference names them."""


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def describe_key(state_key: bytes) -> str:
    """A state key for humans: whose account, which code, which contract's storage key."""
    kind, rest = state_key[:1], state_key[1:]
    if kind == ACCOUNT and len(rest) == 20:
        return f"account {hex0x(rest)}"
    if kind == CODE and len(rest) == 32:
        return f"code {hex0x(rest)}"
    if kind == STORAGE and len(rest) >= 20:
        key = rest[20:]
        text = key.decode("ascii", "replace")
        shown = f" {json.dumps(text)}" if key and text.isprintable() else ""
        return f"storage of contract {hex0x(rest[:20])}, key {hex0x(key)}{shown}"
    return "unknown state key"


# --- receipts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptDifference:
    """The first transaction whose receipts differ: the recorded one (or the remote's) and the replayed one."""

    index: int
    """The transaction's position in its block."""
    recorded: Receipt | None
    """``None``: the record has fewer receipts than the replay made."""
    replayed: Receipt | None
    """``None``: the replay made fewer receipts than the record has."""

    @property
    def fields(self) -> tuple[str, ...]:
        """The receipt fields that differ, in ``Receipt``'s order; every field when a receipt is missing."""
        if self.recorded is None or self.replayed is None:
            return RECEIPT_FIELDS
        return tuple(name for name in RECEIPT_FIELDS if getattr(self.recorded, name) != getattr(self.replayed, name))

    def event_difference(self) -> tuple[int, str] | None:
        """The first event, and its first field, that differ where both receipts have the event;
        ``None`` when the events agree as far as both go (then their counts differ, or the events do not)."""
        if self.recorded is None or self.replayed is None:
            return None
        for index, (theirs, ours) in enumerate(zip(self.recorded.events, self.replayed.events)):
            for name in EVENT_FIELDS:
                if getattr(theirs, name) != getattr(ours, name):
                    return index, name
        return None

    def to_json(self) -> dict[str, dict[str, Any]]:
        """Receipt field -> ``{"recorded": .., "replayed": ..}`` for each field that differs, bytes as 0x hex."""
        before = None if self.recorded is None else receipt_json(self.recorded)
        after = None if self.replayed is None else receipt_json(self.replayed)
        return {
            name: {
                "recorded": None if before is None else before[name],
                "replayed": None if after is None else after[name],
            }
            for name in self.fields
        }


def first_receipt_difference(recorded: Sequence[Receipt], replayed: Sequence[Receipt]) -> ReceiptDifference | None:
    """The first transaction whose receipts differ between two blocks' receipts; ``None`` if none does."""
    for index in range(max(len(recorded), len(replayed))):
        old = recorded[index] if index < len(recorded) else None
        new = replayed[index] if index < len(replayed) else None
        if old != new:
            return ReceiptDifference(index, old, new)
    return None


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """A receipt's fields as JSON values, bytes as 0x hex."""
    return {
        "tx_hash": hex0x(receipt.tx_hash),
        "status": receipt.status,
        "gas_used": receipt.gas_used,
        "return_data": hex0x(receipt.return_data),
        "events": [{"contract": hex0x(e.contract), "name": e.name, "data": hex0x(e.data)} for e in receipt.events],
        "error": receipt.error,
        "contract_address": hex0x(receipt.contract_address),
    }


# --- state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateDiff:
    """One state key whose value differs: recorded versus replayed (``None``: absent)."""

    key: bytes
    recorded: bytes | None
    replayed: bytes | None
    what: str = ""
    """How to read the key; ``describe_key`` when empty."""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": hex0x(self.key),
            "what": self.what or describe_key(self.key),
            "recorded": None if self.recorded is None else hex0x(self.recorded),
            "replayed": None if self.replayed is None else hex0x(self.replayed),
        }


def state_diffs(
    before: Callable[[bytes], bytes | None],
    recorded: Mapping[bytes, bytes | None],
    replayed: Mapping[bytes, bytes | None],
) -> list[StateDiff]:
    """The keys whose value after a block differs, given each side's changes (``None``: deleted); a key
    one side did not change keeps its value before the block, ``before(key)``."""
    diffs = []
    for key in sorted(recorded.keys() | replayed.keys()):
        old = recorded[key] if key in recorded else before(key)
        new = replayed[key] if key in replayed else before(key)
        if old != new:
            diffs.append(StateDiff(key, old, new))
    return diffs


def compare_states(recorded: Mapping[bytes, bytes], replayed: Mapping[bytes, bytes]) -> list[StateDiff]:
    """Every key whose value differs between two whole states."""
    return [
        StateDiff(key, recorded.get(key), replayed.get(key))
        for key in sorted(recorded.keys() | replayed.keys())
        if recorded.get(key) != replayed.get(key)
    ]


def listed(diffs: Sequence[StateDiff]) -> tuple[tuple[StateDiff, ...], int]:
    """The state keys a divergence lists (the first ``MAX_STATE_DIFFS``), and how many more differ."""
    return tuple(diffs[:MAX_STATE_DIFFS]), max(0, len(diffs) - MAX_STATE_DIFFS)


# --- the divergence -------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """The first place a replay differs from the record."""

    height: int
    check: str
    """What differs: a header field, ``receipts``, ``receipts_root``, ``gas_used``, ``state_root``,
    ``state_changes``, ``block_hash``, ``genesis_hash``, ``start_state`` (``--from``) or ``stored_state`` (the
    database's state after the last block)."""
    message: str
    recorded: Any = None
    """The checked value as recorded, where there is one value (a header field, a root), JSON-ready."""
    replayed: Any = None
    tx_index: int | None = None
    """The first transaction whose receipt differs (or, for ``tx_root``, whose hash is not the recorded one)."""
    receipt: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Receipt field -> ``{"recorded": .., "replayed": ..}``, bytes as 0x hex."""
    state: tuple[StateDiff, ...] = ()
    state_omitted: int = 0
    """State keys that differ beyond the ``MAX_STATE_DIFFS`` listed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "check": self.check,
            "message": self.message,
            "recorded": self.recorded,
            "replayed": self.replayed,
            "tx_index": self.tx_index,
            "receipt": self.receipt,
            "state": [diff.to_json() for diff in self.state],
            "state_omitted": self.state_omitted,
        }
