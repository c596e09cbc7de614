"""The WebAssembly proposals a contract may not use, and the rules' names.

Each constant names a proposal as it appears in error messages.  Accepted
besides the MVP: mutable globals, sign extension, non-trapping float-to-int
conversions, bulk memory, reference types limited to one ``funcref`` table,
and multi-value.
"""

from __future__ import annotations

from typing import Final

from ..errors import InvalidModule

DISABLED_PROPOSAL: Final = "disabled_proposal"
"""The rule broken by any use of a disabled proposal."""

SIMD: Final = "SIMD (fixed-width and relaxed)"
THREADS: Final = "threads and atomics"
EXCEPTIONS: Final = "exception handling"
TAIL_CALLS: Final = "tail calls"
FUNCTION_REFERENCES: Final = "typed function references"
GC: Final = "garbage collection (GC)"
MEMORY64: Final = "memory64"
MULTI_MEMORY: Final = "multi-memory"
WIDE_ARITHMETIC: Final = "wide arithmetic"
STACK_SWITCHING: Final = "stack switching"
EXTENDED_CONST: Final = "extended constant expressions"
MEMORY_CONTROL: Final = "memory control"
CUSTOM_PAGE_SIZES: Final = "custom page sizes"
EXTERNREF: Final = "reference types beyond funcref"


def disabled(proposal: str, found: str) -> InvalidModule:
    """The error for a use of a disabled proposal: names it and what was found."""
    return InvalidModule(DISABLED_PROPOSAL, f"the {proposal} proposal is not allowed; found {found}")
