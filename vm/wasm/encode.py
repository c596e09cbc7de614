"""Writing the binary format: LEB128 integers, names and sections (minimal encodings)."""

from __future__ import annotations


def encode_u32(value: int) -> bytes:
    """The minimal unsigned LEB128 encoding of ``value``."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_s32(value: int) -> bytes:
    """The minimal signed LEB128 encoding of ``value``."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def encode_name(name: str) -> bytes:
    """A length-prefixed UTF-8 name."""
    raw = name.encode("utf-8")
    return encode_u32(len(raw)) + raw


def encode_section(section_id: int, content: bytes) -> bytes:
    """A section: its id, its size and its content."""
    return bytes([section_id]) + encode_u32(len(content)) + content
