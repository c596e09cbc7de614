"""Values of WIT types: JSON (what people and tools write and read) to msgpack (what contracts read and write).

The mapping is the table of docs/abi.md, "Interfaces (WIT)".  The JSON side
is a Python value as ``json.loads`` gives it, plus ``bytes`` wherever bytes
or an address are expected; integers are ``int`` (never ``bool``, never
``float``); bytes and addresses come back as lowercase ``0x`` hex strings and
a ``u128`` as an ``int``.  Records and argument maps are written in their
declaration order, so one value has one encoding.

Encoding refuses with ``ArgumentError`` (the path of the bad value, the type
it should have, an example of one, what was found); decoding what a contract
returned or emitted refuses with ``ValueMismatch``.  Both are pure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgpack

from .types import (
    AddressType,
    Bytes,
    Enum,
    Interface,
    ListOf,
    Method,
    OptionOf,
    Prim,
    Record,
    ResultOf,
    TupleOf,
    U128Type,
    Variant,
    WitType,
    wit_name,
)

U64_MAX: Final = (1 << 64) - 1
S64_MIN: Final = -(1 << 63)
S64_MAX: Final = (1 << 63) - 1
U128_MAX: Final = (1 << 128) - 1
ADDRESS_BYTES: Final = 20
U128_BYTES: Final = 16
MAX_SHOWN: Final = 60
"""Characters of a found string a message shows."""

Resolve = Callable[[str], bytes]
"""Turns a name given for an address (a CLI key name) into its 20 bytes, or raises ``ValueError(message)``."""


class ArgumentError(ValueError):
    """A value that does not fit its type, found before anything is signed or sent.

    ``path`` names the value (``amount``, ``order.items[2]``), ``expected`` its
    type, ``example`` a JSON value of that type; ``str()`` says all of it and
    what was found: ``argument "amount": expected u64, e.g. 10; found the string "ten"``.
    """

    def __init__(self, path: str, expected: str, example: Any, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.example = example


class ValueMismatch(ValueError):
    """Data a contract returned or emitted that does not fit its declared type (``path``: where in it)."""

    def __init__(self, path: str, expected: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected


class _Mismatch(Exception):
    """Internal: where a value did not fit, turned into ``ArgumentError`` or ``ValueMismatch`` at the boundary."""

    def __init__(self, path: str, t: WitType | None, found: str, problem: str = "", expected: str = "") -> None:
        self.path = path
        self.type = t
        self.found = found
        self.problem = problem
        self.expected = expected or ("" if t is None else wit_name(t))
        """The type as a message names it (an enum's or variant's with its cases)."""
        """Set for anything but a value of the wrong type (a missing or unknown key): the whole sentence."""


def example(t: WitType) -> Any:
    """A JSON example value of type ``t`` (deterministic: the same for the same type)."""
    match t:
        case Prim("u64"):
            return 10
        case Prim("s64"):
            return -10
        case Prim("bool"):
            return True
        case Prim(_):
            return "text"
        case Bytes():
            return "0x0102"
        case AddressType():
            return "0x" + "11" * ADDRESS_BYTES
        case U128Type():
            return 1000
        case ListOf(item):
            return [example(item)]
        case OptionOf(item):
            return example(item)
        case TupleOf(items):
            return [example(item) for item in items]
        case Record(_, fields):
            return {f.key: example(f.type) for f in fields}
        case Enum(_, cases):
            return cases[0].key
        case Variant(_, cases):
            case = cases[0]
            return case.key if case.type is None else {case.key: example(case.type)}
        case ResultOf(ok, _):
            return {"ok": None if ok is None else example(ok)}
    raise TypeError(f"not a WIT type: {t!r}")


def describe(value: Any) -> str:
    """What a message says was found."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{len(value)} bytes"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, _Map):
        return "a map"
    if isinstance(value, Mapping):
        return "an object"
    return f"a value of type {type(value).__name__}"


def _signature_params(method: Method) -> str:
    return ", ".join(f"{p.key}: {wit_name(p.type)}" for p in method.params) or "no arguments"


def _argument_error(mismatch: _Mismatch, root_is_argument: bool) -> ArgumentError:
    t = mismatch.type
    sample = None if t is None else example(t)
    subject = f'argument "{mismatch.path}"' if root_is_argument else mismatch.path
    if mismatch.problem:
        message = f"{subject} {mismatch.problem}"
    else:
        message = f"{subject}: expected {mismatch.expected}, e.g. {json.dumps(sample)}; found {mismatch.found}"
    return ArgumentError(mismatch.path, "" if t is None else wit_name(t), sample, message)


# -- JSON to msgpack ----------------------------------------------------------------------------------------------


class _Encoder:
    def __init__(self, resolve: Resolve | None) -> None:
        self.resolve = resolve

    def value(self, t: WitType, v: Any, path: str) -> Any:
        match t:
            case Prim("u64"):
                return self.integer(t, v, path, 0, U64_MAX)
            case Prim("s64"):
                return self.integer(t, v, path, S64_MIN, S64_MAX)
            case Prim("bool"):
                if not isinstance(v, bool):
                    raise _Mismatch(path, t, describe(v))
                return v
            case Prim(_):
                if not isinstance(v, str):
                    raise _Mismatch(path, t, describe(v))
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise _Mismatch(path, t, "a string that is not valid Unicode (a lone surrogate)") from None
                return v
            case Bytes():
                return self.bytes_of(t, v, path)
            case AddressType():
                return self.address(t, v, path)
            case U128Type():
                if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 40:
                    v = int(v)
                number = self.integer(t, v, path, 0, U128_MAX)
                return number if number <= U64_MAX else number.to_bytes(U128_BYTES, "big")
            case ListOf(item):
                if not isinstance(v, list | tuple):
                    raise _Mismatch(path, t, describe(v))
                return [self.value(item, x, f"{path}[{i}]") for i, x in enumerate(v)]
            case OptionOf(item):
                return None if v is None else self.value(item, v, path)
            case TupleOf(items):
                if not isinstance(v, list | tuple) or len(v) != len(items):
                    raise _Mismatch(path, t, describe(v))
                return [self.value(item, x, f"{path}[{i}]") for i, (item, x) in enumerate(zip(items, v))]
            case Record(name, fields):
                if not isinstance(v, Mapping):
                    raise _Mismatch(path, t, describe(v))
                given = _named_keys(v, [(f.key, f.name) for f in fields], path, f"field of record `{name}`", t)
                out = {}
                for f in fields:
                    if f.key in given:
                        out[f.key] = self.value(f.type, given[f.key], f"{path}.{f.key}")
                    elif isinstance(f.type, OptionOf):
                        out[f.key] = None
                    else:
                        raise _missing(f"{path}.{f.key}", f.type)
                return out
            case Enum(_, cases):
                for case in cases:
                    if isinstance(v, str) and v in (case.key, case.name):
                        return case.key
                raise _Mismatch(path, t, describe(v), expected=_one_of(t))
            case Variant(_, cases):
                if isinstance(v, str):
                    for case in cases:
                        if v in (case.key, case.name) and case.type is None:
                            return case.key
                elif isinstance(v, Mapping) and len(v) == 1:
                    ((key, payload),) = v.items()
                    for case in cases:
                        if key in (case.key, case.name) and case.type is not None:
                            return {case.key: self.value(case.type, payload, f"{path}.{case.key}")}
                raise _Mismatch(path, t, describe(v), expected=_one_of(t))
            case ResultOf(ok, err):
                if isinstance(v, Mapping) and len(v) == 1:
                    ((key, payload),) = v.items()
                    if key in ("ok", "err"):
                        inner = ok if key == "ok" else err
                        if inner is None:
                            if payload is not None:
                                raise _Mismatch(f"{path}.{key}", None, describe(payload), "must be null (no value)")
                            return {key: None}
                        return {key: self.value(inner, payload, f"{path}.{key}")}
                raise _Mismatch(path, t, describe(v))
        raise TypeError(f"not a WIT type: {t!r}")

    def integer(self, t: WitType, v: Any, path: str, low: int, high: int) -> int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise _Mismatch(path, t, describe(v))
        if not low <= v <= high:
            raise _Mismatch(path, t, f"{describe(v)}, outside {low}..{high}")
        return v

    def bytes_of(self, t: WitType, v: Any, path: str) -> bytes:
        if isinstance(v, bytes | bytearray | memoryview):
            return bytes(v)
        if isinstance(v, str) and v.startswith("0x") and len(v) % 2 == 0:
            try:
                return bytes.fromhex(v[2:])
            except ValueError:
                pass
        raise _Mismatch(path, t, describe(v))

    def address(self, t: WitType, v: Any, path: str) -> bytes:
        if not isinstance(v, str | bytes | bytearray | memoryview):
            # An object that knows its address (the client's Account and Contract).
            v = getattr(v, "address", v)
        if isinstance(v, str) and not v.startswith("0x") and self.resolve is not None:
            try:
                raw = self.resolve(v)
            except ValueError as error:
                raise _Mismatch(path, t, f"{describe(v)}: {error}") from None
        else:
            raw = self.bytes_of(t, v, path)
        if len(raw) != ADDRESS_BYTES:
            raise _Mismatch(
                path, t, f"{describe(v)}: {len(raw)} byte{'' if len(raw) == 1 else 's'}, not {ADDRESS_BYTES}"
            )
        return raw


def _one_of(t: Enum | Variant) -> str:
    cases = ", ".join(
        json.dumps(c.key) if c.type is None else f"{{{json.dumps(c.key)}: {wit_name(c.type)}}}" for c in t.cases
    )
    return f"{wit_name(t)} (one of {cases})"


def _missing(path: str, t: WitType) -> _Mismatch:
    return _Mismatch(path, t, "", f"is missing: expected {wit_name(t)}, e.g. {json.dumps(example(t))}")


def _named_keys(
    given: Mapping[Any, Any], keys: list[tuple[str, str]], path: str, owner: str, t: WitType | None
) -> dict[str, Any]:
    """``given`` keyed by field/param key, a WIT name accepted for its key; unknown or doubled keys refused."""
    by_name = {name: key for key, name in keys}
    by_key = {key: key for key, _ in keys}
    out: dict[str, Any] = {}
    for raw, value in given.items():
        key = by_key.get(raw, by_name.get(raw)) if isinstance(raw, str) else None
        where = f"{path}.{raw}" if path else str(raw)
        if key is None:
            listing = f" (its fields: {', '.join(key for key, _ in keys)})" if path else ""
            raise _Mismatch(where, None, "", f"is not a {owner}{listing}")
        if key in out:
            raise _Mismatch(where, None, "", f"is given twice (as {key!r} and as its WIT name)")
        out[key] = value
    return out


def encode_value(t: WitType, value: Any, path: str = "value", resolve: Resolve | None = None) -> bytes:
    """The msgpack of a JSON-like ``value`` of type ``t``; ``ArgumentError`` if it does not fit."""
    try:
        packed: bytes = msgpack.packb(_Encoder(resolve).value(t, value, path), use_bin_type=True)
    except _Mismatch as mismatch:
        raise _argument_error(mismatch, root_is_argument=False) from None
    return packed


def encode_args(method: Method, args: Mapping[str, Any] | None, resolve: Resolve | None = None) -> bytes:
    """A method's arguments (param key or WIT name -> JSON-like value) as its msgpack args map.

    Keys come out in declaration order, an omitted option as nil.  A missing,
    unknown or badly typed argument raises ``ArgumentError`` naming it, its
    type and an example, and listing the method's parameters.
    """
    signature = f"{method.name} takes {_signature_params(method)}"
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise ArgumentError(
            "",
            "",
            {p.key: example(p.type) for p in method.params},
            f"arguments: expected an object of the parameters ({signature}); found {describe(args)}",
        )
    encoder = _Encoder(resolve)
    try:
        given = _named_keys(args, [(p.key, p.name) for p in method.params], "", f"parameter of {method.name}", None)
        out = {}
        for param in method.params:
            if param.key in given:
                out[param.key] = encoder.value(param.type, given[param.key], param.key)
            elif isinstance(param.type, OptionOf):
                out[param.key] = None
            else:
                raise _missing(param.key, param.type)
    except _Mismatch as mismatch:
        error = _argument_error(mismatch, root_is_argument=True)
        if mismatch.problem:
            error.args = (f"{error} ({signature})",)
        raise error from None
    packed: bytes = msgpack.packb(out, use_bin_type=True)
    return packed


# -- msgpack to JSON ----------------------------------------------------------------------------------------------


class _Map(list[tuple[Any, Any]]):
    """A decoded msgpack map as its pairs, so that a doubled key is seen rather than silently dropped."""


def _unpack(data: bytes, path: str, t: WitType | None) -> Any:
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=False, object_pairs_hook=_Map, use_list=True, timestamp=0
        )
    except (ValueError, msgpack.UnpackException) as error:
        detail = "no data" if not data else f"not one well-formed msgpack value ({type(error).__name__})"
        raise _Mismatch(path, t, detail) from None


def _decode(t: WitType, v: Any, path: str) -> Any:
    match t:
        case Prim("u64"):
            if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= U64_MAX:
                return v
        case Prim("s64"):
            if isinstance(v, int) and not isinstance(v, bool) and S64_MIN <= v <= S64_MAX:
                return v
        case Prim("bool"):
            if isinstance(v, bool):
                return v
        case Prim(_):
            if isinstance(v, str):
                return v
        case Bytes():
            if isinstance(v, bytes):
                return "0x" + v.hex()
        case AddressType():
            if isinstance(v, bytes) and len(v) == ADDRESS_BYTES:
                return "0x" + v.hex()
        case U128Type():
            if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= U64_MAX:
                return v
            if isinstance(v, bytes) and len(v) == U128_BYTES:
                number = int.from_bytes(v, "big")
                if number > U64_MAX:
                    return number
                raise _Mismatch(
                    path, t, f"bin of 16 bytes holding {number}, below 2^64: not canonical (a msgpack uint)"
                )
        case ListOf(item):
            if isinstance(v, list) and not isinstance(v, _Map):
                return [_decode(item, x, f"{path}[{i}]") for i, x in enumerate(v)]
        case OptionOf(item):
            return None if v is None else _decode(item, v, path)
        case TupleOf(items):
            if isinstance(v, list) and not isinstance(v, _Map) and len(v) == len(items):
                return [_decode(item, x, f"{path}[{i}]") for i, (item, x) in enumerate(zip(items, v))]
        case Record(name, fields):
            if isinstance(v, _Map):
                given = _map_keys(v, [f.key for f in fields], path, f"field of record `{name}`")
                out = {}
                for f in fields:
                    if f.key in given:
                        out[f.key] = _decode(f.type, given[f.key], f"{path}.{f.key}")
                    elif isinstance(f.type, OptionOf):
                        out[f.key] = None
                    else:
                        raise _Mismatch(f"{path}.{f.key}", f.type, "", f"is missing (expected {wit_name(f.type)})")
                return out
        case Enum(_, cases):
            if isinstance(v, str) and any(c.key == v for c in cases):
                return v
        case Variant(_, cases):
            if isinstance(v, str) and any(c.key == v and c.type is None for c in cases):
                return v
            if isinstance(v, _Map) and len(v) == 1 and isinstance(v[0][0], str):
                key, payload = v[0]
                for case in cases:
                    if case.key == key and case.type is not None:
                        return {key: _decode(case.type, payload, f"{path}.{key}")}
        case ResultOf(ok, err):
            if isinstance(v, _Map) and len(v) == 1 and v[0][0] in ("ok", "err"):
                key, payload = v[0]
                inner = ok if key == "ok" else err
                if inner is None:
                    if payload is None:
                        return {key: None}
                else:
                    return {key: _decode(inner, payload, f"{path}.{key}")}
        case _:
            raise TypeError(f"not a WIT type: {t!r}")
    raise _Mismatch(path, t, _describe_msgpack(v))


def _describe_msgpack(v: Any) -> str:
    if isinstance(v, bytes):
        return f"a bin of {len(v)} bytes"
    if isinstance(v, str):
        return "a str " + describe(v).removeprefix("the string ")
    if isinstance(v, int) and not isinstance(v, bool):
        return f"the int {v}"
    if isinstance(v, float):
        return f"the float {v!r}"
    if isinstance(v, _Map):
        return f"a map of {len(v)} entr{'y' if len(v) == 1 else 'ies'}"
    if isinstance(v, list):
        return f"an array of {len(v)}"
    if isinstance(v, msgpack.ExtType | msgpack.Timestamp):
        return "an ext value"
    return "nil" if v is None else describe(v)


def _map_keys(pairs: _Map, keys: list[str], path: str, owner: str) -> dict[str, Any]:
    known = set(keys)
    out: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise _Mismatch(path, None, "", f"has the key {_describe_msgpack(key)}: keys are strings")
        where = f"{path}.{key}" if path else key
        if key not in known:
            listing = f" (its fields: {', '.join(keys)})" if path else ""
            raise _Mismatch(where, None, "", f"is not a {owner}{listing}")
        if key in out:
            raise _Mismatch(where, None, "", "appears twice in the map")
        out[key] = value
    return out


def _value_mismatch(mismatch: _Mismatch) -> ValueMismatch:
    expected = "" if mismatch.type is None else wit_name(mismatch.type)
    if mismatch.problem:
        return ValueMismatch(mismatch.path, expected, f"{mismatch.path} {mismatch.problem}")
    return ValueMismatch(mismatch.path, expected, f"{mismatch.path}: expected {expected}; found {mismatch.found}")


def decode_value(t: WitType, data: bytes, path: str = "value") -> Any:
    """The JSON-like value of msgpack ``data`` of type ``t``; ``ValueMismatch`` if it does not fit."""
    try:
        return _decode(t, _unpack(data, path, t), path)
    except _Mismatch as mismatch:
        raise _value_mismatch(mismatch) from None


def decode_result(method: Method, data: bytes) -> Any:
    """A method's return data decoded with its result type (None for no result type and no data)."""
    if method.result is None:
        if data:
            raise ValueMismatch("result", "", f"result: {method.name} returns nothing; found {len(data)} bytes")
        return None
    return decode_value(method.result, data, "result")


def decode_event(interface: Interface, name: str, data: bytes) -> Any:
    """An event's data decoded with its record; ``LookupError`` if the interface declares no such event."""
    event = interface.event(name)
    if event is None:
        declared = ", ".join(e.event for e in interface.events) or "none"
        raise LookupError(f"the interface declares no event {json.dumps(name)} (its events: {declared})")
    return decode_value(event.record, data, name)


def check_args(method: Method, data: bytes) -> None:
    """Check raw msgpack args (a signed transaction's) against the params; ``ArgumentError`` if they do not fit.

    Keys must be the param keys (the SDK reads those); empty data is an empty map.
    """

    def signature() -> str:  # formatted only for an error message
        return f"{method.name} takes {_signature_params(method)}"

    try:
        value = _unpack(data, "", None) if data else _Map()
        if not isinstance(value, _Map):
            raise _Mismatch(
                "",
                None,
                "",
                f"must be a msgpack map of the parameters ({signature()}); found {_describe_msgpack(value)}",
            )
        given = _map_keys(value, [p.key for p in method.params], "", f"parameter of {method.name}")
        for param in method.params:
            if param.key in given:
                _decode(param.type, given[param.key], param.key)
            elif not isinstance(param.type, OptionOf):
                raise _missing(param.key, param.type)
    except _Mismatch as mismatch:
        if not mismatch.path:
            problem = (
                mismatch.problem or f"must be a msgpack map of the parameters ({signature()}); found {mismatch.found}"
            )
            raise ArgumentError("", "", None, f"arguments {problem}") from None
        error = _argument_error(mismatch, root_is_argument=True)
        if mismatch.problem:
            error.args = (f"{error} ({signature()})",)
        raise error from None
