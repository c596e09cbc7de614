"""Reading the WebAssembly binary format: bytes, LEB128 integers, names.

Every reader takes the buffer, a position and the end of the region it may
read (a section or a function body, never just the end of the buffer), and
returns the value and the position after it.  Running past ``end``, an
over-long LEB128 or a value out of range raises ``InvalidModule("malformed",
...)`` naming what was being read and where; nothing here can raise
``IndexError`` or ``struct.error``.

Non-minimal LEB128 encodings (``0x80 0x80 0x80 0x80 0x00`` for 0) are valid
wasm and are accepted, up to the spec's maximum byte count (5 for 32-bit
values, 10 for 64-bit ones).
"""

from __future__ import annotations

from typing import Final

from ..errors import InvalidModule

MALFORMED: Final = "malformed"


def malformed(message: str) -> InvalidModule:
    """An ``InvalidModule`` for a binary that is not well-formed wasm."""
    return InvalidModule(MALFORMED, message)


def _truncated(what: str, pos: int) -> InvalidModule:
    return malformed(f"expected {what} at byte offset {pos}, found the end of its section or body")


def read_byte(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """One byte."""
    if pos >= end:
        raise _truncated(what, pos)
    return data[pos], pos + 1


def read_bytes(data: bytes, pos: int, end: int, size: int, what: str) -> tuple[bytes, int]:
    """``size`` raw bytes."""
    if size > end - pos:
        raise malformed(f"expected {size} bytes of {what} at byte offset {pos}, found {max(end - pos, 0)}")
    return data[pos : pos + size], pos + size


def read_unsigned(data: bytes, pos: int, end: int, bits: int, what: str) -> tuple[int, int]:
    """An unsigned LEB128 integer of at most ``bits`` bits."""
    if pos < end:
        first = data[pos]
        if first < 0x80:
            return first, pos + 1
    start = pos
    result = 0
    shift = 0
    max_bytes = (bits + 6) // 7
    for _ in range(max_bytes):
        if pos >= end:
            raise _truncated(what, pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if result >> bits:
                raise malformed(
                    f"{what} at byte offset {start}: expected an unsigned {bits}-bit integer, found {result}"
                )
            return result, pos
    raise malformed(
        f"{what} at byte offset {start}: expected a LEB128 integer of at most {max_bytes} bytes, found a longer one"
    )


def read_signed(data: bytes, pos: int, end: int, bits: int, what: str) -> tuple[int, int]:
    """A signed LEB128 integer of at most ``bits`` bits."""
    if pos < end:
        first = data[pos]
        if first < 0x40:
            return first, pos + 1
        if first < 0x80:
            return first - 0x80, pos + 1
    start = pos
    result = 0
    shift = 0
    max_bytes = (bits + 6) // 7
    for _ in range(max_bytes):
        if pos >= end:
            raise _truncated(what, pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                result -= 1 << shift
            if not -(1 << (bits - 1)) <= result < 1 << (bits - 1):
                raise malformed(f"{what} at byte offset {start}: expected a signed {bits}-bit integer, found {result}")
            return result, pos
    raise malformed(
        f"{what} at byte offset {start}: expected a LEB128 integer of at most {max_bytes} bytes, found a longer one"
    )


def read_u32(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """An unsigned 32-bit LEB128 integer (counts, indices, sizes)."""
    if pos < end and data[pos] < 0x80:
        return data[pos], pos + 1
    return read_unsigned(data, pos, end, 32, what)


def read_name(data: bytes, pos: int, end: int, what: str) -> tuple[str, int]:
    """A length-prefixed UTF-8 name."""
    size, pos = read_u32(data, pos, end, f"the length of {what}")
    raw, after = read_bytes(data, pos, end, size, what)
    try:
        return raw.decode("utf-8"), after
    except UnicodeDecodeError as error:
        raise malformed(
            f"{what} at byte offset {pos}: expected UTF-8, found invalid byte at position {error.start}"
        ) from None


class Reader:
    """A cursor over one region ``[pos, end)`` of a module's bytes."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def byte(self, what: str) -> int:
        """One byte."""
        value, self.pos = read_byte(self.data, self.pos, self.end, what)
        return value

    def raw(self, size: int, what: str) -> bytes:
        """``size`` raw bytes."""
        value, self.pos = read_bytes(self.data, self.pos, self.end, size, what)
        return value

    def u32(self, what: str) -> int:
        """An unsigned 32-bit LEB128 integer."""
        value, self.pos = read_u32(self.data, self.pos, self.end, what)
        return value

    def signed(self, bits: int, what: str) -> int:
        """A signed LEB128 integer of ``bits`` bits."""
        value, self.pos = read_signed(self.data, self.pos, self.end, bits, what)
        return value

    def name(self, what: str) -> str:
        """A length-prefixed UTF-8 name."""
        value, self.pos = read_name(self.data, self.pos, self.end, what)
        return value

    def count(self, what: str, limit_rule: str | None = None, limit: int = 0) -> int:
        """A vector length, checked against a limit first, then against the bytes left.

        With ``limit_rule``, a count above ``limit`` raises that rule, before
        any element is read (so 100,000 functions are refused at once).


        Every vector element takes at least one byte, so a count larger than
        the bytes left is malformed; checking that here keeps every loop over
        a vector bounded by the size of the input.
        """
        start = self.pos
        value = self.u32(f"the number of {what}")
        if limit_rule is not None and value > limit:
            raise InvalidModule(limit_rule, f"module has {value} {what}; the limit is {limit}")
        if value > self.end - self.pos:
            raise malformed(
                f"the number of {what} at byte offset {start} is {value}, but only {self.end - self.pos} bytes follow"
            )
        return value

    def expect_end(self, what: str) -> None:
        """Require that the region has been read exactly."""
        if self.pos != self.end:
            raise malformed(
                f"{what}: expected it to end at byte offset {self.end}, found its contents ending at {self.pos}"
            )
