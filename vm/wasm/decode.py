"""Decoding a module's sections, checking the module-level rules on the way.

One pass over the binary, in section order.  Every count is checked against
its limit as soon as it is read, before its elements are decoded, so an
oversized module is refused after reading a few bytes.  Function bodies are
only delimited here (their size checked); ``body.scan_body`` reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ..errors import InvalidModule, quote
from . import policy as rules
from . import proposals
from .module import (
    MAGIC,
    SECTION_NAMES,
    SECTION_RANK,
    VERSION,
    Body,
    Export,
    ExternKind,
    Import,
    Module,
    Section,
    SectionId,
)
from .opcodes import DISABLED_PREFIXES, EXTENDED_CONST
from .policy import Policy, float_refused, over_limit
from .reader import Reader, malformed, read_byte, read_u32
from .types import FLOAT_TYPES, FuncSig, ValType
from .valtypes import DISABLED_TYPES, FUNCREF_CODE, VALUE_TYPES, heap_type, value_type

FUNC_TYPE_FORM: Final = 0x60
TABLE_WITH_INIT: Final = 0x40
LIMITS_HAS_MAX: Final = 0x01
LIMITS_SHARED: Final = 0x02
LIMITS_64: Final = 0x04
LIMITS_PAGE_SIZE: Final = 0x08
PAGE_SIZE: Final = 65536
"""Bytes in a page of linear memory."""
TAG_ATTRIBUTE_EXCEPTION: Final = 0x00
"""The one attribute a tag may have (exception handling)."""

DISABLED_TYPE_FORMS: Final[dict[int, tuple[str, str]]] = {
    0x4E: (proposals.GC, "a recursive type group (rec)"),
    0x50: (proposals.GC, "a subtype declaration (sub)"),
    0x4F: (proposals.GC, "a final subtype declaration (sub final)"),
    0x5F: (proposals.GC, "a struct type"),
    0x5E: (proposals.GC, "an array type"),
    0x5D: (proposals.STACK_SWITCHING, "a continuation type (cont)"),
}

KIND_NAMES: Final[dict[int, str]] = {
    ExternKind.FUNC: "function",
    ExternKind.TABLE: "table",
    ExternKind.MEMORY: "memory",
    ExternKind.GLOBAL: "global",
    ExternKind.TAG: "tag",
}


@dataclass(slots=True)
class _Builder:
    """The module as decoded so far."""

    policy: Policy
    sections: list[Section] = field(default_factory=list)
    types: list[FuncSig] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    functions: list[int] = field(default_factory=list)
    tables: int = 0
    table_size: int = 0
    """The table's initial number of elements."""
    memories: int = 0
    memory_pages: int = 0
    """The memory's initial number of pages."""
    globals: int = 0
    global_types: list[str] = field(default_factory=list)
    global_values: list[int | None] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    elements: int = 0
    data_count: int | None = None
    data_segments: int = 0
    bodies: list[Body] = field(default_factory=list)

    def build(self) -> Module:
        return Module(
            sections=tuple(self.sections),
            types=tuple(self.types),
            imports=tuple(self.imports),
            functions=tuple(self.functions),
            tables=self.tables,
            memories=self.memories,
            globals=self.globals,
            global_types=tuple(self.global_types),
            global_values=tuple(self.global_values),
            exports=tuple(self.exports),
            elements=self.elements,
            data_count=self.data_count,
            bodies=tuple(self.bodies),
        )


def decode_module(code: bytes, policy: Policy) -> Module:
    """Decode ``code`` section by section, enforcing every module-level rule.

    Raises ``InvalidModule`` and nothing else.  Function bodies are
    delimited but not scanned.
    """
    limit = policy.limits.max_code_size
    if len(code) > limit:
        raise over_limit(rules.MAX_CODE_SIZE, f"module is {len(code)} bytes", limit)
    if code[:4] != MAGIC:
        found = code[:4].hex(" ") or "no bytes"
        raise malformed(f"expected the wasm magic bytes 00 61 73 6d, found {found}")
    if code[4:8] != VERSION:
        found = code[4:8].hex(" ") or "no bytes"
        raise malformed(f"expected wasm binary version 01 00 00 00, found {found}")
    builder = _Builder(policy)
    last: SectionId | None = None
    pos = len(MAGIC) + len(VERSION)
    while pos < len(code):
        start = pos
        sid, pos = read_byte(code, pos, len(code), "a section id")
        size, pos = read_u32(code, pos, len(code), "a section size")
        end = pos + size
        if end > len(code):
            raise malformed(
                f"section {_section_name(sid)} at byte offset {start} declares {size} bytes, "
                f"but only {len(code) - pos} remain"
            )
        reader = Reader(code, pos, end)
        if sid == SectionId.CUSTOM:
            reader.name("a custom section's name")
        else:
            if sid not in SECTION_RANK:
                raise malformed(f"unknown section id {sid} at byte offset {start}")
            current = SectionId(sid)
            if last is not None and SECTION_RANK[current] <= SECTION_RANK[last]:
                raise malformed(
                    "expected each section at most once and in the standard order; found the "
                    f"{_section_name(sid)} section (at byte offset {start}) after the "
                    f"{_section_name(last)} section"
                )
            last = current
            _DECODERS[current](builder, reader)
            reader.expect_end(f"the {_section_name(sid)} section at byte offset {start}")
        builder.sections.append(Section(sid, start, pos, end))
        pos = end
    _check_module(builder)
    return builder.build()


def _section_name(sid: int) -> str:
    return SECTION_NAMES.get(sid, str(sid))


def _check_module(b: _Builder) -> None:
    """Rules that need the whole module."""
    defined = len(b.functions) - len(b.imports)
    if defined != len(b.bodies):
        raise malformed(f"function section declares {defined} functions, code section has {len(b.bodies)} bodies")
    if b.data_count is not None and b.data_count != b.data_segments:
        raise malformed(f"data count section says {b.data_count} segments, data section has {b.data_segments}")
    if b.memories == 0:
        raise InvalidModule(
            rules.MEMORY,
            "expected exactly one memory, defined and exported as 'memory'; found none",
        )
    for export in b.exports:
        if export.name == rules.MEMORY_EXPORT:
            if export.kind != ExternKind.MEMORY:
                raise InvalidModule(
                    rules.MEMORY,
                    f"expected export 'memory' to be the memory, found a {KIND_NAMES[export.kind]}",
                )
            return
    raise InvalidModule(rules.MEMORY, "expected the memory to be exported as 'memory'; found no such export")


# Sections, in order.


def _decode_types(b: _Builder, r: Reader) -> None:
    limits = b.policy.limits
    count = r.count("types", rules.MAX_TYPES, limits.max_types)
    for index in range(count):
        form = r.byte("a type's form")
        if form != FUNC_TYPE_FORM:
            refused = DISABLED_TYPE_FORMS.get(form)
            if refused is not None:
                raise proposals.disabled(refused[0], f"{refused[1]} in the type section")
            raise malformed(f"type {index}: expected a function type (0x60), found 0x{form:02x}")
        where = f"type {index}"
        params = _value_types(r, where, limits.max_type_arity, 0)
        results = _value_types(r, where, limits.max_type_arity, len(params))
        b.types.append(FuncSig(params, results))


def _value_types(r: Reader, where: str, arity: int, before: int) -> tuple[ValType, ...]:
    """A vector of value types; ``before`` of the type's arity is already used."""
    count = r.u32(f"the arity of {where}")
    if before + count > arity:
        raise over_limit(
            rules.MAX_TYPE_ARITY,
            f"{where} has at least {before + count} parameters and results",
            arity,
        )
    return tuple(value_type(r.byte(f"a value type of {where}"), where) for _ in range(count))


def _decode_imports(b: _Builder, r: Reader) -> None:
    policy = b.policy
    count = r.count("imports", rules.MAX_IMPORTS, policy.limits.max_imports)
    seen: set[tuple[str, str]] = set()
    for _ in range(count):
        module = r.name("an import's module name")
        name = r.name("an import's name")
        full = f"{module}.{name}"
        kind = r.byte(f"the kind of import {full}")
        if kind != ExternKind.FUNC:
            _refuse_import(b, r, kind, full)
        type_index = r.u32(f"the type of import {full}")
        if type_index >= len(b.types):
            raise malformed(f"import {full} has type {type_index}, but the module defines {len(b.types)} types")
        sig = b.types[type_index]
        if module == policy.import_module:
            allowed = policy.allowed_imports
        elif module in policy.other_modules:
            allowed = policy.other_modules[module]
        else:
            known = " or ".join(quote(m) for m in (policy.import_module, *policy.other_modules))
            raise InvalidModule(rules.IMPORT, f"expected imports from module {known} only, found {full}")
        if b.imports and b.imports[0].module != module:
            raise InvalidModule(
                rules.IMPORT,
                f"a module imports from one ABI's module, found {quote(b.imports[0].module)} and {full}",
            )
        expected = allowed.get(name)
        if expected is None:
            raise InvalidModule(rules.IMPORT, f"import {full} is not a host function of this chain's ABI")
        if sig != expected:
            raise InvalidModule(rules.IMPORT, f"import {full} must have type {expected}, found {sig}")
        if (module, name) in seen:
            raise InvalidModule(rules.IMPORT, f"import {full} appears more than once")
        seen.add((module, name))
        _check_sig_floats(b, sig, f"import {full}")
        b.imports.append(Import(module, name, type_index))
        b.functions.append(type_index)


def _refuse_import(b: _Builder, r: Reader, kind: int, full: str) -> None:
    if kind == ExternKind.MEMORY:
        raise InvalidModule(rules.MEMORY, f"expected the memory to be defined by the module, found import {full}")
    if kind == ExternKind.TAG:
        # Only a tag import well-formed under exception handling is that proposal's; any other is malformed.
        attribute = r.byte(f"the attribute of tag import {full}")
        if attribute != TAG_ATTRIBUTE_EXCEPTION:
            raise malformed(f"tag import {full}: expected attribute 0x00, found 0x{attribute:02x}")
        type_index = r.u32(f"the type of tag import {full}")
        if type_index >= len(b.types):
            raise malformed(f"tag import {full} has type {type_index}, but the module defines {len(b.types)} types")
        raise proposals.disabled(proposals.EXCEPTIONS, f"tag import {full}")
    if kind in (ExternKind.TABLE, ExternKind.GLOBAL):
        raise InvalidModule(rules.IMPORT, f"expected only function imports, found {KIND_NAMES[kind]} import {full}")
    raise malformed(f"import {full}: expected an import kind 0-3, found {kind}")


def _check_sig_floats(b: _Builder, sig: FuncSig, what: str) -> None:
    if not b.policy.allow_floats and FLOAT_TYPES.intersection(sig.params + sig.results):
        raise float_refused(f"{what} of type {sig}")


def _decode_functions(b: _Builder, r: Reader) -> None:
    count = r.count("defined functions", rules.MAX_FUNCTIONS, b.policy.limits.max_functions)
    for _ in range(count):
        index = len(b.functions)
        type_index = r.u32(f"the type of function {index}")
        if type_index >= len(b.types):
            raise malformed(f"function {index} has type {type_index}, but the module defines {len(b.types)} types")
        _check_sig_floats(b, b.types[type_index], f"function {index}")
        b.functions.append(type_index)


def _decode_tables(b: _Builder, r: Reader) -> None:
    count = r.count("tables")
    if count > 1:
        raise InvalidModule(rules.TABLE, f"expected at most one table, found {count}")
    for _ in range(count):
        code = r.byte("a table's element type")
        if code == TABLE_WITH_INIT:
            raise proposals.disabled(proposals.FUNCTION_REFERENCES, "a table with an initializer expression")
        if code != FUNCREF_CODE:
            element = VALUE_TYPES.get(code) or DISABLED_TYPES.get(code, ("", ""))[1]
            if not element:
                raise malformed(f"the table: expected a reference type, found 0x{code:02x}")
            raise InvalidModule(rules.TABLE, f"expected a table of funcref, found a table of {element}")
        initial, maximum = _limits(r, "table")
        b.table_size = initial
        limit = b.policy.limits.max_table_size
        if initial > limit:
            raise over_limit(rules.MAX_TABLE_SIZE, f"table has {initial} initial elements", limit)
        if maximum is not None and maximum < initial:
            raise InvalidModule(
                rules.TABLE,
                f"expected the table's maximum to be at least its initial size {initial}, found {maximum}",
            )
        b.tables += 1


def _limits(r: Reader, what: str) -> tuple[int, int | None]:
    """The limits of a table or memory: 32-bit, unshared, default page size.

    ``what`` is ``"table"`` or ``"memory"``.
    """
    flags = r.byte(f"the limits flags of the {what}")
    if flags & LIMITS_64:
        raise proposals.disabled(proposals.MEMORY64, f"a 64-bit {what}")
    if flags & LIMITS_SHARED:
        # Threads shares memories, and a shared memory must have a maximum: a shared table, or a
        # shared memory without a maximum, is well-formed under no proposal a chain could enable
        # (the core test suite's "integer too large").
        if what != "memory" or not flags & LIMITS_HAS_MAX:
            raise malformed(
                f"the {what}: expected limits flags 0x00 or 0x01, found 0x{flags:02x} "
                f"(a shared {what}{'' if what == 'table' else ' without a maximum'})"
            )
        raise proposals.disabled(proposals.THREADS, f"a shared {what}")
    if flags & LIMITS_PAGE_SIZE:
        raise proposals.disabled(proposals.CUSTOM_PAGE_SIZES, f"a custom page size for the {what}")
    if flags & ~LIMITS_HAS_MAX:
        raise malformed(f"the {what}: expected limits flags 0x00 or 0x01, found 0x{flags:02x}")
    initial = r.u32(f"the initial size of the {what}")
    maximum = r.u32(f"the maximum size of the {what}") if flags & LIMITS_HAS_MAX else None
    return initial, maximum


def _decode_memories(b: _Builder, r: Reader) -> None:
    count = r.count("memories")
    if count > 1:
        raise proposals.disabled(proposals.MULTI_MEMORY, f"{count} memories (exactly one is allowed)")
    for _ in range(count):
        initial, maximum = _limits(r, "memory")
        b.memory_pages = initial
        limit = b.policy.limits.max_initial_memory_pages
        if initial > limit:
            raise over_limit(rules.MAX_INITIAL_MEMORY_PAGES, f"memory has {initial} initial pages", limit)
        if maximum is not None and maximum < initial:
            raise InvalidModule(
                rules.MEMORY,
                f"expected the memory's maximum to be at least its initial {initial} pages, found {maximum}",
            )
        b.memories += 1


def _decode_tags(b: _Builder, r: Reader) -> None:
    raise proposals.disabled(proposals.EXCEPTIONS, "a tag section")


def _decode_globals(b: _Builder, r: Reader) -> None:
    count = r.count("globals", rules.MAX_GLOBALS, b.policy.limits.max_globals)
    for index in range(count):
        where = f"global {index}"
        vtype = value_type(r.byte(f"the type of {where}"), where)
        if vtype in FLOAT_TYPES and not b.policy.allow_floats:
            raise float_refused(f"{where} of type {vtype}")
        mutability = r.byte(f"the mutability of {where}")
        if mutability > 1:
            # 2 and 3 are shared globals of shared-everything-threads, not of threads: malformed here.
            raise malformed(f"{where}: expected mutability 0 or 1, found {mutability}")
        value = _const_expr(b, r, f"the initializer of {where}")
        b.globals += 1
        b.global_types.append(vtype)
        b.global_values.append(value if vtype == "i32" else None)


def _decode_exports(b: _Builder, r: Reader) -> None:
    count = r.count("exports", rules.MAX_EXPORTS, b.policy.limits.max_exports)
    sizes = {
        ExternKind.FUNC: len(b.functions),
        ExternKind.TABLE: b.tables,
        ExternKind.MEMORY: b.memories,
        ExternKind.GLOBAL: b.globals,
    }
    names: set[str] = set()
    for _ in range(count):
        name = r.name("an export's name")
        kind = r.byte(f"the kind of export {quote(name)}")
        index = r.u32(f"the index of export {quote(name)}")
        if kind == ExternKind.TAG:
            # A tag section or tag import was refused before, so the tag cannot exist.
            raise malformed(f"export {quote(name)} refers to tag {index}, but the module has no tags")
        if kind not in sizes:
            raise malformed(f"export {quote(name)}: expected an export kind 0-3, found {kind}")
        if index >= sizes[ExternKind(kind)]:
            raise malformed(
                f"export {quote(name)} refers to {KIND_NAMES[kind]} {index}, but the module has "
                f"{sizes[ExternKind(kind)]}"
            )
        if name in names:
            raise malformed(f"export name {quote(name)} appears more than once")
        if name.startswith(rules.RESERVED_EXPORT_PREFIX):
            raise InvalidModule(
                rules.EXPORT,
                f"export names starting with {quote(rules.RESERVED_EXPORT_PREFIX)} are reserved for "
                f"the engine; found {quote(name)}",
            )
        names.add(name)
        b.exports.append(Export(name, ExternKind(kind), index))


def _decode_start(b: _Builder, r: Reader) -> None:
    raise InvalidModule(
        rules.START,
        "expected no start function (a contract runs only through its methods); found a start section",
    )


def _decode_elements(b: _Builder, r: Reader) -> None:
    count = r.count("element segments", rules.MAX_ELEMENT_SEGMENTS, b.policy.limits.max_element_segments)
    for index in range(count):
        where = f"element segment {index}"
        flags = r.u32(f"the flags of {where}")
        if flags > 7:
            raise malformed(f"{where}: expected flags 0-7, found {flags}")
        active = not flags & 1
        uses_exprs = bool(flags & 4)
        offset = None
        if active:
            table = r.u32(f"the table of {where}") if flags & 2 else 0
            if table >= b.tables:
                raise malformed(f"{where} refers to table {table}, but the module has {b.tables}")
            offset = _const_expr(b, r, f"the offset of {where}")
        if flags & 3:
            code = r.byte(f"the element type of {where}")
            expected = FUNCREF_CODE if uses_exprs else 0x00
            if code != expected:
                if uses_exprs:
                    value_type(code, where)
                    raise InvalidModule(rules.TABLE, f"{where}: expected funcref elements, found 0x{code:02x}")
                raise malformed(f"{where}: expected element kind 0x00 (funcref), found 0x{code:02x}")
        items = r.count(f"elements in {where}")
        if offset is not None and offset + items > b.table_size:
            raise InvalidModule(
                rules.ELEMENT_SEGMENT_OUT_OF_BOUNDS,
                f"expected {where} ({items} elements at offset {offset}) to fit in the table's initial "
                f"{b.table_size} elements, found it ending at element {offset + items}: every instantiation, "
                "and so every call, would trap",
            )
        for _ in range(items):
            if uses_exprs:
                _const_expr(b, r, f"an element of {where}")
            else:
                _function_index(b, r.u32(f"a function index in {where}"), where)
        b.elements += 1


def _function_index(b: _Builder, index: int, where: str) -> None:
    if index >= len(b.functions):
        raise malformed(f"{where} refers to function {index}, but the module has {len(b.functions)}")


def _decode_data_count(b: _Builder, r: Reader) -> None:
    count = r.u32("the data count")
    limit = b.policy.limits.max_data_segments
    if count > limit:
        raise over_limit(rules.MAX_DATA_SEGMENTS, f"module declares {count} data segments", limit)
    b.data_count = count


def _decode_code(b: _Builder, r: Reader) -> None:
    defined = len(b.functions) - len(b.imports)
    count = r.u32("the number of function bodies")
    if count != defined:
        raise malformed(f"function section declares {defined} functions, code section has {count} bodies")
    limit = b.policy.limits.max_function_body_size
    for number in range(count):
        start = r.pos
        index = len(b.imports) + number
        size = r.u32(f"the body size of function {index}")
        if size > limit:
            raise over_limit(rules.MAX_FUNCTION_BODY_SIZE, f"function {index} has a {size}-byte body", limit)
        locals_start = r.pos
        r.raw(size, f"the body of function {index}")
        b.bodies.append(Body(start, locals_start, r.pos))


def _decode_data(b: _Builder, r: Reader) -> None:
    count = r.count("data segments", rules.MAX_DATA_SEGMENTS, b.policy.limits.max_data_segments)
    for index in range(count):
        where = f"data segment {index}"
        flags = r.u32(f"the flags of {where}")
        if flags > 2:
            raise malformed(f"{where}: expected flags 0-2, found {flags}")
        if flags == 2:
            memory = r.u32(f"the memory of {where}")
            if memory != 0:
                raise proposals.disabled(proposals.MULTI_MEMORY, f"{where} for memory {memory}")
        offset = _const_expr(b, r, f"the offset of {where}") if flags != 1 else None
        size = r.u32(f"the size of {where}")
        r.raw(size, where)
        # Without a memory, the memory rule refuses the module (``_check_module``).
        if offset is not None and b.memories and offset + size > b.memory_pages * PAGE_SIZE:
            raise InvalidModule(
                rules.DATA_SEGMENT_OUT_OF_BOUNDS,
                f"expected {where} ({size} bytes at offset {offset}) to fit in the memory's initial "
                f"{b.memory_pages} pages ({b.memory_pages * PAGE_SIZE} bytes), found it ending at byte "
                f"{offset + size}: every instantiation, and so every call, would trap",
            )
    b.data_segments = count


def _const_expr(b: _Builder, r: Reader, where: str) -> int | None:
    """A constant expression, up to and including its ``end``; its value if it is one ``i32.const``.

    Its type is wasmtime's to check; here, the instructions must be ones a
    constant expression may hold in the enabled proposals, and indices must
    be in range.  The value is the one a segment offset reads (an ``i32``
    taken as unsigned); ``global.get`` and extended constants are refused,
    so every offset wasmtime would accept is a single ``i32.const``, known
    at deploy.
    """
    value: int | None = None
    instructions = 0
    while True:
        at = r.pos
        op = r.byte(f"an instruction of {where}")
        if op == 0x0B:
            return value if instructions == 1 else None
        instructions += 1
        if op == 0x41:
            value = r.signed(32, f"an i32.const in {where}") & 0xFFFF_FFFF
        elif op == 0x42:
            r.signed(64, f"an i64.const in {where}")
        elif op in (0x43, 0x44):
            if not b.policy.allow_floats:
                name = "f32.const" if op == 0x43 else "f64.const"
                raise float_refused(f"{name} in {where} at byte offset {at}")
            r.raw(4 if op == 0x43 else 8, f"a float constant in {where}")
        elif op == 0xD0:
            heap_type(r.byte(f"the heap type of a ref.null in {where}"), where)
        elif op == 0xD2:
            _function_index(b, r.u32(f"the function of a ref.func in {where}"), where)
        elif op == 0x23:
            raise malformed(
                f"{where}: global.get in a constant expression must refer to an imported global, "
                "and a contract imports none"
            )
        elif op in EXTENDED_CONST:
            raise proposals.disabled(proposals.EXTENDED_CONST, f"{EXTENDED_CONST[op]} in {where} at byte offset {at}")
        elif op in DISABLED_PREFIXES:
            raise proposals.disabled(DISABLED_PREFIXES[op], f"a 0x{op:02x}-prefixed instruction in {where}")
        else:
            raise malformed(f"{where}: expected a constant instruction at byte offset {at}, found opcode 0x{op:02x}")


_DECODERS: Final[dict[SectionId, Callable[[_Builder, Reader], None]]] = {
    SectionId.TYPE: _decode_types,
    SectionId.IMPORT: _decode_imports,
    SectionId.FUNCTION: _decode_functions,
    SectionId.TABLE: _decode_tables,
    SectionId.MEMORY: _decode_memories,
    SectionId.TAG: _decode_tags,
    SectionId.GLOBAL: _decode_globals,
    SectionId.EXPORT: _decode_exports,
    SectionId.START: _decode_start,
    SectionId.ELEMENT: _decode_elements,
    SectionId.DATA_COUNT: _decode_data_count,
    SectionId.CODE: _decode_code,
    SectionId.DATA: _decode_data,
}
"""The decoder of each non-custom section."""
