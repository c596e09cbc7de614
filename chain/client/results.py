"""What the chain says a call or a transaction did: results, events, traces, the head, and the errors about them.

A ``view`` or ``simulate`` gives a ``CallResult``, a transaction's receipt a ``TxResult``;
``raise_for_status`` turns a result that did not end ``ok`` into ``CallFailed`` (or, for a
transaction, ``TransactionFailed``), which carries it.  A ``Trace`` is what a transaction or a
simulated call did frame by frame (``TraceFrame``: its steps, nested frames, gas and outcome),
from the node's ``debug_trace_*`` answer; ``trace_tree_lines`` prints its call tree as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wasmchain.client.transport import ClientError, RPCClientError
from wasmchain.protocol.hexstr import from_0x
from wasmchain.protocol.keys import ADDRESS_SIZE

OUT_OF_GAS_HINT = (
    "the gas limit was too low for {step} (a figure above is that step's cost, not what the whole call needs):"
    " `wasmchain simulate ...` (or `simulate` in the client) reports the gas the call uses; send it with a limit"
    " above that, or leave the limit out"
)
"""What an ``out_of_gas`` failure's message adds (``{step}`` names the step that ran out, as ``out_of_gas_step``
reads it from the message): the receipt's own message is consensus data and stays as it is."""
_NEEDED = re.compile(r"out of gas: needed \d+ more, (\d+) left of (\d+)")


def out_of_gas_step(error: str | None) -> str:
    """Which step of a frame ran out of gas, as far as the VM's message says (vm/frame.py, vm/runtime.py).

    ``needed N more, L left of L``: nothing was spent yet, so the first step,
    instantiating the contract; with less left, a host call partway through;
    ``used all``/``used more than``: the contract's own code; ``not run``: a
    nested call its caller could not give gas to.
    """
    text = error or ""
    needed = _NEEDED.search(text)
    if needed is not None:
        first = needed.group(1) == needed.group(2)
        return "the call's first step, instantiating the contract" if first else "a host call partway through the call"
    if "out of gas: not run" in text:
        return "a nested call, which was not run"
    return "the contract's code, which used all of it"


def failure_hint(status: str, error: str | None = None) -> str | None:
    """What to do next about a failed execution, where the chain's message does not say; ``None`` if nothing.

    A receipt's ``error`` is hashed into its block (``receipts_root``) and
    compared in replay, so its words cannot change without changing how old
    chains replay: the advice is added here, where a failure is shown.
    """
    return OUT_OF_GAS_HINT.format(step=out_of_gas_step(error)) if status == "out_of_gas" else None


class ReceiptTimeout(ClientError):
    """A transaction still pending when ``wait_for_receipt`` gave up; ``tx_hash`` says which."""

    reason = "receipt_timeout"

    def __init__(self, tx_hash: str, message: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class ArgumentTypeError(ClientError, TypeError):
    """Arguments that do not fit a typed method's parameters, found before anything was signed or sent.

    Raised by a contract's typed methods (``token.transfer(to=bob, amount="ten")``)
    and by ``Contract.call``/``view``/``simulate`` on a method its interface
    declares.  The message names the method with its signature, the
    argument, the type expected, an example and what was found::

        transfer(to: address, amount: u64): argument "amount": expected u64, e.g. 10; found the string "ten"

    A ``TypeError`` as Python's own for a bad call, and a ``ClientError`` as
    everything else the client raises.
    """

    reason = "invalid_args"

    def __init__(self, message: str, *, method: str, path: str, expected: str, example: Any) -> None:
        super().__init__(message)
        self.method = method
        """The method's export name (``transfer``)."""
        self.path = path
        """Which argument: ``amount``, or a path into one (``items[2].to``); ``""`` for the arguments as a whole."""
        self.expected = expected
        """The WIT type expected there (``u64``, ``address``)."""
        self.example = example
        """A value of that type, as the client takes it."""


class CallFailed(ClientError):
    """An execution that ran and did not end ``ok``: a view, or (``TransactionFailed``) a transaction.

    ``result`` holds what the chain said: the status, the gas charged and
    the contract's abort message (``error``).  ``str(error)`` is
    ``"<status>: <message>"``, so ``pytest.raises(..., match="insufficient balance")``
    matches the contract's own words.
    """

    reason = "call_failed"

    def __init__(self, result: CallResult | TxResult, message: str | None = None) -> None:
        super().__init__(f"{result.status}: {result.error}" if message is None else message)
        self.result = result

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def error(self) -> str:
        return self.result.error or ""


class TransactionFailed(CallFailed):
    """A transaction that was included in a block and failed; its fee was paid, its changes reverted.

    Raised by ``TxResult.raise_for_status`` (so by ``Contract.call`` and
    ``Account.deploy``), which asks the node for the transaction's trace:
    the message's first line is ``"<status>: <message>"`` as for any
    ``CallFailed``, and the lines after it name the frame where the failure
    started and show the trace of the path down to it (``trace`` holds the
    whole ``Trace``).  A node without the debug methods gives no trace, and
    the message is the first line alone.
    """

    reason = "transaction_failed"

    result: TxResult

    def __init__(self, result: TxResult, trace: Trace | None = None, note: str | None = None) -> None:
        lines = [f"{result.status}: {result.error}"]
        hint = failure_hint(result.status, result.error)
        if hint is not None:
            lines.append(hint)
        if trace is not None:
            lines += failure_lines(trace)
        if note is not None:
            lines.append(note)
        super().__init__(result, "\n".join(lines))
        self.trace = trace
        """The transaction's trace (``None`` if the node gave none)."""


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
    trace: Trace | None = field(default=None, compare=False, repr=False)
    """The simulation's trace, when asked for (``Contract.simulate(..., trace=True)``)."""

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
    source: TraceSource | None = field(default=None, compare=False, repr=False)
    """The client that can trace it (``trace``); set by the ``Client`` that got the receipt."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def trace(self, verbose: bool = False) -> Trace:
        """What the transaction did, frame by frame, re-executed by the node from its block's parent state
        (``debug_trace_transaction``); ``verbose`` adds every host call with its gas."""
        if self.source is None:
            raise ClientError(f"this receipt has no client to ask: use client.trace_transaction({self.tx_hash!r})")
        return self.source.trace_transaction(self.tx_hash, verbose=verbose)

    def raise_for_status(self) -> TxResult:
        """Raise ``TransactionFailed`` unless ``ok``; returns the result, so calls chain.

        Only then is the node asked for the trace that the error shows.
        """
        if not self.ok:
            trace, note = self._failure_trace()
            raise TransactionFailed(self, trace, note)
        return self

    def _failure_trace(self) -> tuple[Trace | None, str | None]:
        """The trace for ``TransactionFailed``, or why there is none (nothing to say for an old node)."""
        if self.source is None:
            return None, None
        try:
            return self.source.trace_transaction(self.tx_hash), None
        except RPCClientError as error:
            if error.reason == "method_not_found":  # a node from before debug_trace_transaction
                return None, None
            return None, f"(no trace: {error.message})"
        except ClientError as error:
            return None, f"(no trace: {error})"

    @classmethod
    def from_receipt(cls, report: Mapping[str, Any], source: TraceSource | None = None) -> TxResult:
        """From a ``get_receipt`` (or ``submit_transaction``) receipt report; ``source`` traces it."""
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
            source,
        )


class TraceSource(Protocol):
    """What traces a mined transaction: a ``Client``."""

    def trace_transaction(self, tx_hash: str | bytes, *, verbose: bool = False) -> Trace: ...


@dataclass(frozen=True, slots=True)
class Head:
    """The newest block."""

    height: int
    hash: str
    timestamp: int
    """Seconds since the Unix epoch."""
    state_root: str


# -- traces ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BytesView:
    """Bytes in a trace (an input, a return value, a storage key or value, event data), with what they decode to."""

    raw: bytes
    decoded: Any = None
    """The strict msgpack decode of the whole buffer as JSON (bytes as ``0x`` hex, 20-byte bins as addresses);
    ``None`` when they are not msgpack (``is_msgpack`` tells a decoded nil apart)."""
    is_msgpack: bool = False
    text: str | None = None
    """The bytes as text, when they are printable UTF-8 (a storage key such as ``supply``)."""

    @classmethod
    def from_report(cls, view: Mapping[str, Any]) -> BytesView:
        """From the trace JSON's bytes view: ``{"hex": "0x..", "msgpack": ..., "text": ...}``."""
        return cls(from_0x(view["hex"]), view.get("msgpack"), "msgpack" in view, view.get("text"))

    @classmethod
    def optional(cls, view: Mapping[str, Any] | None) -> BytesView | None:
        return None if view is None else cls.from_report(view)


@dataclass(frozen=True, slots=True)
class StorageRead:
    """A ``storage_read`` (``value``: ``None`` if absent) or a ``storage_has`` (``present``)."""

    key: BytesView
    value: BytesView | None
    present: bool
    op: str = "storage_read"
    """``storage_read`` or ``storage_has``."""


@dataclass(frozen=True, slots=True)
class StorageWrite:
    """A ``storage_write``: the value it replaced (``None``: absent) and the new one."""

    key: BytesView
    old: BytesView | None
    new: BytesView
    op: str = "storage_write"


@dataclass(frozen=True, slots=True)
class StorageRemove:
    """A ``storage_remove``: the value removed (``None``: it was absent)."""

    key: BytesView
    old: BytesView | None
    op: str = "storage_remove"


@dataclass(frozen=True, slots=True)
class EventStep:
    """An event the frame emitted (in the receipt only if every frame up to the top ended ``ok``)."""

    name: str
    data: BytesView
    op: str = "event"


@dataclass(frozen=True, slots=True)
class LogStep:
    """A ``debug_log`` message (never in a receipt)."""

    message: str
    op: str = "log"


@dataclass(frozen=True, slots=True)
class TransferStep:
    """A native transfer from the frame's contract; ``ok`` is what the contract was told."""

    to: str
    amount: int
    ok: bool
    op: str = "transfer"


@dataclass(frozen=True, slots=True)
class CallStep:
    """A nested call, run or refused."""

    frame: TraceFrame
    op: str = "call"


TraceStep = StorageRead | StorageWrite | StorageRemove | EventStep | LogStep | TransferStep | CallStep
"""One thing a frame did, in the order it did them."""


@dataclass(frozen=True, slots=True)
class HostCall:
    """One host function call of a verbose trace; for ``call``, ``gas`` includes the callee's and ``gas_own``
    is the call's own cost."""

    name: str
    gas: int
    gas_own: int


@dataclass(frozen=True, slots=True)
class TraceFrame:
    """One contract frame of a trace: what it was asked, what it did (``steps``), how it ended."""

    contract: str
    method: str
    caller: str
    value: int
    """Native tokens attached."""
    depth: int
    """0 for the transaction's own frame."""
    gas_limit: int
    gas_used: int
    """Gas the frame used, its nested frames included (what its caller was charged)."""
    gas_self: int
    """Gas of this frame alone: ``gas_used`` less its nested frames' ``gas_used``."""
    status: str
    """``ok``, ``abort``, ``trap``, ``out_of_gas`` or ``invalid`` (a nested call refused before it ran)."""
    error: str | None
    status_code: int | None
    """The ``call`` status code its caller saw; ``None`` for the top frame."""
    status_name: str | None
    """That code's name: ``ok``, ``aborted``, ``out_of_gas``, ``trapped``, ``not_found``, ``reentrancy``,
    ``too_deep``, ``insufficient_balance``."""
    ran: bool
    """False for a nested call refused before any code ran."""
    input: BytesView
    returned: BytesView
    steps: tuple[TraceStep, ...]
    host_calls: tuple[HostCall, ...]
    """Every host call with its gas (verbose traces only)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def args(self) -> Any:
        """The input decoded from msgpack (``None`` if it is not msgpack)."""
        return self.input.decoded

    @property
    def result(self) -> Any:
        """The return value decoded from msgpack (``None`` if none, or not msgpack)."""
        return self.returned.decoded

    @property
    def calls(self) -> list[TraceFrame]:
        """The nested frames, in call order."""
        return [step.frame for step in self.steps if isinstance(step, CallStep)]

    @property
    def events(self) -> list[EventStep]:
        """The events this frame emitted (not its nested frames')."""
        return [step for step in self.steps if isinstance(step, EventStep)]

    def walk(self) -> list[TraceFrame]:
        """This frame and every frame below it, depth first, in call order."""
        frames = [self]
        for child in self.calls:
            frames.extend(child.walk())
        return frames

    def failing_path(self) -> list[TraceFrame]:
        """From this frame down to the frame where its failure started; empty if it ended ``ok``.

        A failed frame's failure comes from its last nested call if that call
        failed too (the frame gave up on it: the vault aborts because the
        token's transfer did); otherwise from the frame itself (a call that
        failed earlier and was handled is not the cause).
        """
        if self.ok:
            return []
        calls = self.calls
        if calls and not calls[-1].ok:
            return [self, *calls[-1].failing_path()]
        return [self]

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> TraceFrame:
        return cls(
            report["contract"],
            report["method"],
            report["caller"],
            int(report["value"]),
            report["depth"],
            report["gas_limit"],
            report["gas_used"],
            report["gas_self"],
            report["status"],
            report["error"],
            report.get("status_code"),
            report.get("status_name"),
            report.get("ran", True),
            BytesView.from_report(report["input"]),
            BytesView.from_report(report["return"]),
            tuple(_step(step) for step in report["steps"]),
            tuple(HostCall(call["name"], call["gas"], call["gas_own"]) for call in report.get("host_calls") or ()),
        )


def _step(report: Mapping[str, Any]) -> TraceStep:
    op = report["op"]
    if op in ("storage_read", "storage_has"):
        value = BytesView.optional(report.get("value"))
        present = bool(report["present"]) if op == "storage_has" else value is not None
        return StorageRead(BytesView.from_report(report["key"]), value, present, op)
    if op == "storage_write":
        old, new = BytesView.optional(report["old"]), BytesView.from_report(report["new"])
        return StorageWrite(BytesView.from_report(report["key"]), old, new)
    if op == "storage_remove":
        return StorageRemove(BytesView.from_report(report["key"]), BytesView.optional(report["old"]))
    if op == "event":
        return EventStep(report["name"], BytesView.from_report(report["data"]))
    if op == "log":
        return LogStep(report["message"])
    if op == "transfer":
        return TransferStep(report["to"], int(report["amount"]), bool(report["ok"]))
    if op == "call":
        return CallStep(TraceFrame.from_report(report["frame"]))
    raise ValueError(f"a trace step's op is not one the client knows: {op!r}")


@dataclass(frozen=True, slots=True)
class StateChange:
    """One state key the transaction changed: an account, a module's code, or a contract's storage key."""

    key: str
    """The state key (``0x`` hex)."""
    kind: str
    """``account``, ``code`` or ``storage``."""
    address: str | None
    """The account, or the contract whose storage it is."""
    code_hash: str | None
    """The module's hash (``code`` only)."""
    storage_key: BytesView | None
    """The contract's own key (``storage`` only)."""
    old: Any
    """Before: for an account ``{"balance", "nonce", "code_hash"}``, for code ``{"size"}``, for storage a
    ``BytesView``; ``None`` when absent."""
    new: Any
    """After, in the same form."""

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> StateChange:
        kind = report["kind"]
        old, new = report["old"], report["new"]
        storage_key = None
        if kind == "storage":
            storage_key = BytesView.from_report(report["storage_key"])
            old, new = BytesView.optional(old), BytesView.optional(new)
        return cls(report["key"], kind, report.get("address"), report.get("code_hash"), storage_key, old, new)


@dataclass(frozen=True, slots=True)
class Trace:
    """What a transaction (``debug_trace_transaction``) or a call not mined (``debug_trace_call``) did, frame
    by frame: from ``TxResult.trace()``, ``Client.trace_transaction``, ``Client.trace_call`` or
    ``Contract.simulate(..., trace=True)``.  ``report`` is the node's JSON as it came (docs/rpc.md)."""

    tx_hash: str
    block_height: int | None
    """The block it is in; ``None`` for a call not mined."""
    block_hash: str | None
    tx_index: int | None
    kind: str
    """``call``, ``deploy`` or ``transfer``."""
    sender: str
    to: str | None
    method: str | None
    value: int
    gas_limit: int
    gas_price: int
    intrinsic_gas: int
    gas_used: int
    """All gas charged: ``intrinsic_gas`` plus the top frame's ``gas_used``."""
    fee: int
    refund: int
    status: str
    error: str | None
    returned: BytesView
    events: tuple[Event, ...]
    """The events the receipt has (those of frames that ended ``ok`` all the way up)."""
    logs: tuple[tuple[str, str], ...]
    """``debug_log`` messages as ``(contract, message)``, of every frame, failed ones included."""
    contract_address: str | None
    frame: TraceFrame | None
    """The top frame; ``None`` for a native transfer, a deploy without init, or a call refused before it ran."""
    state_diff: tuple[StateChange, ...]
    verbose: bool
    matches_receipt: bool | None
    """True when re-executing the block gave the recorded receipt exactly; ``None`` for a call not mined."""
    profile: dict[str, Any] | None
    """The gas profile per wasm function, when asked for (``Client.profile_transaction``)."""
    report: dict[str, Any] = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def result(self) -> Any:
        """The return value decoded from msgpack (``None`` if none, or not msgpack)."""
        return self.returned.decoded

    def frames(self) -> list[TraceFrame]:
        """Every frame, depth first, in call order (none for a native transfer)."""
        return [] if self.frame is None else self.frame.walk()

    def failing_path(self) -> list[TraceFrame]:
        """The frames from the top one down to where the failure started (``TraceFrame.failing_path``)."""
        return [] if self.frame is None else self.frame.failing_path()

    def failed_frame(self) -> TraceFrame | None:
        """The deepest frame on the failing path: where the failure started.  ``None`` if nothing failed."""
        path = self.failing_path()
        return path[-1] if path else None

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Trace:
        """From a ``debug_trace_*`` or ``debug_profile_*`` answer; a malformed one raises ``ClientError``."""
        try:
            return cls._parse(report)
        except (KeyError, TypeError, ValueError) as error:
            raise ClientError(f"the node's trace is malformed ({type(error).__name__}: {error})") from None

    @classmethod
    def _parse(cls, report: Mapping[str, Any]) -> Trace:
        block = report["block"]
        frame = report["frame"]
        return cls(
            report["tx_hash"],
            None if block is None else block["height"],
            None if block is None else block["hash"],
            None if block is None else block["index"],
            report["kind"],
            report["sender"],
            report["to"],
            report["method"],
            int(report["value"]),
            report["gas_limit"],
            int(report["gas_price"]),
            report["intrinsic_gas"],
            report["gas_used"],
            int(report["fee"]),
            int(report["refund"]),
            report["status"],
            report["error"],
            BytesView.from_report(report["return"]),
            tuple(
                Event(event["contract"], event["name"], event["data"].get("msgpack"), from_0x(event["data"]["hex"]))
                for event in report["events"]
            ),
            tuple((log["contract"], log["message"]) for log in report["logs"]),
            report["contract_address"],
            None if frame is None else TraceFrame.from_report(frame),
            tuple(StateChange.from_report(change) for change in report["state_diff"]),
            bool(report["verbose"]),
            report["matches_receipt"],
            report.get("profile"),
            dict(report),
        )


# -- traces as text: ``wasmchain trace`` (through cli/render.py) and ``TransactionFailed`` -----------

_RED, _GREEN, _YELLOW, _CYAN, _MAGENTA, _DIM = "31", "32", "33", "36", "35", "2"
FAILED_MARK = "✗"
"""Marks a failed frame's line (in colour or not)."""


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def value_text(value: Any) -> str:
    """A decoded value on one line: ``0x`` strings (bytes, addresses) bare, anything else as JSON."""
    if isinstance(value, str) and value.startswith("0x"):
        return value
    return json.dumps(value, ensure_ascii=False)


def fields_text(view: BytesView) -> str:
    """Arguments or event data: a msgpack map as ``key: value, ...``, other msgpack as JSON, else hex."""
    if not view.raw:
        return ""
    if view.is_msgpack:
        decoded = view.decoded
        if isinstance(decoded, dict) and all(isinstance(key, str) for key in decoded):
            return ", ".join(f"{key}: {value_text(item)}" for key, item in decoded.items())
        return value_text(decoded)
    return "0x" + view.raw.hex()


def bytes_text(view: BytesView | None, *, key: bool = False) -> str:
    """A storage key or value (or a return value) for people: decoded where the bytes allow, else hex.

    A key prefers text (``"supply"``), and shows a text prefix followed by a
    20-byte address as ``"b"+0x<address>``; a value prefers msgpack, and an
    8-byte value also shows as the u64 (little-endian) the SDK's
    ``storage::set_u64`` writes.
    """
    if view is None:
        return "(absent)"
    raw = view.raw
    if key:
        if view.text is not None:
            return json.dumps(view.text, ensure_ascii=False)
        prefix = raw[:-ADDRESS_SIZE]
        if len(raw) > ADDRESS_SIZE and prefix.isascii() and prefix.decode().isprintable():
            return f"{json.dumps(prefix.decode())}+0x{raw[-ADDRESS_SIZE:].hex()}"
    if view.is_msgpack:
        return value_text(view.decoded)
    if view.text is not None and raw:
        return json.dumps(view.text, ensure_ascii=False)
    if len(raw) == 8:
        return f"0x{raw.hex()} (u64 {int.from_bytes(raw, 'little')})"
    return "0x" + raw.hex()


def frame_title(frame: TraceFrame, *, colour: bool = False) -> str:
    """``[gas] contract::method(args)`` (``{value: N}`` if it carried tokens), marked if it failed."""
    name = _paint(f"{frame.contract}::{frame.method}", _GREEN if frame.ok else _RED, colour)
    value = f"{{value: {frame.value}}}" if frame.value else ""
    mark = "" if frame.ok else " " + _paint(FAILED_MARK, _RED, colour)
    return f"[{frame.gas_used}] {name}{value}({fields_text(frame.input)}){mark}"


def frame_outcome(frame: TraceFrame, *, colour: bool = False) -> str:
    """``← return VALUE`` or ``← abort: message``, with the status code the caller saw when it failed."""
    if frame.ok:
        shown = bytes_text(frame.returned) if frame.returned.raw else ""
        return _paint(f"← return {shown}".rstrip(), _GREEN, colour)
    text = f"← {frame.status}: {frame.error or '(no message)'}"
    if frame.status_code is not None:
        text += f" (the caller got {frame.status_code} {frame.status_name or ''})".replace(" )", ")")
    return _paint(text, _RED, colour)


def step_text(step: TraceStep, *, colour: bool = False) -> str:
    """One step that is not a nested call, on one line."""
    if isinstance(step, StorageRead):
        if step.op == "storage_has":
            found = "present" if step.present else "absent"
            return _paint(f"storage_has {bytes_text(step.key, key=True)}: {found}", _DIM, colour)
        return _paint(f"storage_read {bytes_text(step.key, key=True)} = {bytes_text(step.value)}", _DIM, colour)
    if isinstance(step, StorageWrite):
        key = bytes_text(step.key, key=True)
        return _paint(f"storage_write {key}: {bytes_text(step.old)} -> {bytes_text(step.new)}", _YELLOW, colour)
    if isinstance(step, StorageRemove):
        return _paint(f"storage_remove {bytes_text(step.key, key=True)}: {bytes_text(step.old)}", _YELLOW, colour)
    if isinstance(step, EventStep):
        return _paint(f"emit {step.name}({fields_text(step.data)})", _CYAN, colour)
    if isinstance(step, LogStep):
        return _paint(f"log: {step.message}", _MAGENTA, colour)
    if isinstance(step, TransferStep):
        return f"transfer {step.amount} to {step.to}" + ("" if step.ok else " (refused)")
    raise TypeError(f"a nested call is a frame, not a line: {step!r}")


def trace_tree_lines(
    frame: TraceFrame, *, colour: bool = False, path: list[TraceFrame] | None = None, indent: str = "  "
) -> list[str]:
    """A frame and everything below it as ``cast run -vvvv`` prints a call tree: one line a step, nested frames
    indented under their caller, each frame ending with how it ended.

    With ``path`` (``failing_path()``), only the frames on it are shown whole;
    any other nested frame is one line with its outcome.  Verbose traces add
    each host call with its gas.
    """
    on_path = None if path is None else {id(item) for item in path}
    return _frame_lines(frame, indent, indent + "  ", colour, on_path)


def _frame_lines(frame: TraceFrame, lead: str, rest: str, colour: bool, on_path: set[int] | None) -> list[str]:
    lines = [lead + frame_title(frame, colour=colour)]
    items: list[str | TraceFrame] = []
    for step in frame.steps:
        if not isinstance(step, CallStep):
            items.append(step_text(step, colour=colour))
        elif on_path is None or id(step.frame) in on_path:
            items.append(step.frame)
        else:
            items.append(f"{frame_title(step.frame, colour=colour)} {frame_outcome(step.frame, colour=colour)}")
    for call in frame.host_calls:
        own = f" (own {call.gas_own})" if call.gas != call.gas_own else ""
        items.append(_paint(f"host {call.name} [{call.gas}]{own}", _DIM, colour))
    items.append(frame_outcome(frame, colour=colour))
    for index, item in enumerate(items):
        branch, below = ("└─ ", "    ") if index == len(items) - 1 else ("├─ ", "│   ")
        if isinstance(item, TraceFrame):
            lines += _frame_lines(item, rest + branch, rest + below, colour, on_path)
        else:
            lines.append(rest + branch + item)
    return lines


def failure_lines(trace: Trace, *, colour: bool = False) -> list[str]:
    """Where a failed transaction's failure started, and the trace of the path down to it (as ``forge test
    -vvv`` shows a failing test).  Empty if nothing failed or no frame ran."""
    path = trace.failing_path()
    if trace.frame is None or not path:
        return []
    failed = path[-1]
    return [
        f"failed in {failed.contract}::{failed.method} (depth {failed.depth}): "
        f"{failed.status}: {failed.error or '(no message)'}",
        "trace of the failing path:",
        *trace_tree_lines(trace.frame, colour=colour, path=path),
    ]
