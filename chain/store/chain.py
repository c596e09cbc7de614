"""A chain in a key-value store: genesis, blocks, receipts, indexes, the head.

Database layout (one LevelDB, or a ``MemoryKV`` in tests):

| key | value |
| --- | --- |
| ``b"S" + state_key`` | the state (see ``state.py``) |
| ``b"N" + node_hash`` | a sparse Merkle tree node (see ``smt.py``) |
| ``b"B" + height`` | the block (8-byte big-endian height) |
| ``b"R" + height`` | the block's receipts |
| ``b"H" + block_hash`` | the block's height |
| ``b"T" + tx_hash`` | ``[height, index]`` of the transaction |
| ``b"U" + height`` | the block's undo record: ``[[key, value before] or [key], ...]`` (absent before) for the state and transaction-index keys it wrote |
| ``b"Mgenesis"`` | the genesis document (canonical JSON) |
| ``b"Mhead"`` | ``[height]`` of the last committed block |

A block is committed in one atomic write holding its state changes, the
new tree nodes, the block, its receipts, the indexes and the head, so a
crash at any instant leaves the last whole block and nothing of a partial
one.  Producing a block is two steps, ``finalize`` (execute, compute the
roots; nothing written) and ``commit`` (the one write), which is the
shape ABCI++'s FinalizeBlock and Commit expect (see ``app.py``).

Each block also stores the values its state changes replaced, so that
``rollback`` can return the chain to an earlier height in one atomic write
(a devnet's snapshot and revert).  Tree nodes are content-addressed and
never deleted, so an earlier header's state root stays provable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wasmchain.protocol import smt
from wasmchain.protocol.blocks import (
    ZERO_HASH,
    BalanceOverride,
    Block,
    Header,
    Receipt,
    decode_receipts,
    encode_receipts,
    merkle_root,
    overrides_root,
)
from wasmchain.protocol.codec import decode, encode
from wasmchain.protocol.errors import ChainError, GenesisError, InvalidBlock, NotFound
from wasmchain.protocol.genesis import Genesis, genesis_from_document
from wasmchain.protocol.state import STATE_PREFIX, Account, State
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.protocol.transition import (
    Context,
    apply_body,
    apply_overrides,
    check_header,
    check_results,
    receipts_root,
    simulate_transaction,
    validate_transaction,
)
from wasmchain.store.journal import Journal
from wasmchain.store.kv import KVStore
from wasmchain.store.signatures import SignatureWorkers, shared_workers
from wasmchain.store.tuning import OPTIMIZED, Tuning
from wasmchain.vm import BlockEnv, Message, Outcome, Runtime
from wasmchain.vm.host import Address, Hash32

NODE_PREFIX = b"N"
BLOCK_PREFIX = b"B"
RECEIPTS_PREFIX = b"R"
HASH_PREFIX = b"H"
TX_PREFIX = b"T"
UNDO_PREFIX = b"U"
GENESIS_KEY = b"Mgenesis"
HEAD_KEY = b"Mhead"
RECENT_BLOCKS = 16
"""Committed blocks kept decoded, with their receipts: a receipt asked for soon after its block skips decoding it."""
MAX_CACHED_NODES = 50_000
"""Merkle tree nodes kept in memory (content-addressed, so never stale); the cache starts over when full."""


def _height(height: int) -> bytes:
    return height.to_bytes(8, "big")


@dataclass(frozen=True)
class PendingBlock:
    """A block executed but not yet written: the result of ``finalize``."""

    block: Block
    receipts: tuple[Receipt, ...]
    changes: dict[bytes, bytes | None]
    """The state changes, as database keys."""
    nodes: dict[bytes, bytes]
    """New Merkle tree nodes, by hash."""


@dataclass
class BlockTimings:
    """Seconds spent in each step of making blocks, added up over blocks (``Chain.timings``).

    Read by the benchmarks; never by anything that decides a result.
    """

    verify: float = 0.0
    """Handing signatures to the worker processes (waiting for their verdicts, and verifying
    inline, happen in ``execute``: ``SignatureWorkers.take_wait_seconds`` tells the waits)."""
    execute: float = 0.0
    """``apply_overrides`` and ``apply_body``: validation, execution, receipts."""
    root: float = 0.0
    """The sparse Merkle tree update, the transaction and receipt roots, the header."""
    commit: float = 0.0
    """The undo record and the one atomic write (``commit``)."""


class Chain:
    """One chain's blocks and state in a key-value store."""

    def __init__(
        self, kv: KVStore, genesis: Genesis, *, cache_dir: Path | None = None, tuning: Tuning = OPTIMIZED
    ) -> None:
        self.kv = kv
        self.genesis = genesis
        self.tuning = tuning
        self.runtime = Runtime(genesis.vm, cache_dir=cache_dir, fast_paths=tuning.vm_fast_paths)
        self.signatures: SignatureWorkers | None = shared_workers() if tuning.signature_workers else None
        self.timings: BlockTimings | None = None
        """Set to a ``BlockTimings`` to have ``finalize`` and ``commit`` add their time to it."""
        self._recent: dict[int, tuple[Block, tuple[Receipt, ...]]] = {}
        """The last ``RECENT_BLOCKS`` committed blocks and their receipts, by height."""
        self._nodes: dict[bytes, bytes] = {}
        """Tree nodes by hash: the ones the last blocks wrote or read."""
        head = kv.get(HEAD_KEY)
        if head is None:
            raise GenesisError("the database has no head block: it was not initialized")
        self.head = self.header(decode(head, what="head")[0])

    # -- creating and opening ------------------------------------------------

    @classmethod
    def create(
        cls, kv: KVStore, genesis: Genesis, *, cache_dir: Path | None = None, tuning: Tuning = OPTIMIZED
    ) -> Chain:
        """Write the genesis state and block 0 to an empty store."""
        if kv.get(HEAD_KEY) is not None:
            raise GenesisError("the database already holds a chain")
        runtime = Runtime(genesis.vm, cache_dir=cache_dir)
        journal = Journal(kv)
        state = State(journal)
        for address, balance in genesis.accounts:
            state.set_account(address, Account(balance=balance))
        for contract in genesis.contracts:
            try:
                runtime.compile(contract.code)
            except Exception as error:
                raise GenesisError(f"genesis contract at 0x{contract.address.hex()}: {error}") from None
            state.set_account(contract.address, Account(contract.balance, 0, state.put_code(contract.code)))
            for key, value in contract.storage:
                state.storage_write(contract.address, key, value)
        changes = journal.flush()
        root, nodes = smt.update(_node_reader(kv), smt.EMPTY_ROOT, _state_changes(changes))
        empty = merkle_root([])
        header = Header(genesis.chain_id, 0, ZERO_HASH, genesis.genesis_time, empty, empty, root, 0, empty)
        pending = PendingBlock(Block(header, ()), (), changes, nodes)
        kv.write({**_block_writes(pending), GENESIS_KEY: genesis.document})
        return cls(kv, genesis, cache_dir=cache_dir, tuning=tuning)

    @classmethod
    def from_state(
        cls,
        kv: KVStore,
        genesis: Genesis,
        head: Block,
        state: Mapping[bytes, bytes],
        *,
        cache_dir: Path | None = None,
        tuning: Tuning = OPTIMIZED,
    ) -> Chain:
        """A chain in an empty store whose head is ``head``, holding ``state`` (state key -> value).

        The state's sparse Merkle root is computed from scratch and must be
        the head's state root, or ``InvalidBlock`` names both.  This is where
        a replay from a verified height starts; the store holds no earlier
        blocks, receipts or undo records.
        """
        if kv.get(HEAD_KEY) is not None:
            raise GenesisError("the database already holds a chain")
        root, nodes = smt.update(_node_reader(kv), smt.EMPTY_ROOT, state.items())
        if root != head.header.state_root:
            raise InvalidBlock(
                f"state_root mismatch: computed 0x{root.hex()}, block has 0x{head.header.state_root.hex()}"
            )
        writes: dict[bytes, bytes | None] = {STATE_PREFIX + key: value for key, value in state.items()}
        writes.update({NODE_PREFIX + node_hash: node for node_hash, node in nodes.items()})
        writes[BLOCK_PREFIX + _height(head.height)] = head.encode()
        writes[HASH_PREFIX + head.hash] = _height(head.height)
        writes[HEAD_KEY] = encode([head.height])
        writes[GENESIS_KEY] = genesis.document
        kv.write(writes)
        return cls(kv, genesis, cache_dir=cache_dir, tuning=tuning)

    @classmethod
    def load(cls, kv: KVStore, *, cache_dir: Path | None = None, tuning: Tuning = OPTIMIZED) -> Chain:
        """Open a store written by ``create``; its genesis comes from the store."""
        document = kv.get(GENESIS_KEY)
        if document is None:
            raise GenesisError("the database holds no chain: run `wasmchain init` first")
        return cls(
            kv, genesis_from_document(json.loads(document), "stored genesis"), cache_dir=cache_dir, tuning=tuning
        )

    # -- reading -------------------------------------------------------------------

    def header(self, height: int) -> Header:
        return self.block(height).header

    def block(self, height: int) -> Block:
        recent = self._recent.get(height)
        if recent is not None:
            return recent[0]
        data = self.kv.get(BLOCK_PREFIX + _height(height))
        if data is None:
            raise NotFound(f"no block at height {height} (the head is at {self._head_height()})")
        return Block.decode(data)

    def _head_height(self) -> int:
        return decode(self.kv.get(HEAD_KEY) or encode([0]), what="head")[0]  # type: ignore[no-any-return]

    def block_by_hash(self, block_hash: Hash32) -> Block:
        height = self.kv.get(HASH_PREFIX + block_hash)
        if height is None:
            raise NotFound(f"no block with hash 0x{block_hash.hex()}")
        return self.block(int.from_bytes(height, "big"))

    def receipts(self, height: int) -> list[Receipt]:
        recent = self._recent.get(height)
        if recent is not None:
            return list(recent[1])
        data = self.kv.get(RECEIPTS_PREFIX + _height(height))
        if data is None:
            raise NotFound(f"no receipts at height {height}")
        return decode_receipts(data)

    def transaction(self, tx_hash: Hash32) -> tuple[Block, int, Receipt]:
        """The block holding a transaction, its index there, and its receipt."""
        location = self.kv.get(TX_PREFIX + tx_hash)
        if location is None:
            raise NotFound(f"no transaction with hash 0x{tx_hash.hex()}")
        height, index = decode(location, what="transaction index")
        return self.block(height), index, self.receipts(height)[index]

    def stored_block(self, height: int) -> tuple[bytes, bytes]:
        """The block at ``height`` and its receipts, encoded, exactly as stored (an export copies them)."""
        block = self.kv.get(BLOCK_PREFIX + _height(height))
        receipts = self.kv.get(RECEIPTS_PREFIX + _height(height))
        if block is None or receipts is None:
            raise NotFound(f"no block at height {height} (the head is at {self.head.height})")
        return block, receipts

    def state_changes(self, first: int, last: int) -> dict[int, dict[bytes, bytes | None]]:
        """What blocks ``first..last`` did to the state: per height, state key (without ``b"S"``) ->
        the value right after that block (``None``: deleted).

        The keys are the state keys of the block's undo record; a key's value
        after block N is the "before" value in the undo record of the next
        later block that touched it, else the current value.  One walk over
        the undo records, from the head down to ``first``.
        """
        if not 1 <= first <= last + 1 or last > self.head.height:
            raise NotFound(f"no blocks {first}..{last} to read state changes from: the head is at {self.head.height}")
        later: dict[bytes, bytes | None] = {}
        """Database key -> its value right after the block being walked (for keys later blocks touched)."""
        changes: dict[int, dict[bytes, bytes | None]] = {}
        for height in range(self.head.height, first - 1, -1):
            undo = self._state_undo(height)
            if height <= last:
                changes[height] = {key[1:]: later[key] if key in later else self.kv.get(key) for key in undo}
            later.update(undo)
        return dict(sorted(changes.items()))

    def state_at(self, height: int) -> dict[bytes, bytes]:
        """The whole state right after block ``height`` (state key -> value): the stored state with
        the undo records of the later blocks applied, newest first."""
        if not 0 <= height <= self.head.height:
            raise NotFound(f"no state at height {height}: the head is at {self.head.height}")
        state = {key[1:]: value for key, value in self.kv.iterate(STATE_PREFIX)}
        for undone in range(self.head.height, height, -1):
            for key, before in self._state_undo(undone).items():
                if before is None:
                    state.pop(key[1:], None)
                else:
                    state[key[1:]] = before
        return state

    def _state_undo(self, height: int) -> dict[bytes, bytes | None]:
        """The state entries of a block's undo record: database key -> value before the block."""
        record = self.kv.get(UNDO_PREFIX + _height(height))
        if record is None:
            raise ChainError(f"block {height} has no undo record: its state changes are not recorded")
        return {
            entry[0]: entry[1] if len(entry) == 2 else None
            for entry in decode(record, what="undo record")
            if entry[0].startswith(STATE_PREFIX)
        }

    def state(self) -> State:
        """A view of the state at the head; changes to it are never written."""
        return State(Journal(self.kv), decode_cache=self.tuning.caches)

    def account(self, address: Address) -> Account:
        return self.state().account(address)

    def prove(self, state_key: bytes) -> tuple[bytes | None, smt.Proof]:
        """The value of a state key at the head, and its proof against the head's state root."""
        value = self.state().get(state_key)
        return value, smt.prove(_node_reader(self.kv), self.head.state_root, state_key)

    # -- executing -------------------------------------------------------------------

    def context(self, height: int, timestamp: int) -> Context:
        return Context(self.genesis, self.runtime, BlockEnv(height, timestamp))

    def check_tx(self, signed: SignedTransaction) -> int:
        """Validate a transaction against the head state (nothing written); its intrinsic gas."""
        context = self.context(self.head.height + 1, self.head.timestamp)
        return validate_transaction(self.state(), signed, context, self.genesis.chain.block_gas_limit)

    def view(self, contract: Address, method: str, args: bytes, gas_limit: int, caller: Address = bytes(20)) -> Outcome:
        """Run a method against the head state and throw its changes away."""
        message = Message(caller=caller, contract=contract, method=method, input=args, gas_limit=gas_limit)
        return self.runtime.execute(self.state(), BlockEnv(self.head.height, self.head.timestamp), message)

    def simulate(self, signed: SignedTransaction, timestamp: int) -> Receipt:
        """Run a transaction (its signature unchecked) as the next block would; nothing is kept."""
        context = self.context(self.head.height + 1, max(timestamp, self.head.timestamp))
        return simulate_transaction(self.state(), signed, context)

    def finalize(
        self, transactions: Sequence[SignedTransaction], timestamp: int, overrides: Sequence[BalanceOverride] = ()
    ) -> PendingBlock:
        """Execute the next block on top of the head; nothing is written."""
        parent = self.head
        timestamp = max(timestamp, parent.timestamp)
        started = time.perf_counter()
        if self.signatures is not None:
            self.signatures.check_ahead(transactions)
        handed_over = time.perf_counter()
        journal = Journal(self.kv)
        state = State(journal, decode_cache=self.tuning.caches)
        apply_overrides(state, overrides)
        receipts = apply_body(state, transactions, self.context(parent.height + 1, timestamp))
        changes = journal.flush()
        executed = time.perf_counter()
        root, nodes = smt.update(self._read_node, parent.state_root, _state_changes(changes))
        header = Header(
            chain_id=self.genesis.chain_id,
            height=parent.height + 1,
            parent_hash=parent.hash,
            timestamp=timestamp,
            tx_root=merkle_root([tx.hash for tx in transactions]),
            receipts_root=receipts_root(receipts),
            state_root=root,
            gas_used=sum(receipt.gas_used for receipt in receipts),
            overrides_root=overrides_root(overrides),
        )
        block = Block(header, tuple(transactions), tuple(overrides))
        block.hash  # noqa: B018 (computed here, so that its time counts as the root's)
        if self.timings is not None:
            self.timings.verify += handed_over - started
            self.timings.execute += executed - handed_over
            self.timings.root += time.perf_counter() - executed
        return PendingBlock(block, tuple(receipts), changes, nodes)

    def commit(self, pending: PendingBlock) -> None:
        """Write a finalized block, atomically, and make it the head."""
        if pending.block.header.parent_hash != self.head.hash:
            raise InvalidBlock("the pending block's parent is no longer the head")
        started = time.perf_counter()
        writes = _block_writes(pending)
        # A transaction can appear again in a later block (with an invalid
        # receipt); its hash keeps pointing at the inclusion that executed.
        executed = {
            signed.hash
            for signed, receipt in zip(pending.block.transactions, pending.receipts)
            if receipt.status != "invalid"
        }
        for signed in pending.block.transactions:
            if signed.hash not in executed and self.kv.get(TX_PREFIX + signed.hash) is not None:
                writes.pop(TX_PREFIX + signed.hash, None)
        undo = []
        # The index of a transaction that was invalid in an earlier block and
        # executes in this one moves here: a rollback must move it back.
        for key in sorted([*pending.changes, *(key for key in writes if key.startswith(TX_PREFIX))]):
            before = self.kv.get(key)
            undo.append([key] if before is None else [key, before])
        writes[UNDO_PREFIX + _height(pending.block.height)] = encode(undo)
        self.kv.write(writes)
        self.head = pending.block.header
        recent = self._recent
        recent[pending.block.height] = (pending.block, pending.receipts)
        if len(recent) > RECENT_BLOCKS:
            del recent[min(recent)]
        if self.tuning.caches:
            if len(self._nodes) + len(pending.nodes) > MAX_CACHED_NODES:
                self._nodes.clear()
            self._nodes.update(pending.nodes)
        if self.timings is not None:
            self.timings.commit += time.perf_counter() - started

    def _read_node(self, node_hash: bytes) -> bytes | None:
        node = self._nodes.get(node_hash)
        if node is None:
            node = self.kv.get(NODE_PREFIX + node_hash)
            if node is not None and self.tuning.caches and len(self._nodes) < MAX_CACHED_NODES:
                self._nodes[node_hash] = node
        return node

    def rollback(self, height: int) -> None:
        """Make the block at ``height`` the head again, in one atomic write: the later
        blocks, their receipts and indexes go, and the state they changed is restored."""
        if not 0 <= height <= self.head.height:
            raise NotFound(f"cannot roll back to height {height}: the head is at {self.head.height}")
        restored: dict[bytes, bytes | None] = {}
        deleted: dict[bytes, bytes | None] = {}
        for undone in range(self.head.height, height, -1):  # newest first, so older values win
            record = self.kv.get(UNDO_PREFIX + _height(undone))
            if record is None:
                raise ChainError(f"block {undone} has no undo record: it cannot be rolled back")
            for entry in decode(record, what="undo record"):
                restored[entry[0]] = entry[1] if len(entry) == 2 else None
            block = self.block(undone)
            for signed in block.transactions:
                location = self.kv.get(TX_PREFIX + signed.hash)
                if location is not None and decode(location, what="transaction index")[0] == undone:
                    deleted[TX_PREFIX + signed.hash] = None
            for prefix in (BLOCK_PREFIX, RECEIPTS_PREFIX, UNDO_PREFIX):
                deleted[prefix + _height(undone)] = None
            deleted[HASH_PREFIX + block.hash] = None
        self.kv.write({**deleted, **restored, HEAD_KEY: encode([height])})  # an index restored wins
        self._recent.clear()
        self.head = self.header(height)

    def produce(
        self, transactions: Sequence[SignedTransaction], timestamp: int, overrides: Sequence[BalanceOverride] = ()
    ) -> tuple[Block, tuple[Receipt, ...]]:
        """Finalize and commit the next block."""
        pending = self.finalize(transactions, timestamp, overrides)
        self.commit(pending)
        return pending.block, pending.receipts

    def apply_block(self, block: Block) -> tuple[Receipt, ...]:
        """Verify a block built elsewhere by re-executing it, then commit it."""
        check_header(self.head, block, self.genesis)
        pending = self.finalize(block.transactions, block.header.timestamp, block.overrides)
        check_results(block.header, pending.receipts, pending.block.header.state_root)
        self.commit(PendingBlock(block, pending.receipts, pending.changes, pending.nodes))
        return pending.receipts


def _node_reader(kv: KVStore) -> smt.NodeReader:
    def read(node_hash: bytes) -> bytes | None:
        return kv.get(NODE_PREFIX + node_hash)

    return read


def _state_changes(changes: dict[bytes, bytes | None]) -> Iterable[tuple[bytes, bytes | None]]:
    for key, value in changes.items():
        assert key.startswith(STATE_PREFIX), f"a non-state key {key!r} went through the journal"
        yield key[len(STATE_PREFIX) :], value


def _block_writes(pending: PendingBlock) -> dict[bytes, bytes | None]:
    block = pending.block
    height = block.height
    writes: dict[bytes, bytes | None] = dict(pending.changes)
    writes.update({NODE_PREFIX + node_hash: node for node_hash, node in pending.nodes.items()})
    writes[BLOCK_PREFIX + _height(height)] = block.encode()
    writes[RECEIPTS_PREFIX + _height(height)] = encode_receipts(pending.receipts)
    writes[HASH_PREFIX + block.hash] = _height(height)
    indexed: set[bytes] = set()
    for index, (tx, receipt) in enumerate(zip(block.transactions, pending.receipts)):
        # Within a block, the executed inclusion of a repeated transaction wins.
        if receipt.status != "invalid" or tx.hash not in indexed:
            writes[TX_PREFIX + tx.hash] = encode([height, index])
            indexed.add(tx.hash)
    writes[HEAD_KEY] = encode([height])
    return writes
