"""Stack instrumentation: counting the call stack in deterministic units.

The module gets one more global, a mutable i32 exported as
``__wasmchain_stack`` (``$sp``).  Every ``call`` of a defined function and
every ``call_indirect`` (charged the largest cost of any defined function,
since the callee is not known) becomes::

    global.get $sp  i32.const COST  i32.add  global.set $sp
    global.get $sp  i32.const LIMIT  i32.gt_u
    if  i32.const -1  global.set $sp  unreachable  end
    <the original call>
    global.get $sp  i32.const COST  i32.sub  global.set $sp

The added code only touches ``$sp`` and leaves the operand stack as it was.
Calls of imported (host) functions are left alone.  No function is added
or renumbered, so function indices and the name section stay valid; only
the global, export and code sections change, and every other section is
copied byte for byte.  The host sets ``$sp`` to the entry function's cost
before a call; after a trap, ``$sp == 0xFFFFFFFF`` means the stack limit
was hit.
"""

from __future__ import annotations

from typing import Final

from .body import INDIRECT
from .encode import encode_name, encode_s32, encode_section, encode_u32
from .module import SECTION_RANK, Body, ExternKind, SectionId
from .reader import read_u32
from .validate import ValidModule

STACK_GLOBAL_EXPORT: Final = "__wasmchain_stack"
"""The export name of the stack counter (``vm.abi.STACK_GLOBAL_EXPORT``)."""

STACK_EXHAUSTED: Final = 0xFFFF_FFFF
"""The counter's value after the limit was hit (written as ``i32.const -1``)."""

MAX_ENCODABLE_LIMIT: Final = 0x7FFF_FFFF
"""Limits above this are clamped: with every cost at most the limit, the
counter then never wraps around 2**32."""

_GLOBAL_GET: Final = 0x23
_GLOBAL_SET: Final = 0x24
_I32_CONST: Final = 0x41
_I32_ADD: Final = 0x6A
_I32_SUB: Final = 0x6B
_I32_GT_U: Final = 0x4B
_IF_EMPTY: Final = b"\x04\x40"
_UNREACHABLE: Final = 0x00
_END: Final = 0x0B
_NEW_GLOBAL: Final = bytes([0x7F, 0x01, _I32_CONST, 0x00, _END])
"""``(global (mut i32) (i32.const 0))``."""


class _CallSequences:
    """The code around an instrumented call, per cost (cached: costs repeat)."""

    def __init__(self, global_index: int, limit: int) -> None:
        index = encode_u32(global_index)
        self._get = bytes([_GLOBAL_GET]) + index
        self._set = bytes([_GLOBAL_SET]) + index
        self._check = (
            self._get
            + bytes([_I32_CONST])
            + encode_s32(min(limit, MAX_ENCODABLE_LIMIT))
            + bytes([_I32_GT_U])
            + _IF_EMPTY
            + bytes([_I32_CONST])
            + encode_s32(-1)
            + self._set
            + bytes([_UNREACHABLE, _END])
        )
        self._cache: dict[int, tuple[bytes, bytes]] = {}

    def around(self, cost: int) -> tuple[bytes, bytes]:
        """The code before and after a call of a function costing ``cost``."""
        found = self._cache.get(cost)
        if found is None:
            const = bytes([_I32_CONST]) + encode_s32(cost)
            before = self._get + const + bytes([_I32_ADD]) + self._set + self._check
            after = self._get + const + bytes([_I32_SUB]) + self._set
            found = self._cache[cost] = (before, after)
        return found


def instrument(valid: ValidModule, limit: int) -> bytes:
    """The binary of ``valid`` with its call stack counted against ``limit`` units."""
    code, module = valid.code, valid.module
    global_index = module.globals
    replaced = {
        SectionId.GLOBAL: _global_section(valid),
        SectionId.EXPORT: _export_section(valid, global_index),
        SectionId.CODE: _code_section(valid, _CallSequences(global_index, limit)),
    }
    pending = [sid for sid in (SectionId.GLOBAL, SectionId.EXPORT) if module.section(sid) is None]
    out = [code[:8]]
    for section in module.sections:
        if section.id != SectionId.CUSTOM:
            rank = SECTION_RANK[section.id]
            while pending and SECTION_RANK[pending[0]] < rank:
                sid = pending.pop(0)
                out.append(encode_section(sid, replaced[sid]))
        if section.id in replaced:
            out.append(encode_section(section.id, replaced[SectionId(section.id)]))
        else:
            out.append(code[section.start : section.end])
    out.extend(encode_section(sid, replaced[sid]) for sid in pending)
    return b"".join(out)


def _vector_items(valid: ValidModule, sid: SectionId) -> tuple[int, bytes]:
    """The element count and the raw elements of a vector section (0, b"" if absent)."""
    section = valid.module.section(sid)
    if section is None:
        return 0, b""
    count, pos = read_u32(valid.code, section.content_start, section.end, "a section count")
    return count, valid.code[pos : section.end]


def _global_section(valid: ValidModule) -> bytes:
    count, items = _vector_items(valid, SectionId.GLOBAL)
    return encode_u32(count + 1) + items + _NEW_GLOBAL


def _export_section(valid: ValidModule, global_index: int) -> bytes:
    count, items = _vector_items(valid, SectionId.EXPORT)
    entry = encode_name(STACK_GLOBAL_EXPORT) + bytes([ExternKind.GLOBAL]) + encode_u32(global_index)
    return encode_u32(count + 1) + items + entry


def _code_section(valid: ValidModule, sequences: _CallSequences) -> bytes:
    code = valid.code
    costs = [info.cost for info in valid.functions]
    max_cost = valid.max_cost
    bodies = valid.module.bodies
    out = [encode_u32(len(bodies))]
    for body, info in zip(bodies, valid.functions, strict=True):
        if not info.call_sites:
            out.append(code[body.start : body.end])
            continue
        out.append(_rewrite_body(code, body, info.call_sites, costs, max_cost, sequences))
    return b"".join(out)


def _rewrite_body(
    code: bytes,
    body: Body,
    sites: tuple[tuple[int, int, int], ...],
    costs: list[int],
    max_cost: int,
    sequences: _CallSequences,
) -> bytes:
    parts: list[bytes] = []
    pos = body.locals_start
    for start, end, callee in sites:
        before, after = sequences.around(max_cost if callee == INDIRECT else costs[callee])
        parts += (code[pos:start], before, code[start:end], after)
        pos = end
    parts.append(code[pos : body.end])
    new_body = b"".join(parts)
    return encode_u32(len(new_body)) + new_body
