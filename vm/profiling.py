"""Running a frame on the profiling variant of its module, with exactly the plain run's gas.

The variant (``vm.wasm.hooks``) calls the host's ``hook`` at every function
transition; ``ProfilingFrame.host_profile_hook`` reads the fuel there,
attributes the gas since the last transition (``vm.profile``) and gives
back the fuel the hook site's own instructions burned.  The run must also
*stop* exactly where the plain one would, and wasmtime checks fuel at
function entries, at loop headers and after bulk memory and table
instructions (which burn fuel per unit), and reports 0 for any negative
count.  A hook site right after a check, left with less than its own cost,
would read 0 and could not tell how much to give back.  So the profiling
store holds ``SLACK`` more fuel than the plain one (``_get_fuel`` and
``_set_fuel`` hide it from every host function, so they all see the plain
run's numbers), wasmtime's own checks then never fire first, and each check
is made by the hook placed right after it instead, raising the same
``OutOfGas`` that ``Runtime._classify_trap`` makes of wasmtime's
out-of-fuel trap.  Instantiation (which may burn fuel laying out data)
runs without the slack, exactly as in the plain run.

Exact as long as a plain run never overshoots its fuel by ``SLACK``
(2**40) between two checks, and for gas limits below 2**63 - 2**41.
"""

from __future__ import annotations

from typing import Final

import wasmtime

from . import abi
from .errors import OutOfGas
from .trace import TracingFrame
from .wasm.hooks import (
    BULK,
    ENTER,
    ENTRY_FUEL,
    GROW,
    HOOK_FUEL,
    KIND_BITS,
    KIND_MASK,
    LOOP,
    PRE_INDIRECT,
    RESUME,
    RESUME_INDIRECT,
    HookedModule,
)

SLACK: Final = 1 << 40
"""Fuel the profiling store holds beyond the plain run's."""

MAX_INJECTED_FUEL: Final = (1 << 63) - 1
"""wasmtime keeps at most this much fuel where compiled code sees it (the rest in a reserve it refuels from)."""

_CHECKED: Final = frozenset({ENTER, LOOP, BULK})
"""Hook sites right after one of wasmtime's fuel checks (``GROW``: only when the grow succeeded)."""

_GREW_NOTHING: Final = -1
"""What ``memory.grow`` and ``table.grow`` return when they fail (and burn no fuel per unit)."""


class ProfilingFrame(TracingFrame):
    """A ``TracingFrame`` that also keeps the frame's gas profile (``record.profile``)."""

    _slack = 0
    hooks: HookedModule

    # -- fuel, seen without the slack ----------------------------------------------------

    def _get_fuel(self) -> int:
        return TracingFrame._get_fuel(self) - self._slack

    def _set_fuel(self, fuel: int) -> None:
        TracingFrame._set_fuel(self, max(fuel + self._slack, 0))

    def add_slack(self) -> None:
        """Called once the instance exists, before the method runs."""
        fuel = self._get_fuel()
        self._slack = max(min(SLACK, MAX_INJECTED_FUEL - fuel), 0)
        self._set_fuel(fuel)

    # -- the hook --------------------------------------------------------------------------

    def host_profile_hook(self, code: int, arg: int) -> None:
        """One function transition (``vm.wasm.hooks``): attribute, give the site's fuel back, move the stack."""
        kind = code & KIND_MASK
        cost = HOOK_FUEL[kind]
        if self._left is None:  # the plain path: no begin_host_call
            left = self._get_fuel() - 1 + cost
            self._set_fuel(left + 1)
        else:
            self._left += cost
            left = self._left
        profile = self.record.profile
        assert profile is not None
        used = min(self.budget - left, self.budget) - profile.children_gas
        profile.charge(used - ENTRY_FUEL if kind == ENTER else used)
        if left < 0 and (kind in _CHECKED or (kind == GROW and arg != _GREW_NOTHING)):
            # The plain run's fuel check just failed here: its trap, as Runtime._classify_trap words it.
            raise OutOfGas(f"out of gas: used all {self.budget}")
        if kind == ENTER:
            profile.enter(code >> KIND_BITS)
            profile.charge(used)
        elif kind == RESUME:
            profile.leave()
        elif kind == PRE_INDIRECT:
            profile.mark()
        elif kind == RESUME_INDIRECT:
            profile.restore()

    def attach(self, hooks: HookedModule, code_hash: bytes) -> None:
        """Set up the frame's profile once its record exists."""
        self.hooks = hooks
        profile = self.record.profile
        assert profile is not None
        profile.code_hash = code_hash
        profile.names = hooks.names

    def trap_site(self, frame: wasmtime.Frame) -> tuple[str, int]:
        """Where a trap happened, named as in the plain run (its function index and code offset)."""
        index = self.hooks.original_index(frame.func_index)
        return frame.func_name or f"function {index}", self.hooks.original_offset(frame.module_offset)


def call_profiled(
    frame: ProfilingFrame,
    instance_pre: wasmtime.InstancePre,
    method: str,
    stack_start: int,
    io_address: int | None = None,
) -> None:
    """``Runtime._call_plain`` for a profiling frame: instantiate, fill the io area (ABI 2), add the slack, call."""
    store = frame.store
    exports = instance_pre.instantiate(store).exports(store)
    memory, stack_global, function = exports["memory"], exports[abi.STACK_GLOBAL_EXPORT], exports[method]
    assert isinstance(memory, wasmtime.Memory) and isinstance(stack_global, wasmtime.Global)
    assert isinstance(function, wasmtime.Func)
    frame.memory = memory
    frame.stack_global = stack_global
    stack_global.set_value(store, wasmtime.Val.i32(stack_start))
    if io_address is not None:
        frame.fill_io_area(io_address)
    frame.add_slack()
    function(store)
