"""A Python client for a wasmchain node: JSON-RPC over HTTP, or in-process.

Two layers.  The high-level one is for contract developers (as
near-workspaces and cw-multi-test are for theirs)::

    client = local_client()                 # or Client.connect("http://127.0.0.1:8545")
    alice, bob = client.dev_account(0), client.dev_account(1)
    token = alice.deploy("contracts/token/token.wasm", init="init", args={"supply": 1000})
    receipt = token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
    assert receipt.events[0].data == {"from": alice.address, "to": bob.address, "amount": 5}
    assert token.view("balance_of", {"owner": bob}) == 5

A transaction that is included but fails raises ``TransactionFailed``
(``check=False`` returns its ``TxResult`` instead); one the node refuses
raises ``RPCClientError``.  Every error here is a ``ClientError``.

The low level: ``Client.call(method, **params)`` is one JSON-RPC call; it returns the
result or raises ``RPCClientError`` with the node's code, message and reason.  Two
transports carry it:

- ``HTTPTransport(url)`` (``client.transport``): a running ``wasmchain devnet``; one
  kept-alive connection per thread;
- ``LocalTransport(dispatcher)`` (``client.local``): a ``Dispatcher`` in this process (the
  pytest fixture, the embedded CLI): no server, no port, same answers.

The results (``CallResult``, ``TxResult``, events) and the errors about them are in
``client.results``; the package root re-exports all of it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, Union, overload

from wasmchain.client.results import (
    ArgumentTypeError,
    CallResult,
    Head,
    LoggedEvent,
    ReceiptTimeout,
    Trace,
    TxResult,
)
from wasmchain.client.transport import (
    DEFAULT_TIMEOUT,
    ClientError,
    HTTPTransport,
    LiveResults,
    RPCClientError,
    Subscribing,
    Transport,
)
from wasmchain.node.jsonrpc import MAX_EVENT_BLOCK_RANGE, MAX_EVENTS
from wasmchain.protocol.args import ArgsError, encode_args
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.keys import ADDRESS_SIZE, DEV_ACCOUNTS, KeyPair, dev_key, format_address, parse_address
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind

if TYPE_CHECKING:  # the typed methods load the VM's WIT codec: imported when a contract first has an interface
    from wasmchain.client.typed import TypedInterface, TypedMethod
    from wasmchain.vm.wit.types import Interface

# -- accounts and contracts ------------------------------------------------------------------

AddressLike = Union[str, bytes, "Account", "Contract"]
"""An address as ``0x`` + 40 hex digits, as its 20 bytes, or an ``Account`` or ``Contract`` handle."""

SECTION_NAME_BYTES = b"wasmchain:wit"
"""The name of the custom section that holds a module's interface (``wasmchain.vm.wit.section.SECTION_NAME``)."""
GAS_MARGIN_LEVELS = 8
"""Nesting levels the default gas limit covers (the devnet's ``max_call_depth``); see ``estimate_gas``."""
DEFAULT_RECEIPT_TIMEOUT = 60.0
"""Seconds ``wait_for_receipt`` waits by default (with ``--block-time``, a few blocks)."""
POLL_INTERVAL = 0.1
"""Seconds between two ``get_receipt`` polls."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Account:
    """A key on a node: sends transactions signed with it.  Get one from ``Client.dev_account``."""

    client: Client = field(compare=False, repr=False)
    key: KeyPair = field(compare=False, repr=False)
    address: str = field(init=False)
    """``0x`` + 40 hex digits; accounts compare and hash by it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", format_address(self.key.address))

    def balance(self) -> int:
        """The native token balance at the head."""
        return self.client.balance(self)

    def nonce(self) -> int:
        """The nonce of this account's next transaction (counting its pending ones)."""
        return self.client.nonce(self)

    def transfer(self, to: AddressLike, amount: int, *, gas: int | None = None, check: bool = True) -> TxResult:
        """Send ``amount`` native tokens to ``to``; see ``Client.transact`` for ``gas`` and ``check``."""
        return self.client.transact(self, TxKind.TRANSFER, to=to, value=amount, gas=gas, check=check)

    def deploy(
        self,
        code: bytes | bytearray | str | os.PathLike[str],
        init: str | None = None,
        args: Any = None,
        *,
        gas: int | None = None,
        value: int = 0,
    ) -> Contract:
        """Deploy a module (its bytes, or the path of a ``.wasm`` file), calling ``init`` with ``args`` if given.

        Returns the new contract, whose ``deployment`` is the receipt; its
        typed methods (if the module carries an interface) sign as this
        account.  Raises ``TransactionFailed`` if the init call failed (no
        contract is created then, and the fee is paid).  If the module's
        interface declares ``init``, ``args`` are checked against it first
        (``ArgumentTypeError``, nothing sent).
        """
        if args is not None and init is None:
            raise ClientError("deploy args are the init method's: name it with init=")
        module = bytes(code) if isinstance(code, (bytes, bytearray)) else _read_module(code)
        if init is not None and not isinstance(args, EncodedArgs):
            typed = self.client.interface_of_code(module)
            method = typed.method(init) if typed is not None else None
            if typed is not None and method is not None:
                args = typed.encode(method, _as_map(method.export, args))
        result = self.client.transact(self, TxKind.DEPLOY, code=module, method=init, args=args, value=value, gas=gas)
        if result.address is None:
            raise ClientError(f"deploy {result.tx_hash} succeeded but its receipt names no address")
        return Contract(self.client, result.address, result, self)


class TypedMethods:
    """A contract's typed methods by export name: ``contract.methods.balance_of`` or ``contract.methods["balance_of"]``.

    Iterating gives the names in declaration order.  It has no public
    attribute of its own, so every method name reaches its method (a
    counter's ``get`` too).
    """

    def __init__(self, methods: dict[str, TypedMethod]) -> None:
        self._methods = methods

    def __getattr__(self, name: str) -> TypedMethod:
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(_no_method(self._methods, name))
        return self._methods[name]

    def __getitem__(self, name: str) -> TypedMethod:
        if name not in self._methods:
            raise KeyError(_no_method(self._methods, name))
        return self._methods[name]

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[str]:
        return iter(self._methods)

    def __len__(self) -> int:
        return len(self._methods)

    def __dir__(self) -> list[str]:
        return sorted({*object.__dir__(self), *self._methods})

    def __repr__(self) -> str:
        return f"<methods {', '.join(self._methods) or '(none: no interface)'}>"


def _no_method(methods: Collection[str], name: str) -> str:
    if not methods:
        return f"no attribute {name!r}: the contract declares no interface (call its methods by name: call, view)"
    return f"the contract's interface declares no method {name!r}; it has: {', '.join(methods)}"


@dataclass(slots=True)
class _InterfaceMemo:
    """What a handle (and the handles ``with_sender`` makes of it, which share it) learnt of its contract's
    interface; each handle binds its own ``methods`` (they sign as its sender)."""

    fetched: bool = False
    typed: TypedInterface | None = None


@dataclass(frozen=True, slots=True)
class Contract:
    """A deployed contract on a node.  From ``Account.deploy`` or ``Client.contract``.

    Any contract is called by method name: ``call`` (a transaction),
    ``view``, ``simulate``.  One whose code carries an interface (a WIT
    world, docs/abi.md) also has a typed method per declared method, as an
    attribute (``token.transfer(to=bob, amount=5)``, ``token.balance_of(owner=bob)``)
    and always under ``methods`` (where a method named like one of the
    handle's own attributes, ``balance`` say, is found); ``wasmchain.client.typed``
    says how they are called.  On such a contract, ``call``/``view``/``simulate``
    of a declared method check the arguments too.
    """

    client: Client = field(compare=False, repr=False)
    address: str
    """``0x`` + 40 hex digits; contracts compare and hash by it."""
    deployment: TxResult | None = field(default=None, compare=False, repr=False)
    """The deploy's receipt, when this handle came from ``Account.deploy``."""
    sender: Account | None = field(default=None, compare=False, repr=False)
    """Who signs the typed methods' transactions: the deployer for a handle from ``Account.deploy``
    (``with_sender`` gives a handle that signs as another account)."""
    _memo: _InterfaceMemo = field(default_factory=_InterfaceMemo, init=False, compare=False, repr=False)
    _methods: list[TypedMethods] = field(default_factory=list, init=False, compare=False, repr=False)
    """This handle's typed methods once built (a list of at most one: the handle itself is frozen)."""

    def with_sender(self, sender: Account) -> Contract:
        """The same contract, its typed methods signed by ``sender``: ``token.with_sender(bob).transfer(alice, 1)``."""
        other = Contract(self.client, self.address, self.deployment, sender)
        object.__setattr__(other, "_memo", self._memo)  # the same code: its interface once
        return other

    @property
    def interface(self) -> Interface | None:
        """The interface the contract's code declares (``wasmchain.vm.wit.types.Interface``: its methods,
        events and WIT ``text``), or ``None`` for an untyped contract.  Asked of the node once per handle."""
        typed = self._typed()
        return None if typed is None else typed.interface

    @property
    def methods(self) -> TypedMethods:
        """The typed methods, by export name (``contract.methods.balance_of``); none for an untyped contract."""
        if not self._methods:
            typed = self._typed()
            self._methods.append(TypedMethods({} if typed is None else typed.bind(self)))
        return self._methods[0]

    def __getattr__(self, name: str) -> TypedMethod:
        if name.startswith("_"):  # never ask the node for a dunder (copy, pickle, IPython probe them)
            raise AttributeError(name)
        methods = self.methods
        if name not in methods:
            raise AttributeError(f"{type(self).__name__} {self.address}: {_no_method(methods, name)}")
        return methods[name]

    def __dir__(self) -> list[str]:
        return sorted({*object.__dir__(self), *self.methods})

    def _typed(self) -> TypedInterface | None:
        if not self._memo.fetched:
            self._memo.typed = self.client.typed_interface(self.address)
            self._memo.fetched = True
        return self._memo.typed

    def _declared(self, method: str, args: Any) -> TypedMethod | None:
        """The typed method ``call``/``view``/``simulate`` go through for ``method``, if the interface declares it
        (and ``args`` are not already encoded)."""
        if isinstance(args, EncodedArgs):
            return None
        typed = self._typed()
        declared = typed.method(method) if typed is not None else None
        return None if declared is None else self.methods[declared.export]

    def call(
        self,
        method: str,
        args: Any = None,
        *,
        sender: Account,
        gas: int | None = None,
        value: int = 0,
        check: bool = True,
    ) -> TxResult:
        """Call ``method`` in a transaction signed by ``sender``; see ``Client.transact`` for ``gas`` and ``check``.

        ``args`` is a JSON-like value (a dict, usually): bytes, and ``0x``
        hex strings, reach the contract as msgpack bin, and an ``Account``
        or ``Contract`` as its 20-byte address.  For a method the contract's
        interface declares, they are checked and encoded by its types
        (``ArgumentTypeError`` before anything is sent) and the result is
        decoded by them.
        """
        declared = self._declared(method, args)
        if declared is not None:
            return declared.bind(**_as_map(method, args)).send(sender=sender, gas=gas, value=value, check=check)
        return self.client.transact(
            sender, TxKind.CALL, to=self, method=method, args=args, value=value, gas=gas, check=check
        )

    def view(self, method: str, args: Any = None, *, caller: AddressLike | None = None, gas: int | None = None) -> Any:
        """Run ``method`` read-only against the head and return its decoded result.

        Raises ``CallFailed`` if it did not end ``ok`` (its ``result`` has the
        status, gas and message).  Any changes the method makes are discarded.
        A declared method's arguments are checked and its result decoded by
        the interface's types, as for ``call``.
        """
        declared = self._declared(method, args)
        if declared is not None:
            return declared.bind(**_as_map(method, args)).view(caller=caller, gas=gas)
        return self.client.view(self, method, args, caller=caller, gas=gas).raise_for_status().result

    def simulate(
        self,
        method: str,
        args: Any = None,
        *,
        sender: AddressLike,
        gas: int | None = None,
        value: int = 0,
        trace: bool = False,
        verbose: bool = False,
    ) -> CallResult:
        """What ``call`` would do in the next block (status, gas, result, events), without sending it.

        A failure is a result, not an exception: the point is to look.  With
        ``trace=True`` the result's ``trace`` holds what it did frame by frame
        (``verbose`` adds every host call).  A declared method's arguments are
        checked and its result decoded by the interface's types, as for ``call``.
        """
        declared = self._declared(method, args)
        if declared is not None:
            return declared.bind(**_as_map(method, args)).simulate(
                sender=sender, gas=gas, value=value, trace=trace, verbose=verbose
            )
        return self.client.simulate(
            sender, to=self, method=method, args=args, value=value, gas=gas, trace=trace, verbose=verbose
        )

    def balance(self) -> int:
        """The contract's native token balance at the head."""
        return self.client.balance(self)


@dataclass(frozen=True, slots=True)
class EncodedArgs:
    """Arguments already checked and encoded as msgpack (by a typed method): sent as they are."""

    data: bytes


def _as_map(method: str, args: Any) -> dict[str, Any]:
    """A typed method's arguments given by name (``call``/``view``/``simulate``): a map of its params."""
    if args is None:
        return {}
    if isinstance(args, Mapping) and all(isinstance(key, str) for key in args):
        return dict(args)
    raise ArgumentTypeError(
        f"{method}: the arguments of a typed method are a map of its params, found {type(args).__name__}",
        method=method,
        path="",
        expected="record",
        example={},
    )


def _report(result: Any) -> dict[str, Any]:
    """A live result that must be a JSON object (a block's or a pending transaction's report)."""
    if not isinstance(result, dict):
        raise RPCClientError(None, f"a subscription sent {str(result)[:80]!r}, not a JSON object", "bad_answer")
    return result


def address_of(value: AddressLike) -> str:
    """An address in any accepted form, as ``0x`` + 40 lowercase hex digits."""
    if isinstance(value, (Account, Contract)):
        return value.address
    if isinstance(value, bytes):
        if len(value) != ADDRESS_SIZE:
            raise ClientError(f"an address is {ADDRESS_SIZE} bytes, found {len(value)}")
        return format_address(value)
    if isinstance(value, str):
        try:
            return format_address(parse_address(value))
        except ChainError as error:
            raise ClientError(str(error)) from None
    raise ClientError(f"an address is a 0x string, 20 bytes, an Account or a Contract, found {type(value).__name__}")


def estimate_gas(used: int, cap: int) -> int:
    """The default gas limit for a transaction that used ``used`` gas in simulation: a margin, at most ``cap``.

    A caller hands a nested call at most 63/64 of the gas it has left (it
    keeps a 64th to handle the callee's failure, as in EIP-150).  So a call
    tree that used ``used`` gas when it had plenty may run out when its limit
    is exactly ``used``: each level of nesting needs 64/63 of what it used.
    The margin covers ``GAS_MARGIN_LEVELS`` levels: ``used`` x (64/63)^8,
    about 13.4% more.  Only the gas used is paid for, never the margin.
    """
    limit = used
    for _ in range(GAS_MARGIN_LEVELS):
        limit += -(-limit // 63)  # the budget B with B - B // 64 >= the need
    return min(limit, cap)


def sufficient_gas(used: int, cap: int, same_outcome: Callable[[int], bool]) -> int:
    """The default gas limit of a call that used ``used`` gas when simulated at ``cap``: ``estimate_gas``'s, if
    ``same_outcome(limit)`` says a simulation at it ends as the first did; else the lowest limit that does.

    The margin covers the 1/64 kept at each level; a caller also keeps at
    least the genesis ``call_reserve``, which a small call's margin may not
    cover: so the estimate is checked, and if it changes the outcome, the
    lowest limit that does not is searched for (to within 0.1%; the outcome
    only improves with gas).
    """
    guess = estimate_gas(used, cap)
    if same_outcome(guess):
        return guess
    low, high = guess, cap  # low changes the outcome, high does not
    while high - low > max(1, high // 1000):
        middle = (low + high) // 2
        if same_outcome(middle):
            high = middle
        else:
            low = middle
    return high


def encode_call_args(args: Any) -> bytes:
    """Contract arguments (a JSON-like value) as msgpack; ``None`` is the empty map, as the node has it.

    Bytes and ``0x`` hex strings become msgpack bin; an ``Account`` or
    ``Contract`` becomes its 20-byte address; tuples are arrays.
    ``EncodedArgs`` (a typed method's) are taken as they are.
    """
    if isinstance(args, EncodedArgs):
        return args.data
    try:
        return encode_args(_jsonable({} if args is None else args))
    except ArgsError as error:
        raise ClientError(str(error)) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (Account, Contract)):
        return value.address
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def _simulation_params(
    sender: str, to: str | None, method: str | None, args: bytes | None, code: bytes | None, value: int, gas: int
) -> dict[str, Any]:
    params: dict[str, Any] = {"from": sender, "value": value, "gas": gas}
    if to is not None:
        params["to"] = to
    if method:
        params["method"] = method
    if args is not None:
        params["args_hex"] = "0x" + args.hex()
    if code is not None:
        params["code"] = "0x" + code.hex()
    return params


def _hash_text(tx_hash: str | bytes) -> str:
    return tx_hash if isinstance(tx_hash, str) else "0x" + tx_hash.hex()


def _typed_interfaces() -> type[TypedInterface]:
    """``TypedInterface``, imported when a contract first turns out to have an interface.

    The typed methods use the VM's own WIT codec (``wasmchain.vm.wit``), and
    importing any of ``wasmchain.vm`` loads the VM (its package root loads the
    runtime and wasmtime).  A program that only talks to a node over HTTP
    about untyped contracts loads no VM (tests/test_layers.py); one that
    meets a typed contract loads it here, once.
    """
    from wasmchain.client.typed import TypedInterface

    return TypedInterface


def _read_module(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ClientError(f"cannot read the module {path}: {error.strerror}") from None


class Live(Generic[T]):
    """What a node pushes as it happens (``Client.blocks``, ``Client.events(follow=True)``,
    ``Client.pending_transactions``): iterate it; each ``next`` waits for the next one.

    ``close()``, or leaving a ``with`` block, ends it.  If the node drops the subscription (the
    reader fell behind) or the connection closes, iterating raises ``RPCClientError`` (its
    ``reason``: ``"subscription_dropped"`` or ``"no_answer"``): subscribe again, and for events
    resume with ``from_block`` one past the last height you had.
    """

    def __init__(self, results: LiveResults, convert: Callable[[Any], T | None], first: Collection[T] = ()) -> None:
        self._results = results
        self._convert = convert
        """A result to what is yielded, or ``None`` to skip it."""
        self._first = iter(first)

    def __iter__(self) -> Live[T]:
        return self

    def __next__(self) -> T:
        for item in self._first:
            return item
        while True:
            converted = self._convert(next(self._results))
            if converted is not None:
                return converted

    def close(self) -> None:
        self._results.close()

    def __enter__(self) -> Live[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Client:
    """One node: raw JSON-RPC calls (``call``) and the high-level API for contract developers.

    Get one with ``Client.connect(url)`` (a running ``wasmchain devnet``) or
    ``local_client()`` (a fresh chain in memory, as the pytest fixture
    does).  Addresses are ``0x`` strings in results; anywhere an address is
    taken, a ``0x`` string, 20 bytes, an ``Account`` or a ``Contract`` does.
    """

    EVENT_WINDOW = MAX_EVENT_BLOCK_RANGE
    """Blocks one ``get_events`` call covers (the node's most)."""
    EVENT_PAGE = MAX_EVENTS
    """Events one ``get_events`` call returns (the node's most)."""

    def __init__(self, transport: Transport, *, receipt_timeout: float = DEFAULT_RECEIPT_TIMEOUT) -> None:
        self.transport = transport
        self.receipt_timeout = receipt_timeout
        """Seconds ``wait_for_receipt`` (and so a transaction) waits for a pending transaction by default."""
        self._interfaces: dict[str, TypedInterface] = {}
        """Parsed interfaces by code hash: each code's WIT is parsed once, however many contracts run it."""

    @classmethod
    def connect(cls, url: str, timeout: float = DEFAULT_TIMEOUT) -> Client:
        """A node over HTTP, e.g. ``http://127.0.0.1:8545``; ``timeout`` is per request."""
        return cls(HTTPTransport(url, timeout))

    def call(self, method: str, /, **params: Any) -> Any:
        """One call; parameters by name (``from`` is a keyword: pass ``**{"from": ...}``)."""
        return self.transport.call(method, params)

    def close(self) -> None:
        """Close the HTTP connection, if any (a later call reconnects)."""
        if isinstance(self.transport, HTTPTransport):
            self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the chain's parameters (fixed by its genesis, so asked once) ----------------------------

    @cached_property
    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.call("chain_info")
        return info

    @property
    def chain_id(self) -> str:
        return str(self._info["chain_id"])

    @property
    def block_gas_limit(self) -> int:
        """The most gas one block (and so one transaction) may use."""
        return int(self._info["block_gas_limit"])

    @property
    def gas_price(self) -> int:
        """The gas price the client offers: the chain's minimum."""
        return int(self._info["min_gas_price"])

    # -- accounts and contracts ------------------------------------------------------------------

    def dev_account(self, index: int) -> Account:
        """The funded devnet account ``dev<index>`` (0 to 9), whose key is published: devnets only."""
        if not 0 <= index < DEV_ACCOUNTS:
            raise ClientError(f"the dev accounts are 0 to {DEV_ACCOUNTS - 1}, found {index}")
        return Account(self, dev_key(index))

    @property
    def accounts(self) -> list[Account]:
        """The dev accounts dev0..dev9, in order."""
        return [self.dev_account(index) for index in range(DEV_ACCOUNTS)]

    def account(self, key: KeyPair) -> Account:
        """An account for any key (fund it with ``set_balance`` or a transfer)."""
        return Account(self, key)

    def contract(self, address: AddressLike, *, sender: Account | None = None) -> Contract:
        """A handle on a contract already deployed at ``address``; raises ``ClientError`` if there is none.

        ``sender`` signs its typed methods' transactions (``Contract.with_sender``).
        """
        text = address_of(address)
        if self.call("get_account", address=text)["code_hash"] is None:
            raise ClientError(f"no contract at {text}")
        return Contract(self, text, sender=sender)

    # -- interfaces ------------------------------------------------------------------------------

    def interface(self, contract: AddressLike) -> Interface | None:
        """The interface a contract's code declares (``wasmchain.vm.wit.types.Interface``), or ``None`` if it
        declares none.  Raises ``RPCClientError`` if there is no contract there."""
        typed = self.typed_interface(contract)
        return None if typed is None else typed.interface

    def typed_interface(self, contract: AddressLike) -> TypedInterface | None:
        """What the typed methods are built from: the node's ``get_interface`` answer, parsed once per code hash.

        ``None`` for an untyped contract, and for a node from before
        ``get_interface`` (its contracts are called by name, as ever).
        """
        try:
            report = self.call("get_interface", address=address_of(contract))
        except RPCClientError as error:
            if error.reason == "method_not_found":
                return None
            raise
        if report["interface"] is None:
            return None
        code_hash = str(report["code_hash"])
        if code_hash not in self._interfaces:
            self._interfaces[code_hash] = _typed_interfaces().from_wit(report["interface"]["wit"])
        return self._interfaces[code_hash]

    def interface_of_code(self, code: bytes) -> TypedInterface | None:
        """The interface a module carries in its ``wasmchain:wit`` section, or ``None``; ``ClientError`` if the
        section is malformed (the node would refuse the deploy, saying the same)."""
        if SECTION_NAME_BYTES not in code:  # no section of that name, so no interface: no need to load the codec
            return None
        return _typed_interfaces().from_code(code)

    def balance(self, address: AddressLike) -> int:
        """The native token balance at the head."""
        return int(self.call("get_balance", address=address_of(address))["balance"])

    def nonce(self, address: AddressLike) -> int:
        """The nonce of the account's next transaction, counting its pending ones."""
        return int(self.call("get_next_nonce", address=address_of(address))["nonce"])

    # -- transactions ----------------------------------------------------------------------------

    def transact(
        self,
        sender: Account,
        kind: TxKind,
        *,
        to: AddressLike | None = None,
        value: int = 0,
        code: bytes = b"",
        method: str | None = None,
        args: Any = None,
        gas: int | None = None,
        check: bool = True,
    ) -> TxResult:
        """Sign a transaction of any kind with ``sender``'s key, send it and wait for its receipt.

        The nonce is the sender's next one as the node counts it (so several
        clients may send for one account).  ``gas=None`` simulates the
        transaction first and takes the gas it used plus a margin
        (``estimate_gas``: about 13%, for the 1/64 that each nested call's
        caller keeps), at most the block gas limit; it simulates again at that
        limit, and if the outcome changes (a caller also keeps at least the
        genesis ``call_reserve``, more than 13% of a small call), searches for
        the lowest limit that keeps it.  The fee is only ever the gas used.  A
        transaction the node refuses (bad nonce, unaffordable, no such method)
        raises ``RPCClientError`` and costs nothing.

        ``check=True`` raises ``TransactionFailed`` (carrying the result) if
        the transaction was included but did not end ``ok`` (it paid its fee
        and its changes were reverted); ``check=False`` returns that result.
        """
        target = address_of(to) if to is not None else None
        encoded = b""
        if kind is TxKind.CALL or (kind is TxKind.DEPLOY and method):
            encoded = encode_call_args(args)
        elif args is not None:
            raise ClientError("arguments go with a method: a call, or a deploy with an init method")
        if gas is None:
            gas = self._default_gas(sender, target, method, encoded, code, value)
        tx = Transaction(
            chain_id=self.chain_id,
            nonce=self.nonce(sender),
            gas_limit=gas,
            gas_price=self.gas_price,
            public_key=sender.key.public_key,
            kind=kind,
            to=bytes.fromhex(target[2:]) if target else b"",
            value=value,
            code=code,
            method=method or "",
            args=encoded,
        )
        report = self.call("submit_transaction", tx="0x" + tx.sign(sender.key).encoded.hex())
        receipt = report["receipt"]
        result = (
            TxResult.from_receipt(receipt, self) if receipt is not None else self.wait_for_receipt(report["tx_hash"])
        )
        return result.raise_for_status() if check else result

    def _default_gas(
        self, sender: Account, to: str | None, method: str | None, args: bytes, code: bytes, value: int
    ) -> int:
        simulation_gas = self._simulation_gas(sender, value)
        simulated = self._simulate(
            sender.address, to, method, args if method else None, code or None, value, simulation_gas
        )
        if simulated.status == "invalid":
            # The node will refuse it and say why; a refusal costs nothing.
            return self.block_gas_limit

        def same_outcome(limit: int) -> bool:
            trial = self._simulate(sender.address, to, method, args if method else None, code or None, value, limit)
            return (trial.status, trial.return_data) == (simulated.status, simulated.return_data)

        return sufficient_gas(simulated.gas_used, simulation_gas, same_outcome)

    def _simulation_gas(self, sender: AddressLike, value: int) -> int:
        """The block gas limit, or less if the sender cannot pay for that much (a simulation checks it can)."""
        affordable = (self.balance(sender) - value) // self.gas_price
        return max(1, min(self.block_gas_limit, affordable))

    def submit(self, signed: SignedTransaction) -> str:
        """Send a signed transaction as it is; returns its hash (``wait_for_receipt`` waits for it)."""
        report = self.call("submit_transaction", tx="0x" + signed.encoded.hex())
        return str(report["tx_hash"])

    def wait_for_receipt(self, tx_hash: str | bytes, timeout: float | None = None) -> TxResult:
        """The receipt of a transaction, polling the node until it is in a block (or ``timeout`` seconds pass).

        Raises ``ReceiptTimeout`` if it is still pending then; an in-process
        chain raises it at once, since nothing mines while this waits (mine
        with ``mine()``, or fill the nonce gap it waits behind).  A transaction
        the node dropped raises ``RPCClientError`` saying why.
        """
        text = _hash_text(tx_hash)
        patience = self.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + patience
        while True:
            receipt = self.call("get_receipt", hash=text)
            if receipt is not None:
                return TxResult.from_receipt(receipt, self)
            if not self.transport.mines_while_waiting:
                raise ReceiptTimeout(
                    text,
                    f"transaction {text} is pending and nothing mines an in-process chain "
                    "while it waits: mine() or send the nonce it waits for",
                )
            if time.monotonic() >= deadline:
                raise ReceiptTimeout(text, f"transaction {text} is still pending after {patience:g} s")
            time.sleep(POLL_INTERVAL)

    # -- reading without a transaction -----------------------------------------------------------

    def view(
        self,
        contract: AddressLike,
        method: str,
        args: Any = None,
        *,
        caller: AddressLike | None = None,
        gas: int | None = None,
    ) -> CallResult:
        """Run a method read-only against the head; its changes are discarded.  Failures are results.

        ``caller`` is who the contract sees as its caller (default: the zero
        address); ``gas`` defaults to the node's view limit.
        """
        params: dict[str, Any] = {
            "contract": address_of(contract),
            "method": method,
            "args_hex": "0x" + encode_call_args(args).hex(),
        }
        if caller is not None:
            params["caller"] = address_of(caller)
        if gas is not None:
            params["gas"] = gas
        return CallResult.from_report(self.call("view", **params))

    def simulate(
        self,
        sender: AddressLike,
        *,
        to: AddressLike | None = None,
        method: str | None = None,
        args: Any = None,
        code: bytes | None = None,
        value: int = 0,
        gas: int | None = None,
        trace: bool = False,
        verbose: bool = False,
    ) -> CallResult:
        """Run a transaction as the next block would, keeping nothing: a transfer (``to``), a call (``to`` and
        ``method``) or a deploy (``code``, with ``method`` as its init).  Failures are results.

        ``trace=True`` also traces it (``debug_trace_call``, in the same
        request, so against the same head): the result's ``trace``.

        ``gas`` defaults to the block gas limit (or what the sender can pay
        for, if less).  A transaction simulated with gas G uses the same gas
        as the same transaction sent with gas limit G in the next block.  With
        another limit the figure can differ by the gas of the limit's own
        bytes (``tx_byte`` per byte of the transaction): a limit below 65,536
        encodes in 2 fewer bytes than the block gas limit does.
        """
        params = self._simulation_params(sender, to, method, args, code, value, gas)
        if not trace:
            return CallResult.from_report(self.call("simulate", **params))
        simulated, traced = self.transport.batch(
            [("simulate", params), ("debug_trace_call", {**params, "verbose": verbose})]
        )
        if isinstance(simulated, RPCClientError):
            raise simulated
        if isinstance(traced, RPCClientError):
            raise traced
        return replace(CallResult.from_report(simulated), trace=Trace.from_report(traced))

    def _simulation_params(
        self,
        sender: AddressLike,
        to: AddressLike | None,
        method: str | None,
        args: Any,
        code: bytes | None,
        value: int,
        gas: int | None,
    ) -> dict[str, Any]:
        """``simulate``'s (and ``debug_trace_call``'s) parameters; ``gas`` defaults as ``simulate`` says."""
        if args is not None and not method:
            raise ClientError("arguments go with a method: a call, or a deploy with an init method")
        encoded = encode_call_args(args) if method else None
        if gas is None:
            gas = self._simulation_gas(sender, value)
        return _simulation_params(
            address_of(sender), address_of(to) if to is not None else None, method, encoded, code, value, gas
        )

    def _simulate(
        self,
        sender: str,
        to: str | None,
        method: str | None,
        args: bytes | None,
        code: bytes | None,
        value: int,
        gas: int,
    ) -> CallResult:
        params = _simulation_params(sender, to, method, args, code, value, gas)
        return CallResult.from_report(self.call("simulate", **params))

    # -- traces and gas profiles -----------------------------------------------------------------

    def trace_transaction(self, tx_hash: str | bytes, *, verbose: bool = False) -> Trace:
        """What a mined transaction did, frame by frame (``debug_trace_transaction``).

        The node re-executes its block up to it from the parent state and
        checks that the outcome is the recorded receipt (``matches_receipt``;
        a difference is an ``RPCClientError`` with reason ``trace_mismatch``).
        ``verbose`` adds every host call with its gas.  An unknown hash raises
        ``RPCClientError`` (reason ``not_found``).
        """
        return Trace.from_report(self.call("debug_trace_transaction", hash=_hash_text(tx_hash), verbose=verbose))

    def trace_call(
        self,
        sender: AddressLike,
        *,
        to: AddressLike | None = None,
        method: str | None = None,
        args: Any = None,
        code: bytes | None = None,
        value: int = 0,
        gas: int | None = None,
        verbose: bool = False,
    ) -> Trace:
        """The trace of a transaction not sent (``debug_trace_call``): what ``simulate`` with the same
        arguments runs."""
        params = self._simulation_params(sender, to, method, args, code, value, gas)
        return Trace.from_report(self.call("debug_trace_call", **params, verbose=verbose))

    def profile_transaction(self, tx_hash: str | bytes) -> Trace:
        """A mined transaction's trace with its gas profile per wasm function in ``profile``
        (``debug_profile_transaction``; ``wasmchain.client.profile`` renders it)."""
        return Trace.from_report(self.call("debug_profile_transaction", hash=_hash_text(tx_hash)))

    def profile_call(
        self,
        sender: AddressLike,
        *,
        to: AddressLike | None = None,
        method: str | None = None,
        args: Any = None,
        code: bytes | None = None,
        value: int = 0,
        gas: int | None = None,
    ) -> Trace:
        """A transaction not sent, traced with its gas profile (``debug_profile_call``)."""
        params = self._simulation_params(sender, to, method, args, code, value, gas)
        return Trace.from_report(self.call("debug_profile_call", **params))

    @overload
    def events(
        self,
        contract: AddressLike | None = None,
        name: str | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        follow: Literal[False] = False,
    ) -> list[LoggedEvent]: ...

    @overload
    def events(
        self,
        contract: AddressLike | None = None,
        name: str | None = None,
        from_block: int = 0,
        to_block: None = None,
        *,
        follow: Literal[True],
    ) -> Live[LoggedEvent]: ...

    def events(
        self,
        contract: AddressLike | None = None,
        name: str | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        follow: bool = False,
    ) -> list[LoggedEvent] | Live[LoggedEvent]:
        """Events of committed transactions, oldest first, in blocks ``from_block`` to ``to_block`` (the head).

        Any number of blocks and events: the client pages through the
        node's windows (``EVENT_WINDOW`` blocks, ``EVENT_PAGE`` events a call).

        ``follow=True``: an iterator (``Live``) over those from ``from_block`` and then every later one as
        its block is committed, with no gap and none twice: it subscribes first (the node's WebSocket), then
        reads the past ones up to the head, then yields the subscription's from the next block on.  It needs
        a node over HTTP (``Client.connect``).
        """
        filters: dict[str, Any] = {}
        if contract is not None:
            filters["contract"] = address_of(contract)
        if name is not None:
            filters["name"] = name
        if not follow:
            head = self.head().height
            return self._events(filters, from_block, head if to_block is None else min(to_block, head))
        if to_block is not None:
            raise ClientError("events(follow=True) follows the chain from from_block on: it takes no to_block")
        return self._follow_events(filters, from_block, LoggedEvent.from_found, lambda event: event.block_height)

    def follow_event_reports(
        self, contract: AddressLike | None = None, name: str | None = None, from_block: int = 0
    ) -> Live[dict[str, Any]]:
        """``events(follow=True)``'s events as the node reports them (``get_events`` entries, JSON objects):
        what ``wasmchain events --follow`` prints."""
        filters: dict[str, Any] = {}
        if contract is not None:
            filters["contract"] = address_of(contract)
        if name is not None:
            filters["name"] = name
        return self._follow_events(filters, from_block, _report, lambda report: int(report["block_height"]))

    def _follow_events(
        self, filters: dict[str, Any], from_block: int, convert: Callable[[Any], T], height: Callable[[T], int]
    ) -> Live[T]:
        """Subscribe, then read the past events up to the head, then go on with the subscription's from the
        block after it: none missed (the subscription was there before the head was read), none twice."""
        results = self._subscribe("events", filters)
        try:
            last = self.head().height
            past = [convert(report) for report in self._event_reports(filters, from_block, last)]
        except BaseException:
            results.close()
            raise
        seen = max(last, from_block - 1)

        def live(report: Any) -> T | None:
            event = convert(report)
            return event if height(event) > seen else None  # (among the past ones already, or before from_block)

        return Live(results, live, past)

    def blocks(self) -> Live[dict[str, Any]]:
        """Each block the node commits from now on, as ``get_block`` reports it (``height``, ``hash``,
        ``timestamp``, ``transactions`` as hashes ...), as it is committed.  Needs a node over HTTP."""
        return Live(self._subscribe("blocks", {}), _report)

    def pending_transactions(self) -> Live[dict[str, Any]]:
        """Each transaction the node admits to its mempool from now on: ``hash``, ``from``, ``to``, ``method``
        (``None`` for a transfer) and ``nonce``.  Needs a node over HTTP."""
        return Live(self._subscribe("pending", {}), _report)

    def _subscribe(self, kind: str, params: dict[str, Any]) -> LiveResults:
        transport = self.transport
        if not hasattr(transport, "subscribe"):
            raise ClientError(
                f"live subscriptions need a running node (Client.connect(URL)): this client's "
                f"{type(transport).__name__} has none, and an in-process node mines only when this program "
                "sends, so there would be nothing to wait for: read client.events() after sending instead"
            )
        subscribing: Subscribing = transport  # type: ignore[assignment]
        return subscribing.subscribe(kind, params)

    def _events(self, filters: dict[str, Any], from_block: int, last: int) -> list[LoggedEvent]:
        return [LoggedEvent.from_found(report) for report in self._event_reports(filters, from_block, last)]

    def _event_reports(self, filters: dict[str, Any], from_block: int, last: int) -> list[dict[str, Any]]:
        """The events matching ``filters`` in blocks ``from_block..last``, a window and a page at a time."""
        params: dict[str, Any] = {"limit": self.EVENT_PAGE, **filters}
        found: list[dict[str, Any]] = []
        start = from_block
        while start <= last:
            end = min(last, start + self.EVENT_WINDOW - 1)
            page: list[dict[str, Any]] = self.call("get_events", from_block=start, to_block=end, **params)["events"]
            if len(page) < self.EVENT_PAGE:
                found.extend(page)
                start = end + 1
                continue
            # A full page may end part-way through its last block: keep the
            # blocks before it, and go on from that block.
            final = page[-1]["block_height"]
            complete = [event for event in page if event["block_height"] < final]
            if not complete:
                raise ClientError(
                    f"block {final} holds {self.EVENT_PAGE} or more matching events, more than one "
                    "get_events call returns: narrow the query by contract or name"
                )
            found.extend(complete)
            start = final
        return found

    # -- blocks and the devnet controls ----------------------------------------------------------

    def head(self) -> Head:
        """The newest block."""
        head = self.call("chain_info")["head"]
        return Head(head["height"], head["hash"], head["timestamp"], head["state_root"])

    def mine(self, blocks: int = 1, *, timestamp: int | None = None) -> int:
        """Mine ``blocks`` blocks now (with any ready transactions), the first at ``timestamp`` if given.

        Returns the new head height.
        """
        params: dict[str, Any] = {"blocks": blocks}
        if timestamp is not None:
            params["timestamp"] = timestamp
        return int(self.call("devnet_mine", **params)["head"])

    def increase_time(self, seconds: int) -> int:
        """Move every later block's timestamp forward by ``seconds``; returns the total offset so far."""
        return int(self.call("devnet_increase_time", seconds=seconds)["offset"])

    def set_next_block_timestamp(self, timestamp: int) -> None:
        """The next block's timestamp (seconds since the epoch; not before the head's)."""
        self.call("devnet_set_next_block_timestamp", timestamp=timestamp)

    def set_balance(self, address: AddressLike, balance: int) -> None:
        """Set an account's native balance outright (mines a block recording it)."""
        self.call("devnet_set_balance", address=address_of(address), balance=balance)

    def snapshot(self) -> int:
        """Remember the chain as it is now; ``revert(id)`` returns to it.  Returns the snapshot's id."""
        return int(self.call("devnet_snapshot")["id"])

    def revert(self, snapshot_id: int) -> None:
        """Return to a snapshot: later blocks, pending transactions and later snapshots are dropped."""
        self.call("devnet_revert", id=snapshot_id)

    @contextmanager
    def isolated(self) -> Iterator[None]:
        """Undo everything done inside the ``with`` block (a snapshot, then a revert), even if it raises."""
        snapshot_id = self.snapshot()
        try:
            yield
        finally:
            self.revert(snapshot_id)
