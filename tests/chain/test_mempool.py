"""The mempool against a slow, obviously-right model: admission, ready order, removal, pruning."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wasmchain.node.errors import DuplicateTransaction, MempoolFull, NonceGapTooLarge, NonceTaken
from wasmchain.node.mempool import Mempool
from wasmchain.protocol.errors import InsufficientFunds, InvalidTransaction, NonceTooHigh, NonceTooLow
from wasmchain.protocol.keys import dev_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind

CHAIN_ID = "wasmchain-devnet"
KEYS = [dev_key(i) for i in range(3)]
SENDERS = [key.address for key in KEYS]
RECIPIENT = dev_key(9).address
SMALL_GAS, BIG_GAS = 100_000, 1_000_000
CAPACITY = 6
MAX_GAP = 3
BALANCE = 3_500_000
"""Three big transactions fit, a fourth does not: cumulative affordability matters."""

REFUSALS: dict[str, type[InvalidTransaction]] = {
    "already in the mempool": DuplicateTransaction,
    "was already used": NonceTooLow,
    "is already taken": NonceTaken,
    "too far ahead": NonceGapTooLarge,
    "is below the maximum cost": InsufficientFunds,
    "full": MempoolFull,
}
"""Each refusal the model expects (a part of its message) and the type, so the reason, it must have."""

_signed: dict[tuple[int, int, bool, int], SignedTransaction] = {}


def transfer(sender: int, nonce: int, big: bool = False, value: int = 0) -> SignedTransaction:
    """A signed transfer; ``value`` tells apart two transactions with the same nonce."""
    key = (sender, nonce, big, value)
    if key not in _signed:
        gas = BIG_GAS if big else SMALL_GAS
        tx = Transaction(CHAIN_ID, nonce, gas, 1, KEYS[sender].public_key, TxKind.TRANSFER, to=RECIPIENT, value=value)
        _signed[key] = tx.sign(KEYS[sender])
    return _signed[key]


def cost(signed: SignedTransaction) -> int:
    return signed.tx.value + signed.tx.gas_limit * signed.tx.gas_price


@dataclass
class Pooled:
    signed: SignedTransaction
    arrival: int


class MempoolMachine(RuleBasedStateMachine):
    """The model: a list of pooled transactions with arrival numbers, and each sender's state."""

    @initialize()
    def start(self) -> None:
        self.pool = Mempool(capacity=CAPACITY, max_nonce_gap=MAX_GAP)
        self.model: list[Pooled] = []
        self.arrivals = 0
        self.state_nonce = {sender: 0 for sender in SENDERS}
        self.balance = {sender: BALANCE for sender in SENDERS}

    # -- the model ------------------------------------------------------------------

    def queued(self, sender: bytes) -> dict[int, Pooled]:
        return {p.signed.tx.nonce: p for p in self.model if p.signed.tx.sender == sender}

    def expected_error(self, signed: SignedTransaction) -> str | None:
        tx = signed.tx
        queue = self.queued(tx.sender)
        next_nonce = self.state_nonce[tx.sender]
        if any(p.signed.hash == signed.hash for p in self.model):
            return "already in the mempool"
        if tx.nonce < next_nonce:
            return "was already used"
        if tx.nonce in queue:
            return "is already taken"
        if tx.nonce > next_nonce + MAX_GAP:
            return "too far ahead"
        if self.balance[tx.sender] < sum(cost(p.signed) for p in queue.values()) + cost(signed):
            return "is below the maximum cost"
        if len(self.model) >= CAPACITY:
            return "full"
        return None

    def model_ready(self, limit: int | None) -> list[SignedTransaction]:
        """Repeatedly the earliest-arrived among each sender's next transaction."""
        heads = dict(self.state_nonce)
        chosen: list[SignedTransaction] = []
        while limit is None or len(chosen) < limit:
            candidates = [(q[heads[s]].arrival, s) for s in SENDERS if heads[s] in (q := self.queued(s))]
            if not candidates:
                break
            _, sender = min(candidates)
            chosen.append(self.queued(sender)[heads[sender]].signed)
            heads[sender] += 1
        return chosen

    def model_next_nonce(self, sender: bytes) -> int:
        nonce, queue = self.state_nonce[sender], self.queued(sender)
        while nonce in queue:
            nonce += 1
        return nonce

    def admit(self, signed: SignedTransaction) -> None:
        expected = self.expected_error(signed)
        sender = signed.tx.sender
        if expected is None:
            self.pool.add(signed, self.state_nonce[sender], self.balance[sender])
            self.arrivals += 1
            self.model.append(Pooled(signed, self.arrivals))
            return
        error_type = REFUSALS[expected]
        with pytest.raises(InvalidTransaction, match=expected) as caught:
            self.pool.add(signed, self.state_nonce[sender], self.balance[sender])
        assert type(caught.value) is error_type and caught.value.reason == error_type.reason

    def drop_from_model(self, signed: SignedTransaction) -> None:
        self.model = [p for p in self.model if p.signed.hash != signed.hash]

    # -- rules ----------------------------------------------------------------------

    @rule(sender=st.integers(0, 2), offset=st.integers(-1, MAX_GAP + 1), big=st.booleans(), value=st.integers(0, 1))
    def add(self, sender: int, offset: int, big: bool, value: int) -> None:
        nonce = self.state_nonce[SENDERS[sender]] + offset
        if nonce >= 0:
            self.admit(transfer(sender, nonce, big, value))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def add_again(self, data: st.DataObject) -> None:
        self.admit(data.draw(st.sampled_from(self.model)).signed)

    @rule(limit=st.one_of(st.none(), st.integers(1, 4)))
    def ready(self, limit: int | None) -> None:
        ready = self.pool.ready(lambda sender: self.state_nonce[sender], limit)
        assert [s.hash for s in ready] == [s.hash for s in self.model_ready(limit)]

    @rule(count=st.integers(1, 4), prune=st.booleans())
    def include(self, count: int, prune: bool) -> None:
        """A block takes the first ``count`` ready transactions; the senders' state moves on."""
        for signed in self.model_ready(count):
            sender = signed.tx.sender
            assert signed.tx.nonce == self.state_nonce[sender]
            self.pool.remove(signed)
            self.drop_from_model(signed)
            self.state_nonce[sender] += 1
            self.balance[sender] -= cost(signed)
        if prune:
            self.prune()

    @rule(sender=st.integers(0, 2), by=st.integers(1, 3), prune=st.booleans())
    def advance(self, sender: int, by: int, prune: bool) -> None:
        """The sender's nonce moves on without the pool's transactions (another node's block, say)."""
        address = SENDERS[sender]
        self.state_nonce[address] += by
        if prune:
            self.prune()

    @rule()
    def prune(self) -> None:
        self.pool.prune(lambda s: self.state_nonce[s])
        self.model = [p for p in self.model if p.signed.tx.nonce >= self.state_nonce[p.signed.tx.sender]]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        """Any transaction leaves (the node dropped it), opening a gap in its sender's queue."""
        signed = data.draw(st.sampled_from(self.model)).signed
        self.pool.remove(signed)
        self.drop_from_model(signed)
        self.pool.remove(signed)  # twice is harmless

    @rule()
    def clear(self) -> None:
        self.pool.clear()
        self.model = []

    # -- what must always hold ----------------------------------------------------------

    @invariant()
    def same_contents(self) -> None:
        if not hasattr(self, "pool"):
            return
        assert len(self.pool) == len(self.model)
        assert [s.hash for s in self.pool.pending()] == [p.signed.hash for p in self.model]
        for pooled in self.model:
            assert pooled.signed.hash in self.pool
            assert self.pool.get(pooled.signed.hash) is pooled.signed
        for sender in SENDERS:
            assert self.pool.next_nonce(sender, self.state_nonce[sender]) == self.model_next_nonce(sender)


TestMempoolMachine = MempoolMachine.TestCase
TestMempoolMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


# -- the rules one at a time, with their messages ---------------------------------------------


def test_ready_is_arrival_order_across_senders_and_nonce_order_within_one() -> None:
    pool = Mempool()
    a1, b0, a0, c0 = transfer(0, 1), transfer(1, 0), transfer(0, 0), transfer(2, 0)
    for signed in (a1, b0, a0, c0):
        pool.add(signed, 0, BALANCE)
    ready = pool.ready(lambda sender: 0)
    # a0 arrived after b0; a1 arrived first but must follow a0.
    assert ready == [b0, a0, a1, c0]
    assert pool.ready(lambda sender: 0, limit=2) == [b0, a0]


def test_a_gap_holds_back_the_later_nonces() -> None:
    pool = Mempool()
    pool.add(transfer(0, 0), 0, BALANCE)
    pool.add(transfer(0, 2), 0, BALANCE)
    assert pool.ready(lambda sender: 0) == [transfer(0, 0)]
    assert pool.next_nonce(SENDERS[0], 0) == 1
    pool.add(transfer(0, 1), 0, BALANCE)
    assert pool.ready(lambda sender: 0) == [transfer(0, 0), transfer(0, 1), transfer(0, 2)]
    assert pool.next_nonce(SENDERS[0], 0) == 3


def test_admission_messages_and_reasons() -> None:
    pool = Mempool(capacity=2, max_nonce_gap=2)
    pool.add(transfer(0, 5), 5, BALANCE)
    with pytest.raises(DuplicateTransaction, match=r"0x[0-9a-f]{64} is already in the mempool"):
        pool.add(transfer(0, 5), 5, BALANCE)
    with pytest.raises(NonceTooLow, match="nonce 4 was already used: the account's next nonce is 5"):
        pool.add(transfer(0, 4), 5, BALANCE)
    with pytest.raises(NonceTaken, match="nonce 5 is already taken by pending transaction 0x"):
        pool.add(transfer(0, 5, value=1), 5, BALANCE)
    with pytest.raises(
        NonceGapTooLarge,
        match="nonce 8 is too far ahead: the account's next nonce is 5, and the mempool holds nonces at most 2 ahead",
    ):
        pool.add(transfer(0, 8), 5, BALANCE)
    with pytest.raises(
        InsufficientFunds,
        match=r"balance 1099999 is below the maximum cost of this transaction "
        r"\(1000000\) plus the sender's 1 pending ones \(100000\)",
    ):
        pool.add(transfer(0, 6, big=True), 5, 1_099_999)
    pool.add(transfer(0, 6, big=True), 5, 1_100_000)  # exactly affordable
    with pytest.raises(MempoolFull, match=r"the mempool is full \(2 transactions\)"):
        pool.add(transfer(1, 0), 0, BALANCE)


def test_each_refusal_has_its_own_reason() -> None:
    reasons = [error.reason for error in REFUSALS.values()]
    assert reasons == [
        "duplicate_transaction",
        "nonce_too_low",
        "nonce_taken",
        "nonce_gap_too_large",
        "insufficient_funds",
        "mempool_full",
    ]
    assert issubclass(NonceGapTooLarge, NonceTooHigh) and all(
        issubclass(e, InvalidTransaction) for e in REFUSALS.values()
    )


def test_prune_drops_used_nonces_only() -> None:
    pool = Mempool()
    for nonce in range(4):
        pool.add(transfer(0, nonce), 0, BALANCE)
    pool.add(transfer(1, 0), 0, BALANCE)
    pool.prune(lambda sender: 2 if sender == SENDERS[0] else 0)
    assert pool.pending() == [transfer(0, 2), transfer(0, 3), transfer(1, 0)]
    pool.prune(lambda sender: 9)
    assert len(pool) == 0 and pool.pending() == []
