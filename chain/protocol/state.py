"""The world state: accounts, code and contract storage, over the journal.

State keys (each also a leaf of the sparse Merkle tree):

| key | value |
| --- | --- |
| ``b"a" + address`` | account: ``[balance (amount bytes), nonce, code_hash or b""]`` |
| ``b"c" + code_hash`` | a module's code, as deployed |
| ``b"s" + contract + key`` | a contract's storage value |

This is the protocol's layout, the one the state root commits to.  Where
the state is kept is the store's business (``wasmchain.store.schema``
stores each state key under a database prefix): ``State`` reads and writes
state keys through the journal it is given, so that the journal's pending
changes at the end of a block are exactly the state changes that feed the
Merkle root.  ``State`` implements ``vm.host.Host``, so contracts read and
write through the same journal.  Every change to an account goes through
one of the named operations at the end (``set_balance``, ``debit_fee``,
``refund``, ``increment_nonce``, ``move_balance``, ``set_code``).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Protocol

from wasmchain.protocol.codec import decode, decode_amount, encode, encode_amount
from wasmchain.protocol.errors import ChainError, InvalidEncoding
from wasmchain.vm.host import Address, Hash32

ACCOUNT = b"a"
CODE = b"c"
STORAGE = b"s"


def account_key(address: Address) -> bytes:
    return ACCOUNT + address


def code_key(code_hash: Hash32) -> bytes:
    return CODE + code_hash


def storage_key(contract: Address, key: bytes) -> bytes:
    return STORAGE + contract + key


@dataclass(frozen=True, slots=True)
class Account:
    balance: int = 0
    nonce: int = 0
    """Transactions sent so far; the next transaction must carry this nonce."""
    code_hash: Hash32 = b""
    """The code of a contract account; empty for an account owned by a key."""

    @property
    def is_contract(self) -> bool:
        return bool(self.code_hash)

    def encode(self) -> bytes:
        return encode([encode_amount(self.balance), self.nonce, self.code_hash])

    @classmethod
    def decode(cls, data: bytes) -> Account:
        value = decode(data, what="account")
        if not (
            isinstance(value, list) and len(value) == 3 and isinstance(value[1], int) and isinstance(value[2], bytes)
        ):
            raise InvalidEncoding("an account is [balance, nonce, code_hash]")
        return cls(decode_amount(value[0], what="balance"), value[1], value[2])


EMPTY_ACCOUNT = Account()

ACCOUNT_CACHE_ENTRIES = 4096
"""Decoded accounts kept by their encoding (see ``_decode_account``)."""


@functools.lru_cache(maxsize=ACCOUNT_CACHE_ENTRIES)
def _decode_account(data: bytes) -> Account:
    """``Account.decode``, remembered by the bytes decoded.

    A transaction reads the same few accounts several times (the sender at
    admission, at execution and for the refund; the contract for its code
    hash), each time through the full canonical decode.  Decoding is a pure
    function of the bytes and an ``Account`` is immutable, so the cache can
    never answer differently from decoding afresh; bytes that fail to decode
    raise every time (``lru_cache`` keeps no exceptions).
    """
    return Account.decode(data)


class StateJournal(Protocol):
    """Where the state reads and writes, by state key: pending writes with nested checkpoints.

    ``wasmchain.store.journal.Journal`` over ``wasmchain.store.schema.StateTable`` is the one the
    chain uses; the protocol only needs these.
    """

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def checkpoint(self) -> None: ...

    def commit(self) -> None: ...

    def revert(self) -> None: ...

    def flush(self) -> dict[bytes, bytes | None]:
        """The net changes (state key -> value, ``None``: deleted), sorted by key, now forgotten."""
        ...


class State:
    """Typed access to the state through a journal; a ``vm.host.Host``."""

    def __init__(self, journal: StateJournal, *, decode_cache: bool = True) -> None:
        self.journal = journal
        self._decode_account = _decode_account if decode_cache else Account.decode

    # -- raw keys ---------------------------------------------------------

    def get(self, state_key: bytes) -> bytes | None:
        return self.journal.get(state_key)

    def set(self, state_key: bytes, value: bytes) -> None:
        self.journal.set(state_key, value)

    def delete(self, state_key: bytes) -> None:
        self.journal.delete(state_key)

    # -- accounts and code -------------------------------------------------------

    def account(self, address: Address) -> Account:
        data = self.get(account_key(address))
        return EMPTY_ACCOUNT if data is None else self._decode_account(data)

    def set_account(self, address: Address, account: Account) -> None:
        if account == EMPTY_ACCOUNT:
            self.delete(account_key(address))
        else:
            self.set(account_key(address), account.encode())

    def put_code(self, code: bytes) -> Hash32:
        code_hash = hashlib.sha256(code).digest()
        if self.get(code_key(code_hash)) is None:
            self.set(code_key(code_hash), code)
        return code_hash

    # -- vm.host.Host ------------------------------------------------------------

    def storage_read(self, contract: Address, key: bytes) -> bytes | None:
        return self.get(storage_key(contract, key))

    def storage_write(self, contract: Address, key: bytes, value: bytes) -> None:
        self.set(storage_key(contract, key), value)

    def storage_remove(self, contract: Address, key: bytes) -> bool:
        present = self.get(storage_key(contract, key)) is not None
        if present:
            self.delete(storage_key(contract, key))
        return present

    def balance(self, address: Address) -> int:
        return self.account(address).balance

    def transfer(self, sender: Address, recipient: Address, amount: int) -> bool:
        return move_balance(self, sender, recipient, amount)

    def code_hash(self, address: Address) -> Hash32 | None:
        return self.account(address).code_hash or None

    def code(self, code_hash: Hash32) -> bytes:
        code = self.get(code_key(code_hash))
        if code is None:
            raise ChainError(f"code {code_hash.hex()} is referenced but missing from the state")
        return code

    def checkpoint(self) -> None:
        self.journal.checkpoint()

    def commit(self) -> None:
        self.journal.commit()

    def revert(self) -> None:
        self.journal.revert()


# -- the named operations on accounts: every change to an account goes through one of these ----------

MAX_BALANCE = (1 << 128) - 1
"""A balance is an amount: 16 bytes at most."""


def set_balance(state: State, address: Address, balance: int) -> None:
    """Set an account's balance outright (genesis, a devnet's balance override); nonce and code stay."""
    account = state.account(address)
    state.set_account(address, Account(balance, account.nonce, account.code_hash))


def debit_fee(state: State, address: Address, fee: int) -> None:
    """Take a transaction's maximum fee from its sender (validation checked the sender can pay)."""
    account = state.account(address)
    state.set_account(address, Account(account.balance - fee, account.nonce, account.code_hash))


def refund(state: State, address: Address, amount: int) -> None:
    """Give back the fee for gas a transaction did not use."""
    account = state.account(address)
    state.set_account(address, Account(account.balance + amount, account.nonce, account.code_hash))


def increment_nonce(state: State, address: Address) -> None:
    """Count one more transaction sent by ``address``."""
    account = state.account(address)
    state.set_account(address, Account(account.balance, account.nonce + 1, account.code_hash))


def move_balance(state: State, sender: Address, recipient: Address, amount: int) -> bool:
    """Move ``amount``; ``False`` and no change if the sender is short or the
    recipient's balance would pass 2**128 - 1 (reachable after a balance override)."""
    source = state.account(sender)
    if source.balance < amount:
        return False
    if amount == 0 or sender == recipient:
        return True
    target = state.account(recipient)
    if target.balance + amount > MAX_BALANCE:
        return False
    state.set_account(sender, Account(source.balance - amount, source.nonce, source.code_hash))
    state.set_account(recipient, Account(target.balance + amount, target.nonce, target.code_hash))
    return True


def set_code(state: State, address: Address, code: bytes) -> Hash32:
    """Make ``address`` a contract running ``code`` (stored once per hash); its balance and nonce stay.
    Returns the code's hash."""
    account = state.account(address)
    code_hash = state.put_code(code)
    state.set_account(address, Account(account.balance, account.nonce, code_hash))
    return code_hash
