"""The devnet node: mining modes, packing, dropping, snapshot and revert, balance overrides, timestamps, events."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasmchain.node.node as node_module
from tests.helpers import CONTRACTS, GENESIS
from wasmchain.client.local import local_client
from wasmchain.node.errors import DevnetError
from wasmchain.node.jsonrpc import MAX_EVENTS
from wasmchain.node.mempool import Mempool
from wasmchain.node.node import MAX_MINE, MAX_TIMESTAMP, Node
from wasmchain.protocol.blocks import Block, merkle_root
from wasmchain.protocol.errors import ChainError, InvalidBlock, InvalidTransaction, NotFound
from wasmchain.protocol.genesis import Genesis, genesis_from_document
from wasmchain.protocol.keys import KeyPair, contract_address, dev_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store import schema
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV
from wasmchain.store.schema import NODE_PREFIX

DOCUMENT = json.loads(GENESIS.read_text())
GENESIS_TIME = DOCUMENT["genesis_time"]
DEV = [dev_key(i) for i in range(4)]
TOKEN_CODE = (CONTRACTS / "token" / "token.wasm").read_bytes()
COUNTER_CODE = (CONTRACTS / "counter" / "counter.wasm").read_bytes()
OUTSIDER = bytes.fromhex("11" * 20)
NOWHERE = bytes.fromhex("22" * 20)


def genesis(**chain_section: Any) -> Genesis:
    document = copy.deepcopy(DOCUMENT)
    document["chain"].update(chain_section)
    return genesis_from_document(document)


G = genesis()


def new_chain(genesis: Genesis = G) -> Chain:
    return Chain.create(MemoryKV(), genesis)


def new_node(genesis: Genesis = G, **options: Any) -> Node:
    return Node(new_chain(genesis), clock=None, **options)


def tx(
    key: KeyPair, nonce: int, kind: TxKind = TxKind.TRANSFER, *, gas: int = 10**6, **fields: Any
) -> SignedTransaction:
    if kind is TxKind.TRANSFER:
        fields.setdefault("to", OUTSIDER)
        fields.setdefault("value", 1)
    return Transaction(G.chain_id, nonce, gas, 1, key.public_key, kind, **fields).sign(key)


def deploy_token(key: KeyPair, nonce: int, supply: int = 1_000) -> SignedTransaction:
    return tx(
        key, nonce, TxKind.DEPLOY, gas=10**8, code=TOKEN_CODE, method="init", args=msgpack.packb({"supply": supply})
    )


def token_transfer(key: KeyPair, nonce: int, token: bytes, to: bytes, amount: int) -> SignedTransaction:
    args = msgpack.packb({"to": to, "amount": amount}, use_bin_type=True)
    return tx(key, nonce, TxKind.CALL, gas=10**8, to=token, method="transfer", args=args)


def hashes(block: Block) -> list[bytes]:
    return [signed.hash for signed in block.transactions]


def replay(blocks: list[Block], genesis: Genesis = G) -> Chain:
    """A fresh chain that applies ``blocks`` as a follower would."""
    chain = new_chain(genesis)
    for block in blocks:
        chain.apply_block(block)
    return chain


def all_blocks(chain: Chain) -> list[Block]:
    return [chain.block(height) for height in range(1, chain.head.height + 1)]


# -- mining ------------------------------------------------------------------------------------


def test_instant_mining_gives_each_transaction_its_own_block() -> None:
    node = new_node()
    sent = [tx(DEV[0], 0), tx(DEV[1], 0), tx(DEV[0], 1)]
    for index, signed in enumerate(sent, start=1):
        submitted = node.submit(signed)
        assert submitted.included and submitted.tx_hash == signed.hash
        assert node.chain.head.height == index
        assert hashes(node.chain.block(index)) == [signed.hash]
    assert len(node.mempool) == 0
    assert node.chain.account(OUTSIDER).balance == 3


def test_a_future_nonce_waits_until_the_gap_fills_then_both_are_mined_in_order() -> None:
    node = new_node()
    later, first = tx(DEV[0], 1), tx(DEV[0], 0)
    assert not node.submit(later).included
    assert node.chain.head.height == 0
    assert node.transaction_status(later.hash) == "pending"
    assert node.next_nonce(DEV[0].address) == 0  # the gap is still there
    assert node.submit(first).included
    assert node.chain.head.height == 2
    assert hashes(node.chain.block(1)) == [first.hash] and hashes(node.chain.block(2)) == [later.hash]
    assert node.next_nonce(DEV[0].address) == 2 and len(node.mempool) == 0


def test_interval_mining_packs_every_ready_transaction_in_arrival_order() -> None:
    node = new_node(block_time=1.0)
    a0, b0, a1, c1 = tx(DEV[0], 0), tx(DEV[1], 0), tx(DEV[0], 1), tx(DEV[2], 1)
    for signed in (a1, b0, a0, c1):
        assert not node.submit(signed).included
    assert node.chain.head.height == 0 and len(node.mempool) == 4
    block, receipts = node.produce_block()
    # a1 arrived first but waits for a0; c1 waits for a nonce 0 that never came.
    assert hashes(block) == [b0.hash, a0.hash, a1.hash]
    assert [receipt.status for receipt in receipts] == ["ok"] * 3
    assert node.mempool.pending() == [c1]
    empty, _ = node.produce_block()
    assert empty.height == 2 and empty.transactions == ()


def test_packing_stops_at_the_first_transaction_that_does_not_fit_the_block_gas_limit() -> None:
    node = new_node(block_time=1.0)
    limit = G.chain.block_gas_limit
    big, bigger, small = tx(DEV[0], 0, gas=limit * 2 // 5), tx(DEV[1], 0, gas=limit * 3 // 4), tx(DEV[2], 0, gas=10**6)
    for signed in (big, bigger, small):
        node.submit(signed)
    first, _ = node.produce_block()
    # small would fit after big, but would overtake bigger, which arrived before it.
    assert hashes(first) == [big.hash]
    second, _ = node.produce_block()
    assert hashes(second) == [bigger.hash, small.hash]
    assert first.header.gas_used + second.header.gas_used > 0


def test_a_whole_block_of_gas_fits_exactly() -> None:
    node = new_node(block_time=1.0)
    half = G.chain.block_gas_limit // 2
    node.submit(tx(DEV[0], 0, gas=half))
    node.submit(tx(DEV[1], 0, gas=half))
    block, _ = node.produce_block()
    assert len(block.transactions) == 2


def test_a_transaction_that_fails_at_inclusion_is_dropped_with_its_reason_and_the_block_is_produced() -> None:
    node = new_node(block_time=1.0)
    first, broken, third = tx(DEV[0], 0), tx(DEV[0], 1, TxKind.CALL, to=NOWHERE, method="x"), tx(DEV[0], 2)
    other = tx(DEV[1], 0)
    for signed in (first, broken, third, other):
        node.submit(signed)  # a future nonce's call target is not checked at admission
    block, receipts = node.produce_block()
    assert hashes(block) == [first.hash, other.hash]
    assert all(receipt.ok for receipt in receipts)
    assert node.dropped == {broken.hash: "no contract at 0x2222222222222222222222222222222222222222"}
    assert node.transaction_status(broken.hash) == "dropped: no contract at 0x2222222222222222222222222222222222222222"
    # The sender's later transaction failed only because of the gap: it waits, as in instant mode.
    assert node.mempool.pending() == [third]
    assert node.transaction_status(third.hash) == "pending"
    fixed = tx(DEV[0], 1, value=5)
    node.submit(fixed)
    block, _ = node.produce_block()
    assert hashes(block) == [fixed.hash, third.hash]


def test_instant_mining_drops_a_failing_transaction_and_still_produces_its_block() -> None:
    node = new_node()
    broken = tx(DEV[0], 1, TxKind.CALL, to=NOWHERE, method="x")
    node.submit(broken)
    assert node.submit(tx(DEV[0], 0)).included
    assert node.chain.head.height == 2 and node.chain.block(2).transactions == ()
    assert node.transaction_status(broken.hash).startswith("dropped: no contract at 0x2222")
    # Submitted again, it is the ready one now, so its target is checked at once.
    with pytest.raises(InvalidTransaction, match="no contract at 0x2222"):
        node.submit(broken)


def test_a_balance_drained_after_admission_drops_the_transaction() -> None:
    node = new_node(block_time=1.0)
    spend = tx(DEV[3], 0)
    node.submit(spend)
    node.set_balance(DEV[3].address, 0)
    block, _ = node.produce_block()
    assert block.transactions == ()
    assert node.transaction_status(spend.hash).startswith("dropped: balance 0 is below value plus maximum fee")


def test_submit_hands_back_the_inclusion_it_mined_and_reads_no_index_for_a_nonce_not_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = new_node()
    looked_up: list[bytes] = []
    has_transaction = node.chain.has_transaction
    monkeypatch.setattr(
        node.chain, "has_transaction", lambda tx_hash: looked_up.append(tx_hash) or has_transaction(tx_hash)
    )
    later = tx(DEV[0], 1)
    waiting = node.submit(later)  # a nonce gap: pending
    assert not waiting.included and waiting.inclusion is None
    first = tx(DEV[0], 0)
    submitted = node.submit(first)  # mines it, then the one that waited (a block each)
    assert submitted.included and submitted.inclusion == node.transaction_status(first.hash)
    block, index, receipt = submitted.inclusion
    assert (block.height, index, receipt.status) == (1, 0, "ok") and node.chain.head.height == 2
    assert looked_up == []  # neither nonce was taken: no block can hold them
    with pytest.raises(InvalidTransaction, match="is already in a block"):
        node.submit(later)
    assert looked_up == [later.hash]


def test_the_heads_accounts_are_read_once_and_read_again_at_every_new_head(monkeypatch: pytest.MonkeyPatch) -> None:
    node = new_node(block_time=1.0)
    reads: list[bytes] = []
    chain_account = node.chain.account
    monkeypatch.setattr(node.chain, "account", lambda address: reads.append(address) or chain_account(address))
    sender = DEV[0].address
    snapshot = node.snapshot()
    node.submit(tx(DEV[0], 0))
    assert node.next_nonce(sender) == 1 and node.account(sender).nonce == 0 and reads == [sender]
    node.produce_block()
    assert node.account(sender).nonce == 1 and node.next_nonce(sender) == 1 and reads == [sender] * 2
    node.set_balance(sender, 5)
    assert node.account(sender).balance == 5
    node.revert(snapshot)
    assert node.account(sender).nonce == 0 and node.account(sender).balance == dict(G.accounts)[sender]
    assert reads == [sender] * 4


def test_submit_refuses_what_cannot_run() -> None:
    node = new_node()
    done = tx(DEV[0], 0)
    node.submit(done)
    with pytest.raises(InvalidTransaction, match="is already in a block"):
        node.submit(done)
    waiting = tx(DEV[0], 3)
    node.submit(waiting)
    with pytest.raises(InvalidTransaction, match="is already in the mempool"):
        node.submit(waiting)
    with pytest.raises(InvalidTransaction, match="no contract at"):  # a ready call is checked in full
        node.submit(tx(DEV[0], 1, TxKind.CALL, to=NOWHERE, method="x"))
    with pytest.raises(InvalidTransaction, match="bad signature"):
        forged = tx(DEV[1], 0)
        node.submit(SignedTransaction(forged.tx, bytes(64)))
    with pytest.raises(InvalidTransaction, match="above the block gas limit"):
        node.submit(tx(DEV[1], 0, gas=G.chain.block_gas_limit + 1))


def test_block_time_must_be_positive() -> None:
    with pytest.raises(ChainError, match="positive number of seconds, found 0"):
        new_node(block_time=0)


def test_mine_produces_empty_blocks_and_bounds_the_count() -> None:
    node = new_node()
    mined = node.mine(3)
    assert [block.height for block in mined] == [1, 2, 3]
    for blocks in (0, MAX_MINE + 1):
        with pytest.raises(DevnetError, match=f"blocks must be between 1 and {MAX_MINE}, found {blocks}"):
            node.mine(blocks)


# -- timestamps --------------------------------------------------------------------------


def timestamps(node: Node) -> list[int]:
    return [node.chain.header(height).timestamp for height in range(node.chain.head.height + 1)]


def test_without_a_clock_each_block_is_one_second_after_its_parent() -> None:
    node = new_node()
    node.mine(3)
    assert timestamps(node) == [GENESIS_TIME + i for i in range(4)]


def test_set_next_block_timestamp_sets_one_block() -> None:
    node = new_node()
    node.set_next_block_timestamp(GENESIS_TIME)  # the parent's own timestamp is allowed
    node.mine(1)
    node.mine(2, timestamp=GENESIS_TIME + 1000)
    assert timestamps(node) == [GENESIS_TIME, GENESIS_TIME, GENESIS_TIME + 1000, GENESIS_TIME + 1001]
    with pytest.raises(DevnetError, match=f"timestamp 5 is earlier than the head block's \\({GENESIS_TIME + 1001}\\)"):
        node.set_next_block_timestamp(5)
    with pytest.raises(DevnetError, match="after the latest allowed"):
        node.set_next_block_timestamp(MAX_TIMESTAMP + 1)


def test_increase_time_moves_the_next_block_once() -> None:
    node = new_node()
    assert node.increase_time(100) == 100
    assert node.increase_time(0) == 100
    node.mine(2)
    # Like a clock moved forward: the jump happens once, then blocks follow a second apart.
    assert timestamps(node) == [GENESIS_TIME, GENESIS_TIME + 101, GENESIS_TIME + 102]
    with pytest.raises(DevnetError, match="seconds must not be negative, found -1"):
        node.increase_time(-1)


def test_timestamps_stay_within_64_bits() -> None:
    node = new_node()
    with pytest.raises(DevnetError, match="past the latest allowed timestamp"):
        node.increase_time(2**64 - 1)
    node.set_next_block_timestamp(MAX_TIMESTAMP)
    node.mine(2)  # would not encode if timestamps could pass 2**64 - 1
    assert timestamps(node)[1:] == [MAX_TIMESTAMP, MAX_TIMESTAMP + 1]


def test_with_a_clock_the_timestamp_is_the_clock_plus_the_offset_never_before_the_parent() -> None:
    now = [GENESIS_TIME + 50.7]
    node = Node(new_chain(), clock=lambda: now[0])
    node.mine(1)
    now[0] = GENESIS_TIME - 500.0  # a clock that went backwards
    node.mine(1)
    node.increase_time(1000)
    now[0] = GENESIS_TIME + 60.2
    node.mine(2)
    assert timestamps(node) == [
        GENESIS_TIME,
        GENESIS_TIME + 50,
        GENESIS_TIME + 50,
        GENESIS_TIME + 1060,
        GENESIS_TIME + 1060,
    ]


def test_simulate_and_transactions_see_the_block_timestamp() -> None:
    node = new_node()
    node.set_next_block_timestamp(GENESIS_TIME + 7)
    assert node._peek_timestamp() == GENESIS_TIME + 7
    node.submit(tx(DEV[0], 0))
    assert node.chain.head.timestamp == GENESIS_TIME + 7
    assert node._peek_timestamp() == GENESIS_TIME + 8


# -- snapshot and revert ---------------------------------------------------------------------


def test_revert_restores_head_state_and_balances_exactly() -> None:
    node = new_node()
    token = contract_address(DEV[0].address, 0)
    node.submit(deploy_token(DEV[0], 0))
    snapshot = node.snapshot()
    head, root = node.chain.head, node.chain.head.state_root
    balances = {key.address: node.chain.account(key.address) for key in DEV}

    transfer = token_transfer(DEV[0], 1, token, OUTSIDER, 5)
    node.submit(transfer)
    later_head = node.chain.head
    later = node.snapshot()
    node.set_balance(DEV[1].address, 1)
    node.set_next_block_timestamp(GENESIS_TIME + 10_000)
    node.submit(tx(DEV[2], 1))  # waits: stays in the mempool
    assert node.chain.head.height == 3 and len(node.mempool) == 1

    assert node.revert(snapshot) == 1
    assert node.chain.head == head and node.chain.head.state_root == root
    assert {key.address: node.chain.account(key.address) for key in DEV} == balances
    assert len(node.mempool) == 0 and node.next_timestamp is None
    with pytest.raises(NotFound):
        node.chain.block(2)
    with pytest.raises(NotFound):
        node.transaction_status(transfer.hash)
    for gone in (snapshot, later):  # the snapshot itself and every later one
        with pytest.raises(DevnetError, match=f"no snapshot with id {gone}"):
            node.revert(gone)

    # The same transaction again makes the same block: the chain is deterministic.
    assert node.submit(transfer).included
    assert node.chain.head == later_head
    assert replay(all_blocks(node.chain)).head == node.chain.head


def test_snapshots_nest() -> None:
    node = new_node()
    outer = node.snapshot()
    node.mine(1)
    inner = node.snapshot()
    node.mine(1)
    assert node.revert(inner) == 1
    node.mine(3)
    assert node.revert(outer) == 0
    assert node.snapshot() == inner + 1  # ids are never reused


def test_revert_then_new_blocks_match_a_chain_that_never_had_the_reverted_ones() -> None:
    node = new_node()
    node.submit(tx(DEV[0], 0))
    snapshot = node.snapshot()
    node.submit(tx(DEV[0], 1, value=99))
    node.set_balance(OUTSIDER, 10**30)
    node.revert(snapshot)
    node.submit(tx(DEV[1], 0, value=7))
    replayed = replay(all_blocks(node.chain))
    assert [h.hash for h in (replayed.header(i) for i in range(3))] == [node.chain.header(i).hash for i in range(3)]
    assert replayed.account(OUTSIDER).balance == 8


def test_the_undo_record_takes_the_values_execution_read_and_reads_only_the_others() -> None:
    plain, counted = new_chain(), new_chain()
    token = contract_address(DEV[0].address, 0)
    for chain in (plain, counted):
        chain.produce([deploy_token(DEV[0], 0, supply=10**6)], chain.head.timestamp + 1)
    block = [token_transfer(DEV[0], 1, token, OUTSIDER, 5), tx(DEV[1], 0, to=NOWHERE), tx(DEV[2], 0)]
    pending = counted.finalize(block, counted.head.timestamp + 1)
    changed = {schema.state_db_key(key) for key in pending.changes}
    assert changed and set(pending.before) & set(pending.changes)  # (the senders' accounts, the balances ...)
    gets: list[bytes] = []
    kv_get = counted.kv.get
    counted.kv.get = lambda key: gets.append(key) or kv_get(key)  # type: ignore[method-assign]
    counted.commit(pending)
    read_again = {schema.state_db_key(key) for key in pending.changes if key not in pending.before}
    assert {key for key in gets if key in changed} == read_again
    again = plain.finalize(block, plain.head.timestamp + 1)
    plain.commit(dataclasses.replace(again, before={}))  # every value read at commit, as before
    assert kv_get(schema.undo_key(2)) == plain.kv.get(schema.undo_key(2))
    counted.rollback(1)
    plain.rollback(1)
    assert list(counted.kv.iterate()) == list(plain.kv.iterate())  # the same database after it


# -- rollback: undo records against a chain that never went further ---------------------------

_SENDERS = DEV[:3]
_COUNTER = contract_address(DEV[0].address, 0)

_op = st.one_of(
    st.tuples(st.just("transfer"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("increment"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("ahead"), st.integers(0, 2), st.integers(1, 2)),  # invalid now, maybe valid later
    st.tuples(st.just("stale"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("again"), st.integers(0, 10), st.just(0)),  # an earlier transaction, included again
    st.tuples(st.just("retry"), st.just(0), st.just(0)),  # the last "ahead" one, its gap filled: it executes
    st.tuples(st.just("override"), st.integers(0, 3), st.integers(0, 10**6)),
)


def _build_blocks(chain: Chain, plan: list[list[tuple[str, int, int]]]) -> list[Block]:
    """Produce a block per entry of ``plan``; returns the blocks (block 1 deploys the counter)."""
    made: list[SignedTransaction] = []
    ahead: list[SignedTransaction] = []
    signed = tx(DEV[0], 0, TxKind.DEPLOY, gas=10**8, code=COUNTER_CODE)
    chain.produce([signed], chain.head.timestamp + 1)
    made.append(signed)
    for ops in plan:
        nonces = {key.address: chain.account(key.address).nonce for key in _SENDERS}
        transactions, overrides = [], []
        for kind, who, amount in ops:
            key = _SENDERS[who % 3]
            nonce = nonces[key.address]
            if kind == "transfer":
                signed = tx(key, nonce, value=amount, to=DEV[(who + 1) % 3].address)
            elif kind == "increment":
                signed = tx(key, nonce, TxKind.CALL, gas=10**7, to=_COUNTER, method="increment", args=msgpack.packb({}))
            elif kind == "ahead":
                signed = tx(key, nonce + amount, value=amount)
                ahead.append(signed)
            elif kind == "stale":
                signed = tx(key, max(nonce - 1, 0), value=3)
            elif kind == "again":
                signed = made[who % len(made)]
            elif kind == "retry":
                if not ahead or ahead[-1].tx.nonce < nonces[ahead[-1].tx.sender]:
                    continue
                signed = ahead.pop()
                key = next(key for key in _SENDERS if key.address == signed.tx.sender)
                while nonces[key.address] < signed.tx.nonce:
                    transactions.append(tx(key, nonces[key.address], value=9))
                    nonces[key.address] += 1
                nonces[key.address] += 1
            else:
                overrides.append((DEV[who].address if who < 3 else OUTSIDER, amount))
                continue
            made.append(signed)
            transactions.append(signed)
            if kind in ("transfer", "increment"):
                nonces[key.address] += 1
        block, _ = chain.produce(transactions, chain.head.timestamp + 1, overrides)
    return all_blocks(chain)


def _without_tree_nodes(kv: MemoryKV) -> dict[bytes, bytes]:
    return {key: value for key, value in kv.iterate() if not key.startswith(NODE_PREFIX)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.lists(_op, max_size=5), min_size=1, max_size=6), data=st.data())
def test_rollback_leaves_exactly_what_a_chain_that_stopped_there_has(
    plan: list[list[tuple[str, int, int]]], data: st.DataObject
) -> None:
    kv = MemoryKV()
    chain = Chain.create(kv, G)
    blocks = _build_blocks(chain, plan)
    height = data.draw(st.integers(0, chain.head.height), label="height")
    chain.rollback(height)

    shorter_kv = MemoryKV()
    shorter = Chain.create(shorter_kv, G)
    for block in blocks[:height]:
        shorter.apply_block(block)
    assert chain.head == shorter.head
    # Key by key, but for tree nodes: content-addressed, they are never deleted.
    assert _without_tree_nodes(kv) == _without_tree_nodes(shorter_kv)
    nodes = {key for key, _ in kv.iterate(NODE_PREFIX)}
    assert {key for key, _ in shorter_kv.iterate(NODE_PREFIX)} <= nodes
    # And it goes forward again to the same head.
    for block in blocks[height:]:
        chain.apply_block(block)
    assert chain.head == blocks[-1].header


def test_rollback_refuses_heights_outside_the_chain() -> None:
    chain = new_chain()
    chain.produce([], chain.head.timestamp + 1)
    with pytest.raises(NotFound, match="cannot roll back to height 2: the head is at 1"):
        chain.rollback(2)
    with pytest.raises(NotFound):
        chain.rollback(-1)
    chain.rollback(1)  # to the head itself: nothing changes
    assert chain.head.height == 1


def test_a_transaction_invalid_once_then_executed_keeps_its_index_through_a_rollback() -> None:
    chain = new_chain()
    ahead = tx(DEV[0], 1)
    chain.produce([ahead], chain.head.timestamp + 1)  # invalid: nonce 1 is ahead
    assert chain.transaction(ahead.hash)[2].status == "invalid"
    chain.produce([tx(DEV[0], 0), ahead], chain.head.timestamp + 1)  # now it executes
    assert chain.transaction(ahead.hash)[0].height == 2
    chain.rollback(1)
    block, index, receipt = chain.transaction(ahead.hash)
    assert (block.height, index, receipt.status) == (1, 0, "invalid")


# -- balance overrides ------------------------------------------------------------------------


def test_set_balance_mines_a_block_carrying_the_override_and_replays() -> None:
    node = new_node()
    token = contract_address(DEV[0].address, 0)
    node.submit(deploy_token(DEV[0], 0))
    code_hash = node.chain.account(token).code_hash
    block = node.set_balance(OUTSIDER, 2**100)
    node.set_balance(token, 42)
    assert block.overrides == ((OUTSIDER, 2**100),)
    assert block.header.overrides_root != merkle_root([]) and block.transactions == ()
    assert Block.decode(block.encode()) == block
    assert node.chain.account(OUTSIDER).balance == 2**100
    contract = node.chain.account(token)
    assert (contract.balance, contract.nonce, contract.code_hash) == (42, 0, code_hash)

    follower = replay(all_blocks(node.chain))
    assert follower.head == node.chain.head
    assert follower.account(OUTSIDER).balance == 2**100


def test_set_balance_bounds() -> None:
    node = new_node()
    with pytest.raises(DevnetError, match="between 0 and 2\\*\\*128 - 1, found -1"):
        node.set_balance(OUTSIDER, -1)
    with pytest.raises(DevnetError, match="found 340282366920938463463374607431768211456"):
        node.set_balance(OUTSIDER, 2**128)
    node.set_balance(OUTSIDER, 2**128 - 1)
    assert node.chain.account(OUTSIDER).balance == 2**128 - 1


def test_overrides_need_a_genesis_that_allows_them() -> None:
    strict = genesis(allow_balance_overrides=False)
    node = new_node(strict)
    with pytest.raises(DevnetError, match="does not allow balance overrides"):
        node.set_balance(OUTSIDER, 1)
    assert node.chain.head.height == 0

    block = new_node().set_balance(OUTSIDER, 1)  # made by a chain that allows them
    follower = new_chain(strict)
    with pytest.raises(InvalidBlock, match="carries balance overrides, which this chain's genesis does not allow"):
        follower.apply_block(block)
    assert follower.head.height == 0


def test_an_override_changed_after_the_header_was_made_is_refused() -> None:
    block = new_node().set_balance(OUTSIDER, 1)
    tampered = Block(block.header, block.transactions, ((OUTSIDER, 2),))
    with pytest.raises(InvalidBlock, match="overrides_root mismatch"):
        new_chain().apply_block(tampered)


# -- events --------------------------------------------------------------------------------------


def test_events_by_contract_name_and_range() -> None:
    node = new_node()
    token = contract_address(DEV[0].address, 0)
    node.submit(deploy_token(DEV[0], 0))
    node.submit(token_transfer(DEV[0], 1, token, OUTSIDER, 5))
    node.mine(2)
    node.submit(token_transfer(DEV[0], 2, token, OUTSIDER, 6))
    found = node.events(token, "Transfer")
    assert [(event.height, event.tx_index, event.log_index) for event in found] == [(1, 0, 0), (2, 0, 0), (5, 0, 0)]
    assert msgpack.unpackb(found[2].event.data)["amount"] == 6
    assert [event.height for event in node.events(from_block=2, to_block=4)] == [2]
    assert [event.height for event in node.events(from_block=2, to_block=10**9)] == [2, 5]
    assert node.events(name="Approval") == [] and node.events(OUTSIDER) == []
    assert [event.height for event in node.events(limit=2)] == [1, 2]
    assert node.events(from_block=99) == []


def test_events_query_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    node = new_node()
    node.mine(5)
    with pytest.raises(ChainError, match="from_block 3 is after to_block 2"):
        node.events(from_block=3, to_block=2)
    for limit in (0, MAX_EVENTS + 1):
        with pytest.raises(ChainError, match=f"limit must be between 1 and {MAX_EVENTS}"):
            node.events(limit=limit)
    monkeypatch.setattr(node_module, "MAX_EVENT_BLOCK_RANGE", 3)
    with pytest.raises(ChainError, match="the block range 0..5 is more than 3 blocks; narrow it"):
        node.events()
    assert node.events(from_block=3) == []
    assert node.events(from_block=1, to_block=3) == []


def test_the_mempool_of_a_node_can_be_bounded() -> None:
    node = new_node(block_time=1.0, mempool=Mempool(capacity=1))
    node.submit(tx(DEV[0], 0))
    with pytest.raises(InvalidTransaction, match="the mempool is full"):
        node.submit(tx(DEV[1], 0))


def test_a_transfer_past_the_largest_balance_fails_in_its_receipt_and_the_node_goes_on() -> None:
    # Only a balance override can bring an account near 2**128 - 1; a transfer
    # to it must then fail as a transaction (fee paid, nothing moved), never
    # raise out of block production.
    client = local_client()
    rich, sender = client.dev_account(1), client.dev_account(0)
    client.set_balance(rich, 2**128 - 1)
    before = client.balance(rich)
    failed = sender.transfer(rich, 1, check=False)
    assert (failed.status, failed.error) == ("abort", "the recipient's balance would pass 2**128 - 1")
    assert client.balance(rich) == before
    assert sender.transfer(client.dev_account(2), 1).ok  # the chain goes on


def test_a_call_whose_value_would_pass_the_largest_balance_fails_and_changes_nothing() -> None:
    client = local_client()
    sender = client.dev_account(0)
    counter = sender.deploy(CONTRACTS / "counter" / "counter.wasm")
    client.set_balance(counter, 2**128 - 1)
    failed = counter.call("increment", sender=sender, value=1, gas=10**8, check=False)
    assert failed.status == "trap" and "past 2**128 - 1" in (failed.error or "")
    assert client.balance(counter) == 2**128 - 1
    assert counter.view("get") == 0
