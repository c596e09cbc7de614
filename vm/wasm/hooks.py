"""Profiling hooks: a variant of a prepared module that reports every function transition.

Never on the consensus path: ``vm.profiling`` compiles this variant only for
a ``Tracer(profile=True)``.  The variant imports one more function,
``wasmchain_profile.hook(code: i32, arg: i32)``, appended after the
module's function imports, and calls it with ``i32.const CODE; i32.const
ARG; call $hook`` (3 fuel; 4 with the ``local.tee``/``local.get`` of a
grow, below) at these places, each ``CODE`` being ``function << 3 | kind``
with ``function`` the index in the original numbering:

``ENTER``            the first instruction of every defined function;
``LOOP``             the first instruction of every loop body (after the
                     loop header, where wasmtime checks fuel);
``RESUME``           right after a ``call`` of a defined function;
``PRE_INDIRECT``     right before a ``call_indirect`` (its callee may be an
                     import, which runs no ``ENTER``), and ``RESUME_INDIRECT``
                     right after it;
``BULK``             right after ``memory.fill/copy/init`` and
                     ``table.fill/copy/init`` (they burn fuel per unit and
                     then check it);
``GROW``             right after ``memory.grow``/``table.grow``, with the
                     result as ``arg`` (fetched through one added local:
                     ``local.tee $t; i32.const CODE; local.get $t; call``):
                     only a successful grow burns fuel per unit and checks.

Calls of imported (host) functions get no hook: they run no wasm frame.
Adding an import renumbers every defined function, so every function index
in the module is rewritten: ``call`` targets, ``ref.func`` (in code,
globals and element segments), element segments' function lists, exports,
the start function and the ``name`` section's function, local and label
maps.  Everything else is copied byte for byte.  ``HookedModule.offsets``
maps a code offset of the variant back to the input's, so a trap reads the
same in both (``original_offset``).

The module given is one that validated (``prepare``'s output); the walk
here checks nothing beyond what it needs to find its way.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .encode import encode_name, encode_s32, encode_section, encode_u32
from .module import MAGIC, SECTION_RANK, VERSION, ExternKind, SectionId
from .opcodes import PREFIX_FC, SINGLE, Imm
from .reader import malformed, read_byte, read_name, read_signed, read_u32

HOOK_MODULE: Final = "wasmchain_profile"
HOOK_NAME: Final = "hook"

ENTER: Final = 0
LOOP: Final = 1
RESUME: Final = 2
PRE_INDIRECT: Final = 3
RESUME_INDIRECT: Final = 4
BULK: Final = 5
GROW: Final = 6
KIND_BITS: Final = 3
KIND_MASK: Final = (1 << KIND_BITS) - 1

HOOK_FUEL: Final = {ENTER: 3, LOOP: 3, RESUME: 3, PRE_INDIRECT: 3, RESUME_INDIRECT: 3, BULK: 3, GROW: 4}
"""Fuel the instructions of each kind of hook site burn before the hook runs (measured:
``tests/vm/test_wasm_hooks.py``): 1 per ``i32.const``, ``local.get``, ``local.tee`` and ``call``."""

ENTRY_FUEL: Final = 1
"""Fuel wasmtime burns on entering a function, before its first instruction (measured): the profile
gives it to the function entered, not to its caller."""

_HOOK_TYPE: Final = b"\x60\x02\x7f\x7f\x00"
"""``(i32, i32) -> ()``."""
_HOOK_TYPE_SECTION: Final = b"\x01" + _HOOK_TYPE
_CALL: Final = 0x10
_CALL_INDIRECT: Final = 0x11
_LOOP: Final = 0x03
_MEMORY_GROW: Final = 0x40
_REF_FUNC: Final = 0xD2
_I32_CONST: Final = 0x41
_LOCAL_GET: Final = 0x20
_LOCAL_TEE: Final = 0x22
_BULK_FC: Final = frozenset({8, 10, 11, 12, 14, 17})
"""memory.init, memory.copy, memory.fill, table.init, table.copy, table.fill."""
_TABLE_GROW_FC: Final = 15
_NAME_FUNCTIONS: Final = 1
_NAME_LOCALS: Final = 2
_NAME_LABELS: Final = 3


@dataclass(frozen=True, slots=True)
class HookedModule:
    """The profiling variant of a module."""

    code: bytes
    """The variant's binary."""
    hook_index: int
    """The hook's function index: the number of function imports of the input."""
    names: Mapping[int, str]
    """Function names from the input's ``name`` section (original indices; empty without one)."""
    offsets: tuple[tuple[int, ...], tuple[int, ...]]
    """Starts of copied code ranges in the variant, and where each began in the input."""

    def original_index(self, index: int) -> int:
        """The input's index of the variant's function ``index`` (the hook itself maps to -1)."""
        if index < self.hook_index:
            return index
        return -1 if index == self.hook_index else index - 1

    def original_offset(self, offset: int) -> int:
        """The input's byte offset of the variant's code byte ``offset``."""
        starts, origins = self.offsets
        at = bisect.bisect_right(starts, offset) - 1
        if at < 0:
            return offset
        return origins[at] + offset - starts[at]


def hook_code(function: int, kind: int) -> int:
    """The ``code`` a hook site passes."""
    return function << KIND_BITS | kind


def add_hooks(code: bytes) -> HookedModule:
    """The profiling variant of ``code`` (see the module's docstring)."""
    if code[:4] != MAGIC or code[4:8] != VERSION:
        raise malformed("expected a wasm module")
    sections = list(_sections(code))
    types: list[int] = []  # parameter count of each type
    hook_type = -1
    imported = 0
    func_types: list[int] = []
    for sid, start, end in sections:
        if sid == SectionId.TYPE:
            types, hook_type = _types(code, start, end)
        elif sid == SectionId.IMPORT:
            imported = _function_imports(code, start, end)
        elif sid == SectionId.FUNCTION:
            count, pos = read_u32(code, start, end, "the function count")
            for _ in range(count):
                index, pos = read_u32(code, pos, end, "a type index")
                func_types.append(index)
    new_type = hook_type < 0
    if new_type:
        hook_type = len(types)
    rewriter = _Rewriter(code, imported, [types[t] for t in func_types])
    out: list[bytes] = [code[:8]]
    size = 8
    offsets: list[tuple[int, int]] = []
    names: dict[int, str] = {}

    def emit(sid: int, content: bytes) -> None:
        nonlocal size
        piece = encode_section(sid, content)
        if sid == SectionId.CODE:
            header = len(piece) - len(content)
            offsets.extend((size + header + new, old) for new, old in rewriter.offsets)
        out.append(piece)
        size += len(piece)

    present = {sid for sid, _, _ in sections}
    missing = {
        SectionId.TYPE: _HOOK_TYPE_SECTION,
        SectionId.IMPORT: _imports(b"", 0, 0, hook_type),
    }
    pending = [sid for sid in (SectionId.TYPE, SectionId.IMPORT) if sid not in present]
    for sid, start, end in sections:
        while pending and sid != SectionId.CUSTOM and SECTION_RANK[sid] > SECTION_RANK[pending[0]]:
            first = pending.pop(0)
            emit(first, missing[first])
        if sid == SectionId.TYPE:
            emit(sid, _with_hook_type(code, start, end) if new_type else code[start:end])
        elif sid == SectionId.IMPORT:
            emit(sid, _imports(code, start, end, hook_type))
        elif sid == SectionId.GLOBAL:
            emit(sid, rewriter.globals(start, end))
        elif sid == SectionId.EXPORT:
            emit(sid, rewriter.exports(start, end))
        elif sid == SectionId.START:
            index, _ = read_u32(code, start, end, "the start function")
            emit(sid, encode_u32(rewriter.shift(index)))
        elif sid == SectionId.ELEMENT:
            emit(sid, rewriter.elements(start, end))
        elif sid == SectionId.CODE:
            emit(sid, rewriter.bodies(start, end))
        elif sid == SectionId.CUSTOM and _custom_name(code, start, end) == "name":
            emit(sid, rewriter.name_section(start, end, names))
        else:
            emit(sid, code[start:end])
    for sid in pending:
        emit(sid, missing[sid])
    starts = tuple(new for new, _ in offsets)
    origins = tuple(old for _, old in offsets)
    return HookedModule(b"".join(out), imported, MappingProxyType(names), (starts, origins))


def _sections(code: bytes) -> list[tuple[int, int, int]]:
    """(id, content start, end) of every section."""
    found = []
    pos = 8
    while pos < len(code):
        sid, pos = read_byte(code, pos, len(code), "a section id")
        size, pos = read_u32(code, pos, len(code), "a section size")
        found.append((sid, pos, pos + size))
        pos += size
    return found


def _custom_name(code: bytes, start: int, end: int) -> str:
    name, _ = read_name(code, start, end, "a custom section's name")
    return name


def _types(code: bytes, start: int, end: int) -> tuple[list[int], int]:
    """Each type's parameter count, and the index of an existing ``(i32, i32) -> ()`` (-1: none)."""
    count, pos = read_u32(code, start, end, "the type count")
    params = []
    hook_type = -1
    for index in range(count):
        begin = pos
        pos += 1  # 0x60
        nparams, pos = read_u32(code, pos, end, "a parameter count")
        pos += nparams
        nresults, pos = read_u32(code, pos, end, "a result count")
        pos += nresults
        params.append(nparams)
        if hook_type < 0 and code[begin:pos] == _HOOK_TYPE:
            hook_type = index
    return params, hook_type


def _with_hook_type(code: bytes, start: int, end: int) -> bytes:
    count, pos = read_u32(code, start, end, "the type count")
    return encode_u32(count + 1) + code[pos:end] + _HOOK_TYPE


def _function_imports(code: bytes, start: int, end: int) -> int:
    count, pos = read_u32(code, start, end, "the import count")
    functions = 0
    for _ in range(count):
        _, pos = read_name(code, pos, end, "an import's module")
        _, pos = read_name(code, pos, end, "an import's name")
        kind, pos = read_byte(code, pos, end, "an import's kind")
        if kind == ExternKind.FUNC:
            functions += 1
            _, pos = read_u32(code, pos, end, "an import's type")
        elif kind == ExternKind.TABLE:
            pos += 1
            pos = _limits(code, pos, end)
        elif kind == ExternKind.MEMORY:
            pos = _limits(code, pos, end)
        elif kind == ExternKind.GLOBAL:
            pos += 2
        else:
            raise malformed(f"import kind {kind}")
    return functions


def _limits(code: bytes, pos: int, end: int) -> int:
    flags, pos = read_byte(code, pos, end, "limits")
    _, pos = read_u32(code, pos, end, "a minimum")
    if flags & 1:
        _, pos = read_u32(code, pos, end, "a maximum")
    return pos


def _imports(code: bytes, start: int, end: int, hook_type: int) -> bytes:
    """The import section with the hook appended (``code`` empty: a new section)."""
    count, pos = read_u32(code, start, end, "the import count") if code else (0, 0)
    entry = encode_name(HOOK_MODULE) + encode_name(HOOK_NAME) + bytes([ExternKind.FUNC]) + encode_u32(hook_type)
    return encode_u32(count + 1) + code[pos:end] + entry


class _Rewriter:
    """Rewrites function indices (and, in code, adds the hook sites)."""

    def __init__(self, code: bytes, imported: int, defined_params: list[int]) -> None:
        self.code = code
        self.imported = imported
        self.defined_params = defined_params
        self.offsets: list[tuple[int, int]] = []
        """(offset in the new code section's content, offset in the input) of each copied range."""

    def shift(self, index: int) -> int:
        return index if index < self.imported else index + 1

    # -- module-level sections ---------------------------------------------------

    def _const_expr(self, pos: int, end: int, out: list[bytes]) -> int:
        """Copy a constant expression (through its ``end``), renumbering ``ref.func``."""
        code = self.code
        begin = pos
        while True:
            op, pos = read_byte(code, pos, end, "a constant instruction")
            if op == 0x0B:
                out.append(code[begin:pos])
                return pos
            if op == _REF_FUNC:
                out.append(code[begin : pos - 1])
                index, pos = read_u32(code, pos, end, "a function index")
                out.append(bytes([_REF_FUNC]) + encode_u32(self.shift(index)))
                begin = pos
            else:
                pos = _skip_immediates(code, op, pos, end)

    def globals(self, start: int, end: int) -> bytes:
        code = self.code
        count, pos = read_u32(code, start, end, "the global count")
        out = [encode_u32(count)]
        for _ in range(count):
            out.append(code[pos : pos + 2])  # value type, mutability
            pos = self._const_expr(pos + 2, end, out)
        return b"".join(out)

    def exports(self, start: int, end: int) -> bytes:
        code = self.code
        count, pos = read_u32(code, start, end, "the export count")
        out = [encode_u32(count)]
        for _ in range(count):
            name, pos = read_name(code, pos, end, "an export's name")
            kind, pos = read_byte(code, pos, end, "an export's kind")
            index, pos = read_u32(code, pos, end, "an export's index")
            if kind == ExternKind.FUNC:
                index = self.shift(index)
            out.append(encode_name(name) + bytes([kind]) + encode_u32(index))
        return b"".join(out)

    def elements(self, start: int, end: int) -> bytes:
        code = self.code
        count, pos = read_u32(code, start, end, "the element segment count")
        out = [encode_u32(count)]
        for _ in range(count):
            flags, after = read_u32(code, pos, end, "element segment flags")
            out.append(code[pos:after])
            pos = after
            if not flags & 1:  # active
                if flags & 2:
                    table, after = read_u32(code, pos, end, "a table index")
                    out.append(code[pos:after])
                    pos = after
                pos = self._const_expr(pos, end, out)
            if flags & 3:
                out.append(code[pos : pos + 1])  # element kind or reference type
                pos += 1
            items, pos = read_u32(code, pos, end, "the element count")
            out.append(encode_u32(items))
            for _ in range(items):
                if flags & 4:
                    pos = self._const_expr(pos, end, out)
                else:
                    index, pos = read_u32(code, pos, end, "a function index")
                    out.append(encode_u32(self.shift(index)))
        return b"".join(out)

    def name_section(self, start: int, end: int, names: dict[int, str]) -> bytes:
        """The ``name`` section renumbered; ``names`` gets the function names."""
        code = self.code
        size, pos = read_u32(code, start, end, "the custom section's name length")
        out = [code[start : pos + size]]
        pos += size
        while pos < end:
            sub, after = read_byte(code, pos, end, "a name subsection id")
            length, after = read_u32(code, after, end, "a name subsection size")
            stop = after + length
            if sub == _NAME_FUNCTIONS:
                body = self._name_map(after, stop, names)
            elif sub in (_NAME_LOCALS, _NAME_LABELS):
                body = self._indirect_name_map(after, stop)
            else:
                body = code[after:stop]
            out.append(bytes([sub]) + encode_u32(len(body)) + body)
            pos = stop
        return b"".join(out)

    def _name_map(self, pos: int, end: int, names: dict[int, str]) -> bytes:
        code = self.code
        count, pos = read_u32(code, pos, end, "a name map's count")
        out = [encode_u32(count)]
        for _ in range(count):
            index, pos = read_u32(code, pos, end, "a function index")
            name, after = read_name(code, pos, end, "a function name")
            names[index] = name
            out.append(encode_u32(self.shift(index)) + code[pos:after])
            pos = after
        return b"".join(out)

    def _indirect_name_map(self, pos: int, end: int) -> bytes:
        code = self.code
        count, pos = read_u32(code, pos, end, "an indirect name map's count")
        out = [encode_u32(count)]
        for _ in range(count):
            index, pos = read_u32(code, pos, end, "a function index")
            begin = pos
            inner, pos = read_u32(code, pos, end, "a name map's count")
            for _ in range(inner):
                _, pos = read_u32(code, pos, end, "an index")
                _, pos = read_name(code, pos, end, "a name")
            out.append(encode_u32(self.shift(index)) + code[begin:pos])
        return b"".join(out)

    # -- code ----------------------------------------------------------------------

    def bodies(self, start: int, end: int) -> bytes:
        code = self.code
        count, pos = read_u32(code, start, end, "the body count")
        out = [encode_u32(count)]
        size = len(out[0])
        for number in range(count):
            body_size, body_start = read_u32(code, pos, end, "a body size")
            body_end = body_start + body_size
            parts, ranges = self._body(self.imported + number, body_start, body_end)
            body = b"".join(parts)
            prefix = encode_u32(len(body))
            self.offsets.extend((size + len(prefix) + new, old) for new, old in ranges)
            out.append(prefix + body)
            size += len(prefix) + len(body)
            pos = body_end
        return b"".join(out)

    def _body(self, function: int, pos: int, end: int) -> tuple[list[bytes], list[tuple[int, int]]]:
        """The new body (without its size) as parts, and its copied ranges (new offset, old offset)."""
        code = self.code
        groups, after = read_u32(code, pos, end, "the local group count")
        nlocals = self.defined_params[function - self.imported]
        locals_end = after
        for _ in range(groups):
            count, locals_end = read_u32(code, locals_end, end, "a local count")
            locals_end += 1
            nlocals += count
        scratch = nlocals
        parts: list[bytes] = []
        ranges: list[tuple[int, int]] = []
        length = 0

        def add(piece: bytes, origin: int = -1) -> None:
            nonlocal length
            if origin >= 0:
                ranges.append((length, origin))
            parts.append(piece)
            length += len(piece)

        def hook(kind: int) -> bytes:
            return bytes([_I32_CONST]) + encode_s32(hook_code(function, kind)) + b"\x41\x00" + self._call_hook

        grow = self._grow_site(function, scratch)
        header_at = len(parts)
        add(b"")  # the locals header, filled in below
        add(hook(ENTER))
        copy_from = locals_end
        has_grow = False
        at = locals_end
        while at < end:
            op = code[at]
            nxt = at + 1
            if op == _CALL:
                index, nxt = read_u32(code, nxt, end, "a function index")
                if index >= self.imported:
                    add(code[copy_from:at], copy_from)
                    add(bytes([_CALL]) + encode_u32(index + 1), at)
                    add(hook(RESUME))
                    copy_from = nxt
            elif op == _CALL_INDIRECT:
                _, nxt = read_u32(code, nxt, end, "a type index")
                _, nxt = read_u32(code, nxt, end, "a table index")
                add(code[copy_from:at], copy_from)
                add(hook(PRE_INDIRECT))
                add(code[at:nxt], at)
                add(hook(RESUME_INDIRECT))
                copy_from = nxt
            elif op == _REF_FUNC:
                index, nxt = read_u32(code, nxt, end, "a function index")
                add(code[copy_from:at], copy_from)
                add(bytes([_REF_FUNC]) + encode_u32(self.shift(index)), at)
                copy_from = nxt
            elif op == _LOOP:
                nxt = _block_type_end(code, nxt, end)
                add(code[copy_from:nxt], copy_from)
                add(hook(LOOP))
                copy_from = nxt
            elif op == _MEMORY_GROW:
                nxt += 1
                add(code[copy_from:nxt], copy_from)
                add(grow)
                has_grow = True
                copy_from = nxt
            elif op == 0xFC:
                sub, nxt = read_u32(code, nxt, end, "a 0xfc sub-opcode")
                nxt = _skip_fc(code, sub, nxt, end)
                if sub in _BULK_FC or sub == _TABLE_GROW_FC:
                    add(code[copy_from:nxt], copy_from)
                    if sub == _TABLE_GROW_FC:
                        add(grow)
                        has_grow = True
                    else:
                        add(hook(BULK))
                    copy_from = nxt
            else:
                nxt = _skip_immediates(code, op, nxt, end)
            at = nxt
        add(code[copy_from:end], copy_from)
        header = code[pos:locals_end]
        if has_grow:
            header = encode_u32(groups + 1) + code[after:locals_end] + b"\x01\x7f"
        # The header is not a copied range of code that can trap; fix the later offsets by its size.
        shift = len(header)
        parts[header_at] = header
        ranges = [(new + shift, old) for new, old in ranges]
        return parts, ranges

    @property
    def _call_hook(self) -> bytes:
        return bytes([_CALL]) + encode_u32(self.imported)

    def _grow_site(self, function: int, scratch: int) -> bytes:
        local = encode_u32(scratch)
        return (
            bytes([_LOCAL_TEE])
            + local
            + bytes([_I32_CONST])
            + encode_s32(hook_code(function, GROW))
            + bytes([_LOCAL_GET])
            + local
            + self._call_hook
        )


def _block_type_end(code: bytes, pos: int, end: int) -> int:
    first = code[pos]
    if first == 0x40 or 0x40 < first < 0x80:
        return pos + 1
    _, pos = read_signed(code, pos, end, 33, "a block type")
    return pos


def _skip_fc(code: bytes, sub: int, pos: int, end: int) -> int:
    op = PREFIX_FC.get(sub)
    if op is None:
        raise malformed(f"unknown opcode 0xfc {sub}")
    return _skip_imm(code, op.imm, pos, end)


def _skip_immediates(code: bytes, op: int, pos: int, end: int) -> int:
    """The position after the immediates of the one-byte opcode ``op`` (read at ``pos - 1``)."""
    info = SINGLE.get(op)
    if info is None:
        raise malformed(f"unknown opcode 0x{op:02x}")
    return _skip_imm(code, info.imm, pos, end)


def _skip_imm(code: bytes, imm: Imm, pos: int, end: int) -> int:
    if imm in (Imm.NONE, Imm.END, Imm.ELSE, Imm.STOP):
        return pos
    if imm in (Imm.LOCAL, Imm.GLOBAL, Imm.CALL, Imm.BR, Imm.BR_IF, Imm.TABLE, Imm.DATA, Imm.ELEM, Imm.REF_FUNC):
        return read_u32(code, pos, end, "an index")[1]
    if imm in (Imm.I32, Imm.I64):
        return read_signed(code, pos, end, 32 if imm == Imm.I32 else 64, "a constant")[1]
    if imm == Imm.F32:
        return pos + 4
    if imm == Imm.F64:
        return pos + 8
    if imm == Imm.MEMARG:
        flags, pos = read_u32(code, pos, end, "alignment")
        return read_u32(code, pos, end, "an offset")[1]
    if imm in (Imm.BLOCK, Imm.IF):
        return _block_type_end(code, pos, end)
    if imm == Imm.BR_TABLE:
        count, pos = read_u32(code, pos, end, "a label count")
        for _ in range(count + 1):
            _, pos = read_u32(code, pos, end, "a label")
        return pos
    if imm == Imm.CALL_INDIRECT:
        _, pos = read_u32(code, pos, end, "a type index")
        return read_u32(code, pos, end, "a table index")[1]
    if imm == Imm.MEMORY:
        return pos + 1
    if imm in (Imm.MEMORY2, Imm.REF_NULL):
        return pos + (2 if imm == Imm.MEMORY2 else 1)
    if imm in (Imm.DATA_MEMORY, Imm.ELEM_TABLE, Imm.TABLE2):
        _, pos = read_u32(code, pos, end, "an index")
        return read_u32(code, pos, end, "an index")[1] if imm != Imm.DATA_MEMORY else pos + 1
    if imm == Imm.SELECT_T:
        count, pos = read_u32(code, pos, end, "a type count")
        return pos + count
    raise malformed(f"immediates of kind {imm!r}")
