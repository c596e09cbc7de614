"""Hex text as bytes, strictly: the one parser behind every place that takes hex.

``bytes.fromhex`` skips whitespace (``bytes.fromhex(" 92 9c")`` is two bytes), so
text that is not what any of our tools print would be taken as the bytes it
happens to spell.  Here hex is an even number of the digits ``0-9 a-f A-F`` and
nothing else: no spaces, tabs, newlines, signs, separators or non-ASCII digits.
The callers word their own errors (a parameter's name, an option, an address).
"""

from __future__ import annotations

import binascii


def from_hex(digits: str) -> bytes:
    """The bytes an even number of hex digits (no prefix) spell; ``ValueError`` for anything else."""
    if not isinstance(digits, str) or not digits.isascii():
        raise ValueError("hex is ASCII text of the digits 0-9, a-f and A-F")
    # binascii, unlike bytes.fromhex, takes digits only (and is as fast).
    try:
        return binascii.a2b_hex(digits)
    except binascii.Error as error:
        raise ValueError(f"not an even number of hex digits: {error}") from None


def from_0x(text: str) -> bytes:
    """``0x`` followed by an even number of hex digits, as bytes; ``ValueError`` for anything else."""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError("hex is 0x followed by an even number of hex digits")
    return from_hex(text[2:])
