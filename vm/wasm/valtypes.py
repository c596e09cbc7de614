"""Value, reference and heap types in the binary format.

A contract's values are ``i32``, ``i64``, ``f32``, ``f64`` (floats subject to
the float policy) and ``funcref``.  Every other type code of a known
proposal is refused as that proposal; anything else is malformed.
"""

from __future__ import annotations

from typing import Final

from . import proposals
from .reader import malformed
from .types import ValType

FUNCREF_CODE: Final = 0x70

VALUE_TYPES: Final[dict[int, ValType]] = {
    0x7F: "i32",
    0x7E: "i64",
    0x7D: "f32",
    0x7C: "f64",
    FUNCREF_CODE: "funcref",
}
"""Type codes a contract may use."""

DISABLED_TYPES: Final[dict[int, tuple[str, str]]] = {
    0x7B: (proposals.SIMD, "v128"),
    0x6F: (proposals.EXTERNREF, "externref"),
    0x69: (proposals.EXCEPTIONS, "exnref"),
    0x74: (proposals.EXCEPTIONS, "nullexnref"),
    0x64: (proposals.FUNCTION_REFERENCES, "(ref ...)"),
    0x63: (proposals.FUNCTION_REFERENCES, "(ref null ...)"),
    0x6E: (proposals.GC, "anyref"),
    0x6D: (proposals.GC, "eqref"),
    0x6C: (proposals.GC, "i31ref"),
    0x6B: (proposals.GC, "structref"),
    0x6A: (proposals.GC, "arrayref"),
    0x71: (proposals.GC, "nullref"),
    0x72: (proposals.GC, "nullexternref"),
    0x73: (proposals.GC, "nullfuncref"),
    0x68: (proposals.STACK_SWITCHING, "contref"),
    0x75: (proposals.STACK_SWITCHING, "nullcontref"),
}
"""Type codes of disabled proposals: the proposal and the type's name."""


def value_type(code: int, where: str) -> ValType:
    """The value type with binary code ``code``, read for ``where``."""
    found = VALUE_TYPES.get(code)
    if found is not None:
        return found
    refused = DISABLED_TYPES.get(code)
    if refused is not None:
        proposal, name = refused
        raise proposals.disabled(proposal, f"type {name} in {where}")
    raise malformed(f"{where}: expected a value type, found byte 0x{code:02x}")


def heap_type(code: int, where: str) -> None:
    """Check the heap type of ``ref.null``: only ``func`` is allowed.

    ``code`` is the first byte; a heap type that is a type index (a
    non-negative LEB128) belongs to typed function references.
    """
    if code == FUNCREF_CODE:
        return
    refused = DISABLED_TYPES.get(code)
    if refused is not None:
        proposal, name = refused
        raise proposals.disabled(proposal, f"heap type {name.removesuffix('ref')} in {where}")
    if code < 0x40 or code >= 0x80:
        raise proposals.disabled(proposals.FUNCTION_REFERENCES, f"a concrete heap type (type index) in {where}")
    raise malformed(f"{where}: expected a heap type, found byte 0x{code:02x}")
