"""Strip a contract's custom sections (but its interface) and keep its function names beside it.

Used by ``wasmchain build`` (``wasmchain.client.build``) and, as a script, by contracts/build.sh::

    python3 chain/client/wasm_names.py BUILT.wasm OUT.wasm OUT.names

BUILT.wasm is the unstripped build. OUT.wasm gets the module with every
custom section removed (``name``, ``producers``, ``target_features``...)
but the contract's interface, ``wasmchain:wit`` (the WIT text that
``wasmchain_sdk::interface!`` embeds, docs/abi.md), which stays where the
linker put it: byte for byte what ``strip = true`` gives, which keeps it
too. OUT.names gets the function names of its ``name`` section, Rust's legacy
mangling undone and the hash dropped (``_ZN5token8transfer17h0123...E``
-> ``token::transfer``), as JSON with sorted keys::

    {"functions": {"12": "token::transfer", ...}, "module": "0x<sha256 of OUT.wasm>"}

Standalone on purpose (the standard library only, no import of wasmchain): build.sh runs it
with the system's python3. The client matches a profile's frames to these files by
the module hash (wasmchain.client.profile).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys

_LEGACY = re.compile(r"^_ZN((?:\d+[^\d].*)?)E$")
_LLVM_SUFFIX = re.compile(r"\.llvm\.\d+$")
_HASH = re.compile(r"^h[0-9a-f]{16}$")
INTERFACE_SECTION = b"wasmchain:wit"
_ESCAPES = {"SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ","}


def _u32(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _sections(code: bytes) -> list[tuple[int, int, int, int]]:
    """(id, start, content start, end) of every section."""
    found = []
    pos = 8
    while pos < len(code):
        start = pos
        sid = code[pos]
        size, pos = _u32(code, pos + 1)
        found.append((sid, start, pos, pos + size))
        pos += size
    return found


def custom_name(code: bytes, pos: int) -> bytes:
    """The name of the custom section whose content starts at ``pos``."""
    size, pos = _u32(code, pos)
    return code[pos : pos + size]


def strip(code: bytes) -> bytes:
    """The module without its custom sections, but for the interface (``wasmchain:wit``)."""
    kept = (
        code[start:end]
        for sid, start, pos, end in _sections(code)
        if sid != 0 or custom_name(code, pos) == INTERFACE_SECTION
    )
    return code[:8] + b"".join(kept)


def memory_pages(code: bytes) -> int | None:
    """The initial size, in 64 KiB pages, of the memory the module defines (``None`` if it defines none)."""
    for sid, _, pos, end in _sections(code):
        if sid == 5:  # the memory section: a count, then each memory's limits (flags, initial[, maximum])
            count, pos = _u32(code, pos)
            if count and pos < end:
                initial, _ = _u32(code, pos + 1)
                return initial
    return None


def function_names(code: bytes) -> dict[int, str]:
    """The raw names of the ``name`` section's function subsection."""
    for sid, _, pos, end in _sections(code):
        if sid != 0 or custom_name(code, pos) != b"name":
            continue
        size, pos = _u32(code, pos)
        pos += size
        while pos < end:
            sub = code[pos]
            length, pos = _u32(code, pos + 1)
            if sub == 1:
                names = {}
                count, at = _u32(code, pos)
                for _ in range(count):
                    index, at = _u32(code, at)
                    size, at = _u32(code, at)
                    names[index] = code[at : at + size].decode("utf-8", errors="replace")
                    at += size
                return names
            pos += length
    return {}


def _unescape(part: str) -> str:
    if part.startswith("_$"):
        part = part[1:]
    out = []
    at = 0
    while at < len(part):
        if part[at] == "$":
            close = part.find("$", at + 1)
            code = part[at + 1 : close] if close > 0 else ""
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                at = close + 1
                continue
            if code.startswith("u") and re.fullmatch(r"u[0-9a-f]+", code):
                out.append(chr(int(code[1:], 16)))
                at = close + 1
                continue
        if part.startswith("..", at):
            out.append("::")
            at += 2
            continue
        out.append(part[at])
        at += 1
    return "".join(out)


def demangle(name: str) -> str:
    """A Rust legacy-mangled symbol as ``crate::module::fn`` without its hash; other names unchanged."""
    match = _LEGACY.match(_LLVM_SUFFIX.sub("", name))
    if match is None:
        return name
    body = match.group(1)
    parts = []
    at = 0
    while at < len(body):
        digits = re.match(r"\d+", body[at:])
        if digits is None:
            return name
        size = int(digits.group())
        at += len(digits.group())
        parts.append(body[at : at + size])
        at += size
    if parts and _HASH.match(parts[-1]):
        parts.pop()
    return "::".join(_unescape(part) for part in parts) if parts else name


def names_file(stripped: bytes, names: dict[int, str]) -> str:
    """The ``.names`` JSON of a stripped module."""
    document = {
        "module": "0x" + hashlib.sha256(stripped).hexdigest(),
        "functions": {str(index): demangle(name) for index, name in sorted(names.items())},
    }
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: wasm_names.py BUILT.wasm OUT.wasm OUT.names", file=sys.stderr)
        return 2
    built, out_wasm, out_names = argv
    with open(built, "rb") as source:
        code = source.read()
    stripped = strip(code)
    for path, data in ((out_wasm, stripped), (out_names, names_file(stripped, function_names(code)).encode())):
        with open(path + ".tmp", "wb") as target:
            target.write(data)
    os.chmod(out_wasm + ".tmp", os.stat(built).st_mode & 0o777)  # as cp gave it (the linker's mode)
    for path in (out_wasm, out_names):
        os.replace(path + ".tmp", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
