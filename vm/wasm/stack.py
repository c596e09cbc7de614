"""The deterministic stack cost of a function, in stack units.

A function's frame is charged ``FRAME_OVERHEAD_UNITS`` plus one unit per
parameter, per declared local and per value its operand stack can hold at
its highest.  The instrumented module adds a callee's cost to a global
counter before every call and subtracts it after; a call that would take
the counter past ``Limits.max_stack_units`` traps instead.  This counts the
call stack in wasm terms, so the depth at which recursion fails is the same
on every machine and every wasmtime build (native stack use is not).

The operand stack height is computed on the original body by one pass
over its instructions, popping and pushing each one's operands (block
types and callee types included).  After ``unreachable``, ``br``,
``br_table`` or ``return`` the rest of the block is unreachable: there the
height is reset to the block's base, pops never go below it and pushes
still count.  Dead code can therefore only raise the estimate, never lower
it: an over-estimate, never an under-estimate, and deterministic.
"""

from __future__ import annotations

from typing import Final

FRAME_OVERHEAD_UNITS: Final = 8
"""Units charged for every frame besides its locals and operands (return address, bookkeeping)."""


def function_cost(locals_count: int, max_height: int) -> int:
    """The stack cost of a function with ``locals_count`` locals (parameters
    included) whose operand stack is at most ``max_height`` values high."""
    return FRAME_OVERHEAD_UNITS + locals_count + max_height
