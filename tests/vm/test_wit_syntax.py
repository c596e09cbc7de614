"""The WIT parser: what the subset accepts and resolves to, every refusal with its message, and its bounds.

Every construct the subset refuses (docs/abi.md, "Interfaces (WIT)") has a
case here with the message and the line:column it must give.  Hostile
text is bounded: any text raises ``WitError`` or parses, never anything
else, and long alias or ``use`` chains do not recurse.
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmchain.vm.wit.syntax import KEYWORDS, parse_wit, tokenize
from wasmchain.vm.wit.types import (
    MAX_TYPE_DEPTH,
    MAX_TYPE_NODES,
    MAX_WIT_BYTES,
    SECTION_NAME,
    AddressType,
    Bytes,
    Case,
    Enum,
    Field,
    Interface,
    ListOf,
    OptionOf,
    Prim,
    Record,
    ResultOf,
    TupleOf,
    U128Type,
    Variant,
    WitError,
    event_name,
    signature,
    type_to_json,
    wit_name,
)

TOKEN = """\
/// A fungible token.
package wasmchain:token;

interface types {
    /// A 20-byte account or contract address.
    type address = list<u8>;
}

/// Read-only methods.
interface view {
    use types.{address};
    /// The balance of `owner`.
    balance-of: func(owner: address) -> u64;
    total-supply: func() -> u64;
}

interface events {
    use types.{address};
    /// Tokens moved.
    record transfer { %from: address, to: address, amount: u64 }
}

/// The token contract.
world token {
    use types.{address};
    /// Mint `supply` to the deployer.
    export init: func(supply: u64);
    /// Move `amount` of the caller's tokens to `to`.
    export transfer: func(to: address, amount: u64);
    export view;
}
"""

VAULT = """\
package wasmchain:vault;

interface types {
    type address = list<u8>;
}

interface view {
    use types.{address};
    balance: func() -> u64;
    token: func() -> address;
}

world vault {
    use types.{address};
    export init: func(token: address);
    export withdraw: func(to: address, amount: u64);
    export view;
}
"""

COUNTER = """\
package wasmchain:counter;

interface view {
    get: func() -> u64;
}

world counter {
    /// Add one and return the new count.
    export increment: func() -> u64;
    export view;
}
"""

ADDRESS = AddressType()
U64 = Prim("u64")


def world(body: str, types: str = "") -> str:
    """A package whose world holds ``body`` and whose interface ``types`` holds ``types``."""
    return (
        "package test:pkg;\n"
        "interface types {\n"
        "    type address = list<u8>;\n"
        "    type u128 = list<u8>;\n"
        f"    {types}\n"
        "}\n"
        "world w {\n"
        "    use types.{address, u128};\n"
        f"    {body}\n"
        "}\n"
    )


def refused(text: str) -> str:
    with pytest.raises(WitError) as error:
        parse_wit(text)
    return str(error.value)


# --- the example worlds --------------------------------------------------------------------


def test_the_token_world() -> None:
    interface = parse_wit(TOKEN)
    assert (interface.package, interface.world, interface.docs, interface.text) == (
        "wasmchain:token",
        "token",
        "The token contract.",
        TOKEN,
    )
    assert [(m.name, m.export, m.readonly, m.interface) for m in interface.methods] == [
        ("init", "init", False, None),
        ("transfer", "transfer", False, None),
        ("balance-of", "balance_of", True, "view"),
        ("total-supply", "total_supply", True, "view"),
    ]
    assert [signature(m) for m in interface.methods] == [
        "init(supply: u64)",
        "transfer(to: address, amount: u64)",
        "balance-of(owner: address) -> u64",
        "total-supply() -> u64",
    ]
    transfer = interface.method("transfer")
    assert transfer is not None and transfer.docs == "Move `amount` of the caller's tokens to `to`."
    balance_of = interface.method("balance-of")
    assert balance_of is interface.method("balance_of")
    assert balance_of is not None and balance_of.docs == "The balance of `owner`."
    assert [(p.name, p.key, p.type) for p in balance_of.params] == [("owner", "owner", ADDRESS)]
    assert balance_of.result == U64
    assert interface.method("nothing") is None
    [event] = interface.events
    assert (event.name, event.event, event.docs) == ("transfer", "Transfer", "Tokens moved.")
    assert event.record == Record(
        "transfer",
        (Field("from", "from", ADDRESS), Field("to", "to", ADDRESS), Field("amount", "amount", U64)),
        "Tokens moved.",
    )
    assert interface.event("Transfer") is event and interface.event("transfer") is None


def test_the_vault_and_counter_worlds() -> None:
    vault = parse_wit(VAULT)
    assert [signature(m) for m in vault.methods] == [
        "init(token: address)",
        "withdraw(to: address, amount: u64)",
        "balance() -> u64",
        "token() -> address",
    ]
    assert [m.readonly for m in vault.methods] == [False, False, True, True]
    assert vault.events == ()
    counter = parse_wit(COUNTER)
    assert [(signature(m), m.readonly, m.docs) for m in counter.methods] == [
        ("increment() -> u64", False, "Add one and return the new count."),
        ("get() -> u64", True, ""),
    ]


def test_the_interface_as_json() -> None:
    document = parse_wit(TOKEN).to_json()
    assert json.loads(json.dumps(document)) == document
    assert document["section"] == SECTION_NAME == "wasmchain:wit"
    assert (document["package"], document["world"], document["wit"]) == ("wasmchain:token", "token", TOKEN)
    assert document["methods"][2] == {
        "name": "balance-of",
        "export": "balance_of",
        "readonly": True,
        "docs": "The balance of `owner`.",
        "interface": "view",
        "params": [{"name": "owner", "key": "owner", "type": {"kind": "address", "wit": "address"}}],
        "result": {"kind": "u64", "wit": "u64"},
        "signature": "balance-of(owner: address) -> u64",
    }
    assert document["events"] == [
        {
            "name": "transfer",
            "event": "Transfer",
            "docs": "Tokens moved.",
            "fields": [
                {"name": "from", "key": "from", "docs": "", "type": {"kind": "address", "wit": "address"}},
                {"name": "to", "key": "to", "docs": "", "type": {"kind": "address", "wit": "address"}},
                {"name": "amount", "key": "amount", "docs": "", "type": {"kind": "u64", "wit": "u64"}},
            ],
        }
    ]


def test_parsing_is_deterministic() -> None:
    first = parse_wit(TOKEN)
    assert all(parse_wit(TOKEN) == first for _ in range(3))
    assert json.dumps(first.to_json()) == json.dumps(parse_wit(TOKEN).to_json())


# --- names --------------------------------------------------------------------------------------


def test_names_map_to_exports_keys_and_events() -> None:
    text = world(
        "export balance-of: func(token-id: u64, %from: address) -> u64;\n"
        "export parse-XML: func();\n"
        "export sha-256: func();\n",
    ).replace(
        "interface types {",
        "interface events { record token-minted { token-id: u64 } record NFT-sold { buyer-addr: string } }\n"
        "interface types {",
    )
    interface = parse_wit(text)
    assert [m.export for m in interface.methods] == ["balance_of", "parse_XML", "sha_256"]
    [method, *_] = interface.methods
    assert [(p.name, p.key) for p in method.params] == [("token-id", "token_id"), ("from", "from")]
    assert [(e.name, e.event, [f.key for f in e.record.fields]) for e in interface.events] == [
        ("token-minted", "TokenMinted", ["token_id"]),
        ("NFT-sold", "NFTSold", ["buyer_addr"]),
    ]
    assert event_name("transfer") == "Transfer"


# --- types --------------------------------------------------------------------------------------


def test_every_type_of_the_subset_resolves() -> None:
    types = (
        "record point { x: s64, y: s64, }\n"
        "variant shape { none, circle(u64), polygon(list<point>) }\n"
        "enum color { red, dark-blue }\n"
        "type amounts = list<u128>;\n"
        "type later = defined-after;\n"
        "record defined-after { flag: bool }\n"
    )
    body = (
        "use types.{point, shape, color as colour, amounts, later};\n"
        "export f: func(a: u64, b: s64, c: bool, d: string, e: list<u8>, g: address, h: u128,\n"
        "    i: list<address>, j: option<string>, k: tuple<u64, string,>, l: point, m: shape, n: colour,\n"
        "    o: amounts, p: later) -> result<list<point>, string>;\n"
        "export r1: func() -> result;\n"
        "export r2: func() -> result<u64>;\n"
        "export r3: func() -> result<_, colour>;\n"
    )
    interface = parse_wit(world(body, types))
    point = Record("point", (Field("x", "x", Prim("s64")), Field("y", "y", Prim("s64"))))
    f = interface.methods[0]
    assert [p.type for p in f.params] == [
        U64,
        Prim("s64"),
        Prim("bool"),
        Prim("string"),
        Bytes(),
        ADDRESS,
        U128Type(),
        ListOf(ADDRESS),
        OptionOf(Prim("string")),
        TupleOf((U64, Prim("string"))),
        point,
        Variant(
            "shape",
            (Case("none", "none", None), Case("circle", "circle", U64), Case("polygon", "polygon", ListOf(point))),
        ),
        Enum("color", (Case("red", "red", None), Case("dark-blue", "dark_blue", None))),
        ListOf(U128Type()),
        Record("defined-after", (Field("flag", "flag", Prim("bool")),)),
    ]
    assert f.result == ResultOf(ListOf(point), Prim("string"))
    assert [m.result for m in interface.methods[1:]] == [
        ResultOf(None, None),
        ResultOf(U64, None),
        ResultOf(None, Enum("color", (Case("red", "red", None), Case("dark-blue", "dark_blue", None)))),
    ]
    assert [wit_name(p.type) for p in f.params] == [
        "u64",
        "s64",
        "bool",
        "string",
        "list<u8>",
        "address",
        "u128",
        "list<address>",
        "option<string>",
        "tuple<u64, string>",
        "point",
        "shape",
        "color",
        "list<u128>",
        "defined-after",
    ]
    assert [wit_name(m.result) for m in interface.methods if m.result] == [
        "result<list<point>, string>",
        "result",
        "result<u64>",
        "result<_, color>",
    ]
    assert type_to_json(f.params[11].type) == {
        "kind": "variant",
        "wit": "shape",
        "name": "shape",
        "docs": "",
        "cases": [
            {"name": "none", "key": "none", "docs": "", "type": None},
            {"name": "circle", "key": "circle", "docs": "", "type": {"kind": "u64", "wit": "u64"}},
            {
                "name": "polygon",
                "key": "polygon",
                "docs": "",
                "type": {
                    "kind": "list",
                    "wit": "list<point>",
                    "item": {
                        "kind": "record",
                        "wit": "point",
                        "name": "point",
                        "docs": "",
                        "fields": [
                            {"name": "x", "key": "x", "docs": "", "type": {"kind": "s64", "wit": "s64"}},
                            {"name": "y", "key": "y", "docs": "", "type": {"kind": "s64", "wit": "s64"}},
                        ],
                    },
                },
            },
        ],
    }
    assert type_to_json(ResultOf(None, Bytes())) == {
        "kind": "result",
        "wit": "result<_, list<u8>>",
        "ok": None,
        "err": {"kind": "bytes", "wit": "list<u8>"},
    }


def test_what_real_wit_allows_in_our_subset_parses() -> None:
    text = (
        "\ufeff// a line comment\r\n"
        "/* a /* nested */ block comment */\n"
        "package ns:name@1.2.3-rc.1+build;\n"
        "interface types { type address = list<u8>; record r { a: u64, } }\n"
        "interface view { use types.{address, r as rec,}; get: func(x: rec,) -> address; }\n"
        "interface events { use types.{address}; /** Sent. */ record sent { to: address } }\n"
        "world %world {\n"
        "    import types;\n"
        "    import events;\n"
        "    use types.{address};\n"
        "    type local = option<address>;\n"
        "    export %use: func(a: local);\n"
        "    export view;\n"
        "}\n"
    )
    interface = parse_wit(text)
    assert (interface.package, interface.world) == ("ns:name@1.2.3-rc.1+build", "world")
    assert [(m.export, signature(m)) for m in interface.methods] == [
        ("use", "use(a: option<address>)"),
        ("get", "get(x: r) -> address"),
    ]
    assert interface.events[0].docs == "Sent."


def test_doc_comments() -> None:
    text = COUNTER.replace("/// Add one", "///\n    ///   Add one").replace(
        "world counter {", "/// First line.\n/// Second line.\nworld counter {"
    )
    interface = parse_wit(text)
    assert interface.docs == "First line.\nSecond line."
    assert interface.methods[0].docs == "Add one and return the new count."
    # A plain comment is no doc comment; a package's docs stand in for a world without any.
    assert parse_wit("/// The package.\npackage a:b; // not docs\nworld w {}").docs == "The package."


@pytest.mark.parametrize(
    "comment, docs",
    [
        ("/// One.\n///\n/// Two.\n", "One.\n\nTwo."),
        ("///Tight.\n", "Tight."),
        # The indentation common to all lines goes, the rest stays (wit-parser's rule).
        ("///  Two spaces.\n///  Still two.\n", "Two spaces.\nStill two."),
        ("///   a\n///    b\n", "a\n b"),
        ("///    a\n/// b\n", "   a\nb"),
        ("/// a\n///b\n", " a\nb"),
        ("/// Items:\n///   - one\n///   - two\n", "Items:\n  - one\n  - two"),
        # Blank lines do not count; a tab is indentation but only spaces are removed.
        ("///  a\n///\n///   \n///  b\n", "a\n\n\nb"),
        ("///\ta\n/// b\n", "\ta\nb"),
        # Trailing whitespace goes; so do all the slashes, and blank lines first and last.
        ("/// a  \n/// b\t\n", "a\nb"),
        ("////////\n//// x\n///\n", "x"),
        ("/// a\r\n/// b\r\n", "a\nb"),
        ("/** A block. */\n", "A block."),
        ("/**\n * A block\n *   indented.\n */\n", "A block\n  indented."),
    ],
)
def test_doc_comment_lines(comment: str, docs: str) -> None:
    assert parse_wit(f"package a:docs;\n{comment}world w {{}}").docs == docs


# --- refusals: every construct outside the subset --------------------------------------------------

REFUSALS = {
    "u8": (
        world("export f: func(a: u8);"),
        "line 9, column 23: found `u8` outside `list<u8>`: `u8` is accepted only as `list<u8>` (bytes): "
        "use `u64` for a number",
    ),
    "u16": (world("export f: func(a: u16);"), "line 9, column 23: the type `u16` is not in the subset: use `u64`"),
    "u32": (world("export f: func(a: u32);"), "line 9, column 23: the type `u32` is not in the subset: use `u64`"),
    "s8": (world("export f: func(a: s8);"), "line 9, column 23: the type `s8` is not in the subset: use `s64`"),
    "s16": (world("export f: func(a: s16);"), "line 9, column 23: the type `s16` is not in the subset: use `s64`"),
    "s32": (world("export f: func(a: s32);"), "line 9, column 23: the type `s32` is not in the subset: use `s64`"),
    "f32": (
        world("export f: func(a: f32);"),
        "line 9, column 23: the type `f32` is not in the subset: contracts take no floats: use `u64` or `s64` "
        "(a fixed-point amount) or `string`",
    ),
    "f64": (world("export f: func() -> f64;"), "line 9, column 25: the type `f64` is not in the subset"),
    "char": (
        world("export f: func(a: char);"),
        "line 9, column 23: the type `char` is not in the subset: use `string`",
    ),
    "map": (
        world("export f: func(a: map<string, u64>);"),
        "line 9, column 23: the type `map` is not in the subset: use `list<tuple<K, V>>`",
    ),
    "own": (
        world("export f: func(a: own<r>);"),
        "line 9, column 23: the type `own` is not in the subset: resources and handles are not in the subset",
    ),
    "borrow": (world("export f: func(a: borrow<r>);"), "line 9, column 23: the type `borrow` is not in the subset"),
    "future": (
        world("export f: func() -> future<u64>;"),
        "line 9, column 25: the type `future` is not in the subset: contracts run synchronously",
    ),
    "stream": (world("export f: func() -> stream<u64>;"), "line 9, column 25: the type `stream` is not in the subset"),
    "fixed-length list": (
        world("export f: func(a: list<u64, 4>);"),
        "line 9, column 31: fixed-length lists (`list<T, N>`) are not in the subset: use `list<T>`",
    ),
    "flags": (
        world("", "flags perms { read, write }"),
        "line 5, column 5: found `flags`: flags are not in the subset: use a record of bools, or a `u64` bit set",
    ),
    "resource": (
        world("", "resource thing;"),
        "line 5, column 5: found `resource`: resources are not in the subset: identify the thing by an id (`u64`) "
        "or an `address`",
    ),
    "include": (
        world("include other;"),
        "line 9, column 5: found `include`: `include` is not in the subset: write the world's imports and "
        "exports out in this world",
    ),
    "@since": (
        world("@since(version = 1.0.0) export f: func();"),
        "line 9, column 5: found the annotation `@since`: feature gates (@since, @unstable, @deprecated) and "
        "@external-id are not in the subset; remove it",
    ),
    "@unstable": (
        world("", "@unstable(feature = x) f: func();"),
        "line 5, column 5: found the annotation `@unstable`",
    ),
    "multiple results": (
        world("export f: func() -> (a: u64, b: u64);"),
        "line 9, column 25: multiple or named results are not in the subset: return a tuple or a record",
    ),
    "async": (
        world("export f: async func();"),
        "line 9, column 15: found `async`: async functions are not in the subset",
    ),
    "imported func": (
        world("import f: func();"),
        "line 9, column 5: a world's imported functions and named imports are not in the subset: a contract "
        "imports no functions through WIT (it calls other contracts with the host's `call`); remove it",
    ),
    "import of an interface with functions": (
        world("import other;").replace("world w", "interface other { f: func(); }\nworld w"),
        "line 10, column 12: `import other`: interface `other` has functions (`f`), and a contract imports no "
        "functions through WIT",
    ),
    "inline interface": (
        world("export i: interface { f: func(); }"),
        "line 9, column 15: inline interfaces are not in the subset: declare `interface NAME { ... }`",
    ),
    "export under another name": (
        world("export x: view;"),
        "line 9, column 15: expected `func` after `export x:`, found the name `view`",
    ),
    "option of option": (
        world("export f: func(a: option<option<u64>>);"),
        "line 9, column 23: `option<option<u64>>` is not in the subset: none and some(none) would be the same "
        "msgpack nil; use a variant",
    ),
    "option of an aliased option": (
        world("export f: func(a: option<maybe>);", "type maybe = option<u64>;").replace(
            "use types.{address, u128}", "use types.{address, u128, maybe}"
        ),
        "line 9, column 23: `option<option<u64>>` is not in the subset",
    ),
    "address of another type": (
        "package a:b; interface t { type address = list<u64>; } world w {}",
        "line 1, column 43: `address` must be declared `type address = list<u8>;` (a 20-byte address), found "
        "another type",
    ),
    "u128 of another type": (
        "package a:b; interface t { type u128 = u64; } world w {}",
        "line 1, column 40: `u128` must be declared `type u128 = list<u8>;` (an unsigned 128-bit integer)",
    ),
    "address as a record": (
        "package a:b; interface t { record address { a: u64 } } world w {}",
        "line 1, column 35: `address` is the project's a 20-byte address: declare it `type address = list<u8>;`, "
        "not as a record",
    ),
    "undeclared address": (
        "package a:b; world w { export f: func(to: address); }",
        "line 1, column 43: unknown type `address` in world `w`: define it there or bring it in with "
        "`use IFACE.{address};` (declare `type address = list<u8>;` and use it)",
    ),
    "unknown type": (
        world("export f: func(a: amount);"),
        "line 9, column 23: unknown type `amount` in world `w`: define it there or bring it in with "
        "`use IFACE.{amount};`",
    ),
    "a function used as a type": (
        "package a:b; interface i { f: func(); } world w { use i.{f}; }",
        "line 1, column 58: `use i.{f}`: `f` is a function of interface `i`; use one of its types",
    ),
    "a recursive type": (
        world("", "record node { next: list<node> }"),
        "line 5, column 30: the type `node` refers to itself; WIT types cannot be recursive",
    ),
    "interfaces using each other": (
        "package a:b; interface x { use y.{b}; type a = u64; } interface y { use x.{a}; type b = u64; } world w {}",
        "interfaces use each other's types in a cycle (x -> y -> x); move the shared types into one interface",
    ),
    "use of another package": (
        "package a:b; world w { use wasi:io/streams.{x}; }",
        "line 1, column 32: `use` of another package's interface is not in the subset",
    ),
    "top-level use": (
        "package a:b; use wasi:io/streams; world w {}",
        "line 1, column 14: a top-level `use` is not in the subset",
    ),
    "export of another package": (
        "package a:b; world w { export wasi:io/streams; }",
        "line 1, column 36: `export` of another package's interface is not in the subset",
    ),
    "export of an unknown interface": (
        world("export nope;"),
        "line 9, column 12: `export nope` names the interface `nope`, which this package does not declare (its "
        "interfaces: `types`); declare `interface nope { ... }` or fix the name",
    ),
    "no package": ("world w {}", "line 1, column 1: expected the package declaration (`package ns:name;`) first"),
    "nested package": ("package a:b { }", "line 1, column 13: nested packages are not in the subset"),
    "nested package name": ("package a:b:c;", "line 1, column 12: nested package names are not in the subset"),
    "a second package": ("package a:b; package c:d;", "line 1, column 14: a second package is not in the subset"),
    "no world": (
        "package a:b; interface i {}",
        "expected exactly one world in the package, found none: the world declares the contract's methods",
    ),
    "two worlds": (
        "package a:b; world v {} world w {}",
        "line 1, column 31: expected exactly one world in the package, found 2",
    ),
    "a keyword as a name": (
        world("export f: func(from: u64);"),
        "line 9, column 20: expected a parameter name or `)`, found the keyword `from`: a keyword is a name only "
        "when escaped, write `%from`",
    ),
    "a keyword as a function name": (
        "package a:b; interface i { list: func(); } world w {}",
        "line 1, column 28: `list` is a WIT keyword: a keyword is a name only when escaped, write `%list`",
    ),
    "snake_case": (
        world("export balance_of: func();"),
        "line 9, column 12: found `balance_of`, which is not a WIT identifier: identifiers are kebab-case, words "
        "of lowercase (or of uppercase) letters and digits joined by `-`, the first starting with a letter "
        "(write `balance-of`)",
    ),
    "mixed case": (world("export balanceOf: func();"), "line 9, column 12: found `balanceOf`, which is not a WIT"),
    "a name starting with a digit": (
        "package a:b; world w { export 2x: func(); }",
        "line 1, column 31: found `2x`, which is not a WIT identifier",
    ),
    "a duplicate type": (
        world("", "type a = u64; type a = s64;"),
        "line 5, column 24: the type `a` is defined twice in interface `types` (first at line 5, column 10); "
        "rename one",
    ),
    "a duplicate field": (
        world("", "record r { a: u64, a: s64 }"),
        "line 5, column 24: `a` appears twice in record `r` (first at line 5, column 16); rename one",
    ),
    "fields equal but for case": (
        world("", "record r { a: u64, A: u64 }"),
        "line 5, column 24: `A` and `a` (line 5, column 16) in record `r` are one name to WIT, which compares "
        "names without case and `-` (bindings would collide); rename one",
    ),
    "cases equal but for a hyphen": (
        world("", "enum e { a-b, ab }"),
        "line 5, column 19: `ab` and `a-b` (line 5, column 14) in enum `e` are one name to WIT",
    ),
    "a duplicate parameter": (
        world("export f: func(a: u64, a: u64);"),
        "line 9, column 28: `a` appears twice in the parameters of `f` (first at line 9, column 20); rename one",
    ),
    "parameters equal but for a hyphen": (
        world("export f: func(a0: u64, a-0: u64);"),
        "line 9, column 29: `a-0` and `a0` (line 9, column 20) in the parameters of `f` are one name to WIT",
    ),
    "exports equal but for a hyphen": (
        world("export a-b: func(); export ab: func();"),
        "line 9, column 32: `ab` and `a-b` (line 9, column 12) in world `w` are one name to WIT",
    ),
    "a duplicate export": (
        world("export f: func(); export f: func();"),
        "line 9, column 30: the export `f` is defined twice in world `w`",
    ),
    "two methods with one export name": (
        world("export get: func(); export view;").replace("world w", "interface view { get: func(); }\nworld w"),
        "two methods are the export `get`: `get` of the world and `get` of interface `view`; rename one",
    ),
    "two event records with one emitted name": (
        "package a:b; interface events { record a-b-c { x: u64 } record AB-c { x: u64 } } world w {}",
        "line 1, column 64: `AB-c` and `a-b-c` (line 1, column 40) in interface `events` are one name to WIT",
    ),
    "an empty record": (world("", "record r {}"), "line 5, column 5: record `r` is empty: give it at least one field"),
    "an empty variant": (
        world("", "variant v {}"),
        "line 5, column 5: variant `v` is empty: give it at least one case",
    ),
    "a missing semicolon": (
        "package a:b;\nworld w {\n  export f: func(x: u64 y: u64);\n}",
        "line 3, column 25: expected `,` between the parameters of `f` or `)` to end them, found the name `y`",
    ),
    "the end of the text": (
        "package a:b; world w {",
        "line 1, column 23: expected `}` to end world `w`, found the end",
    ),
    "an unterminated comment": ("package a:b; /* /* */", "line 1, column 14: this block comment is never closed"),
    "a control character": (
        "package a:b;\x07",
        "line 1, column 13: found the control character U+0007; only tabs and line breaks may appear",
    ),
    "a bidirectional override": (
        "package a:b; // \u202e\nworld w {}",
        "line 1, column 17: found the bidirectional override U+202E; remove it",
    ),
    "a lone carriage return": ("package a:b;\rworld w {}", "line 1, column 13: found a carriage return not followed"),
    "a non-ASCII character": ("package a:b; world wé {}", "line 1, column 21: found the character 'é', which starts"),
    "a bad version": ("package a:b@1.0; world w {}", "line 1, column 12: expected a semantic version such as @1.0.0"),
    "an implicit import depending on an export": (
        "package a:b;\ninterface a { type t = u64; f: func(); }\ninterface b { use a.{t}; }\n"
        "interface view { use b.{t}; g: func(); }\nworld w { export a; export view; }",
        "line 5, column 28: interface `view`, which world `w` exports, depends through `b`, which the world does not "
        "export and so imports, on `a`, which it exports (`view` -> `b` -> `a`): the world would hold `a` twice, "
        "imported and exported, which WIT refuses; export `b` too, or do not export `a`",
    ),
    "an implicit import depending on an export exported later": (
        "package a:b; interface a { type t = u64; } interface c { use a.{t}; } interface b { use c.{t}; }\n"
        "interface view { use b.{t}; } world w { export view; export a; }",
        "line 2, column 48: interface `view`, which world `w` exports, depends through `b` and `c`, which the world "
        "does not export and so imports, on `a`, which it exports (`view` -> `b` -> `c` -> `a`): ",
    ),
    "too deep": (
        world("export f: func(a: " + "list<" * MAX_TYPE_DEPTH + "u64" + ">" * MAX_TYPE_DEPTH + ");"),
        f"line 9, column {23 + 5 * MAX_TYPE_DEPTH}: this type nests more than {MAX_TYPE_DEPTH} levels deep",
    ),
    "too deep through names": (
        "package a:b; interface i {" + "".join(f"type a{n} = list<a{n + 1}>;" for n in range(20)) + "type a20 = u64; }"
        " world w {}",
        "this type nests more than 32 levels deep (each reference by name counts as one); flatten it",
    ),
    "too many type nodes": (
        "package a:b; interface i {"
        + "".join(f"record r{n} {{ a: r{n + 1}, b: r{n + 1} }}" for n in range(13))
        + "record r13 { x: u64 } } world w { use i.{r0}; export f: func(a: r0); }",
        f"the methods' and events' types hold 24575 types when named types are expanded; the limit is "
        f"{MAX_TYPE_NODES}: use fewer or smaller types",
    ),
    "too big": (
        "package a:b; world w {}" + " " * MAX_WIT_BYTES,
        f"the interface is {MAX_WIT_BYTES + 23} bytes of text; the limit is {MAX_WIT_BYTES}",
    ),
}


@pytest.mark.parametrize("text, message", REFUSALS.values(), ids=REFUSALS.keys())
def test_each_refusal_names_the_problem_and_where(text: str, message: str) -> None:
    found = refused(text)
    assert found.startswith(message) or message in found, found


def test_a_refusal_carries_its_place() -> None:
    with pytest.raises(WitError) as error:
        parse_wit(world("export f: func(a: f32);"))
    assert (error.value.line, error.value.column) == (9, 23)
    assert error.value.message.startswith("the type `f32` is not in the subset")
    with pytest.raises(WitError) as error:
        parse_wit("package a:b;")
    assert (error.value.line, error.value.column) == (None, None)
    assert str(error.value) == error.value.message


def test_keywords_are_wit_keywords() -> None:
    assert {"from", "as", "use", "type", "func", "record", "variant", "enum", "flags", "resource", "list"} <= KEYWORDS
    assert {"option", "result", "tuple", "string", "bool", "char", "interface", "world", "import", "export"} <= KEYWORDS
    assert {"package", "include", "with", "own", "borrow", "static", "constructor", "future", "stream", "_"} <= KEYWORDS
    assert {f"{sign}{bits}" for sign in "us" for bits in (8, 16, 32, 64)} | {"f32", "f64"} <= KEYWORDS
    # `address` and `u128` are names, not keywords: WIT has neither.
    assert not {"address", "u128"} & KEYWORDS


# --- bounds ---------------------------------------------------------------------------------------


def test_long_alias_and_use_chains_do_not_recurse() -> None:
    aliases = "".join(f"type a{n}=a{n + 1};" for n in range(3000))
    with pytest.raises(WitError, match="nests more than 32 levels deep"):
        parse_wit(f"package a:b; interface i {{{aliases}type a3000=u64;}} world w{{}}")
    uses = "".join(f"interface i{n}{{use i{n + 1}.{{x}};}}" for n in range(1900))
    text = f"package a:b;{uses}interface i1900{{type x=u64;}} world w{{use i0.{{x}}; export f:func(a:x);}}"
    assert len(text) <= MAX_WIT_BYTES
    assert parse_wit(text).methods[0].params[0].type == U64
    text = f"package a:b;{uses}interface i1900{{type x=u64;}} world w{{export i0; export i1900;}}"
    with pytest.raises(WitError) as error:
        parse_wit(text)
    assert "depends through `i1`, `i2`, 1896 more and `i1899`, which the world does not export" in str(error.value)
    assert "(`i0` -> `i1` -> `i2` -> ... (1896 more) -> `i1899` -> `i1900`)" in str(error.value)
    nested = "package a:b; world w {} " + "/*" * 16000 + "*/" * 16000
    assert parse_wit(nested).world == "w"


WIT_WORDS = sorted(KEYWORDS) + ["a", "b", "view", "events", "address", "u128", "%from", "x-y", "1", "@", "1.0.0"]
WIT_PUNCT = list("=,:;(){}<>*/.@%") + ["->", "///", "//", "/*", "*/", "\n", " "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WIT_WORDS + WIT_PUNCT), max_size=60))
def test_any_token_soup_parses_or_raises_wit_error(words: list[str]) -> None:
    text = "package a:b;\n" + " ".join(words)
    try:
        interface = parse_wit(text)
    except WitError as error:
        assert str(error)
    else:
        assert isinstance(interface, Interface)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.text(string.printable, max_size=200))
def test_any_text_parses_or_raises_wit_error(text: str) -> None:
    try:
        parse_wit(text)
    except WitError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(TOKEN)), st.sampled_from(["", "x", ";", "}", "<", "u8", "%", "/*", "\x01"]))
def test_an_edited_example_parses_or_raises_wit_error(at: int, insert: str) -> None:
    try:
        parse_wit(TOKEN[:at] + insert + TOKEN[at:])
    except WitError as error:
        assert error.line is None or 1 <= error.line <= TOKEN.count("\n") + 2


def test_tokens_carry_their_place() -> None:
    tokens = tokenize("package a:b;\n  world %w {}")
    assert [(t.kind, t.text, t.line, t.column, t.escaped) for t in tokens[5:]] == [
        ("keyword", "world", 2, 3, False),
        ("id", "w", 2, 9, True),
        ("punct", "{", 2, 12, False),
        ("punct", "}", 2, 13, False),
        ("eof", "", 2, 14, False),
    ]
