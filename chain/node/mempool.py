"""The mempool: admitted transactions waiting for a block.

Admission (``add``) runs every check that does not depend on the block the
transaction will land in: the envelope (size, chain id, signature, gas
price and limit), the payload (a deploy's module, the arguments, the
intrinsic gas), the nonce against the sender's next nonce, and the
balance against the maximum cost of everything the sender has pending.
A transaction whose nonce is ahead waits in its sender's queue until the
gap fills; it becomes *ready* when every lower nonce is in a block or
ready.

Bounds: ``capacity`` transactions in all, and nonces at most
``max_nonce_gap`` ahead of the sender's next one, so one sender cannot fill
the pool with transactions that can never run.

Each refusal is its own ``InvalidTransaction`` (``node.errors``, ``protocol.errors``):
``DuplicateTransaction``, ``NonceTooLow``, ``NonceTaken``, ``NonceGapTooLarge``,
``InsufficientFunds`` (for this transaction and the sender's pending ones together) and
``MempoolFull``, checked in that order.

Order: ``ready`` hands out transactions in arrival order, except that a
sender's transactions always go in nonce order.  The order is the block
producer's choice and is recorded in the block, so nothing downstream
depends on how it was reached.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from wasmchain.node.errors import DuplicateTransaction, MempoolFull, NonceGapTooLarge, NonceTaken
from wasmchain.protocol.errors import InsufficientFunds, NonceTooLow
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.protocol.transition import max_cost
from wasmchain.vm.host import Address, Hash32

DEFAULT_CAPACITY = 10_000
DEFAULT_MAX_NONCE_GAP = 64


@dataclass(order=True)
class _Entry:
    arrival: int
    signed: SignedTransaction = field(compare=False)


class Mempool:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_nonce_gap: int = DEFAULT_MAX_NONCE_GAP) -> None:
        self.capacity = capacity
        self.max_nonce_gap = max_nonce_gap
        self._by_sender: dict[Address, dict[int, _Entry]] = {}
        self._by_hash: dict[Hash32, SignedTransaction] = {}
        self._arrivals = 0

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: Hash32) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: Hash32) -> SignedTransaction | None:
        return self._by_hash.get(tx_hash)

    def add(self, signed: SignedTransaction, next_nonce: int, balance: int) -> None:
        """Queue a transaction whose envelope and payload have been checked.

        ``next_nonce`` and ``balance`` are the sender's at the head.
        """
        tx = signed.tx
        if signed.hash in self._by_hash:
            raise DuplicateTransaction(f"transaction 0x{signed.hash.hex()} is already in the mempool")
        sender = tx.sender  # (a hash of the public key each time)
        queue = self._by_sender.get(sender, {})
        if tx.nonce < next_nonce:
            raise NonceTooLow(f"nonce {tx.nonce} was already used: the account's next nonce is {next_nonce}")
        if tx.nonce in queue:
            raise NonceTaken(
                f"nonce {tx.nonce} is already taken by pending transaction 0x{queue[tx.nonce].signed.hash.hex()}"
            )
        if tx.nonce > next_nonce + self.max_nonce_gap:
            raise NonceGapTooLarge(
                f"nonce {tx.nonce} is too far ahead: the account's next nonce is {next_nonce}, "
                f"and the mempool holds nonces at most {self.max_nonce_gap} ahead"
            )
        pending_cost = sum(max_cost(entry.signed.tx) for entry in queue.values())
        cost = max_cost(tx)
        if balance < pending_cost + cost:
            raise InsufficientFunds(
                f"balance {balance} is below the maximum cost of this transaction ({cost}) "
                f"plus the sender's {len(queue)} pending ones ({pending_cost})"
            )
        if len(self._by_hash) >= self.capacity:
            raise MempoolFull(f"the mempool is full ({self.capacity} transactions); try again after the next block")
        self._arrivals += 1
        self._by_sender.setdefault(sender, {})[tx.nonce] = _Entry(self._arrivals, signed)
        self._by_hash[signed.hash] = signed

    def next_nonce(self, sender: Address, next_in_state: int) -> int:
        """The nonce after the sender's pending transactions that follow ``next_in_state`` with no gap."""
        queue = self._by_sender.get(sender, {})
        nonce = next_in_state
        while nonce in queue:
            nonce += 1
        return nonce

    def ready(self, next_nonce: Callable[[Address], int], limit: int | None = None) -> list[SignedTransaction]:
        """Transactions that can run now, in arrival order, each sender's in nonce order."""
        heads: list[tuple[_Entry, Address, int]] = []
        for sender, queue in self._by_sender.items():
            nonce = next_nonce(sender)
            if nonce in queue:
                heads.append((queue[nonce], sender, nonce))
        heapq.heapify(heads)
        chosen: list[SignedTransaction] = []
        while heads and (limit is None or len(chosen) < limit):
            entry, sender, nonce = heapq.heappop(heads)
            chosen.append(entry.signed)
            following = self._by_sender[sender].get(nonce + 1)
            if following is not None:
                heapq.heappush(heads, (following, sender, nonce + 1))
        return chosen

    def remove(self, signed: SignedTransaction) -> None:
        if self._by_hash.pop(signed.hash, None) is None:
            return
        tx = signed.tx
        sender = tx.sender
        queue = self._by_sender[sender]
        del queue[tx.nonce]
        if not queue:
            del self._by_sender[sender]

    def prune(self, next_nonce: Callable[[Address], int]) -> None:
        """Drop transactions whose nonce a block has used."""
        for sender in list(self._by_sender):
            floor = next_nonce(sender)
            for nonce, entry in sorted(self._by_sender[sender].items()):
                if nonce < floor:
                    self.remove(entry.signed)

    def clear(self) -> None:
        self._by_sender.clear()
        self._by_hash.clear()

    def pending(self) -> list[SignedTransaction]:
        """Every transaction held, in arrival order."""
        entries = [entry for queue in self._by_sender.values() for entry in queue.values()]
        return [entry.signed for entry in sorted(entries)]
