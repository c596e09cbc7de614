"""Call traces: what a call did, frame by frame, recorded while it runs.

A ``Tracer`` handed to ``Runtime.execute`` makes every contract frame of
that call a ``TracingFrame``: the same host functions, each also writing a
step into the frame's ``TraceFrame`` (storage reads, writes and removes,
events, debug logs, native transfers, nested calls) and, when ``verbose``,
every host call with the gas it charged.  Tracing changes no result: the
host functions run exactly as in a plain ``Frame`` and the tracer only
reads what they read (a test compares outcomes, gas and state roots with
tracing on and off).  Without a tracer nothing here runs: the consensus
path pays one ``is None`` per frame.

The records are plain data over bytes; ``wasmchain.protocol.tracing``
turns them into the JSON of ``debug_trace_transaction`` (docs/rpc.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from . import abi
from .frame import Frame
from .host import Address
from .messages import Outcome, Status
from .profile import FrameProfile, Profile, collect


@dataclass(frozen=True, slots=True)
class StorageRead:
    """``storage_read`` or ``storage_has``: the key, and the value found (``None``: absent)."""

    key: bytes
    value: bytes | None
    op: str = "storage_read"
    """``storage_read`` or ``storage_has``."""


@dataclass(frozen=True, slots=True)
class StorageWrite:
    """``storage_write``: the key, the value it replaced (``None``: absent) and the new one."""

    key: bytes
    old: bytes | None
    new: bytes


@dataclass(frozen=True, slots=True)
class StorageRemove:
    """``storage_remove``: the key and the value removed (``None``: it was absent, nothing changed)."""

    key: bytes
    old: bytes | None


@dataclass(frozen=True, slots=True)
class EventStep:
    """An event this frame emitted (kept in the receipt only if every frame up to the top succeeds)."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class LogStep:
    """A ``debug_log`` message."""

    message: str


@dataclass(frozen=True, slots=True)
class TransferStep:
    """A native ``transfer`` from this frame's contract; ``ok`` is what the contract was told."""

    recipient: Address
    amount: int
    ok: bool


@dataclass(frozen=True, slots=True)
class CallStep:
    """A nested call, run or refused; ``frame.status_code`` is what the caller saw."""

    frame: TraceFrame


Step = StorageRead | StorageWrite | StorageRemove | EventStep | LogStep | TransferStep | CallStep


IO_AREA_STEP: Final = "io_area"
"""The name a verbose trace gives the filling of an ABI 2 module's io area (no host call, charged like one)."""


@dataclass(frozen=True, slots=True)
class HostCall:
    """One host function call (verbose traces): its name and the gas it charged.

    For ``call`` the gas includes the nested frame's; ``gas_own`` is the call's own cost.
    """

    name: str
    gas: int
    gas_own: int


@dataclass
class TraceFrame:
    """One contract frame of a call tree."""

    caller: Address
    contract: Address
    method: str
    input: bytes
    value: int
    gas_limit: int
    """The frame's budget: the message's gas limit, or what the caller's ``call`` passed on."""
    depth: int
    """0 for the top-level frame."""
    status: Status = "ok"
    error: str | None = None
    gas_used: int = 0
    """Gas the frame used, its nested frames included (what its caller was charged)."""
    return_data: bytes = b""
    status_code: int | None = None
    """The ``call`` status code the caller saw (``vm.abi.CALL_*``); ``None`` at the top."""
    steps: list[Step] = field(default_factory=list)
    """What the frame did, in order."""
    host_calls: list[HostCall] = field(default_factory=list)
    """Every host call with its gas (verbose traces only)."""
    ran: bool = True
    """False for a nested call refused before any code ran (no contract, re-entry, too deep, ...)."""
    profile: FrameProfile | None = None
    """The frame's gas per wasm function (``Tracer(profile=True)`` only; ``vm.profile``)."""

    @property
    def calls(self) -> list[TraceFrame]:
        """The nested frames, in order."""
        return [step.frame for step in self.steps if isinstance(step, CallStep)]

    @property
    def gas_children(self) -> int:
        return sum(child.gas_used for child in self.calls)

    @property
    def gas_self(self) -> int:
        """Gas of this frame alone: its instructions and host calls, not its nested frames'."""
        return self.gas_used - self.gas_children

    def walk(self) -> list[TraceFrame]:
        """This frame and every frame below it, depth first, in call order."""
        frames = [self]
        for child in self.calls:
            frames.extend(child.walk())
        return frames


class Tracer:
    """Collects the call tree of one ``Runtime.execute``; read ``root`` afterwards.

    One tracer per execution: ``root`` is the top-level frame, or ``None`` if
    the call was refused before any frame ran (the outcome says why).

    With ``profile=True`` every frame runs the profiling variant of its
    module (``vm.profiling``: same outcome, same gas) and gets a
    ``FrameProfile``; read them together as ``profile``.
    """

    def __init__(self, *, verbose: bool = False, profile: bool = False) -> None:
        self.verbose = verbose
        self.profiling = profile
        self.root: TraceFrame | None = None
        self._stack: list[TraceFrame] = []

    @property
    def current(self) -> TraceFrame | None:
        return self._stack[-1] if self._stack else None

    @property
    def profile(self) -> Profile | None:
        """Every frame's gas per wasm function (``None`` unless made with ``profile=True``)."""
        return collect(self.root) if self.profiling else None

    def enter(
        self, *, caller: Address, contract: Address, method: str, input: bytes, value: int, budget: int
    ) -> TraceFrame:
        """A frame starts (called by the runtime before the frame's instance exists)."""
        parent = self.current
        record = TraceFrame(caller, contract, method, input, value, budget, depth=len(self._stack))
        if self.profiling:
            caller_profile = parent.profile if parent is not None else None
            record.profile = FrameProfile(caller_profile.stack() if caller_profile is not None else ())
        if parent is None:
            self.root = record
        else:
            parent.steps.append(CallStep(record))
        self._stack.append(record)
        return record

    def exit(self, record: TraceFrame, outcome: Outcome) -> None:
        """The frame ended with ``outcome``."""
        popped = self._stack.pop()
        assert popped is record, "trace frames must end in the order they started"
        record.status = outcome.status
        record.error = outcome.error
        record.gas_used = outcome.gas_used
        record.return_data = outcome.return_data
        if record.profile is not None:
            record.profile.finish(record.gas_self)
            parent = self.current
            if parent is not None and parent.profile is not None:
                parent.profile.children_gas += record.gas_used


_REFUSED_STATUS: Final[dict[int, Status]] = {
    abi.CALL_OUT_OF_GAS: "out_of_gas",
    abi.CALL_NOT_FOUND: "invalid",
    abi.CALL_REENTRANCY: "invalid",
    abi.CALL_TOO_DEEP: "invalid",
    abi.CALL_INSUFFICIENT_BALANCE: "invalid",
}


class TracingFrame(Frame):
    """A ``Frame`` whose host functions also record steps into ``record``.

    Each override runs ``Frame``'s function first, unchanged, and records
    afterwards from what it read; the value a write replaces is read from
    the host before the write (a read has no effect on the state).
    """

    record: TraceFrame
    tracer: Tracer

    def _peek(self, what: str, ptr: int, length: int) -> bytes | None:
        """Guest bytes for the record, or ``None`` where the host function itself will refuse the range."""
        try:
            return self._read(what, ptr, length)
        except Exception:
            return None

    def _traced_storage_read(self, key_ptr: int, key_len: int, out_ptr: int, out_cap: int) -> int:
        found = Frame.host_storage_read(self, key_ptr, key_len, out_ptr, out_cap)
        key = self._read("storage key", key_ptr, key_len)
        self.record.steps.append(StorageRead(key, self.host.storage_read(self.contract, key)))
        return found

    def _traced_storage_has(self, key_ptr: int, key_len: int) -> int:
        present = Frame.host_storage_has(self, key_ptr, key_len)
        key = self._read("storage key", key_ptr, key_len)
        self.record.steps.append(StorageRead(key, self.host.storage_read(self.contract, key), "storage_has"))
        return present

    def _traced_storage_write(self, key_ptr: int, key_len: int, val_ptr: int, val_len: int) -> None:
        key = self._peek("storage key", key_ptr, key_len) if key_len & 0xFFFFFFFF <= self.limits.max_key_size else None
        old = self.host.storage_read(self.contract, key) if key is not None else None
        Frame.host_storage_write(self, key_ptr, key_len, val_ptr, val_len)
        assert key is not None  # the write read the same range
        self.record.steps.append(StorageWrite(key, old, self.host.storage_read(self.contract, key) or b""))

    def _traced_storage_remove(self, key_ptr: int, key_len: int) -> int:
        key = self._peek("storage key", key_ptr, key_len) if key_len & 0xFFFFFFFF <= self.limits.max_key_size else None
        old = self.host.storage_read(self.contract, key) if key is not None else None
        removed = Frame.host_storage_remove(self, key_ptr, key_len)
        assert key is not None
        self.record.steps.append(StorageRemove(key, old if removed else None))
        return removed

    def _traced_event_emit(self, name_ptr: int, name_len: int, data_ptr: int, data_len: int) -> None:
        Frame.host_event_emit(self, name_ptr, name_len, data_ptr, data_len)
        event = self.events[-1]
        self.record.steps.append(EventStep(event.name, event.data))

    def _effect_write(self, key: bytes, value: bytes) -> None:
        old = self.host.storage_read(self.contract, key)
        Frame._effect_write(self, key, value)
        self.record.steps.append(StorageWrite(key, old, value))

    def _effect_event(self, raw_name: bytes, data: bytes) -> None:
        Frame._effect_event(self, raw_name, data)
        event = self.events[-1]
        self.record.steps.append(EventStep(event.name, event.data))

    def fill_io_area(self, address: int) -> None:
        Frame.fill_io_area(self, address)
        if self.tracer.verbose:  # charged with the instantiation, before this ran
            cost = self.io_area_cost()
            self.record.host_calls.append(HostCall(IO_AREA_STEP, cost, cost))

    def _traced_debug_log(self, msg_ptr: int, msg_len: int) -> None:
        Frame.host_debug_log(self, msg_ptr, msg_len)
        self.record.steps.append(LogStep(self.execution.logs[-1].message))

    def _traced_transfer(self, to_ptr: int, amount_ptr: int) -> int:
        code = Frame.host_transfer(self, to_ptr, amount_ptr)
        recipient = self._read("transfer address", to_ptr, abi.ADDRESS_SIZE)
        amount = int.from_bytes(self._read("transfer amount", amount_ptr, abi.AMOUNT_SIZE), "little")
        self.record.steps.append(TransferStep(recipient, amount, code == 0))
        return code

    def _traced_call(
        self, addr_ptr: int, method_ptr: int, method_len: int, args_ptr: int, args_len: int, value_ptr: int, gas: int
    ) -> int:
        steps = self.record.steps
        before = len(steps)
        code = Frame.host_call(self, addr_ptr, method_ptr, method_len, args_ptr, args_len, value_ptr, gas)
        ran = steps[before] if len(steps) > before else None
        if isinstance(ran, CallStep):
            ran.frame.status_code = code
            return code
        # Refused before the callee ran: the record is made here, from what the call read.
        target = self._read("call address", addr_ptr, abi.ADDRESS_SIZE)
        method = self._read("call method name", method_ptr, method_len & 0xFFFFFFFF).decode("utf-8")
        args = self._read("call arguments", args_ptr, args_len & 0xFFFFFFFF)
        value = int.from_bytes(self._read("call value", value_ptr, abi.AMOUNT_SIZE), "little")
        refused = TraceFrame(
            caller=self.contract,
            contract=target,
            method=method,
            input=args,
            value=value,
            gas_limit=0,
            depth=self.record.depth + 1,
            status=_REFUSED_STATUS.get(code, "invalid"),
            error=self.call_result.decode("utf-8", errors="replace"),
            status_code=code,
            ran=False,
        )
        steps.append(CallStep(refused))
        return code


def _recorded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as ``TracingFrame.host_<name>``, also noting its gas when the trace is verbose."""

    def host_function(self: TracingFrame, *args: int) -> Any:
        if not self.tracer.verbose:
            return function(self, *args)
        before = self.gas_used()
        children = self.record.gas_children if name == "call" else 0
        try:
            return function(self, *args)
        finally:
            charged = min(self.gas_used(), self.budget) - before
            own = charged - (self.record.gas_children - children) if name == "call" else charged
            self.record.host_calls.append(HostCall(name, charged, own))

    host_function.__name__ = f"host_{name}"
    return host_function


for _name in abi.HOST_FUNCTIONS_V2:
    setattr(
        TracingFrame,
        f"host_{_name}",
        _recorded(_name, getattr(TracingFrame, f"_traced_{_name}", getattr(Frame, f"host_{_name}"))),
    )
