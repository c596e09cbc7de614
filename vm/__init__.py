"""Deterministic WebAssembly execution for wasmchain; knows nothing about blocks.

The public surface: ``Runtime`` (validate, compile, execute), the call
records (``Message``, ``BlockEnv``, ``Outcome``, ``Event``), the ``Host``
interface the chain implements, ``VMParams`` from genesis, and the errors.
"""

from .errors import (
    Abort,
    ExecutionHalted,
    HostError,
    HostFault,
    InvalidModule,
    InvalidParams,
    OutOfGas,
    StackExhausted,
    Trap,
    VMError,
)
from .host import Host, MemoryHost
from .messages import BlockEnv, Event, LogLine, Message, Outcome
from .params import VM_VERSION, VM_VERSIONS, GasSchedule, Limits, VMParams
from .runtime import CompiledContract, Runtime

__all__ = [
    "Abort",
    "BlockEnv",
    "CompiledContract",
    "Event",
    "ExecutionHalted",
    "GasSchedule",
    "Host",
    "HostError",
    "HostFault",
    "InvalidModule",
    "InvalidParams",
    "Limits",
    "LogLine",
    "MemoryHost",
    "Message",
    "OutOfGas",
    "Outcome",
    "Runtime",
    "StackExhausted",
    "Trap",
    "VMError",
    "VMParams",
    "VM_VERSION",
    "VM_VERSIONS",
]
