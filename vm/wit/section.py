"""The ``wasmchain:wit`` custom section: finding a module's interface and checking its exports against it.

A custom section is part of the deployed bytes, so the interface is part of
the code hash, and the stack instrumentation copies it byte for byte into
the module that is compiled (vm/wasm/instrument.py), so its bytes are
charged like the rest of the code at deploy.  Wasmtime ignores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..errors import InvalidModule
from ..wasm.module import MAGIC, VERSION, ExternKind, Module, SectionId
from ..wasm.policy import INTERFACE
from ..wasm.reader import read_byte, read_name, read_u32
from ..wasm.types import FuncSig
from .syntax import parse_wit
from .types import MAX_WIT_BYTES, SECTION_NAME, Interface, Method, WitError, signature

__all__ = [
    "MAX_WIT_BYTES",
    "METHOD_SIG",
    "SECTION_NAME",
    "check_exports",
    "check_method_exports",
    "deploy_check",
    "interface_of",
    "wit_sections",
]

METHOD_SIG: Final = FuncSig((), ())
"""The wasm type every method has: ``() -> ()`` (arguments and result travel through the host)."""


def wit_sections(code: bytes) -> list[bytes]:
    """The contents of every ``wasmchain:wit`` section of ``code``, in order.

    Walks the sections only (cheap); raises ``WitError`` if ``code`` is not
    a well-formed sequence of wasm sections.
    """
    if code[:4] != MAGIC or code[4:8] != VERSION:
        raise WitError("not a wasm module: expected the magic bytes 00 61 73 6d and version 01 00 00 00")
    found = []
    pos, end = 8, len(code)
    try:
        while pos < end:
            sid, pos = read_byte(code, pos, end, "a section id")
            size, pos = read_u32(code, pos, end, "a section size")
            if size > end - pos:
                raise WitError(f"a section at byte offset {pos} declares {size} bytes, but {end - pos} remain")
            if sid == SectionId.CUSTOM:
                name, content = read_name(code, pos, pos + size, "a custom section's name")
                if name == SECTION_NAME:
                    found.append(code[content : pos + size])
            pos += size
    except InvalidModule as error:
        raise WitError(f"the module is not well-formed wasm: {error.detail}") from None
    return found


def interface_of(code: bytes) -> Interface | None:
    """The interface the module carries in its ``wasmchain:wit`` section, or None if it has none.

    ``WitError`` if it has two, or the one it has is over ``MAX_WIT_BYTES``,
    not UTF-8, or not a WIT world of the subset.
    """
    sections = wit_sections(code)
    if not sections:
        return None
    if len(sections) > 1:
        raise WitError(f"the module has {len(sections)} {SECTION_NAME} sections; a module carries at most one")
    raw = sections[0]
    if len(raw) > MAX_WIT_BYTES:
        raise WitError(f"the interface is {len(raw)} bytes; the limit is {MAX_WIT_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WitError(f"the interface is not UTF-8 text (byte offset {error.start} of the section)") from None
    return parse_wit(text)


def check_method_exports(exports: Mapping[str, FuncSig], interface: Interface) -> None:
    """Every method of ``interface`` must be an exported function of type ``() -> ()`` among ``exports``."""
    for method in interface.methods:
        sig = exports.get(method.export)
        if sig is None:
            raise WitError(_missing(method))
        if sig != METHOD_SIG:
            raise WitError(
                f"method {signature(method)} is the export `{method.export}`, a function of type {sig}; a method's "
                f"type must be {METHOD_SIG} (it reads its arguments with input_read and sets its result with "
                "return_set)"
            )


def check_exports(module: Module, interface: Interface) -> None:
    """Every method of ``interface`` must be a function the module exports with type ``() -> ()``."""
    exports: dict[str, FuncSig] = {}
    for export in module.exports:
        if export.kind == ExternKind.FUNC:
            exports[export.name] = module.func_sig(export.index)
        elif interface.method(export.name) is not None:
            method = interface.method(export.name)
            assert method is not None
            if method.export == export.name:
                raise WitError(
                    f"method {signature(method)} is the export `{export.name}`, which is a "
                    f"{export.kind.name.lower()}, not a function; export a function of type {METHOD_SIG}"
                )
    check_method_exports(exports, interface)


def deploy_check(code: bytes, exports: Mapping[str, FuncSig]) -> Interface | None:
    """The deploy rule of ABI 1.2: the module's interface, if it has one, parses and its methods are exported.

    ``exports`` are the module's exported functions and their types (``PreparedModule.exports``).  Raises
    ``InvalidModule("interface", ...)`` naming the section and the problem.
    """
    try:
        interface = interface_of(code)
        if interface is not None:
            check_method_exports(exports, interface)
    except WitError as error:
        raise InvalidModule(INTERFACE, f"the {SECTION_NAME} section: {error}") from None
    return interface


def _missing(method: Method) -> str:
    return (
        f"method {signature(method)} is the export `{method.export}`, which the module does not export; export a "
        f"function `{method.export}` of type {METHOD_SIG}, or remove the method from the world"
    )
