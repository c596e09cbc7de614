"""The values that go into and come out of a contract call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .host import Address

Status = Literal["ok", "out_of_gas", "trap", "abort", "invalid"]
"""How a call ended.  ``invalid``: refused before any code ran (no contract,
no such method, input too large, a module that fails validation)."""


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """The part of the environment that comes from the block."""

    height: int
    """Height of the block the call executes in."""
    timestamp: int
    """The block's timestamp, seconds since the Unix epoch."""


@dataclass(frozen=True, slots=True)
class Message:
    """One top-level call of a contract method."""

    caller: Address
    """The account calling (the transaction's sender)."""
    contract: Address
    """The contract called."""
    method: str
    """The exported method to run."""
    input: bytes
    """The call's input (msgpack arguments by the SDK's convention)."""
    gas_limit: int
    """Most gas the call may use, instantiation and host costs included."""
    value: int = 0
    """Native tokens moved from caller to contract before the method runs."""
    origin: Address | None = None
    """The account that signed the transaction; the caller when None."""


@dataclass(frozen=True, slots=True)
class Event:
    """An event emitted by a contract during a successful call."""

    contract: Address
    """The emitting contract."""
    name: str
    """The event's name, e.g. ``Transfer``."""
    data: bytes
    """The event's payload (msgpack by the SDK's convention)."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """A message a contract wrote with ``debug_log``: for developers, never part of a receipt or a root."""

    contract: Address
    """The contract that logged it."""
    message: str
    """The text (invalid UTF-8 replaced with U+FFFD)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a call: what goes into a receipt."""

    status: Status
    """How the call ended."""
    gas_used: int
    """Gas charged, never more than the call's gas limit."""
    return_data: bytes = b""
    """What the method set with ``return_set`` (empty unless status is ok)."""
    error: str | None = None
    """What went wrong, for any status but ok."""
    events: tuple[Event, ...] = ()
    """Events of the call and its successful nested calls (empty unless ok)."""
    logs: tuple[LogLine, ...] = ()
    """``debug_log`` messages of every frame of the call, failed ones included, in order.
    Set on the outcome of ``Runtime.execute`` only; never part of a receipt."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"
