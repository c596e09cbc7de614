"""One contract frame: a store, an instance, its gas meter and the host functions.

Each host function of ABI v1 (docs/abi.md) is a ``host_<name>`` method
here.  They share three rules:

1. charge gas first (``charge``), before reading storage, hashing or
   copying, so an unaffordable call does no work;
2. check every guest range against the memory (``_read``/``_write``), so a
   bad pointer ends the call with ``HostError`` rather than crashing;
3. keep every result a function of the call's inputs and the state only.

Gas lives in the store's fuel counter, so wasm instructions and host costs
draw from one budget.  The store holds ``budget + 1`` fuel: wasmtime checks
fuel only at function entries and loop headers and reports 0, never less,
when straight-line code overshoots, so the spare unit tells "used exactly
the budget" (1 left) from "went over it" (0 left).
"""

from __future__ import annotations

import ctypes
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import wasmtime
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from wasmtime import _ffi as ffi

from . import abi
from .errors import Abort, HostError, OutOfGas
from .host import Address, Host
from .messages import BlockEnv, Event, LogLine, Outcome
from .params import GasSchedule, Limits

if TYPE_CHECKING:
    from .trace import Tracer

U32 = 0xFFFFFFFF

# wasmtime's C functions that host calls use most, called without the Python
# wrappers of wasmtime-py's ``_ffi`` (one Python frame each), and the memory's
# address returned as an integer rather than a ctypes pointer object.
_get_fuel = ffi.dll.wasmtime_context_get_fuel
_set_fuel = ffi.dll.wasmtime_context_set_fuel
_memory_data = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(("wasmtime_memory_data", ffi.dll))
_memory_data_size = ffi.dll.wasmtime_memory_data_size


@dataclass
class Execution:
    """What the frames of one top-level call share."""

    host: Host
    env: BlockEnv
    origin: Address
    limits: Limits
    gas: GasSchedule
    call_stack: list[Address] = field(default_factory=list)
    """Contracts with a frame running, outermost first (re-entry check)."""
    events_emitted: int = 0
    """Events emitted so far by all frames, failed ones included (``max_events``)."""
    logs: list[LogLine] = field(default_factory=list)
    """``debug_log`` messages of all frames, failed ones included, in order."""
    tracer: Tracer | None = None
    """Records the call tree when set (``vm.trace``); ``None`` on the consensus path."""


NestedCall = Callable[["Frame", Address, str, bytes, int, int], tuple[int, Outcome]]
"""How a frame asks the runtime to run a nested call:
(caller frame, contract, method, input, value, gas budget) -> (ABI status code, outcome)."""


class Frame:
    """The state of one running contract call (the fast path: see ``PlainFrame`` for the plain one).

    During a host call the frame keeps the fuel and the memory's place in
    Python (``begin_host_call`` .. ``end_host_call``): nothing else can
    burn this store's fuel or grow its memory while its host function runs
    (a nested call runs in a store of its own), so a host function's
    several charges and memory accesses cost two C calls for the fuel and
    two for the memory instead of two for each.  The fuel is written back
    before the host function returns or raises, so wasm, and
    ``gas_used``, always see every charge.
    """

    def __init__(
        self,
        execution: Execution,
        store: wasmtime.Store,
        *,
        caller: Address,
        contract: Address,
        input: bytes,
        value: int,
        budget: int,
        nested_call: NestedCall,
    ) -> None:
        self.execution = execution
        self.host = execution.host
        self.gas = execution.gas
        self.limits = execution.limits
        self.store = store
        self._context = store._context()
        self._fuel = ctypes.c_uint64()
        self._left: int | None = None
        """Gas left, kept here during a host call (``None`` outside one): fuel - 1."""
        self._view: tuple[int, int] | None = None
        """The memory's host address and size, kept during a host call."""
        self.caller = caller
        self.contract = contract
        self.input = input
        self.value = value
        self.budget = budget
        self.nested_call = nested_call
        self.memory: wasmtime.Memory | None = None
        self.stack_global: wasmtime.Global | None = None
        self.return_data = b""
        self.events: list[Event] = []
        self.call_result = b""
        self._set_fuel(budget + 1)

    # -- gas ------------------------------------------------------------

    def _get_fuel(self) -> int:
        """``Store.get_fuel``, through the C API directly."""
        error = _get_fuel(self._context, ctypes.byref(self._fuel))
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
        fuel: int = self._fuel.value
        return fuel

    def _set_fuel(self, fuel: int) -> None:
        """``Store.set_fuel``, through the C API directly."""
        error = _set_fuel(self._context, fuel)
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)

    def begin_host_call(self) -> None:
        """Read the fuel once for the host call about to run."""
        self._left = self._get_fuel() - 1

    def end_host_call(self) -> None:
        """Write the fuel back (unless a charge already ended the call with 0) and forget the memory."""
        left, self._left, self._view = self._left, None, None
        if left is not None:
            self._set_fuel(left + 1)

    def gas_left(self) -> int:
        left = self._get_fuel() - 1 if self._left is None else self._left
        return max(left, 0)

    def gas_used(self) -> int:
        """Gas used so far; more than the budget means out of gas."""
        return self.budget - (self._get_fuel() - 1 if self._left is None else self._left)

    def charge(self, cost: int) -> None:
        """Take cost from the budget, or end the call with OutOfGas if it cannot pay."""
        left = self._get_fuel() - 1 if self._left is None else self._left
        if cost > left:
            self._left = None
            self._set_fuel(0)
            raise OutOfGas(f"out of gas: needed {cost} more, {max(left, 0)} left of {self.budget}")
        if self._left is None:
            self._set_fuel(left - cost + 1)
        else:
            self._left = left - cost

    # -- guest memory ---------------------------------------------------

    def _memory_view(self) -> tuple[int, int]:
        """The memory's host address and size in bytes (``Memory.data_ptr``/``data_len``)."""
        assert self.memory is not None
        memory = ctypes.byref(self.memory._memory)
        return _memory_data(self._context, memory) or 0, _memory_data_size(self._context, memory)

    def _span(self, what: str, ptr: int, length: int) -> int:
        """Bounds-check [ptr, ptr+length) and return its host address."""
        ptr &= U32
        length &= U32
        view = self._view
        if view is None:
            view = self._memory_view()
            if self._left is not None:  # in a host call: the memory cannot move or grow until it returns
                self._view = view
        base, size = view
        if ptr + length > size:
            raise HostError(f"bad pointer: {what} range [{ptr}, {ptr + length}) is outside memory of {size} bytes")
        return base + ptr

    def _read(self, what: str, ptr: int, length: int) -> bytes:
        address = self._span(what, ptr, length)
        return ctypes.string_at(address, length & U32)

    def _write(self, what: str, ptr: int, data: bytes) -> None:
        address = self._span(what, ptr, len(data))
        ctypes.memmove(address, data, len(data))

    def _check_size(self, what: str, length: int, limit_name: str) -> int:
        length &= U32
        limit = getattr(self.limits, limit_name)
        if length > limit:
            raise HostError(f"{what} of {length} bytes is over {limit_name} ({limit})")
        return length

    def _give(self, what: str, data: bytes, out_ptr: int, out_cap: int) -> int:
        """Copy data to the guest buffer if it fits; return its length either way."""
        if len(data) <= out_cap & U32:
            self.charge(self.gas.copy_byte * len(data))
            self._write(what, out_ptr, data)
        return len(data)

    # -- host functions: input and output --------------------------------

    def host_input_read(self, out_ptr: int, out_cap: int) -> int:
        self.charge(self.gas.host_call)
        return self._give("input_read buffer", self.input, out_ptr, out_cap)

    def host_return_set(self, ptr: int, length: int) -> None:
        length = self._check_size("return data", length, "max_return_size")
        self.charge(self.gas.host_call + self.gas.copy_byte * length)
        self.return_data = self._read("return_set data", ptr, length)

    def host_abort(self, msg_ptr: int, msg_len: int) -> None:
        length = min(msg_len & U32, abi.MAX_ABORT_MESSAGE)
        self.charge(self.gas.host_call + self.gas.copy_byte * length)
        message = self._read("abort message", msg_ptr, length)
        raise Abort(message.decode("utf-8", errors="replace"))

    # -- host functions: storage -------------------------------------------

    def _look_up(self, key_ptr: int, key_len: int, base: int, per_key_byte: int) -> tuple[bytes, bytes | None]:
        """Charge for the key, read it, look its value up, and charge for the value's bytes."""
        key_len = self._check_size("storage key", key_len, "max_key_size")
        self.charge(self.gas.host_call + base + per_key_byte * key_len)
        key = self._read("storage key", key_ptr, key_len)
        value = self.host.storage_read(self.contract, key)
        if value is not None:
            self.charge(self.gas.storage_read_byte * len(value))
        return key, value

    def host_storage_read(self, key_ptr: int, key_len: int, out_ptr: int, out_cap: int) -> int:
        gas = self.gas
        _, value = self._look_up(key_ptr, key_len, gas.storage_read_base, gas.storage_read_byte)
        if value is None:
            return -1
        return self._give("storage_read buffer", value, out_ptr, out_cap)

    def host_storage_write(self, key_ptr: int, key_len: int, val_ptr: int, val_len: int) -> None:
        key_len = self._check_size("storage key", key_len, "max_key_size")
        val_len = self._check_size("storage value", val_len, "max_value_size")
        gas = self.gas
        self.charge(gas.host_call + gas.storage_write_base + gas.storage_write_byte * (key_len + val_len))
        key = self._read("storage key", key_ptr, key_len)
        value = self._read("storage value", val_ptr, val_len)
        self.host.storage_write(self.contract, key, value)

    def host_storage_remove(self, key_ptr: int, key_len: int) -> int:
        # The store reads the value to remove it: that read is charged like any other.
        gas = self.gas
        key, value = self._look_up(key_ptr, key_len, gas.storage_write_base, gas.storage_write_byte)
        if value is None:
            return 0
        self.host.storage_remove(self.contract, key)
        return 1

    def host_storage_has(self, key_ptr: int, key_len: int) -> int:
        gas = self.gas
        _, value = self._look_up(key_ptr, key_len, gas.storage_read_base, gas.storage_read_byte)
        return int(value is not None)

    # -- host functions: events, environment, crypto ------------------------

    def host_event_emit(self, name_ptr: int, name_len: int, data_ptr: int, data_len: int) -> None:
        name_len = self._check_size("event name", name_len, "max_event_name_size")
        data_len = self._check_size("event data", data_len, "max_event_data_size")
        gas = self.gas
        self.charge(gas.host_call + gas.event_base + gas.event_byte * (name_len + data_len))
        self._check_event_room()
        name = _event_name(self._read("event name", name_ptr, name_len))
        self._add_event(name, self._read("event data", data_ptr, data_len))

    def _check_event_room(self) -> None:
        """Refuse an event past ``max_events`` (checked before the event's bytes are read)."""
        if self.execution.events_emitted >= self.limits.max_events:
            raise HostError(f"more than max_events ({self.limits.max_events}) events in one call")

    def _add_event(self, name: str, data: bytes) -> None:
        self.execution.events_emitted += 1
        self.events.append(Event(self.contract, name, data))

    def host_debug_log(self, msg_ptr: int, msg_len: int) -> None:
        # Charged like an event of the message's size, and bounded like one.
        length = self._check_size("debug_log message", msg_len, "max_event_data_size")
        gas = self.gas
        self.charge(gas.host_call + gas.event_base + gas.event_byte * length)
        message = self._read("debug_log message", msg_ptr, length).decode("utf-8", errors="replace")
        self.execution.logs.append(LogLine(self.contract, message))

    def _env_record(self) -> bytes:
        """The 112-byte environment record (docs/abi.md), as of now: the balance is read when asked."""
        env = self.execution.env
        return b"".join(
            (
                self.caller,
                self.contract,
                self.execution.origin,
                bytes(4),
                env.height.to_bytes(8, "little"),
                env.timestamp.to_bytes(8, "little"),
                self.value.to_bytes(16, "little"),
                self.host.balance(self.contract).to_bytes(16, "little"),
            )
        )

    def host_env_read(self, out_ptr: int) -> None:
        self.charge(self.gas.host_call + self.gas.copy_byte * abi.ENV_SIZE)
        self._write("env_read buffer", out_ptr, self._env_record())

    # -- ABI 2: the io area and apply_effects -----------------------------------

    def io_area_cost(self) -> int:
        """The gas of filling the io area: one host call that copies the record, the length and the input if it fits."""
        inline = len(self.input) if len(self.input) <= abi.IO_INPUT_CAPACITY else 0
        return self.gas.host_call + self.gas.copy_byte * (abi.IO_INPUT_OFFSET + inline)

    def fill_io_area(self, address: int) -> None:
        """Write the environment record, the input's length and (if it fits) the input into the io area.

        Runs once, after instantiation and before the method; charged (``io_area_cost``) with the
        instantiation.  The area must lie inside memory, else the call traps before the method runs.
        """
        base, size = self._memory_view()
        if address + abi.IO_AREA_SIZE > size:
            raise HostError(
                f"bad pointer: {abi.IO_EXPORT} area [{address}, {address + abi.IO_AREA_SIZE})"
                f" is outside memory of {size} bytes"
            )
        data = self.input
        record = b"".join(
            (self._env_record(), len(data).to_bytes(4, "little"), data if len(data) <= abi.IO_INPUT_CAPACITY else b"")
        )
        ctypes.memmove(base + address, record, len(record))

    def host_apply_effects(self, ptr: int, length: int) -> None:
        """Apply the buffer's records in order: storage writes, events, the return data (docs/abi.md)."""
        length &= U32
        gas = self.gas
        self.charge(gas.host_call + gas.copy_byte * length)
        buffer = self._read("apply_effects buffer", ptr, length)
        at, index = 0, 0
        while at < length:
            tag = buffer[at]
            if tag == abi.EFFECT_WRITE or tag == abi.EFFECT_EVENT:
                if at + 9 > length:
                    raise _runs_past(index, at, at + 9, length)
                first, second = _TWO_LENGTHS.unpack_from(buffer, at + 1)
                start = at + 9
                end = start + first + second
                if end > length:
                    raise _runs_past(index, at, end, length)
                if tag == abi.EFFECT_WRITE:
                    key_len = self._check_size("storage key", first, "max_key_size")
                    val_len = self._check_size("storage value", second, "max_value_size")
                    self.charge(gas.storage_write_base + gas.storage_write_byte * (key_len + val_len))
                    self._effect_write(buffer[start : start + first], buffer[start + first : end])
                else:
                    name_len = self._check_size("event name", first, "max_event_name_size")
                    data_len = self._check_size("event data", second, "max_event_data_size")
                    self.charge(gas.event_base + gas.event_byte * (name_len + data_len))
                    self._effect_event(buffer[start : start + first], buffer[start + first : end])
            elif tag == abi.EFFECT_RETURN:
                if at + 5 > length:
                    raise _runs_past(index, at, at + 5, length)
                (size,) = _ONE_LENGTH.unpack_from(buffer, at + 1)
                start = at + 5
                end = start + size
                if end > length:
                    raise _runs_past(index, at, end, length)
                self._check_size("return data", size, "max_return_size")
                self.return_data = buffer[start:end]
            else:
                raise HostError(
                    f"apply_effects: record {index} at offset {at} has tag {tag};"
                    f" expected {abi.EFFECT_WRITE} (write), {abi.EFFECT_EVENT} (event) or {abi.EFFECT_RETURN} (return)"
                )
            at, index = end, index + 1

    def _effect_write(self, key: bytes, value: bytes) -> None:
        """One write of ``apply_effects``, charged already."""
        self.host.storage_write(self.contract, key, value)

    def _effect_event(self, raw_name: bytes, data: bytes) -> None:
        """One event of ``apply_effects``, charged already."""
        self._check_event_room()
        self._add_event(_event_name(raw_name), data)

    def host_sha256(self, ptr: int, length: int, out_ptr: int) -> None:
        length &= U32
        gas = self.gas
        self.charge(gas.host_call + gas.sha256_base + gas.sha256_byte * length)
        digest = hashlib.sha256(self._read("sha256 input", ptr, length)).digest()
        self._write("sha256 output", out_ptr, digest)

    def host_ed25519_verify(self, sig_ptr: int, pk_ptr: int, msg_ptr: int, msg_len: int) -> int:
        msg_len &= U32
        gas = self.gas
        self.charge(gas.host_call + gas.ed25519_verify_base + gas.ed25519_verify_byte * msg_len)
        signature = self._read("ed25519 signature", sig_ptr, 64)
        public_key = self._read("ed25519 public key", pk_ptr, 32)
        message = self._read("ed25519 message", msg_ptr, msg_len)
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return 0
        return 1

    # -- host functions: calls and transfers ---------------------------------

    def host_call(
        self,
        addr_ptr: int,
        method_ptr: int,
        method_len: int,
        args_ptr: int,
        args_len: int,
        value_ptr: int,
        gas: int,
    ) -> int:
        method_len &= U32
        if method_len > abi.MAX_METHOD_NAME:
            raise HostError(f"call method name of {method_len} bytes is over {abi.MAX_METHOD_NAME}")
        args_len = self._check_size("call arguments", args_len, "max_input_size")
        schedule = self.gas
        self.charge(schedule.host_call + schedule.call_base + schedule.copy_byte * (method_len + args_len))
        if gas < 0:
            raise HostError(f"call gas must be non-negative, found {gas}")
        target = self._read("call address", addr_ptr, abi.ADDRESS_SIZE)
        raw_method = self._read("call method name", method_ptr, method_len)
        args = self._read("call arguments", args_ptr, args_len)
        value = int.from_bytes(self._read("call value", value_ptr, abi.AMOUNT_SIZE), "little")
        try:
            method = raw_method.decode("utf-8")
        except UnicodeDecodeError:
            raise HostError(f"call method name is not UTF-8: {raw_method.hex()}") from None
        # The caller keeps max(left // 64, call_reserve) of what it has left:
        # EIP-150's 64th, with a floor that pays for reading the callee's
        # failure and aborting with a message of its own even when the callee
        # burns its whole budget.  With no more than the reserve left, the
        # callee is not run at all: the call is out of gas at once and costs
        # nothing beyond what was charged above (docs/gas.md, "Nested calls").
        left = self.gas_left()
        reserve = max(left // 64, schedule.call_reserve)
        if left <= reserve:
            self.call_result = (
                f"out of gas: not run: the caller has {left} gas left,"
                f" no more than the call_reserve of {schedule.call_reserve} it keeps"
            ).encode()
            return abi.CALL_OUT_OF_GAS
        cap = left - reserve
        budget = cap if gas == 0 else min(gas, cap)
        code, outcome = self.nested_call(self, target, method, args, value, budget)
        self.charge(outcome.gas_used)
        self.call_result = outcome.return_data if outcome.ok else (outcome.error or "").encode()
        if outcome.ok:
            self.events.extend(outcome.events)
        return code

    def host_call_result_read(self, out_ptr: int, out_cap: int) -> int:
        self.charge(self.gas.host_call)
        return self._give("call_result_read buffer", self.call_result, out_ptr, out_cap)

    def host_transfer(self, to_ptr: int, amount_ptr: int) -> int:
        self.charge(self.gas.host_call + self.gas.transfer_base)
        recipient = self._read("transfer address", to_ptr, abi.ADDRESS_SIZE)
        amount = int.from_bytes(self._read("transfer amount", amount_ptr, abi.AMOUNT_SIZE), "little")
        return 0 if self.host.transfer(self.contract, recipient, amount) else 1


def _event_name(raw: bytes) -> str:
    """An event's name: UTF-8, or the call ends naming the bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HostError(f"event name is not UTF-8: {raw.hex()}") from None


_TWO_LENGTHS: Final = struct.Struct("<II")
_ONE_LENGTH: Final = struct.Struct("<I")
"""The little-endian u32 lengths after an ``apply_effects`` record's tag."""


def _runs_past(index: int, at: int, end: int, length: int) -> HostError:
    return HostError(
        f"apply_effects: record {index} at offset {at} runs to offset {end}, past the buffer's {length} bytes"
    )


class PlainFrame(Frame):
    """A frame on wasmtime-py's public API only: fuel through ``Store.get_fuel``/``set_fuel``
    on every charge, the memory through ``Memory.data_ptr``/``data_len`` on every access.

    The straightforward path that ``Runtime(fast_paths=False)`` runs, to measure what the fast
    one gains and to check that it changes nothing (``chain.tuning``).
    """

    def _get_fuel(self) -> int:
        return self.store.get_fuel()

    def _set_fuel(self, fuel: int) -> None:
        self.store.set_fuel(fuel)

    def _memory_view(self) -> tuple[int, int]:
        assert self.memory is not None
        return ctypes.addressof(self.memory.data_ptr(self.store).contents), self.memory.data_len(self.store)
