"""WIT text to an ``Interface``: a lexer, a recursive-descent parser and name resolution.

Consensus code from ABI 1.2 on: which texts it accepts decides which modules
deploy, so it is a pure function of the text (no dict or set order reaches
its output: everything is kept in declaration order) and changing the
accepted subset needs a new VM version.  The subset is the one docs/abi.md
lists under "Interfaces (WIT)"; anything else real WIT has is refused,
naming the construct, its line and column, and what to write instead.

Hostile text is bounded: at most ``MAX_WIT_BYTES``, lexed in one pass
without recursion (block comments nest by counting), and every recursion
of the parser and the resolver is bounded by ``MAX_TYPE_DEPTH``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from .types import (
    MAX_TYPE_DEPTH,
    MAX_TYPE_NODES,
    MAX_WIT_BYTES,
    PRIMITIVES,
    AddressType,
    Bytes,
    Case,
    Enum,
    EventType,
    Field,
    Interface,
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
    WitError,
    WitType,
    event_name,
    wit_key,
    wit_name,
)

KEYWORDS: Final = frozenset(
    {
        "_",
        "as",
        "async",
        "bool",
        "borrow",
        "char",
        "constructor",
        "enum",
        "error-context",
        "export",
        "f32",
        "f64",
        "flags",
        "from",
        "func",
        "future",
        "import",
        "include",
        "interface",
        "list",
        "map",
        "option",
        "own",
        "package",
        "record",
        "resource",
        "result",
        "s16",
        "s32",
        "s64",
        "s8",
        "static",
        "stream",
        "string",
        "tuple",
        "type",
        "u16",
        "u32",
        "u64",
        "u8",
        "use",
        "variant",
        "with",
        "world",
    }
)
"""WIT's keywords (wit-parser's lexer): bare, none is an identifier; ``%from`` is."""

VIEW_INTERFACE: Final = "view"
"""The interface whose functions are read-only methods."""

EVENTS_INTERFACE: Final = "events"
"""The interface whose records are the contract's events."""

ADDRESS: Final = "address"
U128: Final = "u128"

REFUSED_TYPES: Final[dict[str, str]] = {
    "u8": "`u8` is accepted only as `list<u8>` (bytes): use `u64` for a number",
    "u16": "use `u64`",
    "u32": "use `u64`",
    "s8": "use `s64`",
    "s16": "use `s64`",
    "s32": "use `s64`",
    "f32": "contracts take no floats: use `u64` or `s64` (a fixed-point amount) or `string`",
    "f64": "contracts take no floats: use `u64` or `s64` (a fixed-point amount) or `string`",
    "char": "use `string`",
    "map": "use `list<tuple<K, V>>`",
    "own": "resources and handles are not in the subset: pass an id (`u64`) or an `address`",
    "borrow": "resources and handles are not in the subset: pass an id (`u64`) or an `address`",
    "future": "contracts run synchronously: return the value itself",
    "stream": "contracts run synchronously: return a `list<T>`",
    "error-context": "contracts run synchronously: return a `result<T, E>` with your own error type",
}
"""Type keywords of WIT outside the subset, with what to use instead."""

REFUSED_ITEMS: Final[dict[str, str]] = {
    "flags": "flags are not in the subset: use a record of bools, or a `u64` bit set",
    "resource": "resources are not in the subset: identify the thing by an id (`u64`) or an `address`",
    "include": "`include` is not in the subset: write the world's imports and exports out in this world",
    "async": "async functions are not in the subset: contracts run synchronously; write `func`",
    "constructor": "resources are not in the subset: identify the thing by an id (`u64`) or an `address`",
    "static": "resources are not in the subset: identify the thing by an id (`u64`) or an `address`",
}
"""Item keywords of WIT outside the subset, with what to do instead."""

_ASCII_WHITESPACE: Final = " \t\n\x0c\r"
"""Rust's ``u8::is_ascii_whitespace``, which wit-parser counts as a doc line's indentation."""
_DEPRECATED_CHARS: Final = frozenset("\u0149\u0673\u0f77\u0f79\u17a3\u17a4\u17b4\u17b5")
_BIDI_CHARS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_VERSION_CHARS: Final = _WORD_CHARS | frozenset(".+")
_PUNCT: Final = frozenset("=,:;(){}<>*/.@")
_LABEL_PART: Final = re.compile(r"[a-z][a-z0-9]*|[A-Z][A-Z0-9]*")
_LATER_PART: Final = re.compile(r"[a-z0-9]+|[A-Z0-9]+")
_SEMVER: Final = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-((0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?"
)


# -- the lexer ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is ``id`` (``text`` without any ``%``), ``keyword``, ``punct``, ``version`` or ``eof``."""

    kind: str
    text: str
    line: int
    column: int
    docs: str = ""
    """The doc comments (``///``, ``/** */``) right before the token."""
    escaped: bool = False
    """An identifier written with ``%``."""
    problem: str = ""
    """Why this word is no identifier: raised when the parser reaches it, so that a construct the subset
    refuses (``@since(version = 1.0.0)``, ``list<u8, 4>``) is named before the words inside it."""

    def describe(self) -> str:
        """The token as a message names it."""
        if self.kind == "eof":
            return "the end of the text"
        if self.kind == "id":
            return f"the name `{'%' if self.escaped else ''}{self.text}`"
        if self.kind == "keyword":
            return f"the keyword `{self.text}`"
        if self.kind == "version":
            return f"the version `@{self.text}`"
        return f"`{self.text}`"


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, comments and whitespace dropped, ending with an ``eof`` token."""
    tokens: list[Token] = []
    docs: list[str] = []
    i, line, line_start, n = 0, 1, 0, len(text)
    if text.startswith("\ufeff"):
        i = line_start = 1

    def fail(message: str, at: int | None = None) -> WitError:
        at = i if at is None else at
        return WitError(message, line, at - line_start + 1)

    def check_char(ch: str, at: int) -> None:
        if ch in _BIDI_CHARS:
            raise fail(f"found the bidirectional override U+{ord(ch):04X}; remove it", at)
        if ch in _DEPRECATED_CHARS:
            raise fail(f"found U+{ord(ch):04X}, a code point Unicode discourages; remove it", at)
        if (ch < " " and ch not in "\t\n\r") or "\x7f" <= ch <= "\x9f":
            raise fail(f"found the control character U+{ord(ch):04X}; only tabs and line breaks may appear", at)

    while i < n:
        ch = text[i]
        start = i
        column = i - line_start + 1
        if ch == "\n":
            i += 1
            line, line_start = line + 1, i
        elif ch == "\r":
            if text[i + 1 : i + 2] != "\n":
                raise fail("found a carriage return not followed by a line feed; end lines with \\n or \\r\\n")
            i += 1
        elif ch in " \t":
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            comment = text[i:end].removesuffix("\r")
            for j in range(i, end):
                check_char(text[j], j)
            if comment.startswith("///"):
                docs.append(comment.lstrip("/").rstrip())
            i = end
        elif text.startswith("/*", i):
            is_doc = text.startswith("/**", i) and not text.startswith("/**/", i)
            depth, j = 1, i + 2
            start_line, start_column = line, column
            while depth:
                if j >= n:
                    raise WitError("this block comment is never closed: end it with */", start_line, start_column)
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    check_char(text[j], j)
                    if text[j] == "\n":
                        line, line_start = line + 1, j + 1
                    j += 1
            if is_doc:
                docs.extend(part.strip().removeprefix("*").rstrip() for part in text[i + 3 : j - 2].splitlines())
            i = j
        elif ch == "-" and text.startswith("->", i):
            tokens.append(Token("punct", "->", line, column, _docs(docs)))
            i += 2
        elif ch == "@" and text[i + 1 : i + 2].isdigit():
            i += 1
            while i < n and text[i] in _VERSION_CHARS:
                i += 1
            version = text[start + 1 : i]
            if not _SEMVER.fullmatch(version):
                raise fail(f"expected a semantic version such as @1.0.0, found @{version}", start)
            tokens.append(Token("version", version, line, column, _docs(docs)))
        elif ch in _PUNCT:
            tokens.append(Token("punct", ch, line, column, _docs(docs)))
            i += 1
        elif ch == "%" or ch in _WORD_CHARS:
            i += 1
            while i < n and text[i] in _WORD_CHARS:
                i += 1
            word = text[start:i]
            escaped = ch == "%"
            name = word[1:] if escaped else word
            if not escaped and word in KEYWORDS:
                tokens.append(Token("keyword", word, line, column, _docs(docs)))
            else:
                problem = _label_problem(name, escaped=escaped)
                tokens.append(Token("id", name, line, column, _docs(docs), escaped=escaped, problem=problem))
        else:
            check_char(ch, i)
            shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
            raise fail(f"found the character {shown!r}, which starts no WIT token")
    tokens.append(Token("eof", "", line, n - line_start + 1, _docs(docs)))
    return tokens


def _docs(lines: list[str]) -> str:
    """The collected doc lines as one text, and the collection emptied for the next token.

    As wit-parser reads them: each line is what follows its slashes (or a block comment's ``*``),
    without trailing whitespace; the indentation common to the lines that are not empty is removed
    (``///   a`` and ``///    b`` are ``a`` and `` b``), counting leading whitespace but removing only
    spaces (a line indented by a tab keeps it); blank lines first and last are dropped.
    """
    indents = [len(line) - len(line.lstrip(_ASCII_WHITESPACE)) for line in lines if line]
    common = " " * min(indents, default=0)
    text = "\n".join(line.removeprefix(common) for line in lines).strip("\n")
    lines.clear()
    return text


def _label_problem(word: str, *, escaped: bool) -> str:
    """Why ``word`` is no WIT identifier ("" if it is one): identifiers are kebab-case, words of lowercase
    or of uppercase letters and digits, the first starting with a letter."""
    parts = word.split("-")
    ok = bool(word) and _LABEL_PART.fullmatch(parts[0]) is not None
    if ok and all(_LATER_PART.fullmatch(part) for part in parts[1:]):
        return ""
    shown = ("%" if escaped else "") + word
    hint = f" (write `{word.replace('_', '-').lower()}`)" if word and "_" in word else ""
    return (
        f"found `{shown}`, which is not a WIT identifier: identifiers are kebab-case, words of lowercase (or of "
        f"uppercase) letters and digits joined by `-`, the first starting with a letter{hint}"
    )


# -- the syntax tree --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeExpr:
    """A type as written: ``kind`` is a primitive's name, ``bytes``, ``list``, ``option``, ``tuple``, ``result``
    or ``ref`` (a name); ``args`` its inner types (``result``: ok, err, either None)."""

    kind: str
    token: Token
    args: tuple[TypeExpr | None, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class Named:
    """A name with where it was written and its docs."""

    name: str
    token: Token

    @property
    def docs(self) -> str:
        return self.token.docs


@dataclass(frozen=True, slots=True)
class TypeDef:
    """``type``/``record``/``variant``/``enum`` item: ``members`` are fields or cases (type None: no payload)."""

    kind: str
    name: Named
    docs: str
    alias: TypeExpr | None = None
    members: tuple[tuple[Named, TypeExpr | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Func:
    """``name: func(params) [-> result];``"""

    name: Named
    docs: str
    params: tuple[tuple[Named, TypeExpr], ...]
    result: TypeExpr | None


@dataclass(frozen=True, slots=True)
class Use:
    """``use iface.{a, b as c};``"""

    interface: Named
    names: tuple[tuple[Named, Named], ...]
    """(the name in ``interface``, the name here)."""


@dataclass(slots=True)
class Scope:
    """An interface or the world: its items in declaration order and its names."""

    kind: str
    """``interface`` or ``world``."""
    name: Named
    docs: str
    uses: list[Use] = field(default_factory=list)
    types: list[TypeDef] = field(default_factory=list)
    funcs: list[Func] = field(default_factory=list)
    exports: list[Func | Named] = field(default_factory=list)
    """The world's exports: functions and interface names, in order."""
    imports: list[Named] = field(default_factory=list)
    names: dict[str, Token] = field(default_factory=dict)
    """Every name the scope defines (types, uses, functions), for duplicates; lookups only."""
    typedefs: dict[str, TypeDef] = field(default_factory=dict)
    """The types it defines, by name; lookups only."""
    used: dict[str, tuple[Use, Named]] = field(default_factory=dict)
    """The names ``use`` brings in, by local name, with the name in the used interface; lookups only."""

    folded: dict[str, Named] = field(default_factory=dict)
    """Every name by ``fold``, for names WIT takes as one; lookups only."""

    def define(self, name: Named, what: str) -> None:
        previous = self.names.get(name.name)
        if previous is not None:
            raise WitError(
                f"{what} `{name.name}` is defined twice in {self.kind} `{self.name.name}` (first at line "
                f"{previous.line}, column {previous.column}); rename one",
                name.token.line,
                name.token.column,
            )
        same = self.folded.get(fold(name.name))
        if same is not None:
            raise _same_names(name, same, f"{self.kind} `{self.name.name}`")
        self.names[name.name] = name.token
        self.folded[fold(name.name)] = name


def fold(name: str) -> str:
    """A name as WIT compares names for conflicts: without case and without ``-`` (``a-b``, ``ab``, ``AB``)."""
    return name.replace("-", "").lower()


def _same_names(name: Named, first: Named, where: str) -> WitError:
    if name.name == first.name:
        return WitError(
            f"`{name.name}` appears twice in {where} (first at line {first.token.line}, column "
            f"{first.token.column}); rename one",
            name.token.line,
            name.token.column,
        )
    return WitError(
        f"`{name.name}` and `{first.name}` (line {first.token.line}, column {first.token.column}) in {where} are one "
        "name to WIT, which compares names without case and `-` (bindings would collide); rename one",
        name.token.line,
        name.token.column,
    )


def check_distinct(labels: list[Named], where: str) -> None:
    """No two of ``labels`` (fields, cases or parameters of one item) may be one name to WIT (``fold``)."""
    seen: dict[str, Named] = {}
    for label in labels:
        first = seen.get(fold(label.name))
        if first is not None:
            raise _same_names(label, first, where)
        seen[fold(label.name)] = label


@dataclass(slots=True)
class Package:
    name: str
    docs: str
    interfaces: list[Scope]
    worlds: list[Scope]


# -- the parser -------------------------------------------------------------------------------------------------------


class Parser:
    """Recursive descent over the tokens; only ``type_expr`` recurses, at most ``MAX_TYPE_DEPTH`` deep."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    # -- tokens

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        if token.problem:
            raise self.error(token, token.problem)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def error(self, token: Token, message: str) -> WitError:
        return WitError(message, token.line, token.column)

    def at(self, kind: str, text: str) -> bool:
        token = self.peek()
        return token.kind == kind and token.text == text

    def eat(self, kind: str, text: str) -> bool:
        if self.at(kind, text):
            self.next()
            return True
        return False

    def expect(self, kind: str, text: str, context: str, hint: str = "") -> Token:
        token = self.peek()
        if token.kind == kind and token.text == text:
            return self.next()
        raise self.error(token, f"expected `{text}` {context}{hint}, found {token.describe()}")

    def ident(self, what: str) -> Named:
        token = self.peek()
        if token.kind == "id":
            self.next()
            return Named(token.text, token)
        if token.kind == "keyword":
            raise self.error(
                token,
                f"expected {what}, found the keyword `{token.text}`: a keyword is a name only when escaped, "
                f"write `%{token.text}`",
            )
        raise self.error(token, f"expected {what}, found {token.describe()}")

    def refuse_gate(self) -> None:
        token = self.peek()
        if token.kind == "punct" and token.text == "@":
            gate = self.peek(1)
            shown = f"@{gate.text}" if gate.kind == "id" else "@"
            raise self.error(
                token,
                f"found the annotation `{shown}`: feature gates (@since, @unstable, @deprecated) and "
                "@external-id are not in the subset; remove it",
            )

    def refuse_item(self, token: Token) -> None:
        if token.kind == "keyword" and token.text in REFUSED_ITEMS:
            raise self.error(token, f"found `{token.text}`: {REFUSED_ITEMS[token.text]}")

    # -- the package

    def package(self) -> Package:
        first = self.peek()
        if not self.at("keyword", "package"):
            raise self.error(
                first,
                f"expected the package declaration (`package ns:name;`) first, found {first.describe()}: "
                "an interface is one WIT package, named at the top",
            )
        self.next()
        namespace = self.ident("the package's namespace (`ns` in `package ns:name;`)")
        self.expect("punct", ":", "between the package's namespace and name (`package ns:name;`)")
        name = self.ident("the package's name (`name` in `package ns:name;`)")
        package = f"{namespace.name}:{name.name}"
        if self.at("punct", ":") or self.at("punct", "/"):
            raise self.error(self.peek(), "nested package names are not in the subset: write `package ns:name;`")
        version = self.peek()
        if version.kind == "version":
            self.next()
            package += f"@{version.text}"
        if self.at("punct", "{"):
            raise self.error(self.peek(), "nested packages are not in the subset: one file is one package")
        self.expect("punct", ";", "after the package declaration")
        interfaces: list[Scope] = []
        worlds: list[Scope] = []
        while self.peek().kind != "eof":
            self.refuse_gate()
            token = self.peek()
            if self.at("keyword", "interface"):
                interfaces.append(self.scope("interface"))
            elif self.at("keyword", "world"):
                worlds.append(self.scope("world"))
            elif self.at("keyword", "use"):
                raise self.error(
                    token,
                    "a top-level `use` is not in the subset: interfaces of other packages cannot be used; "
                    "use types of this package inside an interface or the world (`use types.{address};`)",
                )
            elif self.at("keyword", "package"):
                raise self.error(token, "a second package is not in the subset: one file is one package")
            else:
                raise self.error(token, f"expected `interface` or `world`, found {token.describe()}")
        return Package(package, first.docs, interfaces, worlds)

    def scope(self, kind: str) -> Scope:
        keyword = self.next()
        name = self.ident(f"the {kind}'s name")
        scope = Scope(kind, name, keyword.docs)
        self.expect("punct", "{", f"after `{kind} {name.name}`")
        while not self.eat("punct", "}"):
            self.refuse_gate()
            token = self.peek()
            if token.kind == "eof":
                raise self.error(token, f"expected `}}` to end {kind} `{name.name}`, found the end of the text")
            if self.at("keyword", "use"):
                use = self.use(scope)
                scope.uses.append(use)
                for original, local in use.names:
                    scope.used[local.name] = (use, original)
            elif token.kind == "keyword" and token.text in ("type", "record", "variant", "enum"):
                typedef = self.typedef()
                scope.define(typedef.name, "the type")
                scope.types.append(typedef)
                scope.typedefs[typedef.name.name] = typedef
            elif kind == "world" and token.kind == "keyword" and token.text in ("export", "import"):
                self.world_item(scope)
            elif kind == "interface" and token.kind == "id":
                func = self.func(self.ident("a function name"))
                scope.define(func.name, "the function")
                scope.funcs.append(func)
            else:
                self.refuse_item(token)
                self.refuse_escaped_keyword(token)
                if kind == "world":
                    expected = "`use`, `export`, `import`, `type`, `record`, `variant`, `enum` or `}`"
                else:
                    expected = "a function (`name: func(...)`), `use`, `type`, `record`, `variant`, `enum` or `}`"
                raise self.error(token, f"expected {expected} in {kind} `{name.name}`, found {token.describe()}")
        return scope

    def refuse_escaped_keyword(self, token: Token) -> None:
        if token.kind == "keyword" and self.peek(1).kind == "punct" and self.peek(1).text == ":":
            raise self.error(
                token, f"`{token.text}` is a WIT keyword: a keyword is a name only when escaped, write `%{token.text}`"
            )

    def use(self, scope: Scope) -> Use:
        self.next()
        interface = self.ident("the name of an interface of this package after `use`")
        if self.at("punct", ":") or self.at("punct", "/") or self.peek().kind == "version":
            raise self.error(
                self.peek(),
                "`use` of another package's interface is not in the subset: "
                "use an interface of this package (`use types.{address};`)",
            )
        self.expect("punct", ".", f"after `use {interface.name}`", " (`use iface.{a, b as c};`)")
        self.expect("punct", "{", f"after `use {interface.name}.`")
        names: list[tuple[Named, Named]] = []
        while True:
            original = self.ident("a type name to use")
            local = self.ident("the new name after `as`") if self.eat("keyword", "as") else original
            scope.define(local, "the name")
            names.append((original, local))
            if self.eat("punct", "}"):
                break
            self.expect("punct", ",", "between the names of a `use`", " or `}` to end them")
            if self.eat("punct", "}"):
                break
        self.expect("punct", ";", "after `use ... }`")
        return Use(interface, tuple(names))

    def typedef(self) -> TypeDef:
        keyword = self.next()
        name = self.ident(f"the {keyword.text}'s name")
        if keyword.text == "type":
            self.expect("punct", "=", f"after `type {name.name}`")
            alias = self.type_expr(0)
            self.expect("punct", ";", f"after the type of `type {name.name}`")
            return TypeDef("type", name, keyword.docs, alias=alias)
        self.expect("punct", "{", f"after `{keyword.text} {name.name}`")
        member = "field" if keyword.text == "record" else "case"
        members: list[tuple[Named, TypeExpr | None]] = []
        while not self.eat("punct", "}"):
            label = self.ident(f"a {member} name or `}}`")
            payload: TypeExpr | None = None
            if keyword.text == "record":
                self.expect("punct", ":", f"after the field name `{label.name}`", " (`name: type`)")
                payload = self.type_expr(0)
            elif keyword.text == "variant" and self.eat("punct", "("):
                payload = self.type_expr(0)
                self.expect("punct", ")", f"after the payload type of case `{label.name}`")
            members.append((label, payload))
            if self.eat("punct", "}"):
                break
            self.expect("punct", ",", f"between the {member}s of {keyword.text} `{name.name}`", " or `}` to end it")
        if not members:
            raise self.error(keyword, f"{keyword.text} `{name.name}` is empty: give it at least one {member}")
        return TypeDef(keyword.text, name, keyword.docs, members=tuple(members))

    def func(self, name: Named) -> Func:
        self.expect("punct", ":", f"after the function name `{name.name}`", " (`name: func(...)`)")
        self.refuse_item(self.peek())
        self.expect("keyword", "func", f"after `{name.name}:`", " (`name: func(p: type) -> type;`)")
        self.expect("punct", "(", f"after `{name.name}: func`")
        params: list[tuple[Named, TypeExpr]] = []
        while not self.eat("punct", ")"):
            param = self.ident("a parameter name or `)`")
            self.expect("punct", ":", f"after the parameter name `{param.name}`", " (`name: type`)")
            params.append((param, self.type_expr(0)))
            if self.eat("punct", ")"):
                break
            self.expect("punct", ",", f"between the parameters of `{name.name}`", " or `)` to end them")
        result: TypeExpr | None = None
        if self.eat("punct", "->"):
            if self.at("punct", "("):
                raise self.error(
                    self.peek(), "multiple or named results are not in the subset: return a tuple or a record"
                )
            result = self.type_expr(0)
        self.expect("punct", ";", f"after the function `{name.name}`")
        return Func(name, name.docs, tuple(params), result)

    def world_item(self, scope: Scope) -> None:
        keyword = self.next()
        name = self.ident(f"a function or interface name after `{keyword.text}`")
        if self.at("punct", ":") and keyword.text == "export":
            colon = self.peek(1)
            if colon.kind == "keyword" and colon.text == "interface":
                raise self.error(colon, "inline interfaces are not in the subset: declare `interface NAME { ... }`")
            if colon.kind == "id" and self.peek(2).kind == "punct" and self.peek(2).text in (":", "/"):
                raise self.error(
                    colon,
                    "`export` of another package's interface is not in the subset: export an interface of this "
                    "package by its name (`export view;`)",
                )
            if colon.kind != "keyword" or colon.text not in ("func", "async"):
                raise self.error(
                    colon,
                    f"expected `func` after `export {name.name}:`, found {colon.describe()}: exporting an "
                    "interface under another name is not in the subset; write `export IFACE;`",
                )
            func = self.func(name)
            scope.define(name, "the export")
            scope.exports.append(Func(func.name, keyword.docs or name.docs, func.params, func.result))
            return
        if self.at("punct", ":"):
            raise self.error(
                keyword,
                "a world's imported functions and named imports are not in the subset: a contract imports no "
                "functions through WIT (it calls other contracts with the host's `call`); remove it",
            )
        if self.at("punct", "/") or self.peek().kind == "version" or self.at("punct", "."):
            raise self.error(
                self.peek(),
                f"`{keyword.text}` of another package's interface is not in the subset: "
                f"{keyword.text} an interface of this package by its name",
            )
        self.expect("punct", ";", f"after `{keyword.text} {name.name}`")
        (scope.exports if keyword.text == "export" else scope.imports).append(name)

    def type_expr(self, depth: int) -> TypeExpr:
        token = self.next()
        if depth >= MAX_TYPE_DEPTH:
            raise self.error(token, f"this type nests more than {MAX_TYPE_DEPTH} levels deep; name an inner type")
        if token.kind == "id":
            return TypeExpr("ref", token, name=token.text)
        if token.kind != "keyword":
            raise self.error(token, f"expected a type, found {token.describe()}")
        word = token.text
        if word in ("u64", "s64", "bool", "string"):
            return TypeExpr(word, token)
        if word in REFUSED_TYPES:
            if word == "u8":
                raise self.error(token, f"found `u8` outside `list<u8>`: {REFUSED_TYPES[word]}")
            raise self.error(token, f"the type `{word}` is not in the subset: {REFUSED_TYPES[word]}")
        if word == "list":
            self.expect("punct", "<", "after `list`", " (`list<T>`)")
            if self.at("keyword", "u8"):
                self.next()
                self.list_end()
                return TypeExpr("bytes", token)
            item = self.type_expr(depth + 1)
            self.list_end()
            return TypeExpr("list", token, (item,))
        if word == "option":
            self.expect("punct", "<", "after `option`", " (`option<T>`)")
            item = self.type_expr(depth + 1)
            self.expect("punct", ">", "to end `option<...>`")
            return TypeExpr("option", token, (item,))
        if word == "tuple":
            self.expect("punct", "<", "after `tuple`", " (`tuple<A, B>`)")
            items = [self.type_expr(depth + 1)]
            while self.eat("punct", ","):
                if self.at("punct", ">"):
                    break
                items.append(self.type_expr(depth + 1))
            self.expect("punct", ">", "to end `tuple<...>`", " (or `,` before another type)")
            return TypeExpr("tuple", token, tuple(items))
        if word == "result":
            if not self.eat("punct", "<"):
                return TypeExpr("result", token, (None, None))
            ok: TypeExpr | None = None
            if not self.eat("keyword", "_"):
                ok = self.type_expr(depth + 1)
            err: TypeExpr | None = None
            if self.eat("punct", ","):
                err = self.type_expr(depth + 1)
            elif ok is None:
                raise self.error(
                    self.peek(), f"expected `,` and an error type after `result<_`, found {self.peek().describe()}"
                )
            self.expect("punct", ">", "to end `result<...>`")
            return TypeExpr("result", token, (ok, err))
        raise self.error(token, f"expected a type, found the keyword `{word}`")

    def list_end(self) -> None:
        if self.at("punct", ","):
            raise self.error(self.peek(), "fixed-length lists (`list<T, N>`) are not in the subset: use `list<T>`")
        self.expect("punct", ">", "to end `list<...>`")


# -- name resolution --------------------------------------------------------------------------------------------------


class Resolver:
    """Resolves the names of a parsed package into types, methods and events, in declaration order.

    Types may be used before they are defined (as in WIT); a type that refers
    to itself, directly or not, is refused, and so is one nested deeper than
    ``MAX_TYPE_DEPTH`` counting every reference by name as a level, which
    bounds the recursion.
    """

    def __init__(self, package: Package) -> None:
        self.package = package
        self.interfaces: dict[str, Scope] = {}
        self.resolved: dict[tuple[str, str], tuple[WitType, int]] = {}
        """(scope, type name) -> (the type, its depth): lookups only."""
        self.resolving: list[tuple[str, str]] = []
        self.found: dict[tuple[str, str], tuple[Scope, str, Token]] = {}
        """(scope, used name) -> where the chain of ``use`` it starts ends: lookups only."""

    def run(self, text: str) -> Interface:
        package = self.package
        seen: dict[str, Token] = {}
        for scope in package.interfaces + package.worlds:
            previous = seen.get(scope.name.name)
            if previous is not None:
                raise WitError(
                    f"`{scope.name.name}` names two interfaces or worlds (the first at line {previous.line}, "
                    f"column {previous.column}); rename one",
                    scope.name.token.line,
                    scope.name.token.column,
                )
            seen[scope.name.name] = scope.name.token
        self.interfaces = {scope.name.name: scope for scope in package.interfaces}
        if len(package.worlds) != 1:
            where = package.worlds[1].name.token if package.worlds else None
            found = "none" if not package.worlds else f"{len(package.worlds)}"
            raise WitError(
                f"expected exactly one world in the package, found {found}: the world declares the contract's "
                "methods (`world NAME { export ... }`)",
                where.line if where else None,
                where.column if where else None,
            )
        self.check_use_cycles()
        for scope in package.interfaces + package.worlds:
            for use in scope.uses:
                for _, local in use.names:
                    self.lookup(scope, local.name, local.token, 0)
            for typedef in scope.types:
                self.named(scope, typedef.name.name, typedef.name.token, 0)
        world = package.worlds[0]
        methods = self.methods(world)
        events = self.events()
        nodes = _Counter()
        for method in methods:
            for param in method.params:
                nodes.add(param.type)
            if method.result is not None:
                nodes.add(method.result)
        for event in events:
            nodes.add(event.record)
        if nodes.total > MAX_TYPE_NODES:
            raise WitError(
                f"the methods' and events' types hold {nodes.total} types when named types are expanded; the limit "
                f"is {MAX_TYPE_NODES}: use fewer or smaller types"
            )
        return Interface(
            package=package.name,
            world=world.name.name,
            text=text,
            methods=methods,
            events=events,
            docs=world.docs or package.docs,
        )

    # -- interfaces

    def interface(self, name: Named, what: str) -> Scope:
        scope = self.interfaces.get(name.name)
        if scope is None:
            known = ", ".join(f"`{s.name.name}`" for s in self.package.interfaces) or "none"
            raise WitError(
                f"{what} names the interface `{name.name}`, which this package does not declare (its interfaces: "
                f"{known}); declare `interface {name.name} {{ ... }}` or fix the name",
                name.token.line,
                name.token.column,
            )
        return scope

    def check_use_cycles(self) -> None:
        """Interfaces may not use each other's types in a cycle (as in WIT): a topological order must exist."""
        deps: dict[str, list[Use]] = {}
        for scope in self.package.interfaces:
            for use in scope.uses:
                self.interface(use.interface, f"`use {use.interface.name}`")
            deps[scope.name.name] = scope.uses
        done: set[str] = set()
        for scope in self.package.interfaces:
            # Iterative depth-first search: no recursion however long the chain.
            path: list[str] = []
            stack: list[tuple[str, int]] = [(scope.name.name, 0)]
            on_path: set[str] = set()
            while stack:
                current, index = stack.pop()
                if index == 0:
                    if current in done:
                        continue
                    path.append(current)
                    on_path.add(current)
                uses = deps[current]
                if index < len(uses):
                    stack.append((current, index + 1))
                    target = uses[index].interface
                    if target.name in on_path:
                        cycle = " -> ".join(path[path.index(target.name) :] + [target.name])
                        raise WitError(
                            f"interfaces use each other's types in a cycle ({cycle}); move the shared types "
                            "into one interface",
                            target.token.line,
                            target.token.column,
                        )
                    if target.name not in done:
                        stack.append((target.name, 0))
                else:
                    path.pop()
                    on_path.discard(current)
                    done.add(current)

    # -- types

    def lookup(self, scope: Scope, name: str, token: Token, level: int) -> tuple[WitType, int]:
        """The type ``name`` means in ``scope`` (its own, or brought in by ``use``) and its definition's depth.

        ``level`` is the definition's level.  Chains of ``use`` are followed in a loop: the interfaces'
        uses form no cycle (``check_use_cycles``), so it ends, however long the chain.
        """
        followed: list[tuple[str, str]] = []
        while name not in scope.typedefs:
            known = self.found.get((scope.name.name, name))
            if known is not None:
                scope, name, token = known
                break
            followed.append((scope.name.name, name))
            used = scope.used.get(name)
            if used is None:
                if name in scope.names:
                    raise WitError(f"`{name}` is a function, not a type", token.line, token.column)
                hint = " (declare `type address = list<u8>;` and use it)" if name in (ADDRESS, U128) else ""
                raise WitError(
                    f"unknown type `{name}` in {scope.kind} `{scope.name.name}`: define it there or bring it in "
                    f"with `use IFACE.{{{name}}};`{hint}",
                    token.line,
                    token.column,
                )
            use, original = used
            target = self.interface(use.interface, f"`use {use.interface.name}`")
            if original.name not in target.typedefs and original.name not in target.used:
                what = "a function" if original.name in target.names else "no type"
                raise WitError(
                    f"`use {use.interface.name}.{{{original.name}}}`: `{original.name}` is {what} of interface "
                    f"`{target.name.name}`; use one of its types",
                    original.token.line,
                    original.token.column,
                )
            scope, name, token = target, original.name, original.token
        for key in followed:
            self.found[key] = (scope, name, token)
        return self.named(scope, name, token, level)

    def named(self, scope: Scope, name: str, token: Token, level: int) -> tuple[WitType, int]:
        """A type defined in ``scope``, resolved once, and its depth; its definition stands at ``level``."""
        key = (scope.name.name, name)
        done = self.resolved.get(key)
        if done is None:
            if key in self.resolving:
                raise WitError(
                    f"the type `{name}` refers to itself; WIT types cannot be recursive", token.line, token.column
                )
            self.resolving.append(key)
            done = self.definition(scope, scope.typedefs[name], level)
            self.resolving.pop()
            self.resolved[key] = done
        self.check_depth(level + done[1], token)
        return done

    def check_depth(self, depth: int, token: Token) -> None:
        if depth > MAX_TYPE_DEPTH:
            raise WitError(
                f"this type nests more than {MAX_TYPE_DEPTH} levels deep (each reference by name counts as one); "
                "flatten it",
                token.line,
                token.column,
            )

    def definition(self, scope: Scope, typedef: TypeDef, level: int) -> tuple[WitType, int]:
        """A typedef's type and depth (an alias is as deep as its type; a record one more than its fields)."""
        name = typedef.name
        if typedef.kind == "type":
            alias = typedef.alias
            assert alias is not None
            if name.name in (ADDRESS, U128):
                if alias.kind != "bytes":
                    raise WitError(
                        f"`{name.name}` must be declared `type {name.name} = list<u8>;` "
                        f"({_NAMED_MEANING[name.name]}), found another type",
                        alias.token.line,
                        alias.token.column,
                    )
                return (AddressType() if name.name == ADDRESS else U128Type()), 2
            return self.expr(scope, alias, level)
        if name.name in (ADDRESS, U128):
            raise WitError(
                f"`{name.name}` is the project's {_NAMED_MEANING[name.name]}: declare it "
                f"`type {name.name} = list<u8>;`, not as a {typedef.kind}",
                name.token.line,
                name.token.column,
            )
        check_distinct([label for label, _ in typedef.members], f"{typedef.kind} `{name.name}`")
        inner_depth = 0
        if typedef.kind == "record":
            fields = []
            for label, expr in typedef.members:
                assert expr is not None
                inner, depth = self.expr(scope, expr, level + 1)
                inner_depth = max(inner_depth, depth)
                fields.append(Field(label.name, wit_key(label.name), inner, label.docs))
            return Record(name.name, tuple(fields), typedef.docs), inner_depth + 1
        cases = []
        for label, expr in typedef.members:
            payload: WitType | None = None
            if expr is not None:
                payload, depth = self.expr(scope, expr, level + 1)
                inner_depth = max(inner_depth, depth)
            cases.append(Case(label.name, wit_key(label.name), payload, label.docs))
        if typedef.kind == "variant":
            return Variant(name.name, tuple(cases), typedef.docs), inner_depth + 1
        return Enum(name.name, tuple(cases), typedef.docs), 1

    def expr(self, scope: Scope, expr: TypeExpr, level: int) -> tuple[WitType, int]:
        """A type expression's type and depth; ``level`` counts the levels above it in its outermost type."""
        self.check_depth(level + 1, expr.token)
        kind = expr.kind
        if kind == "ref":
            named, depth = self.lookup(scope, expr.name, expr.token, level + 1)
            return named, depth + 1
        prim = _PRIMS.get(kind)
        if prim is not None:
            return prim, 1
        if kind == "bytes":
            self.check_depth(level + 2, expr.token)
            return Bytes(), 2
        inner_depth = 0
        resolved: list[WitType | None] = []
        for arg in expr.args:
            inner: WitType | None = None
            if arg is not None:
                inner, depth = self.expr(scope, arg, level + 1)
                inner_depth = max(inner_depth, depth)
            resolved.append(inner)
        if kind == "list":
            assert resolved[0] is not None
            return ListOf(resolved[0]), inner_depth + 1
        if kind == "option":
            item = resolved[0]
            assert item is not None
            if isinstance(item, OptionOf):
                raise WitError(
                    f"`option<{wit_name(item)}>` is not in the subset: none and some(none) would be the same msgpack "
                    "nil; use a variant",
                    expr.token.line,
                    expr.token.column,
                )
            return OptionOf(item), inner_depth + 1
        if kind == "tuple":
            return TupleOf(tuple(t for t in resolved if t is not None)), inner_depth + 1
        return ResultOf(resolved[0], resolved[1]), inner_depth + 1

    # -- the world

    def methods(self, world: Scope) -> tuple[Method, ...]:
        methods: list[Method] = []
        exported: dict[str, Token] = {}
        for imported in world.imports:
            target = self.interface(imported, f"`import {imported.name}`")
            if target.funcs:
                func = target.funcs[0]
                raise WitError(
                    f"`import {imported.name}`: interface `{imported.name}` has functions (`{func.name.name}`), and a "
                    "contract imports no functions through WIT (it calls other contracts with the host's `call`); "
                    "import an interface of types only, or `use` its types",
                    imported.token.line,
                    imported.token.column,
                )
        methods.extend(self.method(world, item, None) for item in world.exports if isinstance(item, Func))
        for item in world.exports:
            if isinstance(item, Func):
                continue
            if item.name in exported:
                raise WitError(f"`export {item.name}` appears twice; remove one", item.token.line, item.token.column)
            exported[item.name] = item.token
            target = self.interface(item, f"`export {item.name}`")
            methods.extend(self.method(target, func, target.name.name) for func in target.funcs)
        self.check_implicit_imports(world)
        seen: dict[str, Method] = {}
        for method in methods:
            previous = seen.get(method.export)
            if previous is not None:
                raise WitError(
                    f"two methods are the export `{method.export}`: `{previous.name}` of {_owner(previous)} and "
                    f"`{method.name}` of {_owner(method)}; rename one"
                )
            seen[method.export] = method
        return tuple(methods)

    def check_implicit_imports(self, world: Scope) -> None:
        """No interface the world imports because an exported one uses it may depend on an exported one.

        An interface the world exports may use types of one it does not export: the world then imports
        that one, and with it, everything that one uses. Should any of those be exported too, the world
        would hold it twice, imported and exported, and the exported interface would see both copies;
        WIT refuses such a world (wit-parser: "transitively depends on an interface in incompatible
        ways"), and so does ours. Each interface is walked once, without recursion.
        """
        exported = {item.name: item for item in world.exports if isinstance(item, Named)}
        # Each interface imported this way -> the interface it was reached from (the way back to an export).
        parent: dict[str, str] = {}
        for item in exported.values():
            stack = [item.name]
            while stack:
                current = stack.pop()
                for use in self.interfaces[current].uses:
                    target = use.interface.name
                    if target in exported:
                        if current not in exported:
                            raise self.incompatible_import(world, exported, parent, current, target)
                    elif target not in parent:
                        parent[target] = current
                        stack.append(target)

    def incompatible_import(
        self, world: Scope, exported: dict[str, Named], parent: dict[str, str], imported: str, target: str
    ) -> WitError:
        path = [imported]
        while path[-1] not in exported:
            path.append(parent[path[-1]])
        path.reverse()
        origin, between = exported[path[0]], path[1:]
        # A long chain is shortened: the message stays small however long the text makes it.
        shown = [f"`{name}`" for name in [*path, target]]
        if len(shown) > 6:
            shown = [*shown[:3], f"... ({len(shown) - 5} more)", *shown[-2:]]
        chain = " -> ".join(shown)
        named = [f"`{name}`" for name in between]
        if len(named) > 4:
            named = [*named[:2], f"{len(named) - 3} more", named[-1]]
        through = " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
        return WitError(
            f"interface `{origin.name}`, which world `{world.name.name}` exports, depends through {through}, which "
            f"the world does not export and so imports, on `{target}`, which it exports ({chain}): the world would "
            f"hold `{target}` twice, imported and exported, which WIT refuses; export {through} too, or do not "
            f"export `{target}`",
            origin.token.line,
            origin.token.column,
        )

    def method(self, scope: Scope, func: Func, interface: str | None) -> Method:
        params = []
        check_distinct([label for label, _ in func.params], f"the parameters of `{func.name.name}`")
        for label, expr in func.params:
            params.append(Param(label.name, wit_key(label.name), self.expr(scope, expr, 0)[0]))
        result = None if func.result is None else self.expr(scope, func.result, 0)[0]
        return Method(
            name=func.name.name,
            export=wit_key(func.name.name),
            params=tuple(params),
            result=result,
            readonly=interface == VIEW_INTERFACE,
            docs=func.docs,
            interface=interface,
        )

    def events(self) -> tuple[EventType, ...]:
        scope = self.interfaces.get(EVENTS_INTERFACE)
        if scope is None:
            return ()
        # Two records of one interface never share an emitted name: names that differ only in case and `-`
        # are refused (``Scope.define``), and UpperCamelCase keeps every letter of the name.
        events: list[EventType] = []
        for typedef in scope.types:
            if typedef.kind != "record":
                continue
            record, _ = self.named(scope, typedef.name.name, typedef.name.token, 0)
            assert isinstance(record, Record)
            events.append(EventType(record.name, event_name(record.name), record, record.docs))
        return tuple(events)


_PRIMS: Final[dict[str, Prim]] = {name: Prim(name) for name in PRIMITIVES}

_NAMED_MEANING: Final = {ADDRESS: "a 20-byte address", U128: "an unsigned 128-bit integer"}


def _owner(method: Method) -> str:
    return "the world" if method.interface is None else f"interface `{method.interface}`"


class _Counter:
    """Counts the types of a type tree with named types expanded, without expanding them (memoized per object)."""

    def __init__(self) -> None:
        self.total = 0
        self.sizes: dict[int, int] = {}
        self.keep: list[WitType] = []

    def add(self, t: WitType) -> None:
        self.total += self.size(t)

    def size(self, t: WitType) -> int:
        known = self.sizes.get(id(t))
        if known is not None:
            return known
        children: list[WitType | None]
        match t:
            case ListOf(item) | OptionOf(item):
                children = [item]
            case TupleOf(items):
                children = list(items)
            case Record(_, fields):
                children = [f.type for f in fields]
            case Variant(_, cases) | Enum(_, cases):
                children = [c.type for c in cases]
            case ResultOf(ok, err):
                children = [ok, err]
            case _:
                children = []
        size = 1 + sum(self.size(c) for c in children if c is not None)
        self.sizes[id(t)] = size
        self.keep.append(t)  # ids stay unique while the counter lives
        return size


def parse_wit(text: str) -> Interface:
    """Parse and resolve the WIT text of a contract's interface; ``WitError`` names the problem and where."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_WIT_BYTES:
        raise WitError(f"the interface is {size} bytes of text; the limit is {MAX_WIT_BYTES}")
    package = Parser(tokenize(text)).package()
    return Resolver(package).run(text)
