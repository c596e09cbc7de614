"""Errors of the VM, under one root with three branches.

``InvalidModule`` and ``InvalidParams`` reject input before anything runs
(a deploy, a genesis file).  ``ExecutionHalted`` ends a call that was
running; it becomes a failed outcome with a status and a message, never an
exception that escapes the runtime.  Whether a halt burns the whole gas
limit of the call lives on the class.  ``HostFault`` is the node's own
failure during a call (its database, its cache, its instance pool, a bug):
it always escapes the runtime and never becomes an outcome, because its
cause lies in one node and not in the chain.
"""

from __future__ import annotations

import json


def quote(text: str) -> str:
    """A name quoted for an error message that may reach a receipt.

    ``repr`` depends on the Unicode tables of the running Python (what is
    printable changes between versions); JSON with ASCII escapes does not.
    """
    return json.dumps(text)


class VMError(Exception):
    """Root of every error raised by the ``vm`` package."""


class InvalidParams(VMError):
    """A VM parameter (limit, gas cost, flag) in genesis is missing or wrong."""


class InvalidModule(VMError):
    """A module broke a deploy-time rule; nothing was compiled or stored.

    ``rule`` is a short stable identifier (for example ``"max_functions"``
    or ``"float_instruction"``) that tests and tools can match on; the
    message says what was expected and what was found.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.detail = message


class ExecutionHalted(VMError):
    """A running call ended abnormally.

    ``status`` is the outcome status reported to users (``out_of_gas``,
    ``trap`` or ``abort``).  ``burns_all_gas`` is true for halts whose cost
    cannot be measured exactly (a trap, running out of gas): the call is
    then charged its whole gas limit, as the EVM does for exceptional halts.
    """

    status = "trap"
    burns_all_gas = True


class OutOfGas(ExecutionHalted):
    """The call needed more gas than its limit."""

    status = "out_of_gas"


class Trap(ExecutionHalted):
    """The wasm code trapped (unreachable, division by zero, bad memory access...)."""


class StackExhausted(Trap):
    """The call stack grew past the deterministic limit counted in stack units."""


class HostError(Trap):
    """A contract passed the host something invalid (a pointer out of bounds, a bad length)."""


class Abort(ExecutionHalted):
    """The contract aborted with a message (a Rust panic, a refused transfer).

    An abort is deliberate and reached through a host call, where the fuel
    counter is exact, so it is charged the gas used so far, like a revert.
    """

    status = "abort"
    burns_all_gas = False


class HostFault(VMError):
    """The node itself failed during a call: a database or cache error inside a host function, an
    exhausted instance pool, a bug.

    Neither invalid input nor a halt of the contract: other nodes running the same call would not
    fail, so nothing may record it.  The runtime never turns it into an outcome (it catches only
    ``ExecutionHalted``), and it ends the block being built instead of becoming a receipt.  Whoever
    catches ``VMError`` must let it through or stop.
    """
