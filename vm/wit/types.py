"""The resolved model of a contract's interface: its types, methods and events.

``syntax.parse_wit`` builds these from WIT text; everything else (the deploy
check, the value mapping, the CLI, the RPC, the client) reads only these.
Type aliases are resolved away, except that the project's two named types
keep their identity (``AddressType``, ``U128Type``), because they map to
msgpack differently from the ``list<u8>`` they are declared as.  Every
sequence is in declaration order, so that anything derived from an
interface (its JSON, a message, an example) is the same on every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

PrimName = Literal["u64", "s64", "bool", "string"]

PRIMITIVES: Final[tuple[PrimName, ...]] = ("u64", "s64", "bool", "string")
"""The WIT primitive types of the subset (``u8`` only inside ``list<u8>``)."""

SECTION_NAME: Final = "wasmchain:wit"
"""The custom section a contract's interface travels in (``section`` re-exports it)."""

MAX_WIT_BYTES: Final = 65536
"""The largest interface text, in bytes of UTF-8 (``section`` re-exports it)."""

MAX_TYPE_DEPTH: Final = 32
"""How deep a type may nest: each ``list``/``option``/``tuple``/``result``, each record, variant or enum,
and each reference to a type by name is one level (``list<u64>`` is 2 deep)."""

MAX_TYPE_NODES: Final = 16384
"""The most types all methods and events may hold together, named types expanded where they are used:
bounds what expanding an interface (its JSON, an example, a test strategy) can cost."""


class WitError(ValueError):
    """WIT text that does not parse, leaves the subset or does not resolve.

    ``line`` and ``column`` (1-based, columns in characters) locate the
    problem when it has a place in the text; ``message`` says what was
    found, what was expected and what to do.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        super().__init__(f"line {line}, column {column}: {message}" if line is not None else message)


@dataclass(frozen=True, slots=True)
class Prim:
    """``u64``, ``s64``, ``bool`` or ``string``."""

    name: PrimName


@dataclass(frozen=True, slots=True)
class Bytes:
    """``list<u8>``: a byte string (msgpack bin)."""


@dataclass(frozen=True, slots=True)
class AddressType:
    """The project's ``address``, declared ``type address = list<u8>;``: 20 bytes."""


@dataclass(frozen=True, slots=True)
class U128Type:
    """The project's ``u128``, declared ``type u128 = list<u8>;``: an unsigned 128-bit integer."""


@dataclass(frozen=True, slots=True)
class ListOf:
    """``list<T>`` for any T but ``u8`` (that is ``Bytes``)."""

    item: WitType


@dataclass(frozen=True, slots=True)
class OptionOf:
    """``option<T>``; T is never itself an option (nil would be ambiguous)."""

    item: WitType


@dataclass(frozen=True, slots=True)
class TupleOf:
    """``tuple<A, B, ...>``: a msgpack array of exactly that length."""

    items: tuple[WitType, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """A record field."""

    name: str
    """The WIT name, ``%`` dropped (``token-id``)."""
    key: str
    """The msgpack/JSON key (``token_id``)."""
    type: WitType
    docs: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    """A named ``record``: a msgpack map of its fields, in declaration order."""

    name: str
    fields: tuple[Field, ...]
    docs: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    """A case of a ``variant`` (``type`` its payload, if any) or of an ``enum`` (``type`` always None)."""

    name: str
    key: str
    type: WitType | None
    docs: str = ""


@dataclass(frozen=True, slots=True)
class Variant:
    """A named ``variant``: a case key (no payload) or a one-entry map ``{case_key: payload}``."""

    name: str
    cases: tuple[Case, ...]
    docs: str = ""


@dataclass(frozen=True, slots=True)
class Enum:
    """A named ``enum``: the case key as a string."""

    name: str
    cases: tuple[Case, ...]
    docs: str = ""


@dataclass(frozen=True, slots=True)
class ResultOf:
    """``result``, ``result<T>``, ``result<_, E>`` or ``result<T, E>``: ``{"ok": ...}`` or ``{"err": ...}``."""

    ok: WitType | None
    err: WitType | None


WitType = Prim | Bytes | AddressType | U128Type | ListOf | OptionOf | TupleOf | Record | Variant | Enum | ResultOf
"""Every type of the subset, resolved (aliases gone)."""

NamedType = Record | Variant | Enum
"""The types WIT requires a name for."""


def wit_key(name: str) -> str:
    """The export name or msgpack key of a WIT name: ``-`` becomes ``_`` (``balance-of`` -> ``balance_of``)."""
    return name.replace("-", "_")


def event_name(name: str) -> str:
    """The emitted name of an event record: UpperCamelCase (``token-minted`` -> ``TokenMinted``)."""
    return "".join(word[:1].upper() + word[1:] for word in name.split("-"))


def wit_name(t: WitType) -> str:
    """The WIT spelling of a type: ``u64``, ``list<address>``, ``option<u64>``, or a named type's name."""
    match t:
        case Prim(name):
            return name
        case Bytes():
            return "list<u8>"
        case AddressType():
            return "address"
        case U128Type():
            return "u128"
        case ListOf(item):
            return f"list<{wit_name(item)}>"
        case OptionOf(item):
            return f"option<{wit_name(item)}>"
        case TupleOf(items):
            return f"tuple<{', '.join(wit_name(item) for item in items)}>"
        case Record(name) | Variant(name) | Enum(name):
            return name
        case ResultOf(ok, err):
            if ok is None and err is None:
                return "result"
            if err is None:
                assert ok is not None
                return f"result<{wit_name(ok)}>"
            return f"result<{'_' if ok is None else wit_name(ok)}, {wit_name(err)}>"
    raise TypeError(f"not a WIT type: {t!r}")


KINDS: Final = (
    "u64",
    "s64",
    "bool",
    "string",
    "bytes",
    "address",
    "u128",
    "list",
    "option",
    "tuple",
    "record",
    "variant",
    "enum",
    "result",
)
"""Every ``kind`` of ``type_to_json``."""


def type_to_json(t: WitType) -> dict[str, Any]:
    """A type as JSON for tools in any language: ``{"kind", "wit", ...}``, named types expanded.

    ``kind`` is one of ``KINDS``; ``list``/``option`` have ``item``, ``tuple``
    ``items``, ``record`` ``name``/``docs``/``fields`` (each ``name``, ``key``,
    ``docs``, ``type``), ``variant``/``enum`` ``name``/``docs``/``cases`` (each
    ``name``, ``key``, ``docs``, and ``type``, null for no payload), ``result``
    ``ok`` and ``err`` (null when absent).  Expanding is bounded: the parser
    refuses a method or event whose types expand past ``MAX_TYPE_NODES``.
    """
    out: dict[str, Any]
    match t:
        case Prim(name):
            out = {"kind": name}
        case Bytes():
            out = {"kind": "bytes"}
        case AddressType():
            out = {"kind": "address"}
        case U128Type():
            out = {"kind": "u128"}
        case ListOf(item):
            out = {"kind": "list", "item": type_to_json(item)}
        case OptionOf(item):
            out = {"kind": "option", "item": type_to_json(item)}
        case TupleOf(items):
            out = {"kind": "tuple", "items": [type_to_json(item) for item in items]}
        case Record(name, fields, docs):
            out = {
                "kind": "record",
                "name": name,
                "docs": docs,
                "fields": [
                    {"name": f.name, "key": f.key, "docs": f.docs, "type": type_to_json(f.type)} for f in fields
                ],
            }
        case Variant(name, cases, docs) | Enum(name, cases, docs):
            out = {
                "kind": "variant" if isinstance(t, Variant) else "enum",
                "name": name,
                "docs": docs,
                "cases": [
                    {
                        "name": c.name,
                        "key": c.key,
                        "docs": c.docs,
                        "type": None if c.type is None else type_to_json(c.type),
                    }
                    for c in cases
                ],
            }
        case ResultOf(ok, err):
            out = {
                "kind": "result",
                "ok": None if ok is None else type_to_json(ok),
                "err": None if err is None else type_to_json(err),
            }
        case _:
            raise TypeError(f"not a WIT type: {t!r}")
    return {"kind": out.pop("kind"), "wit": wit_name(t), **out}


@dataclass(frozen=True, slots=True)
class Param:
    """A method parameter."""

    name: str
    """The WIT name, ``%`` dropped."""
    key: str
    """Its key in the msgpack args map (``-`` -> ``_``)."""
    type: WitType


@dataclass(frozen=True, slots=True)
class Method:
    """A method of the contract: an export of type ``() -> ()`` with typed msgpack input and output."""

    name: str
    """The WIT function name (``balance-of``)."""
    export: str
    """The wasm export it is (``balance_of``)."""
    params: tuple[Param, ...]
    result: WitType | None
    """None: the method returns nothing (empty return data)."""
    readonly: bool
    """A function of the interface named ``view``."""
    docs: str
    interface: str | None
    """The exported interface it belongs to, or None for a function the world exports itself."""

    def param(self, name: str) -> Param | None:
        """The parameter with this key or WIT name."""
        for param in self.params:
            if name in (param.key, param.name):
                return param
        return None


@dataclass(frozen=True, slots=True)
class EventType:
    """An event the contract emits: a record of the interface named ``events``."""

    name: str
    """The record's WIT name (``token-minted``)."""
    event: str
    """The emitted event name (``TokenMinted``)."""
    record: Record
    docs: str


def signature(m: Method) -> str:
    """A method's typed signature: ``balance-of(owner: address) -> u64``."""
    params = ", ".join(f"{p.name}: {wit_name(p.type)}" for p in m.params)
    result = "" if m.result is None else f" -> {wit_name(m.result)}"
    return f"{m.name}({params}){result}"


@dataclass(frozen=True, slots=True)
class Interface:
    """A contract's interface: what ``parse_wit`` resolves from the text of its ``wasmchain:wit`` section."""

    package: str
    """``ns:name`` or ``ns:name@version``."""
    world: str
    text: str
    """The WIT text as deployed."""
    methods: tuple[Method, ...]
    """The world's own exported functions, then each exported interface's, in declaration order."""
    events: tuple[EventType, ...]
    docs: str
    """The world's doc comment (the package's, if the world has none)."""

    def method(self, name: str) -> Method | None:
        """The method with this export name or WIT name."""
        for method in self.methods:
            if name in (method.export, method.name):
                return method
        return None

    def event(self, emitted: str) -> EventType | None:
        """The event type emitted under this name (``Transfer``)."""
        for event in self.events:
            if event.event == emitted:
                return event
        return None

    def to_json(self) -> dict[str, Any]:
        """The interface as JSON (what ``get_interface`` returns besides the text)."""
        return {
            "package": self.package,
            "world": self.world,
            "docs": self.docs,
            "wit": self.text,
            "section": SECTION_NAME,
            "methods": [
                {
                    "name": m.name,
                    "export": m.export,
                    "readonly": m.readonly,
                    "docs": m.docs,
                    "interface": m.interface,
                    "params": [{"name": p.name, "key": p.key, "type": type_to_json(p.type)} for p in m.params],
                    "result": None if m.result is None else type_to_json(m.result),
                    "signature": signature(m),
                }
                for m in self.methods
            ],
            "events": [
                {
                    "name": e.name,
                    "event": e.event,
                    "docs": e.docs,
                    "fields": [
                        {"name": f.name, "key": f.key, "docs": f.docs, "type": type_to_json(f.type)}
                        for f in e.record.fields
                    ],
                }
                for e in self.events
            ],
        }
