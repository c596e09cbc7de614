"""Replay: re-execute recorded blocks into a fresh state and compare everything.

A replay starts from genesis (or, from a data directory, from a verified
state at some height), applies each recorded block to a fresh temporary
chain and compares, in this order:

1. the header against its parent and its body (``check_header``'s fields:
   balance overrides allowed, ``overrides_root``, ``chain_id``,
   ``height``, ``parent_hash``, ``timestamp``, ``tx_root``);
2. after executing the block, each receipt against the recorded one
   (``receipts``: the first transaction whose receipt differs, and which
   fields);
3. ``receipts_root``, ``gas_used`` and ``state_root`` against the header;
4. the state changes against the recorded ones, when the source carries
   them (an archive does; ``state_changes``);
5. the block's hash, where the source records it apart from the block (an
   archive's last block: ``block_hash``).

At the first difference it stops with a ``Divergence``: the height, the
check, the transaction index, the receipt fields and the state keys whose
values differ (recorded versus replayed), compared by ``divergence.py``
as the follower's receipts are.  ``check_block`` is the one
function that does this for a block; ``import_archive`` uses it too,
committing each block that passes into a persistent chain.

Every check of ``Chain.apply_block`` (``check_header``, ``check_results``)
also runs, after the named ones, so a replay is never weaker than an
import; a failure only they catch is reported as check ``header`` or
``results``.

Signatures are verified as blocks execute (``apply_body``); the blocks
read ahead of the executing one have theirs sent to worker processes
(``store/signatures.py``) meanwhile, so that on a machine with a core to
spare the executing thread finds the verdicts ready.  The VM itself runs
on the calling thread only.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from wasmchain.history.archive import (
    ArchiveError,
    ArchiveHeader,
    ArchiveReader,
    Record,
    StateChanges,
    document_hash,
    recorded_params,
)
from wasmchain.history.divergence import (
    Divergence,
    StateDiff,
    compare_states,
    describe_key,
    first_receipt_difference,
    hex0x,
    listed,
    state_diffs,
)
from wasmchain.protocol import smt
from wasmchain.protocol.blocks import Block, Header, Receipt, merkle_root, overrides_root
from wasmchain.protocol.errors import ChainError, GenesisError, InvalidBlock
from wasmchain.protocol.genesis import Genesis, genesis_commitment, genesis_from_document
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.protocol.transition import check_header, check_results, receipts_root
from wasmchain.store import schema
from wasmchain.store.chain import Chain, PendingBlock
from wasmchain.store.kv import KVStore, LevelDBKV, MemoryKV
from wasmchain.store.signatures import MIN_TRANSACTIONS, SignatureWorkers
from wasmchain.vm import VM_VERSION, VM_VERSIONS
from wasmchain.vm.host import Hash32

PREFETCH_BLOCKS = 64
"""Blocks read ahead of the executing one, their signatures verified meanwhile by worker processes."""
MEMORY_STORE_BLOCKS = 50_000
"""With store "auto", a replay of more blocks than this keeps its state in a temporary LevelDB.

Measured: 10,000 blocks of one token transfer grew a memory store by ~74 MB
(the state, and every tree node each block wrote, which a chain keeps) and
replayed ~1.5x faster than a temporary LevelDB (+52 MB, LevelDB's caches)."""

Status = Literal["match", "diverged", "refused"]
StoreKind = Literal["memory", "leveldb", "auto"]
RecordedChanges = Callable[[int], StateChanges]
"""The recorded state changes of a block, by height, for a source whose records do not carry them."""


class Refused(ChainError):
    """A replay or import that will not run: another VM version or gas schedule, an unusable source."""

    reason = "replay_refused"


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay, as ``wasmchain replay --json`` prints it."""

    status: Status
    source: str
    blocks: int = 0
    """Blocks replayed and found to match."""
    transactions: int = 0
    first: int | None = None
    """The first block replayed (the one after the start state)."""
    last: int | None = None
    """The last block asked for."""
    seconds: float = 0.0
    divergence: Divergence | None = None
    error: str | None = None
    """Why a replay was refused or could not go on (an unreadable file)."""
    warnings: tuple[str, ...] = ()
    """Mismatches that ``--allow-version-mismatch`` let through."""

    @property
    def exit_code(self) -> int:
        return {"match": 0, "diverged": 1, "refused": 2}[self.status]

    def to_json(self) -> dict[str, Any]:
        seconds = round(self.seconds, 3)
        return {
            "status": self.status,
            "source": self.source,
            "blocks": self.blocks,
            "transactions": self.transactions,
            "from": self.first,
            "to": self.last,
            "seconds": seconds,
            "tx_per_second": round(self.transactions / self.seconds, 1) if self.seconds > 0 else None,
            "divergence": None if self.divergence is None else self.divergence.to_json(),
            "error": self.error,
            "warnings": list(self.warnings),
        }


def _show(value: Any) -> Any:
    return hex0x(value) if isinstance(value, bytes) else value


# --- one block ---------------------------------------------------------------------------


def check_block(
    chain: Chain, record: Record, recorded_changes: RecordedChanges | None = None
) -> PendingBlock | Divergence:
    """Execute ``record``'s block on top of ``chain``'s head and compare everything; nothing is written.

    Returns the pending block, ready for ``chain.commit``, or the first
    divergence.  ``recorded_changes(height)`` supplies the recorded state
    changes when the record has none (a database source), to name the
    keys that differ; it is only called on a divergence.
    """
    block, parent = record.block, chain.head
    height = parent.height + 1
    found = _header_divergence(parent, block, chain.genesis, record.receipts)
    if found is None:
        try:
            check_header(parent, block, chain.genesis)
        except InvalidBlock as error:
            found = Divergence(height, "header", str(error))
    if found is not None:
        return found

    pending = chain.finalize(block.transactions, block.header.timestamp, block.overrides)
    replayed_changes = pending.changes

    def before(key: bytes) -> bytes | None:
        """A state key's value before the block."""
        return chain.kv.get(schema.state_db_key(key))

    def diverged(check: str, message: str, recorded: Any = None, replayed: Any = None) -> Divergence:
        changes = record.changes
        if changes is None and recorded_changes is not None:
            changes = recorded_changes(height)
        state, omitted = listed([] if changes is None else state_diffs(before, changes, replayed_changes))
        return Divergence(
            height,
            check,
            message,
            _show(recorded),
            _show(replayed),
            None if receipt is None else receipt.index,
            {} if receipt is None else receipt.to_json(),
            state,
            omitted,
        )

    header = block.header
    receipt = first_receipt_difference(record.receipts, pending.receipts)
    if receipt is not None:
        consistent = receipts_root(record.receipts) == header.receipts_root
        origin = (
            "the recorded receipts match the header's receipts root: execution differs"
            if consistent
            else "the recorded receipts do not match the header's receipts root either: they were altered"
        )
        return diverged(
            "receipts",
            f"the receipt of transaction {receipt.index} differs in {', '.join(receipt.fields)} ({origin})",
        )
    for name, recorded, replayed in (
        ("receipts_root", header.receipts_root, pending.block.header.receipts_root),
        ("gas_used", header.gas_used, pending.block.header.gas_used),
        ("state_root", header.state_root, pending.block.header.state_root),
    ):
        if recorded != replayed:
            return diverged(
                name, f"{name} differs: recorded {_show(recorded)}, replayed {_show(replayed)}", recorded, replayed
            )
    if record.changes is not None and state_diffs(before, record.changes, replayed_changes):
        return diverged(
            "state_changes",
            "the recorded state changes differ from the replayed ones (the state root matches: the record was altered)",
        )
    try:
        check_results(header, pending.receipts, pending.block.header.state_root)
    except InvalidBlock as error:
        return diverged("results", str(error))
    if record.block_hash is not None and record.block_hash != block.hash:
        return diverged(
            "block_hash",
            f"the block's hash is not the one the source records for block {height}: "
            "a header field that execution does not check (its timestamp) was altered",
            record.block_hash,
            block.hash,
        )
    return PendingBlock(block, pending.receipts, pending.changes, pending.nodes)


def _header_divergence(
    parent: Header, block: Block, genesis: Genesis, receipts: tuple[Receipt, ...]
) -> Divergence | None:
    """``check_header``'s checks, each named, with both values."""
    header, height = block.header, parent.height + 1
    if block.overrides and not genesis.chain.allow_balance_overrides:
        return Divergence(
            height, "overrides", "the block carries balance overrides, which this chain's genesis does not allow"
        )
    for name, recorded, replayed in (
        ("overrides_root", header.overrides_root, overrides_root(block.overrides)),
        ("chain_id", header.chain_id, parent.chain_id),
        ("height", header.height, height),
        ("parent_hash", header.parent_hash, parent.hash),
    ):
        if recorded != replayed:
            return Divergence(
                height,
                name,
                f"{name} differs: the block has {_show(recorded)}, replay expects {_show(replayed)}",
                _show(recorded),
                _show(replayed),
            )
    if header.timestamp < parent.timestamp:
        return Divergence(
            height,
            "timestamp",
            f"timestamp {header.timestamp} is earlier than the parent's {parent.timestamp}",
            header.timestamp,
            parent.timestamp,
        )
    tx_root = merkle_root([tx.hash for tx in block.transactions])
    if tx_root != header.tx_root:
        return _tx_root_divergence(height, block, tx_root, receipts)
    return None


def _tx_root_divergence(height: int, block: Block, tx_root: Hash32, receipts: tuple[Receipt, ...]) -> Divergence:
    """A body that is not the one the header commits to: name the first transaction whose hash is not its
    receipt's (the recorded receipts carry the hashes of the transactions as produced)."""
    message = (
        f"tx_root differs: the header has {hex0x(block.header.tx_root)}, the block's transactions give {hex0x(tx_root)}"
    )
    index: int | None = None
    fields: dict[str, dict[str, Any]] = {}
    for position, signed in enumerate(block.transactions):
        if position >= len(receipts) or receipts[position].tx_hash != signed.hash:
            index = position
            recorded = hex0x(receipts[position].tx_hash) if position < len(receipts) else None
            fields = {"tx_hash": {"recorded": recorded, "replayed": hex0x(signed.hash)}}
            message += f"; transaction {position} is not the one recorded"
            if not signed.signature_valid():
                message += " (and its signature is not valid)"
            break
    return Divergence(height, "tx_root", message, hex0x(block.header.tx_root), hex0x(tx_root), index, fields)


# --- the rules a source was produced under ---------------------------------------------------


def runs_versions() -> str:
    """The VM versions this node runs, for a refusal: ``'wasmtime-50.0.1/abi-1' or '...abi-1.1'``."""
    return " or ".join(repr(version) for version in VM_VERSIONS)


def archive_problems(header: ArchiveHeader) -> list[str]:
    """Why an archive's rules are not this node's: VM version, gas schedule, an altered genesis document.

    Any version in ``VM_VERSIONS`` is this node's: a chain keeps the ABI its genesis names."""
    problems = []
    if header.vm_version not in VM_VERSIONS:
        problems.append(f"the file was exported by VM {header.vm_version!r}; this node runs {runs_versions()}")
    found = document_hash(header.genesis_document)
    if found != header.genesis_document_hash:
        problems.append(
            f"the genesis document is not the one exported (SHA-256 {hex0x(found)}, "
            f"the header records {hex0x(header.genesis_document_hash)})"
        )
    params = recorded_params(header.genesis_document)
    if params.version not in VM_VERSIONS:
        problems.append(f"the genesis names VM {params.version!r}; this node runs {runs_versions()}")
    if params.fingerprint() != header.gas_schedule_hash:
        problems.append(
            f"the genesis gas schedule and limits hash to {hex0x(params.fingerprint())}, "
            f"the header records {hex0x(header.gas_schedule_hash)}: another gas schedule"
        )
    return problems


def load_genesis_document(document: bytes, *, any_vm_version: bool, where: str) -> Genesis:
    """The ``Genesis`` of a stored or exported document; ``any_vm_version`` runs one that names a version
    this node does not run on the newest (``--allow-version-mismatch``); one it runs keeps its own ABI."""
    try:
        parsed = json.loads(document)
        if any_vm_version and isinstance(parsed, dict) and isinstance(parsed.get("vm"), dict):
            if parsed["vm"].get("version") not in VM_VERSIONS:
                parsed["vm"]["version"] = VM_VERSION
        if not isinstance(parsed, dict):
            raise GenesisError("the genesis document is not a JSON object")
        return genesis_from_document(parsed, where)
    except ValueError as error:
        raise Refused(f"{where}: the genesis document is not JSON: {error}") from None
    except GenesisError as error:
        raise Refused(str(error)) from None


def _refusal(problems: list[str], allow: bool) -> tuple[str, ...]:
    if problems and not allow:
        raise Refused(
            "; ".join(problems) + " (--allow-version-mismatch replays it anyway and reports where it diverges)"
        )
    return tuple(problems)


# --- progress --------------------------------------------------------------------------------


class Progress(Protocol):
    """Where a replay, an import or an export reports how far it is (``cli/render.py`` draws it)."""

    def start(self, total: int) -> None:
        """``total`` blocks are to come, from now."""

    def update(self, blocks: int, transactions: int) -> None:
        """``blocks`` blocks are done, holding ``transactions`` transactions."""

    def close(self) -> None:
        """The run is over, or stopped."""


@contextmanager
def reporting(progress: Progress | None, total: int) -> Iterator[None]:
    """``progress`` started for ``total`` blocks, and closed however the run ends."""
    if progress is None:
        yield
        return
    progress.start(total)
    try:
        yield
    finally:
        progress.close()


# --- the replay loop ------------------------------------------------------------------------


def prefetch_signatures(
    records: Iterator[Record], workers: SignatureWorkers | None, depth: int = PREFETCH_BLOCKS
) -> Generator[Record, None, None]:
    """The records, read ``depth`` ahead; the signatures of the blocks read ahead go to ``workers``
    (``chain/signatures.py``) meanwhile, small blocks gathered until there are enough to send.

    A pure speed-up: a transaction's verdict is the same from a worker as from the executing thread.
    """
    window: deque[Record] = deque()
    gathered: list[SignedTransaction] = []

    def hand_over(force: bool) -> None:
        if workers is not None and gathered and (force or len(gathered) >= MIN_TRANSACTIONS):
            workers.check_ahead(gathered)
            gathered.clear()

    try:
        for record in records:
            if workers is not None:
                gathered.extend(record.block.transactions)
                hand_over(force=False)
            window.append(record)
            if len(window) > depth:
                oldest = window.popleft()
                if oldest.block.transactions and not oldest.block.transactions[0].signature_known():
                    hand_over(force=True)  # its transactions still wait in a batch too small to send
                yield oldest
    except ChainError:
        # A record that cannot be read: the ones before it come first, as without the read-ahead
        # (one of them may diverge, which is the finding to report).
        while window:
            yield window.popleft()
        raise
    hand_over(force=True)
    while window:
        yield window.popleft()


@dataclass
class _Run:
    """A replay's running totals."""

    blocks: int = 0
    transactions: int = 0
    divergence: Divergence | None = None

    def result(
        self,
        source: str,
        first: int | None,
        last: int | None,
        started: float,
        warnings: tuple[str, ...],
        error: str | None = None,
    ) -> ReplayResult:
        """How the run ended: refused (``error``), diverged, or a match."""
        status: Status = "refused" if error is not None else "diverged" if self.divergence else "match"
        seconds = time.monotonic() - started
        divergence = None if error is not None else self.divergence
        return ReplayResult(
            status, source, self.blocks, self.transactions, first, last, seconds, divergence, error, warnings
        )


def replay_records(
    chain: Chain,
    records: Iterator[Record],
    run: _Run,
    *,
    recorded_changes: RecordedChanges | None = None,
    progress: Progress | None = None,
) -> None:
    """Check and commit each record in turn on ``chain``, counting in ``run``; stop at the first divergence.

    An error reading the records propagates, with ``run`` counting the blocks committed before it.
    """
    with closing(prefetch_signatures(records, chain.signatures)) as ahead:
        for record in ahead:
            result = check_block(chain, record, recorded_changes)
            if isinstance(result, Divergence):
                run.divergence = result
                break
            chain.commit(result)
            run.blocks += 1
            run.transactions += len(record.block.transactions)
            if progress is not None:
                progress.update(run.blocks, run.transactions)


def fresh_store(stack: ExitStack, kind: StoreKind, blocks: int = 0) -> KVStore:
    """An empty store for the replayed chain of ``blocks`` blocks, removed when ``stack`` closes."""
    if kind == "memory" or (kind == "auto" and blocks <= MEMORY_STORE_BLOCKS):
        return MemoryKV()
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wasmchain-replay-")))
    return stack.enter_context(LevelDBKV(directory / "db", create=True, sync=False))


def replay_archive(
    path: Path,
    *,
    to: int | None = None,
    allow_version_mismatch: bool = False,
    progress: Progress | None = None,
    store: StoreKind = "auto",
) -> ReplayResult:
    """Replay an archive from genesis into a fresh store (``wasmchain replay FILE``)."""
    started = time.monotonic()
    source = str(path)
    warnings: tuple[str, ...] = ()
    first = last = None
    run = _Run()
    try:
        with ExitStack() as stack:
            reader = stack.enter_context(ArchiveReader(path))
            header = reader.header
            first, last = header.first, header.last if to is None else to
            if header.first != 1:
                raise Refused(
                    f"the file starts at block {header.first}: a replay re-executes from genesis "
                    "and needs the blocks from 1 (export with --from 1, or import this file into a "
                    "data directory that holds the earlier blocks and replay that)"
                )
            if not header.first - 1 <= last <= header.last:
                raise Refused(f"--to {last} is outside the file's blocks {header.first}..{header.last}")
            warnings = _refusal(archive_problems(header), allow_version_mismatch)
            genesis = load_genesis_document(
                header.genesis_document, any_vm_version=allow_version_mismatch, where=f"{path}: genesis"
            )
            if warnings:  # run under the document's VM section; block 0 commits to the one recorded
                genesis = genesis.committing_to_vm(header.gas_schedule_hash)
            chain = Chain.create(fresh_store(stack, store, last - first + 1), genesis)
            genesis_check = _genesis_divergence(chain, header.genesis_hash, header.chain_id)
            if genesis_check is not None:
                run.divergence = genesis_check
            else:
                with reporting(progress, last - first + 1):
                    replay_records(chain, _take(reader.records(), last - first + 1), run, progress=progress)
    except (Refused, ArchiveError) as error:
        return run.result(source, first, last, started, warnings, error=str(error))
    return run.result(source, first, last, started, warnings)


def _take(records: Generator[Record, None, None], count: int) -> Iterator[Record]:
    """The first ``count`` records (the rest of the file is not read)."""
    with closing(records):
        for _ in range(count):
            record = next(records, None)
            if record is None:
                return
            yield record


def _genesis_divergence(chain: Chain, genesis_hash: Hash32, chain_id: str) -> Divergence | None:
    replayed = chain.head
    if replayed.hash != genesis_hash:
        return Divergence(
            0,
            "genesis_hash",
            f"the genesis document gives block 0 hash {hex0x(replayed.hash)}, the source records {hex0x(genesis_hash)}",
            hex0x(genesis_hash),
            hex0x(replayed.hash),
        )
    if replayed.chain_id != chain_id:
        return Divergence(
            0,
            "chain_id",
            f"the source records chain {chain_id!r}, its genesis document is for {replayed.chain_id!r}",
            chain_id,
            replayed.chain_id,
        )
    return None


def replay_database(
    kv: KVStore,
    *,
    start: int = 0,
    to: int | None = None,
    allow_version_mismatch: bool = False,
    progress: Progress | None = None,
    store: StoreKind = "auto",
    source: str = "database",
) -> ReplayResult:
    """Replay a chain's own database (``wasmchain replay --data DIR [--from N] [--to M]``).

    From genesis (``start`` 0) or from the state at ``start``, rebuilt from
    the stored state and the undo records and checked against header
    ``start``'s state root (recomputed from scratch), re-execute blocks
    ``start+1..to`` (default: the head) and compare; at the end, the
    database's state at ``to`` must be the replayed state.
    """
    started = time.monotonic()
    warnings: tuple[str, ...] = ()
    run = _Run()
    first = start + 1
    last = to
    try:
        with ExitStack() as stack:
            stored = _open_source(kv, allow_version_mismatch)
            warnings = stored.warnings
            recorded = stored.chain
            head = recorded.head.height
            last = head if to is None else to
            if not 0 <= start <= last <= head:
                raise Refused(
                    f"--from {start} --to {last}: the database holds blocks 0..{head}, "
                    "and --from must not be after --to"
                )
            chain, divergence = _start(recorded, start, fresh_store(stack, store, last - start))
            if divergence is not None:
                run.divergence = divergence
            else:
                records = (
                    Record(recorded.block(height), tuple(recorded.receipts(height)), None)
                    for height in range(first, last + 1)
                )
                with reporting(progress, last - start):
                    replay_records(
                        chain,
                        records,
                        run,
                        progress=progress,
                        recorded_changes=lambda height: recorded.state_changes(height, height)[height],
                    )
                if run.divergence is None:
                    run.divergence = _stored_state_divergence(recorded, chain, last)
    except Refused as error:
        return run.result(source, first, last, started, warnings, error=str(error))
    return run.result(source, first, last, started, warnings)


@dataclass(frozen=True)
class _Stored:
    chain: Chain
    warnings: tuple[str, ...]


def _open_source(kv: KVStore, allow_version_mismatch: bool) -> _Stored:
    """The recorded chain in a database, opened whatever VM version its genesis names (checked here)."""
    document = kv.get(schema.genesis_key())
    if document is None:
        raise Refused("the database holds no chain")
    try:
        problems = []
        written = recorded_params(document)
        if written.version not in VM_VERSIONS:
            problems.append(f"the chain's genesis names VM {written.version!r}; this node runs {runs_versions()}")
    except ArchiveError as error:
        raise Refused(f"the database's genesis: {error}") from None
    warnings = _refusal(problems, allow_version_mismatch)
    genesis = load_genesis_document(document, any_vm_version=allow_version_mismatch, where="stored genesis")
    try:
        chain = Chain(kv, genesis)
        committed = chain.header(0).parent_hash
    except ChainError as error:
        raise Refused(str(error)) from None
    if committed != genesis_commitment(document, written.fingerprint()):
        warnings += _refusal(
            [
                "the stored genesis document is not the one block 0 commits to (it was changed after the "
                "chain was created, or the chain was created before block 0 committed to its genesis)"
            ],
            allow_version_mismatch,
        )
    if warnings:  # run under the stored VM section; block 0 keeps the commitment it was made with
        chain.genesis = genesis.committing_to(committed)
    return _Stored(chain, warnings)


def _start(recorded: Chain, start: int, kv: KVStore) -> tuple[Chain, Divergence | None]:
    """The replayed chain at ``start`` in the empty store ``kv``: genesis, or the verified state at ``start``."""
    genesis = recorded.genesis
    if start == 0:
        chain = Chain.create(kv, genesis)
        return chain, _genesis_divergence(chain, recorded.header(0).hash, genesis.chain_id)
    scratch = Chain.create(MemoryKV(), genesis)
    divergence = _genesis_divergence(scratch, recorded.header(0).hash, genesis.chain_id)
    if divergence is not None:
        return scratch, divergence
    parent = recorded.header(0)
    for height in range(1, start + 1):  # the headers up to ``start`` chain back to the genesis
        header = recorded.header(height)
        if header.parent_hash != parent.hash or header.height != height:
            return scratch, Divergence(
                height,
                "parent_hash" if header.height == height else "height",
                f"the stored header {height} does not follow block {height - 1}",
                hex0x(header.parent_hash),
                hex0x(parent.hash),
            )
        parent = header
    state = recorded.state_at(start)
    try:
        return Chain.from_state(kv, genesis, recorded.block(start), state), None
    except InvalidBlock:
        return scratch, _start_state_divergence(recorded, start, state)


def _start_state_divergence(recorded: Chain, start: int, state: dict[bytes, bytes]) -> Divergence:
    """The stored state at ``start`` is not what header ``start``'s state root commits to: which keys.

    The tree holds hashes (``smt``), so both sides are value hashes: the
    tree's (recorded) and the stored value's (replayed, i.e. rebuilt)."""
    root = recorded.header(start).state_root
    committed = smt.collect(lambda node: recorded.kv.get(schema.node_key(node)), root)
    mine = {hashlib.sha256(key).digest(): key for key in state}
    diffs = []
    for key_hash in sorted(committed.keys() | mine.keys()):
        key = mine.get(key_hash)
        stored = None if key is None else hashlib.sha256(state[key]).digest()
        if committed.get(key_hash) != stored:
            what = "(value hashes) " + (
                describe_key(key) if key is not None else "a key the state does not hold (its SHA-256 shown)"
            )
            diffs.append(StateDiff(key if key is not None else key_hash, committed.get(key_hash), stored, what))
    listing, omitted = listed(diffs)
    return Divergence(
        start,
        "start_state",
        f"the state at block {start} rebuilt from the database does not have header {start}'s state root {hex0x(root)}",
        state=listing,
        state_omitted=omitted,
    )


def _stored_state_divergence(recorded: Chain, chain: Chain, height: int) -> Divergence | None:
    stored = recorded.state_at(height)
    replayed = dict(schema.iterate_state(chain.kv))
    diffs = compare_states(stored, replayed)
    if not diffs:
        return None
    where = "the head" if height == recorded.head.height else f"block {height}"
    state, omitted = listed(diffs)
    return Divergence(
        height,
        "stored_state",
        f"the database's state at {where} is not the replayed state: {len(diffs)} key(s) differ",
        state=state,
        state_omitted=omitted,
    )


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    imported: int
    """Blocks applied and committed."""
    transactions: int
    divergence: Divergence | None
    """The first block that did not check, if any (the blocks before it stay imported)."""
    error: str | None = None
    """Why the file could not be read on (the blocks before stay imported)."""


def import_records(chain: Chain, reader: ArchiveReader, progress: Progress | None = None) -> ImportResult:
    """Apply an archive's blocks to ``chain`` (whose head must be the block before the file's first),
    each checked fully and committed in its own atomic write; stop at the first that does not check."""
    header = reader.header
    problems = archive_problems(header)
    if problems:
        raise Refused("; ".join(problems))
    if chain.header(0).hash != header.genesis_hash or chain.genesis.document != header.genesis_document:
        raise Refused(
            f"the data directory holds another chain (genesis {hex0x(chain.header(0).hash)}); "
            f"the file is for genesis {hex0x(header.genesis_hash)}"
        )
    if chain.head.height != header.first - 1:
        raise Refused(
            f"the data directory's head is block {chain.head.height}; the file's blocks start at "
            f"{header.first}, so the head must be {header.first - 1}"
        )
    run = _Run()
    with reporting(progress, header.count):
        try:
            replay_records(chain, reader.records(), run, progress=progress)
        except ArchiveError as error:
            return ImportResult(run.blocks, run.transactions, None, str(error))
    return ImportResult(run.blocks, run.transactions, run.divergence)
