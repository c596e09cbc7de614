"""WIT values: JSON to msgpack and back, by the table of docs/abi.md ("Interfaces (WIT)").

Hypothesis draws random types (every kind, nested) and random values of
them: decoding an encoded value gives the value back, and encoding a decoded
value gives the same bytes (one value, one encoding).  Then each rule of the
table and each refusal, with its message.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmchain.vm.wit.syntax import parse_wit
from wasmchain.vm.wit.types import (
    AddressType,
    Bytes,
    Case,
    Enum,
    Field,
    ListOf,
    Method,
    OptionOf,
    Param,
    Prim,
    Record,
    ResultOf,
    TupleOf,
    U128Type,
    Variant,
    WitType,
    wit_key,
)
from wasmchain.vm.wit.values import (
    ArgumentError,
    ValueMismatch,
    check_args,
    decode_event,
    decode_result,
    decode_value,
    encode_args,
    encode_value,
    example,
)

U64, S64, BOOL, STRING = Prim("u64"), Prim("s64"), Prim("bool"), Prim("string")
ADDRESS, U128 = AddressType(), U128Type()
ALICE = "0x" + "a1" * 20

TOKEN = parse_wit("""\
package wasmchain:token;
interface types { type address = list<u8>; type u128 = list<u8>; }
interface view { use types.{address}; balance-of: func(owner: address) -> u64; }
interface events { use types.{address}; record transfer { %from: address, to: address, amount: u64 } }
world token {
    use types.{address, u128};
    export transfer: func(to: address, amount: u64);
    export mint: func(to: address, amount: u128, memo: option<string>);
    export ping: func();
    export pause: func(reason: option<string>);
    export nested: func(order: order-rec);
    export view;
    record order-rec { token-id: u64, tags: list<string>, note: option<string> }
}
""")


def method(name: str) -> Method:
    found = TOKEN.method(name)
    assert found is not None
    return found


# --- random types and values ----------------------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9]{0,4}(-[a-z0-9]{1,3}){0,2}", fullmatch=True)
LEAVES = st.sampled_from([U64, S64, BOOL, STRING, Bytes(), ADDRESS, U128])


def _members(children: st.SearchStrategy[WitType | None]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    return st.lists(st.tuples(NAMES, children), min_size=1, max_size=3, unique_by=lambda pair: pair[0])


def _compound(children: st.SearchStrategy[WitType]) -> st.SearchStrategy[WitType]:
    maybe = st.none() | children
    return st.one_of(
        children.map(ListOf),
        children.filter(lambda t: not isinstance(t, OptionOf)).map(OptionOf),
        st.lists(children, min_size=1, max_size=3).map(lambda items: TupleOf(tuple(items))),
        _members(children).map(lambda fs: Record("r", tuple(Field(n, wit_key(n), t) for n, t in fs))),
        _members(maybe).map(lambda cs: Variant("v", tuple(Case(n, wit_key(n), t) for n, t in cs))),
        _members(st.none()).map(lambda cs: Enum("e", tuple(Case(n, wit_key(n), None) for n, _ in cs))),
        st.tuples(maybe, maybe).map(lambda pair: ResultOf(*pair)),
    )


TYPES = st.recursive(LEAVES, _compound, max_leaves=6)


def values(t: WitType) -> st.SearchStrategy[Any]:
    """JSON-like values of ``t`` in their canonical form (what decoding gives)."""
    match t:
        case Prim("u64"):
            return st.integers(0, 2**64 - 1)
        case Prim("s64"):
            return st.integers(-(2**63), 2**63 - 1)
        case Prim("bool"):
            return st.booleans()
        case Prim(_):
            return st.text(max_size=10)
        case Bytes():
            return st.binary(max_size=24).map(lambda raw: "0x" + raw.hex())
        case AddressType():
            return st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
        case U128Type():
            return st.integers(0, 2**64 - 1) | st.integers(2**64, 2**128 - 1)
        case ListOf(item):
            return st.lists(values(item), max_size=3)
        case OptionOf(item):
            return st.none() | values(item)
        case TupleOf(items):
            return st.tuples(*(values(item) for item in items)).map(list)
        case Record(_, fields):
            return st.fixed_dictionaries({f.key: values(f.type) for f in fields})
        case Enum(_, cases):
            return st.sampled_from([c.key for c in cases])
        case Variant(_, cases):
            return st.one_of(
                *(
                    st.just(c.key) if c.type is None else values(c.type).map(lambda v, key=c.key: {key: v})
                    for c in cases
                )
            )
        case ResultOf(ok, err):
            return st.one_of(
                *(
                    st.just({key: None}) if inner is None else values(inner).map(lambda v, key=key: {key: v})
                    for key, inner in (("ok", ok), ("err", err))
                )
            )
    raise AssertionError(t)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[WitType, Any]:
    t = draw(TYPES)
    return t, draw(values(t))


@settings(max_examples=400, deadline=None)
@given(typed_values())
def test_decoding_an_encoded_value_gives_it_back(typed: tuple[WitType, Any]) -> None:
    t, value = typed
    data = encode_value(t, value)
    assert decode_value(t, data) == value
    assert encode_value(t, decode_value(t, data)) == data


@settings(max_examples=200, deadline=None)
@given(TYPES)
def test_every_example_fits_its_type(t: WitType) -> None:
    assert encode_value(t, example(t))
    assert example(t) == example(t)


@settings(max_examples=200, deadline=None)
@given(typed_values(), st.binary(max_size=12))
def test_decoding_anything_fits_or_raises_value_mismatch(typed: tuple[WitType, Any], junk: bytes) -> None:
    t, value = typed
    for data in (junk, encode_value(t, value) + junk, msgpack.packb([junk, {"x": junk}])):
        try:
            decode_value(t, data)
        except ValueMismatch as mismatch:
            assert str(mismatch).startswith("value")


# --- the table, row by row ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "t, value, packed",
    [
        (U64, 7, 7),
        (S64, -7, -7),
        (S64, 7, 7),
        (BOOL, True, True),
        (STRING, "hé", "hé"),
        (Bytes(), "0x0102", b"\x01\x02"),
        (ADDRESS, ALICE, bytes.fromhex("a1" * 20)),
        (U128, 2**64 - 1, 2**64 - 1),
        (U128, 2**64, (2**64).to_bytes(16, "big")),
        (U128, 2**128 - 1, b"\xff" * 16),
        (ListOf(U64), [1, 2], [1, 2]),
        (OptionOf(U64), None, None),
        (OptionOf(U64), 3, 3),
        (TupleOf((U64, STRING)), [1, "a"], [1, "a"]),
        (Enum("e", (Case("dark-blue", "dark_blue", None),)), "dark_blue", "dark_blue"),
        (Variant("v", (Case("none", "none", None), Case("some-x", "some_x", U64))), "none", "none"),
        (Variant("v", (Case("none", "none", None), Case("some-x", "some_x", U64))), {"some_x": 4}, {"some_x": 4}),
        (ResultOf(U64, STRING), {"ok": 1}, {"ok": 1}),
        (ResultOf(U64, STRING), {"err": "no"}, {"err": "no"}),
        (ResultOf(None, None), {"ok": None}, {"ok": None}),
    ],
)
def test_each_row_of_the_table(t: WitType, value: Any, packed: Any) -> None:
    data = encode_value(t, value)
    assert data == msgpack.packb(packed, use_bin_type=True)
    assert decode_value(t, data) == value


def test_records_are_maps_in_declaration_order() -> None:
    record = Record("r", (Field("b-key", "b_key", U64), Field("a", "a", OptionOf(STRING))))
    data = encode_value(record, {"a": "x", "b-key": 1})  # a WIT name is accepted for its key
    assert data == b"\x82\xa5b_key\x01\xa1a\xa1x"
    assert decode_value(record, data) == {"b_key": 1, "a": "x"}
    # A missing option is none, on both sides.
    assert encode_value(record, {"b_key": 1}) == msgpack.packb({"b_key": 1, "a": None})
    assert decode_value(record, msgpack.packb({"b_key": 1})) == {"b_key": 1, "a": None}


def test_inputs_people_give_are_accepted() -> None:
    assert encode_value(Bytes(), b"\x01") == encode_value(Bytes(), bytearray(b"\x01")) == b"\xc4\x01\x01"
    assert encode_value(ADDRESS, bytes(20)) == encode_value(ADDRESS, "0x" + "00" * 20)
    assert encode_value(ADDRESS, "0x" + "A1" * 20) == encode_value(ADDRESS, ALICE)
    assert encode_value(U128, str(2**100)) == encode_value(U128, 2**100)
    assert encode_value(TupleOf((U64, U64)), (1, 2)) == encode_value(TupleOf((U64, U64)), [1, 2])

    @dataclasses.dataclass
    class Account:
        address: bytes

    assert encode_value(ADDRESS, Account(bytes.fromhex("a1" * 20))) == encode_value(ADDRESS, ALICE)
    # Key names through the CLI's resolver.
    keys = {"dev1": bytes.fromhex("a1" * 20)}
    assert encode_value(ADDRESS, "dev1", resolve=keys.__getitem__) == encode_value(ADDRESS, ALICE)


# --- u128's canonical encoding -----------------------------------------------------------------------


def test_u128_has_one_encoding() -> None:
    assert decode_value(U128, msgpack.packb(5)) == 5
    assert decode_value(U128, (2**64).to_bytes(16, "big")[:0] + msgpack.packb((2**64).to_bytes(16, "big"))) == 2**64
    with pytest.raises(ValueMismatch) as below:
        decode_value(U128, msgpack.packb((5).to_bytes(16, "big")))
    assert str(below.value) == (
        "value: expected u128; found bin of 16 bytes holding 5, below 2^64: not canonical (a msgpack uint)"
    )
    for other in (b"\x01" * 15, b"\x01" * 17, -1, "5", 1.5, True):
        with pytest.raises(ValueMismatch, match="^value: expected u128; found "):
            decode_value(U128, msgpack.packb(other, use_bin_type=True))
    for bad in (-1, 2**128, "-1", "1e3", " 1", True, 1.0, "0x01"):
        with pytest.raises(ArgumentError, match="^value: expected u128, e.g. 1000; found "):
            encode_value(U128, bad)


# --- refusals -------------------------------------------------------------------------------------------

ENCODE_REFUSALS = [
    (U64, "ten", 'value: expected u64, e.g. 10; found the string "ten"'),
    (U64, -1, "value: expected u64, e.g. 10; found the integer -1, outside 0..18446744073709551615"),
    (U64, 2**64, "value: expected u64, e.g. 10; found the integer 18446744073709551616, outside"),
    (U64, True, "value: expected u64, e.g. 10; found true"),
    (U64, 1.0, "value: expected u64, e.g. 10; found the number 1.0"),
    (S64, 2**63, "value: expected s64, e.g. -10; found the integer 9223372036854775808, outside"),
    (BOOL, 1, "value: expected bool, e.g. true; found the integer 1"),
    (STRING, b"x", 'value: expected string, e.g. "text"; found 1 bytes'),
    (STRING, "\ud800", 'value: expected string, e.g. "text"; found a string that is not valid Unicode'),
    (Bytes(), "0102", 'value: expected list<u8>, e.g. "0x0102"; found the string "0102"'),
    (Bytes(), "0x123", 'value: expected list<u8>, e.g. "0x0102"; found the string "0x123"'),
    (Bytes(), "0xzz", 'value: expected list<u8>, e.g. "0x0102"; found the string "0xzz"'),
    (
        ADDRESS,
        "0x1234",
        'value: expected address, e.g. "0x1111111111111111111111111111111111111111"; found the '
        'string "0x1234": 2 bytes, not 20',
    ),
    (
        ADDRESS,
        "dev1",
        'value: expected address, e.g. "0x1111111111111111111111111111111111111111"; found the string "dev1"',
    ),
    (ListOf(U64), {"a": 1}, "value: expected list<u64>, e.g. [10]; found an object"),
    (ListOf(U64), [1, "x"], 'value[1]: expected u64, e.g. 10; found the string "x"'),
    (TupleOf((U64, U64)), [1], "value: expected tuple<u64, u64>, e.g. [10, 10]; found a list of 1 item"),
    (OptionOf(U64), "x", 'value: expected u64, e.g. 10; found the string "x"'),
    (
        Enum("color", (Case("red", "red", None),)),
        "blue",
        'value: expected color (one of "red"), e.g. "red"; found the string "blue"',
    ),
    (
        Variant("shape", (Case("none", "none", None), Case("circle", "circle", U64))),
        "circle",
        'value: expected shape (one of "none", {"circle": u64}), e.g. "none"; found the string "circle"',
    ),
    (
        Variant("shape", (Case("none", "none", None), Case("circle", "circle", U64))),
        {"circle": "big"},
        'value.circle: expected u64, e.g. 10; found the string "big"',
    ),
    (ResultOf(U64, None), {"err": 1}, "value.err must be null (no value)"),
    (ResultOf(U64, None), {"ok": 1, "err": None}, 'value: expected result<u64>, e.g. {"ok": 10}; found an object'),
    (Record("r", (Field("a", "a", U64),)), {}, "value.a is missing: expected u64, e.g. 10"),
    (Record("r", (Field("a", "a", U64),)), {"a": 1, "b": 2}, "value.b is not a field of record `r` (its fields: a)"),
    (Record("r", (Field("a-b", "a_b", U64),)), {"a_b": 1, "a-b": 2}, "value.a-b is given twice"),
]


@pytest.mark.parametrize("t, value, message", ENCODE_REFUSALS)
def test_each_encoding_refusal(t: WitType, value: Any, message: str) -> None:
    with pytest.raises(ArgumentError) as error:
        encode_value(t, value)
    assert str(error.value).startswith(message), str(error.value)


def test_an_argument_error_names_the_path_the_type_and_an_example() -> None:
    with pytest.raises(ArgumentError) as error:
        encode_args(method("transfer"), {"to": ALICE, "amount": "ten"})
    assert str(error.value) == 'argument "amount": expected u64, e.g. 10; found the string "ten"'
    assert (error.value.path, error.value.expected, error.value.example) == ("amount", "u64", 10)
    with pytest.raises(ArgumentError) as error:
        encode_args(method("nested"), {"order": {"token-id": 1, "tags": ["a", 2]}})
    assert str(error.value) == 'argument "order.tags[1]": expected string, e.g. "text"; found the integer 2'
    assert error.value.path == "order.tags[1]"


DECODE_REFUSALS = [
    (U64, b"", "value: expected u64; found no data"),
    (U64, b"\xc1", "value: expected u64; found not one well-formed msgpack value"),
    (U64, msgpack.packb(1) + b"\x01", "value: expected u64; found not one well-formed msgpack value"),
    (U64, msgpack.packb(-1), "value: expected u64; found the int -1"),
    (U64, msgpack.packb(1.5), "value: expected u64; found the float 1.5"),
    (S64, msgpack.packb(True), "value: expected s64; found true"),
    (STRING, msgpack.packb(b"x", use_bin_type=True), "value: expected string; found a bin of 1 bytes"),
    (Bytes(), msgpack.packb("x"), 'value: expected list<u8>; found a str "x"'),
    (ADDRESS, msgpack.packb(b"x" * 19, use_bin_type=True), "value: expected address; found a bin of 19 bytes"),
    (ListOf(U64), msgpack.packb({"a": 1}), "value: expected list<u64>; found a map of 1 entry"),
    (TupleOf((U64,)), msgpack.packb([1, 2]), "value: expected tuple<u64>; found an array of 2"),
    (Record("r", (Field("a", "a", U64),)), msgpack.packb({}), "value.a is missing (expected u64)"),
    (Record("r", (Field("a", "a", U64),)), msgpack.packb({"b": 1}), "value.b is not a field of record `r`"),
    (Record("r", (Field("a", "a", U64),)), msgpack.packb({1: 1}), "value has the key the int 1: keys are strings"),
    (Record("r", (Field("a", "a", U64),)), b"\x82\xa1a\x01\xa1a\x02", "value.a appears twice in the map"),
    (Enum("e", (Case("x", "x", None),)), msgpack.packb("y"), 'value: expected e; found a str "y"'),
    (ResultOf(None, None), msgpack.packb({"ok": 1}), "value: expected result; found a map of 1 entry"),
    (U64, msgpack.packb(msgpack.ExtType(1, b"")), "value: expected u64; found an ext value"),
]


@pytest.mark.parametrize("t, data, message", DECODE_REFUSALS)
def test_each_decoding_refusal(t: WitType, data: bytes, message: str) -> None:
    with pytest.raises(ValueMismatch) as error:
        decode_value(t, data)
    assert str(error.value).startswith(message), str(error.value)


# --- methods: arguments, results, events ---------------------------------------------------------------


def test_encode_args() -> None:
    data = encode_args(method("transfer"), {"amount": 5, "to": ALICE})
    assert data == msgpack.packb({"to": bytes.fromhex("a1" * 20), "amount": 5})
    check_args(method("transfer"), data)
    assert encode_args(method("ping"), None) == encode_args(method("ping"), {}) == b"\x80"
    # An omitted option is nil; a WIT name is accepted for a key.
    assert encode_args(method("pause"), {}) == msgpack.packb({"reason": None})
    order = encode_args(method("nested"), {"order": {"token-id": 1, "tags": []}})
    assert msgpack.unpackb(order) == {"order": {"token_id": 1, "tags": [], "note": None}}
    keys = {"dev1": bytes.fromhex("a1" * 20)}
    assert encode_args(method("transfer"), {"to": "dev1", "amount": 5}, keys.__getitem__) == data


ARGUMENT_REFUSALS = [
    ({"to": ALICE}, 'argument "amount" is missing: expected u64, e.g. 10 (transfer takes to: address, amount: u64)'),
    (
        {"to": ALICE, "amount": 1, "memo": "x"},
        'argument "memo" is not a parameter of transfer (transfer takes to: address, amount: u64)',
    ),
    ({"to": ALICE, "amount": "ten"}, 'argument "amount": expected u64, e.g. 10; found the string "ten"'),
    (
        {"to": "dev9", "amount": 1},
        'argument "to": expected address, e.g. "0x1111111111111111111111111111111111111111"; found the string '
        '"dev9": no key named dev9',
    ),
    ([1, 2], "arguments: expected an object of the parameters (transfer takes to: address, amount: u64); found"),
]


@pytest.mark.parametrize("args, message", ARGUMENT_REFUSALS)
def test_each_argument_refusal(args: Any, message: str) -> None:
    def resolve(name: str) -> bytes:
        raise ValueError(f"no key named {name}")

    with pytest.raises(ArgumentError) as error:
        encode_args(method("transfer"), args, resolve)
    assert str(error.value).startswith(message), str(error.value)


CHECK_REFUSALS = [
    (msgpack.packb({"to": b"a" * 20}), 'argument "amount" is missing: expected u64, e.g. 10 (transfer takes'),
    (msgpack.packb({"to": b"a" * 20, "amount": -1}), 'argument "amount": expected u64, e.g. 10; found the int -1'),
    (
        msgpack.packb({"to": b"a" * 20, "amount": 1, "x": 1}),
        'argument "x" is not a parameter of transfer (transfer takes to: address, amount: u64)',
    ),
    (msgpack.packb({"to": "dev1", "amount": 1}), 'argument "to": expected address, e.g. "0x11'),
    (msgpack.packb([1]), "arguments must be a msgpack map of the parameters (transfer takes to: address, amount: "),
    (
        b"\x80\x00",
        "arguments must be a msgpack map of the parameters (transfer takes to: address, amount: u64); found not",
    ),
    (b"\x82\xa2to\x01\xa2to\x02", 'argument "to" appears twice in the map'),
]


@pytest.mark.parametrize("data, message", CHECK_REFUSALS)
def test_each_check_args_refusal(data: bytes, message: str) -> None:
    with pytest.raises(ArgumentError) as error:
        check_args(method("transfer"), data)
    assert str(error.value).startswith(message), str(error.value)


def test_check_args_takes_empty_data_as_an_empty_map() -> None:
    check_args(method("ping"), b"")
    check_args(method("pause"), b"")
    with pytest.raises(ArgumentError, match='argument "to" is missing'):
        check_args(method("transfer"), b"")


def test_decode_result() -> None:
    assert decode_result(method("ping"), b"") is None
    assert decode_result(method("balance-of"), msgpack.packb(7)) == 7
    with pytest.raises(ValueMismatch, match="^result: ping returns nothing; found 1 bytes$"):
        decode_result(method("ping"), b"\xc0")
    with pytest.raises(ValueMismatch, match='^result: expected u64; found a str "x"$'):
        decode_result(method("balance-of"), msgpack.packb("x"))


def test_decode_event() -> None:
    data = msgpack.packb({"from": b"\xa1" * 20, "to": b"\xb2" * 20, "amount": 3}, use_bin_type=True)
    assert decode_event(TOKEN, "Transfer", data) == {"from": ALICE, "to": "0x" + "b2" * 20, "amount": 3}
    with pytest.raises(ValueMismatch, match="^Transfer.amount is missing"):
        decode_event(TOKEN, "Transfer", msgpack.packb({"from": b"\xa1" * 20, "to": b"\xb2" * 20}))
    with pytest.raises(LookupError, match='^the interface declares no event "Minted" \\(its events: Transfer\\)$'):
        decode_event(TOKEN, "Minted", data)


def test_examples() -> None:
    assert [example(p.type) for p in method("mint").params] == ["0x" + "11" * 20, 1000, "text"]
    assert example(method("nested").params[0].type) == {"token_id": 10, "tags": ["text"], "note": "text"}
    assert example(ResultOf(None, U64)) == {"ok": None}
    assert example(Param("p", "p", S64).type) == -10
