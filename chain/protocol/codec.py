"""The canonical encoding: msgpack with exactly one form per value.

Protocol values (transactions, blocks, receipts, accounts) are encoded as
msgpack arrays of fields in a fixed order; the only types are unsigned
and signed integers (shortest form), ``bin`` byte strings, UTF-8 ``str``
and nested arrays.  No maps, no floats, no extension types.

Decoding re-encodes what it read and refuses input whose bytes differ
from the re-encoding, so every value has exactly one encoding and a
transaction exactly one hash.
"""

from __future__ import annotations

from typing import Any

import msgpack

from wasmchain.protocol.errors import InvalidEncoding

Canonical = int | bytes | str | list["Canonical"]
"""What the canonical encoding can hold (tuples encode as arrays)."""

MAX_DEPTH = 16
"""Arrays nest at most this deep (a transaction needs 3)."""


def encode(value: Any) -> bytes:
    """Encode a canonical value; refuses anything outside the canonical types."""
    _check(value, 0)
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def decode(data: bytes, *, what: str = "value") -> Any:
    """Decode canonical bytes; refuses malformed, trailing, non-shortest or non-canonical input.

    Arrays come back as lists; ``what`` names the thing in error messages.
    """
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
        )
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise InvalidEncoding(f"{what} is not valid msgpack: {error}") from None
    try:
        _check(value, 0)
    except InvalidEncoding as error:
        raise InvalidEncoding(f"{what}: {error}") from None
    if msgpack.packb(value, use_bin_type=True) != data:
        raise InvalidEncoding(f"{what} is not in canonical form (integers and lengths must use the shortest encoding)")
    return value


def encode_amount(amount: int) -> bytes:
    """An amount (0 to 2**128 - 1) as big-endian bytes without leading zeros (0 is empty)."""
    if not 0 <= amount < (1 << 128):
        raise InvalidEncoding(f"amount {amount} is outside 0..2**128-1")
    return amount.to_bytes((amount.bit_length() + 7) // 8, "big")


def decode_amount(data: Any, *, what: str = "amount") -> int:
    """The inverse of ``encode_amount``; refuses leading zeros and more than 16 bytes."""
    if not isinstance(data, bytes) or len(data) > 16 or data[:1] == b"\0":
        raise InvalidEncoding(f"{what} must be at most 16 big-endian bytes without leading zeros, found {data!r}")
    return int.from_bytes(data, "big")


_INT_MIN = -(1 << 63)
_INT_LIMIT = 1 << 64


def _check(value: Any, depth: int) -> None:
    """Refuse a value outside the canonical types (or nested deeper than ``MAX_DEPTH``).

    This runs on every decode and encode, about twenty times per
    transaction, so the common case is made cheap: exact ``int``, ``bytes``,
    ``str``, ``list`` and ``tuple`` (everything msgpack hands back) are
    recognised by their exact type, and the scalars inside an array are
    checked in its loop rather than by a call each.  Anything else (a bool,
    ``None``, a subclass such as an ``IntEnum``, a map, a float) goes to
    ``_check_other``, which applies the ``isinstance`` rules: what is
    accepted and refused, and every message, is the same on both paths.
    """
    kind = type(value)
    if kind is bytes or kind is str:
        return
    if kind is int:
        if not _INT_MIN <= value < _INT_LIMIT:
            raise InvalidEncoding(f"integer {value} does not fit in 64 bits")
        return
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise InvalidEncoding(f"arrays nested deeper than {MAX_DEPTH}")
        for item in value:
            kind = type(item)
            if kind is bytes or kind is str or (kind is int and _INT_MIN <= item < _INT_LIMIT):
                continue
            _check(item, depth + 1)  # an array, or something to refuse or look at closer
        return
    _check_other(value, depth)


def _check_other(value: Any, depth: int) -> None:
    """``_check`` for the values that are not of an exact canonical type."""
    if isinstance(value, msgpack.ExtType):  # a namedtuple: without this, it would pass as an array of two
        raise InvalidEncoding(f"a msgpack extension (type {value.code}) is not a canonical value")
    if isinstance(value, bool) or value is None:
        raise InvalidEncoding(f"{value!r} is not a canonical value (only integers, bytes, strings and arrays)")
    if isinstance(value, int):
        if not _INT_MIN <= value < _INT_LIMIT:
            raise InvalidEncoding(f"integer {value} does not fit in 64 bits")
        return
    if isinstance(value, (bytes, str)):
        return
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise InvalidEncoding(f"arrays nested deeper than {MAX_DEPTH}")
        for item in value:
            _check(item, depth + 1)
        return
    raise InvalidEncoding(
        f"a {type(value).__name__} is not a canonical value (only integers, bytes, strings and arrays)"
    )
