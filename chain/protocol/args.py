"""Call arguments and return values: JSON for people, msgpack for contracts.

The SDK's convention (docs/abi.md) is that a method's input is a msgpack
map and its return value is msgpack.  Tools accept and print JSON, with
one rule for bytes, which JSON lacks: a string of ``0x`` followed by an even
number of hex digits is bytes (msgpack ``bin``), and any other string starting
with ``0x`` is refused (a mistyped address, not text).  So an address printed as
``0x5f3e...`` can be pasted into ``--args`` and reaches the contract as the
20 bytes it names; and ``bin`` in a return value prints the same way.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.hexstr import from_0x


class ArgsError(ChainError):
    """Arguments that cannot be encoded for a contract."""

    reason = "invalid_args"


def encode_args(value: Any) -> bytes:
    """Encode a JSON value (already parsed) as msgpack, with ``0x`` strings as bytes."""
    packed: bytes = msgpack.packb(_to_msgpack(value, "args"), use_bin_type=True)
    return packed


def parse_args(text: str) -> bytes:
    """Parse JSON text and encode it; the error names what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArgsError(f"--args is not valid JSON: {error}") from None
    return encode_args(value)


def _to_msgpack(value: Any, where: str) -> Any:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return from_0x(value)
        except ValueError:
            raise ArgsError(
                f"{where}: {json.dumps(value[:70])} starts with 0x but is not an even number of hex digits "
                "(a 0x string is bytes, e.g. an address: 0x and 40 hex digits, no spaces)"
            ) from None
    if isinstance(value, float):
        raise ArgsError(f"{where}: {value!r} is not an integer; contracts take no floats")
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(1 << 63) <= value < (1 << 64):
            raise ArgsError(f"{where}: {value} does not fit in 64 bits")
        return value
    if isinstance(value, list):
        return [_to_msgpack(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _to_msgpack(item, f"{where}.{key}") for key, item in value.items()}
    return value


def decode_value(data: bytes) -> Any:
    """Decode msgpack return data for display; ``None`` when it is empty or not msgpack.

    Bytes come back as ``0x`` hex strings; maps keep their keys as strings.
    """
    if not data:
        return None
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    return _to_json(value)


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(_to_json(key)): _to_json(item) for key, item in value.items()}
    if isinstance(value, msgpack.ExtType):
        return {"ext": value.code, "data": "0x" + value.data.hex()}
    return value
