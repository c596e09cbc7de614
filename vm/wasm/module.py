"""A decoded module: the parts validation and instrumentation need.

Decoding keeps byte offsets rather than copies: sections and function
bodies are ranges of the original binary, so the instrumenter can copy
everything it does not change byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from .types import FuncSig

MAGIC: Final = b"\x00asm"
VERSION: Final = b"\x01\x00\x00\x00"


class SectionId(IntEnum):
    """Section ids of the binary format."""

    CUSTOM = 0
    TYPE = 1
    IMPORT = 2
    FUNCTION = 3
    TABLE = 4
    MEMORY = 5
    GLOBAL = 6
    EXPORT = 7
    START = 8
    ELEMENT = 9
    CODE = 10
    DATA = 11
    DATA_COUNT = 12
    TAG = 13


SECTION_ORDER: Final[tuple[SectionId, ...]] = (
    SectionId.TYPE,
    SectionId.IMPORT,
    SectionId.FUNCTION,
    SectionId.TABLE,
    SectionId.MEMORY,
    SectionId.TAG,
    SectionId.GLOBAL,
    SectionId.EXPORT,
    SectionId.START,
    SectionId.ELEMENT,
    SectionId.DATA_COUNT,
    SectionId.CODE,
    SectionId.DATA,
)
"""The order non-custom sections must appear in (each at most once)."""

SECTION_RANK: Final[dict[int, int]] = {int(sid): rank for rank, sid in enumerate(SECTION_ORDER, 1)}
"""Each non-custom section id's position in ``SECTION_ORDER``."""

SECTION_NAMES: Final[dict[int, str]] = {int(sid): sid.name.lower().replace("_", " ") for sid in SectionId}


class ExternKind(IntEnum):
    """Kinds of imports and exports."""

    FUNC = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3
    TAG = 4


@dataclass(frozen=True, slots=True)
class Section:
    """One section: its id and where it lies in the binary."""

    id: int
    start: int
    """Offset of the section's id byte."""
    content_start: int
    """Offset of the first byte after the section's size."""
    end: int
    """Offset just past the section."""


@dataclass(frozen=True, slots=True)
class Import:
    """A function import (the only kind a contract may have)."""

    module: str
    name: str
    type_index: int


@dataclass(frozen=True, slots=True)
class Export:
    """An export."""

    name: str
    kind: ExternKind
    index: int


@dataclass(frozen=True, slots=True)
class Body:
    """A function body in the code section."""

    start: int
    """Offset of the body's size prefix."""
    locals_start: int
    """Offset of the body's first byte (its locals declarations)."""
    end: int
    """Offset just past the body (its final ``end``)."""


@dataclass(frozen=True, slots=True)
class Module:
    """The decoded structure of a module that passed the section-level rules."""

    sections: tuple[Section, ...]
    """Every section, custom ones included, in binary order."""
    types: tuple[FuncSig, ...]
    """The type section."""
    imports: tuple[Import, ...]
    """Function imports, in order: they take the first function indices."""
    functions: tuple[int, ...]
    """The type index of every function, imported ones first."""
    tables: int
    """Number of tables (0 or 1)."""
    memories: int
    """Number of memories (1)."""
    globals: int
    """Number of globals (all defined: global imports are refused)."""
    global_types: tuple[str, ...]
    """The value type of each global, in index order."""
    global_values: tuple[int | None, ...]
    """The initial value of each ``i32`` global (its initializer is one ``i32.const``, as unsigned), else ``None``."""
    exports: tuple[Export, ...]
    """The export section, in binary order."""
    elements: int
    """Number of element segments."""
    data_count: int | None
    """The data count section's value, if present."""
    bodies: tuple[Body, ...]
    """One body per defined function."""

    @property
    def imported_functions(self) -> int:
        """Number of imported functions: the index of the first defined one."""
        return len(self.imports)

    def func_sig(self, index: int) -> FuncSig:
        """The type of function ``index`` (imported or defined)."""
        return self.types[self.functions[index]]

    def section(self, sid: SectionId) -> Section | None:
        """The non-custom section with id ``sid``, if present."""
        for section in self.sections:
            if section.id == sid:
                return section
        return None
