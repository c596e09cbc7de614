"""What the chain says a call or a transaction did: results, events, the head, and the errors about them.

A ``view`` or ``simulate`` gives a ``CallResult``, a transaction's receipt a ``TxResult``;
``raise_for_status`` turns a result that did not end ``ok`` into ``CallFailed`` (or, for a
transaction, ``TransactionFailed``), which carries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wasmchain.client.transport import ClientError


class ReceiptTimeout(ClientError):
    """A transaction still pending when ``wait_for_receipt`` gave up; ``tx_hash`` says which."""

    reason = "receipt_timeout"

    def __init__(self, tx_hash: str, message: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class CallFailed(ClientError):
    """An execution that ran and did not end ``ok``: a view, or (``TransactionFailed``) a transaction.

    ``result`` holds what the chain said: the status, the gas charged and
    the contract's abort message (``error``).  ``str(error)`` is
    ``"<status>: <message>"``, so ``pytest.raises(..., match="insufficient balance")``
    matches the contract's own words.
    """

    reason = "call_failed"

    def __init__(self, result: CallResult | TxResult) -> None:
        super().__init__(f"{result.status}: {result.error}")
        self.result = result

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def error(self) -> str:
        return self.result.error or ""


class TransactionFailed(CallFailed):
    """A transaction that was included in a block and failed; its fee was paid, its changes reverted."""

    reason = "transaction_failed"

    result: TxResult


@dataclass(frozen=True, slots=True)
class Event:
    """An event a contract emitted."""

    contract: str
    """The emitting contract's address (``0x`` hex)."""
    name: str
    """The event's name, e.g. ``Transfer``."""
    data: Any
    """The payload decoded from msgpack as JSON (bytes as ``0x`` hex strings); ``None`` if it is not msgpack."""
    raw: bytes = field(repr=False)
    """The payload as emitted."""

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Event:
        return cls(report["contract"], report["name"], report["data"], bytes.fromhex(report["data_hex"]))


@dataclass(frozen=True, slots=True)
class LoggedEvent(Event):
    """An event of a committed transaction, with where it is in the chain."""

    block_height: int
    tx_hash: str
    tx_index: int
    """The transaction's position in its block."""
    log_index: int
    """The event's position among its transaction's events."""

    @classmethod
    def from_found(cls, report: Mapping[str, Any]) -> LoggedEvent:
        """From a ``get_events`` entry."""
        return cls(
            report["contract"],
            report["name"],
            report["data"],
            bytes.fromhex(report["data_hex"]),
            report["block_height"],
            report["tx_hash"],
            report["tx_index"],
            report["log_index"],
        )


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a ``view`` or a ``simulate`` did; nothing of it was kept."""

    status: str
    """``ok``, or how it failed: ``abort``, ``trap``, ``out_of_gas``, ``invalid`` (would be refused)."""
    gas_used: int
    """Gas it was charged, as the same transaction in the next block would be (for ``simulate``)."""
    result: Any
    """The return value decoded from msgpack as JSON (bytes as ``0x`` hex strings); ``None`` if none."""
    return_data: bytes
    events: tuple[Event, ...]
    error: str | None
    """What went wrong (a contract's abort message, say); ``None`` when ``ok``."""
    block_height: int
    """The head it ran against."""
    address: str | None = None
    """The address a simulated deploy would create."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def raise_for_status(self) -> CallResult:
        """Raise ``CallFailed`` unless ``ok``; returns the result, so calls chain."""
        if not self.ok:
            raise CallFailed(self)
        return self

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> CallResult:
        return cls(
            report["status"],
            report["gas_used"],
            report["result"],
            bytes.fromhex(report["return_hex"]),
            tuple(Event.from_report(event) for event in report["events"]),
            report["error"],
            report["block_height"],
            report.get("address"),
        )


@dataclass(frozen=True, slots=True)
class TxResult:
    """A transaction's receipt: what it did, in which block."""

    tx_hash: str
    status: str
    """``ok``, or how it failed: ``abort``, ``trap``, ``out_of_gas``."""
    gas_used: int
    """All gas charged (intrinsic, deploy and execution); the fee is this times the gas price."""
    result: Any
    """The return value decoded from msgpack as JSON (bytes as ``0x`` hex strings); ``None`` if none."""
    return_data: bytes
    events: tuple[LoggedEvent, ...]
    error: str | None
    """What went wrong (a contract's abort message, say); ``None`` when ``ok``."""
    address: str | None
    """The new contract's address, for a deploy that succeeded."""
    block_height: int
    block_hash: str
    tx_index: int
    """The transaction's position in its block."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def raise_for_status(self) -> TxResult:
        """Raise ``TransactionFailed`` unless ``ok``; returns the result, so calls chain."""
        if not self.ok:
            raise TransactionFailed(self)
        return self

    @classmethod
    def from_receipt(cls, report: Mapping[str, Any]) -> TxResult:
        """From a ``get_receipt`` (or ``submit_transaction``) receipt report."""
        height, tx_hash, index = report["block_height"], report["tx_hash"], report["index"]
        events = tuple(
            LoggedEvent(
                event["contract"],
                event["name"],
                event["data"],
                bytes.fromhex(event["data_hex"]),
                height,
                tx_hash,
                index,
                log_index,
            )
            for log_index, event in enumerate(report["events"])
        )
        return cls(
            tx_hash,
            report["status"],
            report["gas_used"],
            report["return"],
            bytes.fromhex(report["return_hex"]),
            events,
            report["error"],
            report.get("address"),
            height,
            report["block_hash"],
            index,
        )


@dataclass(frozen=True, slots=True)
class Head:
    """The newest block."""

    height: int
    hash: str
    timestamp: int
    """Seconds since the Unix epoch."""
    state_root: str
