"""Typed methods built from a contract's WIT interface: ``token.transfer(to=bob, amount=5)``.

A contract whose code carries an interface (a WIT world in its ``wasmchain:wit``
section, docs/abi.md) gets one ``TypedMethod`` per method the world declares,
as an attribute of its ``Contract`` handle (and always under ``contract.methods``)::

    token = alice.deploy("contracts/token/token.wasm", init="init", args={"supply": 1000})
    token.transfer(to=bob, amount=5)          # a transaction signed by alice (the deployer); a TxResult
    token.transfer(bob, 5)                    # positional: in declaration order
    token.balance_of(owner=bob)               # read-only (the world's ``view`` interface): the value, 5
    token.with_sender(bob).transfer(alice, 1) # signed by bob
    token.transfer.bind(bob, 5).send(sender=carol, gas=400_000, check=False)
    token.transfer.bind(bob, 5).simulate(trace=True)
    help(token.transfer)                      # the signature and the WIT's doc comments

The arguments are checked and encoded with the VM's own codec
(``wasmchain.vm.wit.values``, the table of docs/abi.md) before anything is
signed or sent: a missing, extra or wrongly typed one raises
``ArgumentTypeError`` (a ``TypeError`` and a ``ClientError``) naming it, the
type and an example.  Values are Python's JSON-like ones: ``int`` for
``u64``/``s64``/``u128``, ``bytes`` or a ``0x`` string for ``list<u8>``, for an
``address`` also an ``Account`` or ``Contract`` handle (or 20 bytes).  The
result is decoded with the method's result type.

Options never share a namespace with parameters: a method's arguments go to
the call (or to ``bind``), the transaction's options (``sender``, ``gas``,
``value``, ``check``, ``trace`` ...) to the ``BoundCall`` that ``bind`` returns,
so a parameter named ``value`` or ``gas`` is just a parameter.

This module imports the WIT codec of ``wasmchain.vm``, so it loads the VM; the
client imports it only when a contract first turns out to have an interface
(``Client.interface``), so a program that talks to untyped contracts over
HTTP loads no VM.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from wasmchain.client.client import Account, AddressLike, Contract, EncodedArgs
from wasmchain.client.results import ArgumentTypeError, CallResult, TxResult
from wasmchain.client.transport import ClientError
from wasmchain.protocol.transactions import TxKind
from wasmchain.vm.wit.section import interface_of
from wasmchain.vm.wit.syntax import parse_wit
from wasmchain.vm.wit.types import Interface, Method, OptionOf, WitError, WitType, signature, wit_name
from wasmchain.vm.wit.values import ArgumentError, decode_result, encode_args, example


class TypedInterface:
    """A contract interface as the client uses it: the methods by export name, and the codec around them.

    One per code hash (``Client.interface`` caches it), shared by every
    handle on a contract with that code.
    """

    def __init__(self, interface: Interface) -> None:
        self.interface: Interface = interface
        """The parsed WIT world (``wasmchain.vm.wit.types.Interface``): methods, events, the WIT ``text``."""
        self.methods: dict[str, Method] = {method.export: method for method in interface.methods}
        """The declared methods by export name (``balance_of``), in declaration order."""

    @classmethod
    def from_wit(cls, text: str) -> TypedInterface:
        """From the WIT text of a ``get_interface`` answer (a deployed module's: the node checked it)."""
        try:
            return cls(parse_wit(text))
        except WitError as error:
            raise ClientError(f"the node's interface does not parse: {error}") from None

    @classmethod
    def from_code(cls, code: bytes) -> TypedInterface | None:
        """From a module's ``wasmchain:wit`` section; ``None`` if it has none, or one the VM refuses (the node
        then refuses the deploy, saying why: one judge)."""
        try:
            interface = interface_of(code)
        except WitError:
            return None
        return None if interface is None else cls(interface)

    def method(self, name: str) -> Method | None:
        """A declared method by export name (``balance_of``) or WIT name (``balance-of``)."""
        return self.interface.method(name)

    def encode(self, method: Method, args: Mapping[str, Any] | None) -> EncodedArgs:
        """Check ``args`` (JSON-like values, handles for addresses) against ``method`` and encode them.

        Raises ``ArgumentTypeError`` naming the argument, the expected type and an example.
        """
        values = None if args is None else {key: _plain(value) for key, value in args.items()}
        try:
            return EncodedArgs(encode_args(method, values))
        except ArgumentError as error:
            raise ArgumentTypeError(
                f"{method.export}: {error}",
                method=method.export,
                path=error.path,
                expected=error.expected,
                example=error.example,
            ) from None

    def decode(self, method: Method, data: bytes) -> Any:
        """A method's return data decoded with its result type; the untyped decoding if it does not fit.

        A contract that returns what its world does not declare is wrong, but
        the caller still gets what the chain said (the conformance test,
        tests/contracts/test_conformance.py, is where a lying world is caught).
        """
        try:
            return decode_result(method, data)
        except ValueError:
            return _UNDECODED

    def bind(self, contract: Contract) -> dict[str, TypedMethod]:
        """The typed methods of one handle, by export name."""
        return {name: TypedMethod(contract, self, method) for name, method in self.methods.items()}


Result = TypeVar("Result", CallResult, TxResult)

_UNDECODED: Any = object()
"""``TypedInterface.decode``'s answer for return data its type does not fit (the report's own decoding stays)."""


class WitAnnotation:
    """A parameter's annotation in a typed method's signature: shows as its WIT type (``address``, ``u64``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class TypedMethod:
    """One method of a contract's interface, on one handle: call it with the method's parameters.

    A read-only method (one of the world's ``view`` interface) runs as a
    ``view`` and returns its decoded result; any other is a transaction
    signed by the handle's sender (``Contract.with_sender``; a handle from
    ``Account.deploy`` signs as the deployer) and returns its ``TxResult``,
    raising ``TransactionFailed`` if it failed.  ``bind(...)`` takes the same
    arguments and gives a ``BoundCall`` for the options (``sender``, ``gas``,
    ``value``, ``check``) and for ``simulate``.

    Arguments are positional in declaration order or by key (``owner=``); a
    key that is a Python keyword takes a trailing underscore (``from_=``).
    """

    def __init__(self, contract: Contract, typed: TypedInterface, method: Method) -> None:
        self.contract = contract
        self.typed = typed
        self.method = method
        """The declared method (``wasmchain.vm.wit.types.Method``): params, result, ``readonly``, docs."""
        self.__name__ = method.export
        self.__qualname__ = f"Contract.{method.export}"
        self.__doc__ = _docstring(method)
        self.__signature__ = _python_signature(method)

    def __get__(self, instance: object, owner: type | None = None) -> TypedMethod:
        # A method descriptor to inspect and pydoc, so help() shows the signature and the docs.
        return self

    @property
    def readonly(self) -> bool:
        """True for a method of the world's ``view`` interface: it runs as a view, not a transaction."""
        return self.method.readonly

    @property
    def signature(self) -> str:
        """The WIT signature, e.g. ``balance-of(owner: address) -> u64``."""
        return signature(self.method)

    def bind(self, *args: Any, **kwargs: Any) -> BoundCall:
        """The arguments checked and encoded (``ArgumentTypeError`` if they do not fit), ready to send."""
        values = self._values(args, kwargs)
        return BoundCall(self.contract, self.typed, self.method, values, self.typed.encode(self.method, values))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self.bind(*args, **kwargs)
        return bound.view() if self.method.readonly else bound.send()

    def __repr__(self) -> str:
        return f"<method {self.signature} of {self.contract.address}>"

    def _values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        params = self.method.params
        if len(args) > len(params):
            listed = ", ".join(param.key for param in params) or "none"
            raise self._error(f"takes {len(params)} argument(s) ({listed}), given {len(args)}")
        values = {param.key: value for param, value in zip(params, args, strict=False)}
        keys = {param.key for param in params}
        for name, value in kwargs.items():
            key = name[:-1] if name.endswith("_") and name[:-1] in keys and name not in keys else name
            if key in values:
                raise self._error(f'argument "{key}" given twice (by position and by key)', path=key)
            values[key] = value
        return values

    def _error(self, problem: str, path: str = "") -> ArgumentTypeError:
        args = {param.key: example(param.type) for param in self.method.params}
        return ArgumentTypeError(
            f"{self.method.export}: {problem}; e.g. {self.method.export}(**{args!r})",
            method=self.method.export,
            path=path,
            expected="",
            example=args,
        )


@dataclass(frozen=True, slots=True)
class BoundCall:
    """A typed method with its arguments checked and encoded: send it, simulate it or view it, with options."""

    contract: Contract
    typed: TypedInterface
    method: Method
    args: dict[str, Any]
    """The arguments as given, by param key."""
    encoded: EncodedArgs
    """The msgpack the contract is sent."""

    def send(
        self, *, sender: Account | None = None, gas: int | None = None, value: int = 0, check: bool = True
    ) -> TxResult:
        """A transaction, signed by ``sender`` (default: the handle's); see ``Client.transact`` for ``gas`` and
        ``check``.  The result (``TxResult.result``) is decoded with the method's result type."""
        signer = sender if sender is not None else self._sender()
        result = self.contract.client.transact(
            signer,
            TxKind.CALL,
            to=self.contract,
            method=self.method.export,
            args=self.encoded,
            value=value,
            gas=gas,
            check=check,
        )
        return self._typed_result(result)

    def simulate(
        self,
        *,
        sender: AddressLike | None = None,
        gas: int | None = None,
        value: int = 0,
        trace: bool = False,
        verbose: bool = False,
    ) -> CallResult:
        """What ``send`` would do in the next block, without sending it (``Contract.simulate``); a failure is a
        result.  ``sender`` defaults to the handle's."""
        simulated = self.contract.client.simulate(
            sender if sender is not None else self._sender(),
            to=self.contract,
            method=self.method.export,
            args=self.encoded,
            value=value,
            gas=gas,
            trace=trace,
            verbose=verbose,
        )
        return self._typed_result(simulated)

    def view(self, *, caller: AddressLike | None = None, gas: int | None = None) -> Any:
        """Run it read-only against the head and return its decoded result (``Contract.view``); raises
        ``CallFailed`` if it did not end ``ok``."""
        viewed = self.contract.client.view(self.contract, self.method.export, self.encoded, caller=caller, gas=gas)
        return self._typed_result(viewed.raise_for_status()).result

    def _sender(self) -> Account:
        if self.contract.sender is None:
            raise ClientError(
                f"{self.method.export} is a transaction and this contract handle has no sender: "
                "use contract.with_sender(account), or .bind(...).send(sender=account)"
            )
        return self.contract.sender

    def _typed_result(self, result: Result) -> Result:
        decoded = self.typed.decode(self.method, result.return_data)
        return result if decoded is _UNDECODED else replace(result, result=decoded)


def _plain(value: Any) -> Any:
    """Handles (``Account``, ``Contract``) as their 20 address bytes, anywhere in a value; the rest as it is."""
    if isinstance(value, (Account, Contract)):
        return bytes.fromhex(value.address[2:])
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _docstring(method: Method) -> str:
    """The WIT's doc comments, then how the method is called (``help`` shows the signature above them)."""
    if method.readonly:
        how = "Read-only (the world's view interface): runs as a view and returns the decoded result."
    else:
        how = (
            "A transaction signed by the handle's sender (contract.with_sender); returns its TxResult.\n"
            "Options: .bind(...).send(sender=, gas=, value=, check=); .bind(...).simulate(...) runs it unsent."
        )
    return "\n\n".join(part for part in (method.docs.strip(), how) if part)


def _python_signature(method: Method) -> inspect.Signature:
    def name(key: str) -> str:
        return key + "_" if keyword.iskeyword(key) else key

    # Option params may be left out; in a Python signature only the trailing ones can show a default.
    required = len(method.params)
    while required and isinstance(method.params[required - 1].type, OptionOf):
        required -= 1
    parameters = [
        inspect.Parameter(
            name(param.key),
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=inspect.Parameter.empty if index < required else None,
            annotation=_annotation(param.type),
        )
        for index, param in enumerate(method.params)
    ]
    if method.readonly:
        returns: Any = _annotation(method.result) if method.result is not None else None
    else:
        returns = WitAnnotation("TxResult")
    return inspect.Signature(parameters, return_annotation=returns)


def _annotation(t: WitType) -> WitAnnotation:
    return WitAnnotation(wit_name(t))
