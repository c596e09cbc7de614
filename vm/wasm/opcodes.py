"""The instruction set, as data.

Each allowed instruction is an ``Op``: its name, how its immediates are laid
out (``Imm``), how many operands it pops and pushes when that is fixed, and
whether it is a float instruction.  Instructions of disabled proposals are
listed with their proposal so that a refusal can name both.  Opcodes found
in neither table are malformed.

Stack effects of instructions whose effect depends on a type (block types,
calls) are worked out by the body scanner from the immediates.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from . import proposals


class Imm(IntEnum):
    """How an instruction's immediates are laid out and what the scanner does."""

    NONE = 0
    """No immediates; fixed stack effect."""
    LOCAL = 1
    """A local index."""
    GLOBAL = 2
    """A global index."""
    I32 = 3
    """A signed 32-bit LEB128 constant."""
    I64 = 4
    """A signed 64-bit LEB128 constant."""
    F32 = 5
    """4 bytes."""
    F64 = 6
    """8 bytes."""
    MEMARG = 7
    """Alignment flags and offset."""
    CALL = 8
    """A function index; the stack effect is the callee's type."""
    CALL_INDIRECT = 9
    """A type index and a table index."""
    BLOCK = 10
    """``block``/``loop``: a block type; opens a frame."""
    IF = 11
    """``if``: pops the condition, then like ``BLOCK``."""
    ELSE = 12
    """``else``."""
    END = 13
    """``end``: closes a frame, or the function."""
    BR = 14
    """A label; the rest of the block is unreachable."""
    BR_IF = 15
    """A label; pops the condition."""
    BR_TABLE = 16
    """A vector of labels and a default label; the rest is unreachable."""
    STOP = 17
    """``unreachable``, ``return``: the rest of the block is unreachable."""
    MEMORY = 18
    """One memory index (must be the zero byte)."""
    MEMORY2 = 19
    """Two memory indices (``memory.copy``)."""
    DATA = 20
    """A data segment index (``data.drop``)."""
    DATA_MEMORY = 21
    """A data segment index and a memory index (``memory.init``)."""
    ELEM = 22
    """An element segment index (``elem.drop``)."""
    ELEM_TABLE = 23
    """An element segment index and a table index (``table.init``)."""
    TABLE = 24
    """A table index."""
    TABLE2 = 25
    """Two table indices (``table.copy``)."""
    SELECT_T = 26
    """A vector of one value type (typed ``select``)."""
    REF_NULL = 27
    """A heap type."""
    REF_FUNC = 28
    """A function index."""
    PREFIX_FC = 29
    """The 0xFC prefix: a LEB128 sub-opcode follows."""


@dataclass(frozen=True, slots=True)
class Op:
    """An allowed instruction."""

    name: str
    imm: Imm
    pops: int = 0
    """Operands popped (for ``CALL``/``CALL_INDIRECT``/``BLOCK``, besides the type's)."""
    pushes: int = 0
    """Results pushed (for ``CALL``/``CALL_INDIRECT``/``BLOCK``, besides the type's)."""

    @property
    def is_float(self) -> bool:
        """Whether the instruction reads, writes or produces an f32 or f64."""
        return "f32" in self.name or "f64" in self.name


@dataclass(frozen=True, slots=True)
class Disabled:
    """An instruction of a disabled proposal."""

    name: str
    proposal: str


def _run(first: int, names: str, imm: Imm, pops: int, pushes: int) -> dict[int, Op]:
    """Consecutive opcodes from ``first`` with the same shape."""
    return {first + i: Op(name, imm, pops, pushes) for i, name in enumerate(names.split())}


_I_CMP = "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u"
_F_CMP = "eq ne lt gt le ge"
_I_BIN = "add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr"
_F_UN = "abs neg ceil floor trunc nearest sqrt"
_F_BIN = "add sub mul div min max copysign"


def _typed(prefix: str, names: str) -> str:
    return " ".join(f"{prefix}.{name}" for name in names.split())


SINGLE: Final[dict[int, Op]] = {
    0x00: Op("unreachable", Imm.STOP),
    0x01: Op("nop", Imm.NONE),
    0x02: Op("block", Imm.BLOCK),
    0x03: Op("loop", Imm.BLOCK),
    0x04: Op("if", Imm.IF, pops=1),
    0x05: Op("else", Imm.ELSE),
    0x0B: Op("end", Imm.END),
    0x0C: Op("br", Imm.BR),
    0x0D: Op("br_if", Imm.BR_IF, pops=1),
    0x0E: Op("br_table", Imm.BR_TABLE, pops=1),
    0x0F: Op("return", Imm.STOP),
    0x10: Op("call", Imm.CALL),
    0x11: Op("call_indirect", Imm.CALL_INDIRECT, pops=1),
    0x1A: Op("drop", Imm.NONE, 1, 0),
    0x1B: Op("select", Imm.NONE, 3, 1),
    0x1C: Op("select", Imm.SELECT_T, 3, 1),
    0x20: Op("local.get", Imm.LOCAL, 0, 1),
    0x21: Op("local.set", Imm.LOCAL, 1, 0),
    0x22: Op("local.tee", Imm.LOCAL, 1, 1),
    0x23: Op("global.get", Imm.GLOBAL, 0, 1),
    0x24: Op("global.set", Imm.GLOBAL, 1, 0),
    0x25: Op("table.get", Imm.TABLE, 1, 1),
    0x26: Op("table.set", Imm.TABLE, 2, 0),
    **_run(
        0x28,
        "i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s "
        "i32.load16_u i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s "
        "i64.load32_u",
        Imm.MEMARG,
        1,
        1,
    ),
    **_run(
        0x36,
        "i32.store i64.store f32.store f64.store i32.store8 i32.store16 i64.store8 i64.store16 i64.store32",
        Imm.MEMARG,
        2,
        0,
    ),
    0x3F: Op("memory.size", Imm.MEMORY, 0, 1),
    0x40: Op("memory.grow", Imm.MEMORY, 1, 1),
    0x41: Op("i32.const", Imm.I32, 0, 1),
    0x42: Op("i64.const", Imm.I64, 0, 1),
    0x43: Op("f32.const", Imm.F32, 0, 1),
    0x44: Op("f64.const", Imm.F64, 0, 1),
    0x45: Op("i32.eqz", Imm.NONE, 1, 1),
    **_run(0x46, _typed("i32", _I_CMP), Imm.NONE, 2, 1),
    0x50: Op("i64.eqz", Imm.NONE, 1, 1),
    **_run(0x51, _typed("i64", _I_CMP), Imm.NONE, 2, 1),
    **_run(0x5B, _typed("f32", _F_CMP), Imm.NONE, 2, 1),
    **_run(0x61, _typed("f64", _F_CMP), Imm.NONE, 2, 1),
    **_run(0x67, "i32.clz i32.ctz i32.popcnt", Imm.NONE, 1, 1),
    **_run(0x6A, _typed("i32", _I_BIN), Imm.NONE, 2, 1),
    **_run(0x79, "i64.clz i64.ctz i64.popcnt", Imm.NONE, 1, 1),
    **_run(0x7C, _typed("i64", _I_BIN), Imm.NONE, 2, 1),
    **_run(0x8B, _typed("f32", _F_UN), Imm.NONE, 1, 1),
    **_run(0x92, _typed("f32", _F_BIN), Imm.NONE, 2, 1),
    **_run(0x99, _typed("f64", _F_UN), Imm.NONE, 1, 1),
    **_run(0xA0, _typed("f64", _F_BIN), Imm.NONE, 2, 1),
    **_run(
        0xA7,
        "i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u "
        "i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s "
        "i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s "
        "f32.convert_i64_u f32.demote_f64 f64.convert_i32_s f64.convert_i32_u "
        "f64.convert_i64_s f64.convert_i64_u f64.promote_f32 i32.reinterpret_f32 "
        "i64.reinterpret_f64 f32.reinterpret_i32 f64.reinterpret_i64",
        Imm.NONE,
        1,
        1,
    ),
    **_run(
        0xC0,
        "i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s",
        Imm.NONE,
        1,
        1,
    ),
    0xD0: Op("ref.null", Imm.REF_NULL, 0, 1),
    0xD1: Op("ref.is_null", Imm.NONE, 1, 1),
    0xD2: Op("ref.func", Imm.REF_FUNC, 0, 1),
    0xFC: Op("0xfc prefix", Imm.PREFIX_FC),
}
"""Allowed one-byte opcodes."""

PREFIX_FC: Final[dict[int, Op]] = {
    **_run(
        0,
        "i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s i32.trunc_sat_f64_u "
        "i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s i64.trunc_sat_f64_u",
        Imm.NONE,
        1,
        1,
    ),
    8: Op("memory.init", Imm.DATA_MEMORY, 3, 0),
    9: Op("data.drop", Imm.DATA, 0, 0),
    10: Op("memory.copy", Imm.MEMORY2, 3, 0),
    11: Op("memory.fill", Imm.MEMORY, 3, 0),
    12: Op("table.init", Imm.ELEM_TABLE, 3, 0),
    13: Op("elem.drop", Imm.ELEM, 0, 0),
    14: Op("table.copy", Imm.TABLE2, 3, 0),
    15: Op("table.grow", Imm.TABLE, 2, 1),
    16: Op("table.size", Imm.TABLE, 0, 1),
    17: Op("table.fill", Imm.TABLE, 3, 0),
}
"""Allowed sub-opcodes of the 0xFC prefix (saturating truncation, bulk memory, tables)."""

DISABLED_SINGLE: Final[dict[int, Disabled]] = {
    0x06: Disabled("try", proposals.EXCEPTIONS),
    0x07: Disabled("catch", proposals.EXCEPTIONS),
    0x08: Disabled("throw", proposals.EXCEPTIONS),
    0x09: Disabled("rethrow", proposals.EXCEPTIONS),
    0x0A: Disabled("throw_ref", proposals.EXCEPTIONS),
    0x18: Disabled("delegate", proposals.EXCEPTIONS),
    0x19: Disabled("catch_all", proposals.EXCEPTIONS),
    0x1F: Disabled("try_table", proposals.EXCEPTIONS),
    0x12: Disabled("return_call", proposals.TAIL_CALLS),
    0x13: Disabled("return_call_indirect", proposals.TAIL_CALLS),
    0x14: Disabled("call_ref", proposals.FUNCTION_REFERENCES),
    0x15: Disabled("return_call_ref", proposals.FUNCTION_REFERENCES),
    0xD3: Disabled("ref.eq", proposals.GC),
    0xD4: Disabled("ref.as_non_null", proposals.FUNCTION_REFERENCES),
    0xD5: Disabled("br_on_null", proposals.FUNCTION_REFERENCES),
    0xD6: Disabled("br_on_non_null", proposals.FUNCTION_REFERENCES),
    0xE0: Disabled("cont.new", proposals.STACK_SWITCHING),
    0xE1: Disabled("cont.bind", proposals.STACK_SWITCHING),
    0xE2: Disabled("suspend", proposals.STACK_SWITCHING),
    0xE3: Disabled("resume", proposals.STACK_SWITCHING),
    0xE4: Disabled("resume_throw", proposals.STACK_SWITCHING),
    0xE5: Disabled("switch", proposals.STACK_SWITCHING),
}
"""One-byte opcodes of disabled proposals."""

DISABLED_PREFIXES: Final[dict[int, str]] = {
    0xFB: proposals.GC,
    0xFD: proposals.SIMD,
    0xFE: proposals.THREADS,
}
"""Prefix bytes whose every instruction belongs to a disabled proposal."""

DISABLED_FC: Final[dict[int, Disabled]] = {
    18: Disabled("memory.discard", proposals.MEMORY_CONTROL),
    19: Disabled("i64.add128", proposals.WIDE_ARITHMETIC),
    20: Disabled("i64.sub128", proposals.WIDE_ARITHMETIC),
    21: Disabled("i64.mul_wide_s", proposals.WIDE_ARITHMETIC),
    22: Disabled("i64.mul_wide_u", proposals.WIDE_ARITHMETIC),
}
"""Sub-opcodes of the 0xFC prefix belonging to disabled proposals."""

EXTENDED_CONST: Final[dict[int, str]] = {
    0x6A: "i32.add",
    0x6B: "i32.sub",
    0x6C: "i32.mul",
    0x7C: "i64.add",
    0x7D: "i64.sub",
    0x7E: "i64.mul",
}
"""Arithmetic that the extended-const proposal allows in constant expressions."""
