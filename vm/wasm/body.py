"""Scanning one function body: the body-level rules and its stack height.

One linear pass over the instructions, with no recursion: the control
stack is a list bounded by ``max_nesting_depth``.  The pass checks that
every opcode is allowed (floats, disabled proposals), that every index the
engine relies on is in range, that blocks nest properly and not too deep,
and that the body ends exactly at its final ``end``; it computes the
maximum operand stack height (see ``stack``) and records where the calls
to instrument are.  Type-checking operands is left to wasmtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from . import policy as rules
from . import proposals
from .module import Body, Module
from .opcodes import DISABLED_FC, DISABLED_PREFIXES, DISABLED_SINGLE, PREFIX_FC, SINGLE, Imm, Op
from .policy import Policy, float_refused, over_limit
from .reader import malformed, read_byte, read_bytes, read_signed, read_u32
from .stack import function_cost
from .types import FLOAT_TYPES
from .valtypes import heap_type, value_type

EMPTY_BLOCK_TYPE: Final = 0x40
MEMARG_HAS_MEMORY: Final = 0x40
MEMARG_FLAGS_END: Final = 0x80
"""Memory access flags hold an alignment exponent (bits 0-5) and ``MEMARG_HAS_MEMORY``; nothing above."""
INDIRECT: Final = -1
"""The callee recorded for a ``call_indirect`` site."""

# Per-opcode tables for the hot loop, derived from ``opcodes.SINGLE``.
_UNKNOWN: Final = -1
_IMM: Final = [int(SINGLE[op].imm) if op in SINGLE else _UNKNOWN for op in range(256)]
_POPS: Final = [SINGLE[op].pops if op in SINGLE else 0 for op in range(256)]
_PUSHES: Final = [SINGLE[op].pushes if op in SINGLE else 0 for op in range(256)]
_FLOAT: Final = [op in SINGLE and SINGLE[op].is_float for op in range(256)]
_NO_FLOAT: Final = [False] * 256

# Immediate kinds as plain ints: the hot loop compares them for every instruction.
_NONE: Final = int(Imm.NONE)
_LOCAL: Final = int(Imm.LOCAL)
_I32: Final = int(Imm.I32)
_MEMARG: Final = int(Imm.MEMARG)
_GLOBAL: Final = int(Imm.GLOBAL)
_CALL: Final = int(Imm.CALL)
_BLOCK: Final = int(Imm.BLOCK)
_IF: Final = int(Imm.IF)
_END: Final = int(Imm.END)
_ELSE: Final = int(Imm.ELSE)
_BR: Final = int(Imm.BR)
_BR_IF: Final = int(Imm.BR_IF)
_BR_TABLE: Final = int(Imm.BR_TABLE)
_STOP: Final = int(Imm.STOP)
_I64: Final = int(Imm.I64)
_F32: Final = int(Imm.F32)
_F64: Final = int(Imm.F64)
_CALL_INDIRECT: Final = int(Imm.CALL_INDIRECT)
_PREFIX_FC: Final = int(Imm.PREFIX_FC)

# Frame kinds on the control stack.
_FRAME_BLOCK: Final = 0
_FRAME_IF: Final = 1
_FRAME_ELSE: Final = 2


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """What the scan of one defined function found."""

    index: int
    """The function's index (imports first)."""
    locals: int
    """Parameters plus declared locals."""
    max_height: int
    """The maximum operand stack height (see ``stack``)."""
    call_sites: tuple[tuple[int, int, int], ...]
    """Calls to instrument: ``(start, end, callee)`` byte ranges of ``call`` to a
    defined function (``callee`` is its index among defined functions) and of
    ``call_indirect`` (``callee`` is ``INDIRECT``)."""

    @property
    def cost(self) -> int:
        """The function's stack cost in units."""
        return function_cost(self.locals, self.max_height)


@dataclass(frozen=True, slots=True)
class BodyContext:
    """What the scan needs to know about the module, computed once."""

    policy: Policy
    func_arity: tuple[tuple[int, int], ...]
    """(parameters, results) of every function, imports first."""
    type_arity: tuple[tuple[int, int], ...]
    """(parameters, results) of every type."""
    type_has_float: tuple[bool, ...]
    imported: int
    globals: int
    tables: int
    elements: int
    data_count: int | None

    @classmethod
    def of(cls, module: Module, policy: Policy) -> BodyContext:
        """The context for scanning the bodies of ``module``."""
        type_arity = tuple((len(t.params), len(t.results)) for t in module.types)
        return cls(
            policy=policy,
            func_arity=tuple(type_arity[t] for t in module.functions),
            type_arity=type_arity,
            type_has_float=tuple(bool(FLOAT_TYPES.intersection(t.params + t.results)) for t in module.types),
            imported=module.imported_functions,
            globals=module.globals,
            tables=module.tables,
            elements=module.elements,
            data_count=module.data_count,
        )


def scan_body(ctx: BodyContext, index: int, body: Body, data: bytes) -> FunctionInfo:
    """Check the body of function ``index`` and measure its stack height."""
    limits = ctx.policy.limits
    allow_floats = ctx.policy.allow_floats
    pos, end = body.locals_start, body.end
    params, _ = ctx.func_arity[index]

    # Locals: summed with a cap, never expanded one by one.
    nlocals = params
    groups, pos = read_u32(data, pos, end, "the number of local declarations")
    if groups > end - pos:
        raise malformed(f"function {index} declares {groups} groups of locals in a smaller body")
    for _ in range(groups):
        count, pos = read_u32(data, pos, end, "a local count")
        code, pos = read_byte(data, pos, end, "a local's type")
        vtype = value_type(code, f"the locals of function {index}")
        if vtype in FLOAT_TYPES and not allow_floats:
            raise float_refused(f"a local of type {vtype} in function {index}")
        nlocals += count
        if nlocals > limits.max_locals_per_function:
            raise over_limit(
                rules.MAX_LOCALS_PER_FUNCTION,
                f"function {index} has at least {nlocals} locals (parameters included)",
                limits.max_locals_per_function,
            )

    banned = _NO_FLOAT if allow_floats else _FLOAT
    max_nesting = limits.max_nesting_depth
    func_arity = ctx.func_arity
    imported = ctx.imported
    nfuncs = len(func_arity)
    nglobals = ctx.globals
    calls: list[tuple[int, int, int]] = []
    # Open blocks: (the enclosing block's base, params, results, kind).  ``base`` is
    # the operand stack height below the innermost block's values: pops never go
    # under it, and after a branch (unreachable code) the height restarts there.
    frames: list[tuple[int, int, int, int]] = []
    base = 0
    height = 0
    max_height = 0

    while True:
        if pos >= end:
            raise malformed(f"function {index}: body ends at byte offset {end} without its end")
        at = pos
        op = data[pos]
        pos += 1
        imm = _IMM[op]
        if banned[op]:
            raise float_refused(f"{SINGLE[op].name} in function {index} at byte offset {at}")
        pops = _POPS[op]
        pushes = _PUSHES[op]

        if imm == _NONE:
            pass
        elif imm == _LOCAL:
            if pos < end and data[pos] < 0x80:
                value = data[pos]
                pos += 1
            else:
                value, pos = read_u32(data, pos, end, "a local index")
            if value >= nlocals:
                raise malformed(f"function {index} at byte offset {at}: local {value} out of range ({nlocals} locals)")
        elif imm == _I32:
            if pos < end and data[pos] < 0x80:
                pos += 1
            else:
                _, pos = read_signed(data, pos, end, 32, "an i32 constant")
        elif imm == _MEMARG:
            pos = _memarg(data, pos, end, index, at)
        elif imm == _GLOBAL:
            value, pos = read_u32(data, pos, end, "a global index")
            if value >= nglobals:
                raise malformed(
                    f"function {index} at byte offset {at}: global {value} out of range ({nglobals} globals)"
                )
        elif imm == _CALL:
            callee, pos = read_u32(data, pos, end, "a function index")
            if callee >= nfuncs:
                raise malformed(
                    f"function {index} at byte offset {at}: call to function {callee}, "
                    f"but the module has {nfuncs} functions"
                )
            pops, pushes = func_arity[callee]
            if callee >= imported:
                calls.append((at, pos, callee - imported))
        elif imm in (_BLOCK, _IF):
            block_params, block_results, pos = _block_type(ctx, data, pos, end, index, at)
            if len(frames) >= max_nesting:
                raise over_limit(
                    rules.MAX_NESTING_DEPTH,
                    f"function {index} nests blocks {len(frames) + 1} deep at byte offset {at}",
                    max_nesting,
                )
            height -= pops + block_params
            if height < base:
                height = base
            kind = _FRAME_IF if imm == _IF else _FRAME_BLOCK
            frames.append((base, block_params, block_results, kind))
            base = height
            height += block_params
            if height > max_height:
                max_height = height
            continue
        elif imm == _END:
            if not frames:
                if pos != end:
                    raise malformed(
                        f"function {index}: final end at byte offset {at}, but the body runs to byte offset {end}"
                    )
                break
            outer_base, _, block_results, _ = frames.pop()
            height = base + block_results
            base = outer_base
            if height > max_height:
                max_height = height
            continue
        elif imm == _ELSE:
            if not frames or frames[-1][3] != _FRAME_IF:
                raise malformed(f"function {index}: else without a matching if at byte offset {at}")
            outer_base, block_params, block_results, _ = frames[-1]
            frames[-1] = (outer_base, block_params, block_results, _FRAME_ELSE)
            height = base + block_params
            continue
        elif imm in (_BR, _BR_IF):
            label, pos = read_u32(data, pos, end, "a label")
            _check_label(label, len(frames), index, at)
            if imm == _BR:
                height = base
                continue
        elif imm == _BR_TABLE:
            count, pos = read_u32(data, pos, end, "the number of br_table labels")
            if count > end - pos:
                raise malformed(f"function {index}: br_table at byte offset {at} is truncated")
            for _ in range(count + 1):
                label, pos = read_u32(data, pos, end, "a label")
                _check_label(label, len(frames), index, at)
            height = base
            continue
        elif imm == _STOP:
            height = base
            continue
        elif imm == _I64:
            _, pos = read_signed(data, pos, end, 64, "an i64 constant")
        elif imm == _F32:
            _, pos = read_bytes(data, pos, end, 4, "an f32 constant")
        elif imm == _F64:
            _, pos = read_bytes(data, pos, end, 8, "an f64 constant")
        elif imm == _CALL_INDIRECT:
            type_index, pos = read_u32(data, pos, end, "a type index")
            if type_index >= len(ctx.type_arity):
                raise malformed(
                    f"function {index} at byte offset {at}: call_indirect with type {type_index}, "
                    f"but the module defines {len(ctx.type_arity)} types"
                )
            if ctx.type_has_float[type_index] and not allow_floats:
                raise float_refused(f"call_indirect with a float type in function {index} at byte offset {at}")
            pos = _table_index(ctx, data, pos, end, index, at)
            type_params, pushes = ctx.type_arity[type_index]
            pops += type_params
            calls.append((at, pos, INDIRECT))
        elif imm == _PREFIX_FC:
            sub_op, pos = _prefix_fc(data, pos, end, index, at)
            if sub_op.is_float and not allow_floats:
                raise float_refused(f"{sub_op.name} in function {index} at byte offset {at}")
            pos = _index_immediates(ctx, sub_op.imm, data, pos, end, index, at)
            pops = sub_op.pops
            pushes = sub_op.pushes
        elif imm == _UNKNOWN:
            raise _unknown_opcode(op, data, pos, end, index, at)
        else:
            pos = _index_immediates(ctx, Imm(imm), data, pos, end, index, at)

        height -= pops
        if height < base:
            height = base
        height += pushes
        if height > max_height:
            max_height = height

    return FunctionInfo(index, nlocals, max_height, tuple(calls))


def _check_label(label: int, depth: int, index: int, at: int) -> None:
    if label > depth:
        raise malformed(
            f"function {index} at byte offset {at}: branch to label {label}, but only {depth + 1} labels are in scope"
        )


def _block_type(ctx: BodyContext, data: bytes, pos: int, end: int, index: int, at: int) -> tuple[int, int, int]:
    """A block type: (params, results, position after it)."""
    code, after = read_byte(data, pos, end, "a block type")
    if code == EMPTY_BLOCK_TYPE:
        return 0, 0, after
    if 0x40 < code < 0x80:
        vtype = value_type(code, f"a block type in function {index} at byte offset {at}")
        if vtype in FLOAT_TYPES and not ctx.policy.allow_floats:
            raise float_refused(f"a block of type {vtype} in function {index} at byte offset {at}")
        return 0, 1, after
    type_index, pos = read_signed(data, pos, end, 33, "a block type")
    if not 0 <= type_index < len(ctx.type_arity):
        raise malformed(
            f"function {index} at byte offset {at}: block type {type_index} is not a type index "
            f"of the module ({len(ctx.type_arity)} types)"
        )
    if ctx.type_has_float[type_index] and not ctx.policy.allow_floats:
        raise float_refused(f"a block with float parameters or results in function {index} at byte offset {at}")
    params, results = ctx.type_arity[type_index]
    return params, results, pos


def _memarg(data: bytes, pos: int, end: int, index: int, at: int) -> int:
    """Alignment flags and offset of a load or store; memory 0 only."""
    flags, pos = read_u32(data, pos, end, "memory alignment flags")
    if flags >= MEMARG_FLAGS_END:
        raise malformed(
            f"function {index} at byte offset {at}: expected memory access flags below 0x{MEMARG_FLAGS_END:02x} "
            f"(an alignment exponent and the memory-index bit), found 0x{flags:x}"
        )
    if flags & MEMARG_HAS_MEMORY:
        memory, pos = read_u32(data, pos, end, "a memory index")
        raise proposals.disabled(
            proposals.MULTI_MEMORY,
            f"an access to memory {memory} in function {index} at byte offset {at}",
        )
    _, pos = read_u32(data, pos, end, "a memory offset")
    return pos


def _memory_index(data: bytes, pos: int, end: int, index: int, at: int) -> int:
    """A memory index immediate: without multi-memory, exactly the byte 0x00."""
    code, after = read_byte(data, pos, end, "a memory index")
    if code == 0:
        return after
    memory, _ = read_u32(data, pos, end, "a memory index")
    if memory != 0:
        raise proposals.disabled(
            proposals.MULTI_MEMORY, f"memory index {memory} in function {index} at byte offset {at}"
        )
    raise malformed(
        f"function {index} at byte offset {at}: expected the memory index as the byte 0x00, found a longer encoding"
    )


def _table_index(ctx: BodyContext, data: bytes, pos: int, end: int, index: int, at: int) -> int:
    """A table index immediate (any LEB128 encoding); must name the one table."""
    table, pos = read_u32(data, pos, end, "a table index")
    if table >= ctx.tables:
        raise malformed(
            f"function {index} at byte offset {at}: table {table} out of range (the module has {ctx.tables})"
        )
    return pos


def _segment_index(count: int | None, kind: str, data: bytes, pos: int, end: int, index: int, at: int) -> int:
    value, pos = read_u32(data, pos, end, f"a {kind} segment index")
    if count is None:
        raise malformed(
            f"function {index} at byte offset {at}: a {kind} segment instruction needs a data count section"
        )
    if value >= count:
        raise malformed(
            f"function {index} at byte offset {at}: {kind} segment {value} out of range (the module has {count})"
        )
    return pos


def _index_immediates(ctx: BodyContext, imm: Imm, data: bytes, pos: int, end: int, index: int, at: int) -> int:
    """Read and range-check the index immediates of the less frequent instructions."""
    if imm == Imm.NONE:
        return pos
    if imm == Imm.MEMORY:
        return _memory_index(data, pos, end, index, at)
    if imm == Imm.MEMORY2:
        pos = _memory_index(data, pos, end, index, at)
        return _memory_index(data, pos, end, index, at)
    if imm == Imm.TABLE:
        return _table_index(ctx, data, pos, end, index, at)
    if imm == Imm.TABLE2:
        pos = _table_index(ctx, data, pos, end, index, at)
        return _table_index(ctx, data, pos, end, index, at)
    if imm == Imm.DATA:
        return _segment_index(ctx.data_count, "data", data, pos, end, index, at)
    if imm == Imm.DATA_MEMORY:
        pos = _segment_index(ctx.data_count, "data", data, pos, end, index, at)
        return _memory_index(data, pos, end, index, at)
    if imm == Imm.ELEM:
        return _segment_index(ctx.elements, "element", data, pos, end, index, at)
    if imm == Imm.ELEM_TABLE:
        pos = _segment_index(ctx.elements, "element", data, pos, end, index, at)
        return _table_index(ctx, data, pos, end, index, at)
    if imm == Imm.SELECT_T:
        count, pos = read_u32(data, pos, end, "the number of select types")
        if count != 1:
            raise malformed(f"function {index} at byte offset {at}: expected one select type, found {count}")
        code, pos = read_byte(data, pos, end, "a select type")
        vtype = value_type(code, f"a select in function {index} at byte offset {at}")
        if vtype in FLOAT_TYPES and not ctx.policy.allow_floats:
            raise float_refused(f"select of type {vtype} in function {index} at byte offset {at}")
        return pos
    if imm == Imm.REF_NULL:
        code, pos = read_byte(data, pos, end, "a heap type")
        heap_type(code, f"ref.null in function {index} at byte offset {at}")
        return pos
    if imm == Imm.REF_FUNC:
        func, pos = read_u32(data, pos, end, "a function index")
        if func >= len(ctx.func_arity):
            raise malformed(
                f"function {index} at byte offset {at}: ref.func {func} out of range "
                f"(the module has {len(ctx.func_arity)} functions)"
            )
        return pos
    raise AssertionError(f"immediate kind {imm!r} is handled by the scan loop")


def _prefix_fc(data: bytes, pos: int, end: int, index: int, at: int) -> tuple[Op, int]:
    """The instruction after a 0xFC prefix."""
    sub, pos = read_u32(data, pos, end, "a 0xfc sub-opcode")
    op = PREFIX_FC.get(sub)
    if op is not None:
        return op, pos
    refused = DISABLED_FC.get(sub)
    if refused is not None:
        raise proposals.disabled(refused.proposal, f"{refused.name} in function {index} at byte offset {at}")
    raise malformed(f"function {index} at byte offset {at}: unknown opcode 0xfc {sub}")


def _unknown_opcode(op: int, data: bytes, pos: int, end: int, index: int, at: int) -> Exception:
    """The error for a one-byte opcode that is not allowed: disabled or unknown."""
    refused = DISABLED_SINGLE.get(op)
    if refused is not None:
        return proposals.disabled(refused.proposal, f"{refused.name} in function {index} at byte offset {at}")
    proposal = DISABLED_PREFIXES.get(op)
    if proposal is not None:
        sub, _ = read_u32(data, pos, end, f"a 0x{op:02x} sub-opcode")
        return proposals.disabled(proposal, f"instruction 0x{op:02x} {sub} in function {index} at byte offset {at}")
    return malformed(f"function {index} at byte offset {at}: unknown opcode 0x{op:02x}")
