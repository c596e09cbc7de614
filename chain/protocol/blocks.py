"""Blocks, headers and receipts, and the Merkle root of a list.

Encodings (canonical msgpack arrays, see ``codec``):

- header: ``[chain_id, height, parent_hash, timestamp, tx_root, receipts_root, state_root, gas_used,
  overrides_root]``; a block's hash is the SHA-256 of its header's encoding;
- block: ``[header, [signed transaction, ...]]``, or
  ``[header, [signed transaction, ...], [[address, balance], ...]]`` when it
  carries balance overrides (a devnet's ``set_balance``; see ``transition``);
- receipt: ``[tx_hash, status, gas_used, return_data, [[contract, name, data], ...], error, contract_address]``.

``tx_root`` and ``receipts_root`` are ``merkle_root`` of the transaction
hashes and of the receipts' hashes, in block order; ``overrides_root`` is
``merkle_root`` of the encoded overrides (``merkle_root([])`` for none).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from wasmchain.protocol.codec import decode, decode_amount, encode, encode_amount
from wasmchain.protocol.errors import InvalidBlock, InvalidEncoding, InvalidTransaction
from wasmchain.protocol.keys import ADDRESS_SIZE
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.vm import Event, Outcome
from wasmchain.vm.host import Address, Hash32

ZERO_HASH = bytes(32)
RECEIPT_STATUSES = ("ok", "out_of_gas", "trap", "abort", "invalid")


def merkle_root(items: Sequence[bytes]) -> Hash32:
    """The RFC 6962 Merkle tree hash of a list (leaves and nodes domain-separated)."""
    if not items:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(b"\x00" + item).digest() for item in items]
    return _subtree(level)


def _subtree(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two below the length
    return hashlib.sha256(b"\x01" + _subtree(leaves[:split]) + _subtree(leaves[split:])).digest()


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a transaction did: its status, gas, result and events."""

    tx_hash: Hash32
    status: str
    """``ok`` or the failure kind: ``out_of_gas``, ``trap``, ``abort``, ``invalid``."""
    gas_used: int
    """All gas charged: intrinsic, deploy and execution."""
    return_data: bytes = b""
    events: tuple[Event, ...] = ()
    error: str = ""
    """What went wrong; empty when status is ok."""
    contract_address: Address = b""
    """The new contract's address, for a deploy."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def fields(self) -> list[Any]:
        return [
            self.tx_hash,
            self.status,
            self.gas_used,
            self.return_data,
            [[event.contract, event.name, event.data] for event in self.events],
            self.error,
            self.contract_address,
        ]

    def encode(self) -> bytes:
        return encode(self.fields())

    @property
    def hash(self) -> Hash32:
        return hashlib.sha256(self.encode()).digest()

    @classmethod
    def from_canonical(cls, value: Any) -> Receipt:
        try:
            tx_hash, status, gas_used, return_data, events, error, address = value
            receipt = cls(
                tx_hash, status, gas_used, return_data, tuple(Event(c, n, d) for c, n, d in events), error, address
            )
        except (TypeError, ValueError):
            raise InvalidEncoding(
                "a receipt is [tx_hash, status, gas_used, return_data, events, error, contract_address]"
            ) from None
        if receipt.status not in RECEIPT_STATUSES:
            raise InvalidEncoding(f"unknown receipt status {receipt.status!r}")
        _check_receipt_types(receipt)
        return receipt

    @classmethod
    def from_outcome(cls, tx_hash: Hash32, outcome: Outcome, gas_used: int, contract_address: Address = b"") -> Receipt:
        return cls(
            tx_hash,
            outcome.status,
            gas_used,
            outcome.return_data,
            outcome.events,
            outcome.error or "",
            contract_address,
        )


def _check_receipt_types(receipt: Receipt) -> None:
    """Each field of a decoded receipt has its type (a file or a peer may hold any canonical value there)."""
    checks = (
        (isinstance(receipt.tx_hash, bytes) and len(receipt.tx_hash) == 32, "tx_hash must be 32 bytes"),
        (type(receipt.gas_used) is int and receipt.gas_used >= 0, "gas_used must be a non-negative integer"),
        (isinstance(receipt.return_data, bytes), "return_data must be bytes"),
        (isinstance(receipt.error, str), "error must be a string"),
        (
            isinstance(receipt.contract_address, bytes) and len(receipt.contract_address) in (0, ADDRESS_SIZE),
            f"contract_address must be empty or {ADDRESS_SIZE} bytes",
        ),
    )
    for ok, message in checks:
        if not ok:
            raise InvalidEncoding(f"a receipt's {message}")
    for event in receipt.events:
        if not (
            isinstance(event.contract, bytes)
            and len(event.contract) == ADDRESS_SIZE
            and isinstance(event.name, str)
            and isinstance(event.data, bytes)
        ):
            raise InvalidEncoding(
                f"a receipt's event is [contract ({ADDRESS_SIZE} bytes), name (a string), data (bytes)]"
            )


@dataclass(frozen=True)
class Header:
    chain_id: str
    height: int
    parent_hash: Hash32
    timestamp: int
    """Seconds since the Unix epoch; never earlier than the parent's."""
    tx_root: Hash32
    receipts_root: Hash32
    state_root: Hash32
    """The sparse Merkle root of the whole state after this block."""
    gas_used: int
    overrides_root: Hash32
    """The Merkle root of the block's balance overrides (``EMPTY_ROOT`` for none)."""

    def fields(self) -> list[Any]:
        return [
            self.chain_id,
            self.height,
            self.parent_hash,
            self.timestamp,
            self.tx_root,
            self.receipts_root,
            self.state_root,
            self.gas_used,
            self.overrides_root,
        ]

    @cached_property
    def hash(self) -> Hash32:
        return hashlib.sha256(encode(self.fields())).digest()

    @classmethod
    def from_canonical(cls, value: Any) -> Header:
        if not (isinstance(value, list) and len(value) == 9):
            raise InvalidBlock("a header has 9 fields")
        chain_id, height, parent, timestamp, tx_root, receipts_root, state_root, gas_used, overrides_root = value
        hashes = (parent, tx_root, receipts_root, state_root, overrides_root)
        ok = (
            isinstance(chain_id, str)
            and all(isinstance(n, int) and n >= 0 for n in (height, timestamp, gas_used))
            and all(isinstance(h, bytes) and len(h) == 32 for h in hashes)
        )
        if not ok:
            raise InvalidBlock("header fields have the wrong types")
        return cls(chain_id, height, parent, timestamp, tx_root, receipts_root, state_root, gas_used, overrides_root)


BalanceOverride = tuple[Address, int]
"""``(address, balance)``: set an account's native balance before the block's transactions."""


def override_leaf(override: BalanceOverride) -> bytes:
    address, balance = override
    return encode([address, encode_amount(balance)])


def overrides_root(overrides: Sequence[BalanceOverride]) -> Hash32:
    return merkle_root([override_leaf(override) for override in overrides])


@dataclass(frozen=True)
class Block:
    header: Header
    transactions: tuple[SignedTransaction, ...]
    overrides: tuple[BalanceOverride, ...] = ()
    """Balance overrides, applied in order before the transactions (devnet chains only)."""

    @property
    def hash(self) -> Hash32:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def encode(self) -> bytes:
        body: list[Any] = [self.header.fields(), [[tx.tx.fields(), tx.signature] for tx in self.transactions]]
        if self.overrides:
            body.append([[address, encode_amount(balance)] for address, balance in self.overrides])
        return encode(body)

    @classmethod
    def decode(cls, data: bytes) -> Block:
        try:
            value = decode(data, what="block")
        except InvalidEncoding as error:
            raise InvalidBlock(str(error)) from None
        if not (isinstance(value, list) and len(value) in (2, 3) and all(isinstance(part, list) for part in value[1:])):
            raise InvalidBlock("a block is [header, transactions] or [header, transactions, overrides]")
        if len(value) == 3 and not value[2]:
            raise InvalidBlock("a block with no overrides is encoded without the overrides list")
        header = Header.from_canonical(value[0])
        transactions = []
        for index, raw in enumerate(value[1]):
            try:
                transactions.append(SignedTransaction.from_canonical(raw))
            except InvalidTransaction as error:
                raise InvalidBlock(f"transaction {index}: {error}") from None
        overrides = []
        for index, raw in enumerate(value[2] if len(value) == 3 else ()):
            if not (
                isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], bytes) and len(raw[0]) == ADDRESS_SIZE
            ):
                raise InvalidBlock(f"override {index} is not [address, balance]")
            try:
                overrides.append((raw[0], decode_amount(raw[1], what=f"override {index} balance")))
            except InvalidEncoding as error:
                raise InvalidBlock(str(error)) from None
        return cls(header, tuple(transactions), tuple(overrides))


def encode_receipts(receipts: Sequence[Receipt]) -> bytes:
    return encode([receipt.fields() for receipt in receipts])


def decode_receipts(data: bytes) -> list[Receipt]:
    values = decode(data, what="receipts")
    if not isinstance(values, list):
        raise InvalidEncoding("receipts are an array of receipts")
    return [Receipt.from_canonical(value) for value in values]
