"""Modules with another interface: a WIT world put into (or taken out of) a module's ``wasmchain:wit`` section.

For tests only: the conformance test's lying worlds (the token's code with a world that
misdescribes it), the client's untyped token and its WAT modules with a world.
"""

from __future__ import annotations

from wasmchain.vm.wasm.encode import encode_name, encode_section
from wasmchain.vm.wasm.reader import read_name, read_u32
from wasmchain.vm.wit.section import SECTION_NAME

HEADER = b"\0asm\x01\0\0\0"
CUSTOM = 0
"""The custom section's id."""


def sections(code: bytes) -> list[tuple[int, bytes]]:
    """A module's sections in order, each as (id, the section's bytes whole)."""
    assert code[:8] == HEADER, "not a wasm module"
    found, pos = [], 8
    while pos < len(code):
        size, start = read_u32(code, pos + 1, len(code), "section size")
        found.append((code[pos], code[pos : start + size]))
        pos = start + size
    return found


def custom_name(section: bytes) -> str:
    """The name of a custom section (given whole)."""
    _, start = read_u32(section, 1, len(section), "section size")
    name, _ = read_name(section, start, len(section), "custom section name")
    return name


def without_interface(code: bytes) -> bytes:
    """The module with no ``wasmchain:wit`` section: an untyped contract, the same code otherwise."""
    kept = [raw for sid, raw in sections(code) if sid != CUSTOM or custom_name(raw) != SECTION_NAME]
    return HEADER + b"".join(kept)


def with_interface(code: bytes, wit: str) -> bytes:
    """The module with ``wit`` as its only interface (appended, any previous one removed)."""
    return without_interface(code) + encode_section(CUSTOM, encode_name(SECTION_NAME) + wit.encode("utf-8"))
