"""Transactions: transfer, deploy and call, signed over their canonical bytes.

A signed transaction encodes as ``[fields, signature]`` where ``fields`` is
the array below; the signature covers ``SIGNING_DOMAIN + encode(fields)``,
and the transaction's hash is the SHA-256 of its whole encoding.

| index | field | type |
| --- | --- | --- |
| 0 | version | 1 |
| 1 | chain_id | str |
| 2 | nonce | uint |
| 3 | gas_limit | uint |
| 4 | gas_price | uint |
| 5 | public_key | bin 32, the sender's Ed25519 key |
| 6 | kind | 0 transfer, 1 deploy, 2 call |
| 7 | to | bin 20 (transfer recipient, called contract); empty for deploy |
| 8 | value | amount (big-endian bin, no leading zeros) |
| 9 | code | bin, the module (deploy only) |
| 10 | method | str, the method called (call) or the init method (deploy, may be empty) |
| 11 | args | bin, the msgpack arguments (call, deploy with init) |
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

import msgpack

from wasmchain.protocol.codec import decode, decode_amount, encode, encode_amount
from wasmchain.protocol.errors import InvalidEncoding, MalformedTransaction, WrongSigningKey
from wasmchain.protocol.keys import ADDRESS_SIZE, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, address_of, verify_signature

if TYPE_CHECKING:  # not imported at run time: the HTTP client uses this module and loads no VM
    from wasmchain.vm.host import Address, Hash32

TX_VERSION = 1
SIGNING_DOMAIN = b"wasmchain/tx/v1:"
MAX_METHOD_NAME = 256


class TxKind(IntEnum):
    TRANSFER = 0
    DEPLOY = 1
    CALL = 2


@dataclass(frozen=True, slots=True)
class Transaction:
    """The unsigned content of a transaction."""

    chain_id: str
    nonce: int
    """The sender's nonce: its number of earlier transactions."""
    gas_limit: int
    """The most gas the transaction may use; its fee is at most gas_limit * gas_price."""
    gas_price: int
    """Native tokens paid per unit of gas used."""
    public_key: bytes
    """The sender's Ed25519 public key; the sender's address derives from it."""
    kind: TxKind
    to: Address = b""
    """The recipient (transfer) or the contract (call); empty for a deploy."""
    value: int = 0
    """Native tokens moved to ``to`` (or to the new contract)."""
    code: bytes = b""
    """The module to deploy."""
    method: str = ""
    """The method to call, or the init method of a deploy ("" for none)."""
    args: bytes = b""
    """Arguments for the method, msgpack-encoded."""

    @property
    def sender(self) -> Address:
        return address_of(self.public_key)

    def fields(self) -> list[Any]:
        return [
            TX_VERSION,
            self.chain_id,
            self.nonce,
            self.gas_limit,
            self.gas_price,
            self.public_key,
            int(self.kind),
            self.to,
            encode_amount(self.value),
            self.code,
            self.method,
            self.args,
        ]

    def signing_bytes(self) -> bytes:
        return SIGNING_DOMAIN + encode(self.fields())

    def sign(self, key: KeyPair) -> SignedTransaction:
        if key.public_key != self.public_key:
            raise WrongSigningKey("signing key does not match the transaction's public key")
        return SignedTransaction(self, key.sign(self.signing_bytes()))


@dataclass(frozen=True)
class SignedTransaction:
    """A transaction with its signature."""

    tx: Transaction
    signature: bytes

    @cached_property
    def encoded(self) -> bytes:
        return encode([self.tx.fields(), self.signature])

    @cached_property
    def hash(self) -> Hash32:
        return hashlib.sha256(self.encoded).digest()

    def signature_valid(self) -> bool:
        """Whether the signature is the sender's over the transaction's fields.

        Verified once per object: a transaction is checked at admission and
        again when its block executes, and Ed25519 costs ~130 µs a time.
        The answer depends on the (frozen) fields alone, so the cached one
        is the answer every later call would compute.
        """
        return self._signature_valid

    @cached_property
    def _signature_valid(self) -> bool:
        pending = self.__dict__.pop("_pending_verdict", None)
        if pending is not None:
            return bool(pending())
        return verify_signature(self.tx.public_key, self.signature, self.tx.signing_bytes())

    def signature_known(self) -> bool:
        """Whether the verdict on the signature is computed, or being computed elsewhere."""
        return "_signature_valid" in self.__dict__ or "_pending_verdict" in self.__dict__

    def expect_signature_verdict(self, verdict: Callable[[], bool]) -> None:
        """Let ``signature_valid`` take its answer from ``verdict`` (a worker's, see ``signatures.py``),
        called at most once, when it is first needed.  ``verdict`` must give exactly what verifying
        here would."""
        self.__dict__["_pending_verdict"] = verdict

    @classmethod
    def decode(cls, data: bytes) -> SignedTransaction:
        """Decode and check the shape of every field; raise ``MalformedTransaction`` naming the field."""
        try:
            value = decode(data, what="transaction")
        except InvalidEncoding as error:
            raise MalformedTransaction(str(error)) from None
        signed = cls.from_canonical(value)
        # ``decode`` accepts canonical bytes only, so they are exactly what encoding would give.
        signed.__dict__["encoded"] = bytes(data)
        return signed

    @classmethod
    def from_canonical(cls, value: Any) -> SignedTransaction:
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], list)):
            raise MalformedTransaction("a signed transaction is [fields, signature]")
        fields, signature = value
        if len(fields) != 12:
            raise MalformedTransaction(f"a transaction has 12 fields, found {len(fields)}")
        version, chain_id, nonce, gas_limit, gas_price, public_key, kind, to, value_bytes, code, method, args = fields
        _expect(version == TX_VERSION, f"version must be {TX_VERSION}, found {version!r}")
        _expect(isinstance(chain_id, str), "chain_id must be a string")
        for name, number in (("nonce", nonce), ("gas_limit", gas_limit), ("gas_price", gas_price)):
            _expect(isinstance(number, int) and number >= 0, f"{name} must be a non-negative integer, found {number!r}")
        _expect(
            isinstance(public_key, bytes) and len(public_key) == PUBLIC_KEY_SIZE,
            f"public_key must be {PUBLIC_KEY_SIZE} bytes",
        )
        _expect(
            isinstance(signature, bytes) and len(signature) == SIGNATURE_SIZE,
            f"signature must be {SIGNATURE_SIZE} bytes",
        )
        _expect(kind in (0, 1, 2), f"kind must be 0 (transfer), 1 (deploy) or 2 (call), found {kind!r}")
        _expect(
            isinstance(to, bytes) and isinstance(code, bytes) and isinstance(args, bytes),
            "to, code and args must be bytes",
        )
        _expect(isinstance(method, str), "method must be a string")
        try:
            amount = decode_amount(value_bytes, what="value")
        except InvalidEncoding as error:
            raise MalformedTransaction(str(error)) from None
        tx = Transaction(
            chain_id, nonce, gas_limit, gas_price, public_key, TxKind(kind), to, amount, code, method, args
        )
        _check_kind(tx)
        return cls(tx, signature)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise MalformedTransaction(message)


def _check_kind(tx: Transaction) -> None:
    """Each kind uses exactly its own fields."""
    if tx.kind is TxKind.TRANSFER:
        _expect(len(tx.to) == ADDRESS_SIZE, f"a transfer needs a {ADDRESS_SIZE}-byte recipient")
        _expect(not tx.code and not tx.method and not tx.args, "a transfer has no code, method or args")
    elif tx.kind is TxKind.DEPLOY:
        _expect(not tx.to, "a deploy has no recipient")
        _expect(bool(tx.code), "a deploy needs code")
        _expect(bool(tx.method) or not tx.args, "a deploy with args needs an init method")
    else:
        _expect(len(tx.to) == ADDRESS_SIZE, f"a call needs a {ADDRESS_SIZE}-byte contract address")
        _expect(bool(tx.method), "a call needs a method")
        _expect(not tx.code, "a call has no code")
    _expect(len(tx.method.encode()) <= MAX_METHOD_NAME, f"method name is longer than {MAX_METHOD_NAME} bytes")
    if tx.args:
        try:
            msgpack.unpackb(tx.args, raw=False, strict_map_key=False)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            # (TypeError: a map keyed by an array.)  The message names no
            # library detail, which could change between msgpack versions.
            raise MalformedTransaction("args do not decode as msgpack") from None
