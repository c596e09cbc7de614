"""A chain in a key-value store: genesis, blocks, receipts, indexes, the head.

The keys and the stored records are ``schema.py``'s.  A block is committed
in one atomic write holding its state changes, the new tree nodes, the
block, its receipts, the indexes and the head, so a crash at any instant
leaves the last whole block and nothing of a partial one.  Producing a
block is two steps, ``finalize`` (execute, compute the roots; nothing
written) and ``commit`` (the one write), which is the shape ABCI++'s
FinalizeBlock and Commit expect (see ``node/app.py``).  What a block does
and whether it is valid is the protocol's (``protocol/transition.py``:
``build_block``, ``apply_block``); this class reads, writes and times.

Each block also stores the values its state changes replaced, so that
``rollback`` can return the chain to an earlier height in one atomic write
(a devnet's snapshot and revert).  Tree nodes are content-addressed and
never deleted, so an earlier header's state root stays provable.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wasmchain.protocol import smt
from wasmchain.protocol.blocks import BalanceOverride, Block, Header, Receipt, decode_receipts, encode_receipts
from wasmchain.protocol.errors import ChainError, GenesisError, InvalidBlock, NotFound
from wasmchain.protocol.genesis import Genesis, genesis_from_document
from wasmchain.protocol.state import Account, State, storage_key
from wasmchain.protocol.tracing import Location, TransactionTrace, trace_transaction
from wasmchain.protocol.transactions import SignedTransaction, TxKind
from wasmchain.protocol.transition import (
    Context,
    apply_block,
    apply_body,
    apply_overrides,
    block_context,
    build_block,
    check_state_root,
    genesis_block,
    simulate_transaction,
    validate_transaction,
)
from wasmchain.store import schema
from wasmchain.store.journal import Journal, _merge
from wasmchain.store.kv import KVStore
from wasmchain.store.signatures import SignatureWorkers, shared_workers
from wasmchain.store.treecache import UpperTree
from wasmchain.store.tuning import OPTIMIZED, Tuning
from wasmchain.vm import BlockEnv, Message, Outcome, Runtime
from wasmchain.vm.host import Address, Hash32, Host
from wasmchain.vm.messages import LogLine
from wasmchain.vm.trace import Tracer

RECENT_BLOCKS = 16
"""Committed blocks kept decoded, with their receipts: a receipt asked for soon after its block skips decoding it."""
MAX_CACHED_NODES = 50_000
"""Merkle tree nodes kept in memory (content-addressed, so never stale); the cache starts over when full."""


class StateUnavailable(ChainError):
    """A past state this store cannot rebuild: an undo record it needs is missing."""

    reason = "state_unavailable"


class TraceMismatch(ChainError):
    """A traced re-execution of a mined transaction did not give its stored receipt."""

    reason = "trace_mismatch"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
        """The receipt field that differs (``status``, ``gas_used``, ``return_data`` ...)."""


@dataclass(frozen=True)
class PendingBlock:
    """A block executed but not yet written: the result of ``finalize``."""

    block: Block
    receipts: tuple[Receipt, ...]
    changes: dict[bytes, bytes | None]
    """The state changes: state key -> value after the block (``None``: deleted)."""
    nodes: dict[bytes, bytes]
    """New Merkle tree nodes, by hash."""
    logs: tuple[tuple[LogLine, ...], ...] = ()
    """Per transaction, its ``debug_log`` messages (``finalize(logs=True)`` only; never written)."""
    before: Mapping[bytes, bytes | None] = dataclasses.field(default_factory=dict)
    """Stored values of state keys as the block's execution read them from its parent's state, by state key:
    what the undo record of a changed key holds without reading it again (any other is read at commit)."""


class ChainRuntime(Runtime):
    """The chain's ``Runtime``: while ``log_sink`` is set (a devnet producing a block for its console),
    each top-level execution's ``debug_log`` messages are added to it, one entry per execution."""

    log_sink: list[tuple[LogLine, ...]] | None = None

    def execute(self, host: Host, env: BlockEnv, message: Message, *, tracer: Tracer | None = None) -> Outcome:
        outcome = super().execute(host, env, message, tracer=tracer)
        if self.log_sink is not None:
            self.log_sink.append(outcome.logs)
        return outcome


class _StateBefore:
    """The state right before a past block, read lazily (a ``JournalBase``): the stored state under the
    values the undo records of that block and every later one replaced, never a copy of the whole state."""

    def __init__(self, table: schema.StateTable, undone: dict[bytes, bytes | None]) -> None:
        self.table = table
        self.undone = undone
        """State key -> its value before the block (``None``: absent), for every key the blocks changed."""

    def get(self, key: bytes) -> bytes | None:
        undone = self.undone
        return undone[key] if key in undone else self.table.get(key)

    def iterate(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        touched = sorted((key, value) for key, value in self.undone.items() if key.startswith(prefix))
        return _merge(self.table.iterate(prefix), touched)


class _TreeReader:
    """The node reader ``finalize`` and ``apply_block`` give the tree: the nodes the last blocks wrote or read
    (``Chain._nodes``, a dict lookup), then the upper levels by position (``UpperTree.get``: a hash to check),
    then LevelDB (``Chain._read_node``), recording each internal node read there in the upper levels."""

    __slots__ = ("nodes", "read_node", "upper")

    def __init__(self, nodes: dict[bytes, bytes], read_node: smt.NodeReader, upper: UpperTree | None) -> None:
        self.nodes = nodes
        self.read_node = read_node
        self.upper = upper

    def __call__(self, node_hash: bytes, /) -> bytes | None:
        return self.read_node(node_hash)

    def read_at(self, node_hash: bytes, depth: int, path: int, /) -> bytes | None:
        encoding = self.nodes.get(node_hash)
        if encoding is not None:
            return encoding
        upper = self.upper
        if upper is None:
            return self.read_node(node_hash)
        encoding = upper.get(node_hash, depth, path)
        if encoding is None:
            encoding = self.read_node(node_hash)
            if encoding is not None and encoding[0] == smt.INTERNAL:
                upper.put(depth, path, encoding)
        return encoding


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


class _BlockClock:
    """Hands a block's signatures to the workers, and times the block's steps into ``timings``."""

    def __init__(
        self,
        signatures: SignatureWorkers | None,
        timings: BlockTimings | None,
        transactions: Sequence[SignedTransaction],
    ) -> None:
        self.timings = timings
        self.started = time.perf_counter()
        if signatures is not None:
            signatures.check_ahead(transactions)
        self.handed_over = self.executed_at = time.perf_counter()

    def executed(self) -> None:
        """Called by the protocol between executing the block and computing its state root."""
        self.executed_at = time.perf_counter()

    def done(self) -> None:
        if self.timings is not None:
            self.timings.verify += self.handed_over - self.started
            self.timings.execute += self.executed_at - self.handed_over
            self.timings.root += time.perf_counter() - self.executed_at


class Chain:
    """One chain's blocks and state in a key-value store."""

    def __init__(
        self,
        kv: KVStore,
        genesis: Genesis,
        *,
        cache_dir: Path | None = None,
        tuning: Tuning = OPTIMIZED,
        runtime: ChainRuntime | None = None,
    ) -> None:
        self.kv = kv
        self.genesis = genesis
        self.tuning = tuning
        self.runtime = runtime or ChainRuntime(genesis.vm, cache_dir=cache_dir, fast_paths=tuning.vm_fast_paths)
        """Runs the chain's contracts (``create`` hands over the one that compiled the genesis contracts)."""
        self.signatures: SignatureWorkers | None = shared_workers() if tuning.signature_workers else None
        self.timings: BlockTimings | None = None
        """Set to a ``BlockTimings`` to have ``finalize`` and ``commit`` add their time to it."""
        self._recent: dict[int, tuple[Block, tuple[Receipt, ...]]] = {}
        """The last ``RECENT_BLOCKS`` committed blocks and their receipts, by height."""
        self._nodes: dict[bytes, bytes] = {}
        """Tree nodes by hash: the ones the last blocks wrote or read."""
        self.upper_tree: UpperTree | None = UpperTree() if tuning.tree_cache else None
        """The tree's upper levels by position (``treecache.py``), warmed here from the head's root."""
        self._tree_reader: smt.NodeReader = _TreeReader(self._nodes, self._read_node, self.upper_tree)
        head = kv.get(schema.head_key())
        if head is None:
            raise GenesisError("the database has no head block: it was not initialized")
        self.head = self.header(schema.decode_head(head))
        if self.upper_tree is not None:
            self.upper_tree.warm(self.head.state_root, self._read_stored_node)

    # -- creating and opening ------------------------------------------------

    @classmethod
    def create(
        cls, kv: KVStore, genesis: Genesis, *, cache_dir: Path | None = None, tuning: Tuning = OPTIMIZED
    ) -> Chain:
        """Write the genesis state and block 0 to an empty store."""
        if kv.get(schema.head_key()) is not None:
            raise GenesisError("the database already holds a chain")
        runtime = ChainRuntime(genesis.vm, cache_dir=cache_dir, fast_paths=tuning.vm_fast_paths)
        block, output = genesis_block(
            State(Journal(schema.StateTable(kv))),
            genesis,
            runtime,
            lambda node_hash: kv.get(schema.node_key(node_hash)),
        )
        pending = PendingBlock(block, (), output.changes, output.nodes)
        kv.write({**_block_writes(pending), schema.genesis_key(): genesis.document})
        return cls(kv, genesis, cache_dir=cache_dir, tuning=tuning, runtime=runtime)  # its contracts compiled once

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
        if kv.get(schema.head_key()) is not None:
            raise GenesisError("the database already holds a chain")
        root, nodes = smt.update(lambda node_hash: kv.get(schema.node_key(node_hash)), smt.EMPTY_ROOT, state.items())
        check_state_root(head.header, root)
        writes: dict[bytes, bytes | None] = {schema.state_db_key(key): value for key, value in state.items()}
        writes.update({schema.node_key(node_hash): node for node_hash, node in nodes.items()})
        writes[schema.block_key(head.height)] = head.encode()
        writes[schema.block_hash_key(head.hash)] = schema.encode_block_height(head.height)
        writes[schema.head_key()] = schema.encode_head(head.height)
        writes[schema.genesis_key()] = genesis.document
        kv.write(writes)
        return cls(kv, genesis, cache_dir=cache_dir, tuning=tuning)

    @classmethod
    def load(cls, kv: KVStore, *, cache_dir: Path | None = None, tuning: Tuning = OPTIMIZED) -> Chain:
        """Open a store written by ``create``; its genesis comes from the store."""
        document = kv.get(schema.genesis_key())
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
        data = self.kv.get(schema.block_key(height))
        if data is None:
            raise NotFound(f"no block at height {height} (the head is at {self._head_height()})")
        return Block.decode(data)

    def _head_height(self) -> int:
        head = self.kv.get(schema.head_key())
        return 0 if head is None else schema.decode_head(head)

    def block_by_hash(self, block_hash: Hash32) -> Block:
        height = self.kv.get(schema.block_hash_key(block_hash))
        if height is None:
            raise NotFound(f"no block with hash 0x{block_hash.hex()}")
        return self.block(schema.decode_block_height(height))

    def receipts(self, height: int) -> list[Receipt]:
        recent = self._recent.get(height)
        if recent is not None:
            return list(recent[1])
        data = self.kv.get(schema.receipts_key(height))
        if data is None:
            raise NotFound(f"no receipts at height {height}")
        return decode_receipts(data)

    def has_transaction(self, tx_hash: Hash32) -> bool:
        """Whether a block holds the transaction (``transaction`` finds it)."""
        return self.kv.get(schema.tx_index_key(tx_hash)) is not None

    def transaction(self, tx_hash: Hash32) -> tuple[Block, int, Receipt]:
        """The block holding a transaction, its index there, and its receipt."""
        location = self.kv.get(schema.tx_index_key(tx_hash))
        if location is None:
            raise NotFound(f"no transaction with hash 0x{tx_hash.hex()}")
        height, index = schema.decode_tx_location(location)
        return self.block(height), index, self.receipts(height)[index]

    def stored_block(self, height: int) -> tuple[bytes, bytes]:
        """The block at ``height`` and its receipts, encoded, exactly as stored (an export copies them)."""
        block = self.kv.get(schema.block_key(height))
        receipts = self.kv.get(schema.receipts_key(height))
        if block is None or receipts is None:
            raise NotFound(f"no block at height {height} (the head is at {self.head.height})")
        return block, receipts

    def state_changes(self, first: int, last: int) -> dict[int, dict[bytes, bytes | None]]:
        """What blocks ``first..last`` did to the state: per height, state key -> the value right
        after that block (``None``: deleted).

        The keys are the state keys of the block's undo record; a key's value
        after block N is the "before" value in the undo record of the next
        later block that touched it, else the current value.  One walk over
        the undo records, from the head down to ``first``.
        """
        if not 1 <= first <= last + 1 or last > self.head.height:
            raise NotFound(f"no blocks {first}..{last} to read state changes from: the head is at {self.head.height}")
        later: dict[bytes, bytes | None] = {}
        """State key -> its value right after the block being walked (for keys later blocks touched)."""
        changes: dict[int, dict[bytes, bytes | None]] = {}
        for height in range(self.head.height, first - 1, -1):
            undo = self._state_undo(height)
            if height <= last:
                changes[height] = {
                    key: later[key] if key in later else self.kv.get(schema.state_db_key(key)) for key in undo
                }
            later.update(undo)
        return dict(sorted(changes.items()))

    def state_at(self, height: int) -> dict[bytes, bytes]:
        """The whole state right after block ``height`` (state key -> value): the stored state with
        the undo records of the later blocks applied, newest first."""
        if not 0 <= height <= self.head.height:
            raise NotFound(f"no state at height {height}: the head is at {self.head.height}")
        state = dict(schema.iterate_state(self.kv))
        for undone in range(self.head.height, height, -1):
            for key, before in self._state_undo(undone).items():
                if before is None:
                    state.pop(key, None)
                else:
                    state[key] = before
        return state

    def _undo(self, height: int, what: str) -> dict[bytes, bytes | None]:
        """A block's undo record: database key -> value before the block (``None``: absent)."""
        record = self.kv.get(schema.undo_key(height))
        if record is None:
            raise ChainError(f"block {height} has no undo record: {what}")
        return schema.decode_undo(record)

    def _state_undo(self, height: int) -> dict[bytes, bytes | None]:
        """The state entries of a block's undo record: state key -> value before the block."""
        undo = self._undo(height, "its state changes are not recorded")
        return {
            state_key: before for key, before in undo.items() if (state_key := schema.state_key_of(key)) is not None
        }

    def state(self) -> State:
        """A view of the state at the head; changes to it are never written."""
        return State(Journal(schema.StateTable(self.kv)), decode_cache=self.tuning.caches)

    def account(self, address: Address) -> Account:
        return self.state().account(address)

    def storage(self, contract: Address, after: bytes | None, limit: int) -> tuple[list[tuple[bytes, bytes]], bool]:
        """A contract's storage at the head, in key order: up to ``limit`` (key, value) pairs whose key is after
        ``after`` (all from the first if ``None``), and whether more follow.  A seek in the flat state table:
        the cost is the page's, not the storage's size."""
        prefix = storage_key(contract, b"")
        start = None if after is None else storage_key(contract, after + b"\0")  # the least key after ``after``
        found: list[tuple[bytes, bytes]] = []
        for key, value in schema.StateTable(self.kv).iterate(prefix, start=start):
            if len(found) == limit:
                return found, True
            found.append((key[len(prefix) :], value))
        return found, False

    def prove(self, state_key: bytes) -> tuple[bytes | None, smt.Proof]:
        """The value of a state key at the head, and its proof against the head's state root."""
        value = self.state().get(state_key)
        return value, smt.prove(self._read_stored_node, self.head.state_root, state_key)

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

    def trace_call(
        self, signed: SignedTransaction, timestamp: int, *, verbose: bool = False, profile: bool = False
    ) -> TransactionTrace:
        """``simulate`` with a trace (``protocol/tracing.py``); nothing is kept."""
        context = self.context(self.head.height + 1, max(timestamp, self.head.timestamp))
        return trace_transaction(self.state(), signed, context, verbose=verbose, profile=profile)

    def trace_transaction(self, tx_hash: Hash32, *, verbose: bool = False, profile: bool = False) -> TransactionTrace:
        """The trace of a mined transaction: its block re-executed from the parent's state up to it, then it
        traced.  The traced receipt must be the stored one, or ``TraceMismatch`` names the first field that
        differs; the state before the block is rebuilt from the undo records (``StateUnavailable`` if one is
        missing)."""
        block, index, stored = self.transaction(tx_hash)
        height = block.height
        undone: dict[bytes, bytes | None] = {}
        for later in range(self.head.height, height - 1, -1):  # newest first, so older values win
            if self.kv.get(schema.undo_key(later)) is None:
                raise StateUnavailable(
                    f"cannot trace transaction 0x{tx_hash.hex()}: the state before its block {height} is not "
                    f"available here (block {later} has no undo record: this store starts at a later height, "
                    "as after an import or a replay --from). Trace it on a node that holds every block from "
                    f"{height - 1} on, e.g. one replayed from genesis"
                )
            undone.update(self._state_undo(later))
        context = block_context(self.header(height - 1), block.header.timestamp, self.genesis, self.runtime)
        state = State(Journal(_StateBefore(schema.StateTable(self.kv), undone)), decode_cache=self.tuning.caches)
        apply_overrides(state, block.overrides)
        earlier = apply_body(state, block.transactions[:index], context)
        gas_left = self.genesis.chain.block_gas_limit - sum(receipt.gas_used for receipt in earlier)
        trace = trace_transaction(
            state, block.transactions[index], context, block_gas_left=gas_left, verbose=verbose, profile=profile
        )
        _same_receipt(tx_hash, height, index, stored, trace.receipt)
        return dataclasses.replace(trace, location=Location(height, block.hash, index), matches_receipt=True)

    def finalize(
        self,
        transactions: Sequence[SignedTransaction],
        timestamp: int,
        overrides: Sequence[BalanceOverride] = (),
        *,
        logs: bool = False,
    ) -> PendingBlock:
        """Execute the next block on top of the head (``build_block``); nothing is written.

        ``logs=True`` also collects each transaction's ``debug_log`` messages (``PendingBlock.logs``).
        """
        parent = self.head
        clock = _BlockClock(self.signatures, self.timings, transactions)
        runtime = self.runtime
        sink: list[tuple[LogLine, ...]] | None = [] if logs else None
        runtime.log_sink = sink
        state = self.state()
        try:
            block, output = build_block(
                state,
                parent,
                transactions,
                overrides,
                block_context(parent, timestamp, self.genesis, runtime),
                self._tree_reader,
                executed=clock.executed,
            )
        finally:
            runtime.log_sink = None
        block.hash  # noqa: B018 (computed here, so that its time counts as the root's)
        clock.done()
        journal = state.journal
        before = journal.read if isinstance(journal, Journal) else {}
        pending = PendingBlock(block, output.receipts, output.changes, output.nodes, before=before)
        if sink is not None:
            pending = dataclasses.replace(pending, logs=_logs_by_transaction(transactions, output.receipts, sink))
        return pending

    def apply_block(self, block: Block) -> tuple[Receipt, ...]:
        """Verify a block built elsewhere by re-executing it (``apply_block``), then commit it."""
        parent = self.head
        clock = _BlockClock(self.signatures, self.timings, block.transactions)
        output = apply_block(
            self.state(),
            parent,
            block,
            block_context(parent, block.header.timestamp, self.genesis, self.runtime),
            self._tree_reader,
            executed=clock.executed,
        )
        clock.done()
        self.commit(PendingBlock(block, output.receipts, output.changes, output.nodes))
        return output.receipts

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
            if signed.hash not in executed and self.has_transaction(signed.hash):
                writes.pop(schema.tx_index_key(signed.hash), None)
        # The index of a transaction that was invalid in an earlier block and
        # executes in this one moves here: a rollback must move it back.
        # (The parent is the head: what the block's execution read of its state is still what is stored.)
        before, get = pending.before, self.kv.get
        undo = {
            schema.state_db_key(key): before[key] if key in before else get(schema.state_db_key(key))
            for key in pending.changes
        }
        for signed in pending.block.transactions:
            key = schema.tx_index_key(signed.hash)
            if key in writes and key not in undo:
                undo[key] = get(key)
        writes[schema.undo_key(pending.block.height)] = schema.encode_undo(undo)
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
            node = self._read_stored_node(node_hash)
            if node is not None and self.tuning.caches and len(self._nodes) < MAX_CACHED_NODES:
                self._nodes[node_hash] = node
        return node

    def _read_stored_node(self, node_hash: bytes) -> bytes | None:
        return self.kv.get(schema.node_key(node_hash))

    def rollback(self, height: int) -> None:
        """Make the block at ``height`` the head again, in one atomic write: the later
        blocks, their receipts and indexes go, and the state they changed is restored."""
        if not 0 <= height <= self.head.height:
            raise NotFound(f"cannot roll back to height {height}: the head is at {self.head.height}")
        restored: dict[bytes, bytes | None] = {}
        deleted: dict[bytes, bytes | None] = {}
        for undone in range(self.head.height, height, -1):  # newest first, so older values win
            restored.update(self._undo(undone, "it cannot be rolled back"))
            block = self.block(undone)
            for signed in block.transactions:
                location = self.kv.get(schema.tx_index_key(signed.hash))
                if location is not None and schema.decode_tx_location(location)[0] == undone:
                    deleted[schema.tx_index_key(signed.hash)] = None
            for key in (schema.block_key(undone), schema.receipts_key(undone), schema.undo_key(undone)):
                deleted[key] = None
            deleted[schema.block_hash_key(block.hash)] = None
        # An index restored wins over its deletion.
        self.kv.write({**deleted, **restored, schema.head_key(): schema.encode_head(height)})
        self._recent.clear()
        self.head = self.header(height)

    def produce(
        self, transactions: Sequence[SignedTransaction], timestamp: int, overrides: Sequence[BalanceOverride] = ()
    ) -> tuple[Block, tuple[Receipt, ...]]:
        """Finalize and commit the next block."""
        pending = self.finalize(transactions, timestamp, overrides)
        self.commit(pending)
        return pending.block, pending.receipts


def _logs_by_transaction(
    transactions: Sequence[SignedTransaction], receipts: Sequence[Receipt], executions: list[tuple[LogLine, ...]]
) -> tuple[tuple[LogLine, ...], ...]:
    """Each transaction's logs, from the logs of each execution in order: every call, and every deploy
    with an init method, that was not invalid executed once (``execute_transaction``); nothing else did."""
    remaining = iter(executions)
    found = []
    for signed, receipt in zip(transactions, receipts):
        tx = signed.tx
        ran = receipt.status != "invalid" and (tx.kind is TxKind.CALL or (tx.kind is TxKind.DEPLOY and bool(tx.method)))
        found.append(next(remaining) if ran else ())
    assert next(remaining, None) is None, "an execution no transaction accounts for"
    return tuple(found)


def _same_receipt(tx_hash: Hash32, height: int, index: int, stored: Receipt, traced: Receipt) -> None:
    """The traced receipt is the stored one, field by field, or ``TraceMismatch`` names the first that differs."""
    for field in dataclasses.fields(Receipt):
        recorded, replayed = getattr(stored, field.name), getattr(traced, field.name)
        if recorded != replayed:
            raise TraceMismatch(
                f"the trace of transaction 0x{tx_hash.hex()} (block {height}, index {index}) does not match its "
                f"receipt: {field.name} is {_shown(replayed)} re-executed but {_shown(recorded)} in the stored "
                "receipt (this node's execution differs from the one that made the block: report it)",
                field.name,
            )


def _shown(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple):  # events
        return "[" + ", ".join(f"{e.name}(0x{e.contract.hex()}, 0x{e.data.hex()})" for e in value) + "]"
    return repr(value)


def _block_writes(pending: PendingBlock) -> dict[bytes, bytes | None]:
    """Everything committing a block writes, but its undo record: the state changes, the new
    tree nodes, the block, its receipts, the indexes and the head."""
    block = pending.block
    height = block.height
    writes: dict[bytes, bytes | None] = {schema.state_db_key(key): value for key, value in pending.changes.items()}
    writes.update({schema.node_key(node_hash): node for node_hash, node in pending.nodes.items()})
    writes[schema.block_key(height)] = block.encode()
    writes[schema.receipts_key(height)] = encode_receipts(pending.receipts)
    writes[schema.block_hash_key(block.hash)] = schema.encode_block_height(height)
    indexed: set[bytes] = set()
    for index, (tx, receipt) in enumerate(zip(block.transactions, pending.receipts)):
        # Within a block, the executed inclusion of a repeated transaction wins.
        if receipt.status != "invalid" or tx.hash not in indexed:
            writes[schema.tx_index_key(tx.hash)] = schema.encode_tx_location(height, index)
            indexed.add(tx.hash)
    writes[schema.head_key()] = schema.encode_head(height)
    return writes
