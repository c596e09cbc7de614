"""Conformance: each example contract does what its WIT world says (issue 14, item 3).

For every method of the three examples' worlds, hypothesis draws arguments from the method's
parameter types (``strategy_for``: a strategy per WIT type), and the call, simulated with a
trace on a chain where the examples are deployed and hold tokens, must

- never fail decoding its arguments (the SDK's messages: ``missing argument "x"``,
  ``argument "x" must be ...``, ``argument "x" is ...``, ``arguments must be a msgpack map``,
  ``arguments: <msgpack error>``; contracts/sdk/src/args.rs);
- return data that decodes with the declared result type;
- emit only declared events, each decoding with its record type;
- for a read-only method (the world's ``view`` interface), write and remove no storage.

A method named ``init`` is simulated as a deploy of the module with that init call (on the
deployed contract it would only refuse a second init).  The checker has teeth: the token's code
with a world that lies about it (a param, a result or an event field of the wrong type, an
event left out, a writing method declared read-only) is caught by the same property.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.wit_modules import with_interface
from wasmchain.client.client import Account, Client, Contract, EncodedArgs
from wasmchain.client.local import local_client
from wasmchain.client.results import CallResult, EventStep, StorageRemove, StorageWrite
from wasmchain.vm.wit.section import interface_of
from wasmchain.vm.wit.types import (
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
)
from wasmchain.vm.wit.values import decode_event, decode_result, encode_args

ROOT = Path(__file__).resolve().parents[2]
GENESIS = ROOT / "genesis.json"
EXAMPLES = {name: ROOT / "contracts" / name / f"{name}.wasm" for name in ("token", "vault", "counter")}

ARGUMENT_DECODING = re.compile(
    r'missing argument "|argument "[^"]*" (must be|is )|arguments must be a msgpack map|arguments: '
)
"""The SDK's argument-decoding failures (contracts/sdk/src/args.rs): what a well-typed call never meets."""

U64_MAX, S64_MIN, S64_MAX, U128_MAX = 2**64 - 1, -(2**63), 2**63 - 1, 2**128 - 1
EXAMPLES_PER_METHOD = 30


# -- strategies from WIT types ----------------------------------------------------------------


def integers_with_edges(low: int, high: int) -> st.SearchStrategy[int]:
    """Any integer of the range, the ends and the small numbers drawn more often than chance would."""
    edges = sorted({low, high, max(low, 0), min(high, 1), min(high, 2**32), max(low, -1)})
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def strategy_for(t: WitType, addresses: Sequence[bytes] = ()) -> st.SearchStrategy[Any]:
    """Values of WIT type ``t`` as the client takes them (docs/abi.md's JSON column, bytes as bytes).

    Addresses are drawn from ``addresses`` (accounts and contracts of the
    chain, so calls reach their interesting paths) and from random 20 bytes.
    """
    if isinstance(t, Prim):
        if t.name == "u64":
            return integers_with_edges(0, U64_MAX)
        if t.name == "s64":
            return integers_with_edges(S64_MIN, S64_MAX)
        if t.name == "bool":
            return st.booleans()
        if t.name == "string":
            return st.text(max_size=24)
    if isinstance(t, Bytes):
        return st.binary(max_size=48)
    if isinstance(t, AddressType):
        random = st.binary(min_size=20, max_size=20)
        return st.one_of(st.sampled_from(list(addresses)), random) if addresses else random
    if isinstance(t, U128Type):
        return integers_with_edges(0, U128_MAX)
    if isinstance(t, ListOf):
        return st.lists(strategy_for(t.item, addresses), max_size=4)
    if isinstance(t, OptionOf):
        return st.one_of(st.none(), strategy_for(t.item, addresses))
    if isinstance(t, TupleOf):
        return st.tuples(*(strategy_for(item, addresses) for item in t.items)).map(list)
    if isinstance(t, Record):
        return st.fixed_dictionaries({field.key: strategy_for(field.type, addresses) for field in t.fields})
    if isinstance(t, Enum):
        return st.sampled_from([case.key for case in t.cases])
    if isinstance(t, Variant):
        return st.one_of(
            *(
                st.just(case.key)
                if case.type is None
                else strategy_for(case.type, addresses).map(lambda value, key=case.key: {key: value})
                for case in t.cases
            )
        )
    if isinstance(t, ResultOf):
        ok = st.none() if t.ok is None else strategy_for(t.ok, addresses)
        err = st.none() if t.err is None else strategy_for(t.err, addresses)
        return st.one_of(ok.map(lambda value: {"ok": value}), err.map(lambda value: {"err": value}))
    raise AssertionError(f"no strategy for the WIT type {t!r}")


def args_for(method: Method, addresses: Sequence[bytes]) -> st.SearchStrategy[dict[str, Any]]:
    """A method's arguments: each param drawn from its type (an option param may also be left out)."""
    required = {p.key: strategy_for(p.type, addresses) for p in method.params if not isinstance(p.type, OptionOf)}
    optional = {p.key: strategy_for(p.type, addresses) for p in method.params if isinstance(p.type, OptionOf)}
    return st.fixed_dictionaries(required, optional=optional)


# -- the checker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    """A contract under test on a chain: its handle, the module it runs and the interface that module declares."""

    client: Client
    contract: Contract
    code: bytes
    interface: Interface
    senders: tuple[Account, ...]
    addresses: tuple[bytes, ...]
    """Addresses worth drawing: the chain's accounts and contracts, and the zero address."""


def run(deployed: Deployed, method: Method, args: dict[str, Any], sender: Account) -> CallResult:
    """The call simulated with a trace; a method named ``init`` as a deploy of the module with that init."""
    encoded = EncodedArgs(encode_args(method, args))
    if method.export == "init":
        return deployed.client.simulate(sender, code=deployed.code, method="init", args=encoded, trace=True)
    return deployed.client.simulate(sender, to=deployed.contract, method=method.export, args=encoded, trace=True)


def problems(deployed: Deployed, method: Method, args: dict[str, Any], result: CallResult) -> list[str]:
    """How a simulated well-typed call disagrees with the world: empty when it conforms."""
    found = []
    call = f"{method.export}({args!r})"
    if not result.ok and ARGUMENT_DECODING.search(result.error or ""):
        found.append(f"{call} failed decoding its well-typed arguments: {result.error}")
    if result.ok:
        try:
            decode_result(method, result.return_data)
        except ValueError as error:
            found.append(f"{call} returned 0x{result.return_data.hex()}, not its declared result: {error}")
    trace = result.trace
    assert trace is not None
    own = {deployed.contract.address, trace.contract_address}
    for frame in trace.frames():
        for step in frame.steps:
            if isinstance(step, EventStep) and frame.contract in own:
                try:
                    decode_event(deployed.interface, step.name, step.data.raw)
                except LookupError:
                    found.append(f"{call} emitted {step.name}, an event the world does not declare")
                except ValueError as error:
                    found.append(f"{call} emitted {step.name} with data its record does not fit: {error}")
            if method.readonly and isinstance(step, (StorageWrite, StorageRemove)):
                found.append(f"{call} is read-only in the world but did {step.op} in {frame.contract}::{frame.method}")
    return found


def check_conformance(deployed: Deployed, method: Method) -> dict[str, int]:
    """The property: every well-typed call of ``method`` conforms (hypothesis draws the calls).

    Returns how many calls ended with each status, so a test can require
    that the calls reached the method's work and not only its refusals.
    """
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES_PER_METHOD,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(args=args_for(method, deployed.addresses), sender=st.sampled_from(deployed.senders))
    def conforms(args: dict[str, Any], sender: Account) -> None:
        result = run(deployed, method, args, sender)
        outcomes[result.status] = outcomes.get(result.status, 0) + 1
        found = problems(deployed, method, args, result)
        assert not found, "\n".join(found)

    conforms()
    return outcomes


# -- the examples -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> dict[str, Deployed]:
    """The three examples on one fresh chain: the vault holds tokens, accounts hold tokens, the counter counted."""
    client = local_client(GENESIS)
    alice, bob, carol = (client.dev_account(index) for index in range(3))
    token = alice.deploy(EXAMPLES["token"], init="init", args={"supply": 1_000_000})
    vault = alice.deploy(EXAMPLES["vault"], init="init", args={"token": token})
    counter = alice.deploy(EXAMPLES["counter"])
    token.call("transfer", {"to": vault, "amount": 5_000}, sender=alice)
    token.call("transfer", {"to": bob, "amount": 700}, sender=alice)
    counter.call("increment", sender=bob)
    addresses = tuple(bytes.fromhex(party.address[2:]) for party in (alice, bob, carol, token, vault, counter)) + (
        bytes(20),
    )
    deployed = {}
    for name, contract in (("token", token), ("vault", vault), ("counter", counter)):
        code = EXAMPLES[name].read_bytes()
        interface = interface_of(code)
        assert interface is not None, f"{name}.wasm carries no interface"
        deployed[name] = Deployed(client, contract, code, interface, (alice, bob, carol), addresses)
    return deployed


def example_methods() -> list[tuple[str, str]]:
    found = []
    for name, path in EXAMPLES.items():
        interface = interface_of(path.read_bytes())
        assert interface is not None, f"{path.name} carries no interface"
        found += [(name, method.export) for method in interface.methods]
    return found


@pytest.mark.parametrize(("example", "export"), example_methods())
def test_every_method_of_the_examples_conforms_to_its_world(
    chain: dict[str, Deployed], example: str, export: str
) -> None:
    deployed = chain[example]
    method = deployed.interface.method(export)
    assert method is not None
    outcomes = check_conformance(deployed, method)
    assert outcomes.get("ok", 0) > 0, f"no drawn call of {export} succeeded: {outcomes}"


def test_the_examples_declare_what_the_readme_says(chain: dict[str, Deployed]) -> None:
    exports = {name: [m.export for m in deployed.interface.methods] for name, deployed in chain.items()}
    assert exports == {
        "token": ["init", "transfer", "balance_of", "total_supply"],
        "vault": ["init", "withdraw", "balance", "token"],
        "counter": ["increment", "get"],
    }
    readonly = {name: [m.export for m in d.interface.methods if m.readonly] for name, d in chain.items()}
    assert readonly == {"token": ["balance_of", "total_supply"], "vault": ["balance", "token"], "counter": ["get"]}
    assert [event.event for event in chain["token"].interface.events] == ["Transfer"]


# -- the checker's teeth: worlds that lie about the token -------------------------------------

TOKEN_WIT = (ROOT / "contracts" / "token" / "token.wit").read_text()

LIES = {
    "a param's type": (
        [("export transfer: func(to: address, amount: u64);", "export transfer: func(to: address, amount: string);")],
        "transfer",
        r'failed decoding its well-typed arguments: argument "amount" must be an unsigned integer',
    ),
    "a param's name": (
        [("export transfer: func(to: address, amount: u64);", "export transfer: func(to: address, value: u64);")],
        "transfer",
        r'failed decoding its well-typed arguments: missing argument "amount"',
    ),
    "a result's type": (
        [("total-supply: func() -> u64;", "total-supply: func() -> string;")],
        "total_supply",
        r"returned 0x[0-9a-f]+, not its declared result",
    ),
    "an event field's type": (
        [("        amount: u64,\n    }", "        amount: string,\n    }")],
        "transfer",
        r"emitted Transfer with data its record does not fit",
    ),
    "an event left out": (
        [("    record transfer {", "    record transferred {")],
        "transfer",
        r"emitted Transfer, an event the world does not declare",
    ),
    "a writing method declared read-only": (
        [  # moved from the world into the view interface
            ("    export transfer: func(to: address, amount: u64);\n", ""),
            (
                "    total-supply: func() -> u64;",
                "    total-supply: func() -> u64;\n    transfer: func(to: address, amount: u64);",
            ),
        ],
        "transfer",
        r"is read-only in the world but did storage_write",
    ),
}
"""What is changed in token.wit (each old text, once there, and its new text), the method that shows it, and
what the checker says."""


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_world_that_lies_about_its_contract_is_caught(chain: dict[str, Deployed], lie: str) -> None:
    changes, export, complaint = LIES[lie]
    world = TOKEN_WIT
    for old, new in changes:
        assert world.count(old) == 1, f"token.wit no longer holds {old!r} once: update the lie"
        world = world.replace(old, new)
    honest = chain["token"]
    code = with_interface(honest.code, world)
    interface = interface_of(code)
    assert interface is not None
    alice = honest.senders[0]
    liar = alice.deploy(code, init="init", args={"supply": 10**6})
    deployed = Deployed(honest.client, liar, code, interface, honest.senders, honest.addresses)
    with pytest.raises(AssertionError, match=complaint):
        check_conformance(deployed, _method(interface, export))


def _method(interface: Interface, export: str) -> Method:
    method = interface.method(export)
    assert method is not None, export
    return method
