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
values differ (recorded versus replayed).  ``check_block`` is the one
function that does this for a block; ``import_archive`` uses it too,
committing each block that passes into a persistent chain.

Every check of ``Chain.apply_block`` (``check_header``, ``check_results``)
also runs, after the named ones, so a replay is never weaker than an
import; a failure only they catch is reported as check ``header`` or
``results``.

Signatures are verified as blocks execute (``apply_body``); the blocks
read ahead of the executing one have theirs sent to worker processes
(``chain/signatures.py``) meanwhile, so that on a machine with a core to
spare the executing thread finds the verdicts ready.  The VM itself runs
on the calling thread only.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from wasmchain.history.archive import (
    ArchiveError,
    ArchiveHeader,
    ArchiveReader,
    Record,
    StateChanges,
    document_hash,
    recorded_params,
)
from wasmchain.protocol import smt
from wasmchain.protocol.blocks import Block, Header, Receipt, merkle_root, overrides_root
from wasmchain.protocol.errors import ChainError, GenesisError, InvalidBlock
from wasmchain.protocol.genesis import Genesis, genesis_from_document
from wasmchain.protocol.state import ACCOUNT, CODE, STORAGE, Account
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.protocol.transition import check_header, check_results, receipts_root
from wasmchain.store import schema
from wasmchain.store.chain import Chain, PendingBlock
from wasmchain.store.kv import KVStore, LevelDBKV, MemoryKV
from wasmchain.store.signatures import MIN_TRANSACTIONS, SignatureWorkers
from wasmchain.vm import VM_VERSION
from wasmchain.vm.host import Hash32

MAX_STATE_DIFFS = 100
"""State keys a divergence lists at most (the count of the others is reported)."""
PREFETCH_BLOCKS = 64
"""Blocks read ahead of the executing one, their signatures verified meanwhile by worker processes."""
PROGRESS_INTERVAL = 0.2
"""Seconds between two progress updates on a terminal (at most five a second)."""
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


# --- what a divergence says -------------------------------------------------------------


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def describe_key(state_key: bytes) -> str:
    """A state key for humans: whose account, which code, which contract's storage key."""
    kind, rest = state_key[:1], state_key[1:]
    if kind == ACCOUNT and len(rest) == 20:
        return f"account {hex0x(rest)}"
    if kind == CODE and len(rest) == 32:
        return f"code {hex0x(rest)}"
    if kind == STORAGE and len(rest) >= 20:
        key = rest[20:]
        text = key.decode("ascii", "replace")
        shown = f" {json.dumps(text)}" if key and text.isprintable() else ""
        return f"storage of contract {hex0x(rest[:20])}, key {hex0x(key)}{shown}"
    return "unknown state key"


@dataclass(frozen=True)
class StateDiff:
    """One state key whose value differs: recorded versus replayed (``None``: absent)."""

    key: bytes
    recorded: bytes | None
    replayed: bytes | None
    what: str = ""
    """How to read the key; ``describe_key`` when empty."""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": hex0x(self.key),
            "what": self.what or describe_key(self.key),
            "recorded": None if self.recorded is None else hex0x(self.recorded),
            "replayed": None if self.replayed is None else hex0x(self.replayed),
        }


@dataclass(frozen=True)
class Divergence:
    """The first place a replay differs from the record."""

    height: int
    check: str
    """What differs: a header field, ``receipts``, ``receipts_root``, ``gas_used``, ``state_root``,
    ``state_changes``, ``block_hash``, ``genesis_hash``, ``start_state`` (``--from``) or ``stored_state`` (the
    database's state after the last block)."""
    message: str
    recorded: Any = None
    """The checked value as recorded, where there is one value (a header field, a root), JSON-ready."""
    replayed: Any = None
    tx_index: int | None = None
    """The first transaction whose receipt differs (or, for ``tx_root``, whose hash is not the recorded one)."""
    receipt: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Receipt field -> ``{"recorded": .., "replayed": ..}``, bytes as 0x hex."""
    state: tuple[StateDiff, ...] = ()
    state_omitted: int = 0
    """State keys that differ beyond the ``MAX_STATE_DIFFS`` listed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "check": self.check,
            "message": self.message,
            "recorded": self.recorded,
            "replayed": self.replayed,
            "tx_index": self.tx_index,
            "receipt": self.receipt,
            "state": [diff.to_json() for diff in self.state],
            "state_omitted": self.state_omitted,
        }


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


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "tx_hash": hex0x(receipt.tx_hash),
        "status": receipt.status,
        "gas_used": receipt.gas_used,
        "return_data": hex0x(receipt.return_data),
        "events": [{"contract": hex0x(e.contract), "name": e.name, "data": hex0x(e.data)} for e in receipt.events],
        "error": receipt.error,
        "contract_address": hex0x(receipt.contract_address),
    }


def receipt_diff(recorded: Receipt | None, replayed: Receipt | None) -> dict[str, dict[str, Any]]:
    """The fields that differ between two receipts (a missing receipt differs in every field)."""
    before = _receipt_json(recorded) if recorded is not None else None
    after = _receipt_json(replayed) if replayed is not None else None
    names = (before or after or {}).keys()
    return {
        name: {"recorded": None if before is None else before[name], "replayed": None if after is None else after[name]}
        for name in names
        if before is None or after is None or before[name] != after[name]
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

    def diverged(check: str, message: str, recorded: Any = None, replayed: Any = None) -> Divergence:
        changes = record.changes
        if changes is None and recorded_changes is not None:
            changes = recorded_changes(height)
        diffs = [] if changes is None else _state_diffs(chain, changes, replayed_changes)
        index, fields = _first_receipt_difference(record.receipts, pending.receipts)
        return Divergence(
            height,
            check,
            message,
            _show(recorded),
            _show(replayed),
            index,
            fields,
            tuple(diffs[:MAX_STATE_DIFFS]),
            max(0, len(diffs) - MAX_STATE_DIFFS),
        )

    header = block.header
    index, fields = _first_receipt_difference(record.receipts, pending.receipts)
    if index is not None:
        consistent = receipts_root(record.receipts) == header.receipts_root
        origin = (
            "the recorded receipts match the header's receipts root: execution differs"
            if consistent
            else "the recorded receipts do not match the header's receipts root either: they were altered"
        )
        return diverged("receipts", f"the receipt of transaction {index} differs in {', '.join(fields)} ({origin})")
    for name, recorded, replayed in (
        ("receipts_root", header.receipts_root, pending.block.header.receipts_root),
        ("gas_used", header.gas_used, pending.block.header.gas_used),
        ("state_root", header.state_root, pending.block.header.state_root),
    ):
        if recorded != replayed:
            return diverged(
                name, f"{name} differs: recorded {_show(recorded)}, replayed {_show(replayed)}", recorded, replayed
            )
    if record.changes is not None and _state_diffs(chain, record.changes, replayed_changes):
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


def _first_receipt_difference(
    recorded: Iterable[Receipt], replayed: Iterable[Receipt]
) -> tuple[int | None, dict[str, dict[str, Any]]]:
    before, after = list(recorded), list(replayed)
    for index in range(max(len(before), len(after))):
        old = before[index] if index < len(before) else None
        new = after[index] if index < len(after) else None
        if old != new:
            return index, receipt_diff(old, new)
    return None, {}


def _state_diffs(chain: Chain, recorded: StateChanges, replayed: StateChanges) -> list[StateDiff]:
    """The keys whose value after the block differs; a key one side did not change keeps its value before."""
    diffs = []
    for key in sorted(recorded.keys() | replayed.keys()):
        old = recorded[key] if key in recorded else chain.kv.get(schema.state_db_key(key))
        new = replayed[key] if key in replayed else chain.kv.get(schema.state_db_key(key))
        if old != new:
            diffs.append(StateDiff(key, old, new))
    return diffs


def compare_states(recorded: dict[bytes, bytes], replayed: dict[bytes, bytes]) -> list[StateDiff]:
    """Every key whose value differs between two whole states."""
    return [
        StateDiff(key, recorded.get(key), replayed.get(key))
        for key in sorted(recorded.keys() | replayed.keys())
        if recorded.get(key) != replayed.get(key)
    ]


# --- the rules a source was produced under ---------------------------------------------------


def archive_problems(header: ArchiveHeader) -> list[str]:
    """Why an archive's rules are not this node's: VM version, gas schedule, an altered genesis document."""
    problems = []
    if header.vm_version != VM_VERSION:
        problems.append(f"the file was exported by VM {header.vm_version!r}; this node runs {VM_VERSION!r}")
    found = document_hash(header.genesis_document)
    if found != header.genesis_document_hash:
        problems.append(
            f"the genesis document is not the one exported (SHA-256 {hex0x(found)}, "
            f"the header records {hex0x(header.genesis_document_hash)})"
        )
    params = recorded_params(header.genesis_document)
    if params.version != VM_VERSION:
        problems.append(f"the genesis names VM {params.version!r}; this node runs {VM_VERSION!r}")
    if params.fingerprint() != header.gas_schedule_hash:
        problems.append(
            f"the genesis gas schedule and limits hash to {hex0x(params.fingerprint())}, "
            f"the header records {hex0x(header.gas_schedule_hash)}: another gas schedule"
        )
    return problems


def load_genesis_document(document: bytes, *, any_vm_version: bool, where: str) -> Genesis:
    """The ``Genesis`` of a stored or exported document; ``any_vm_version`` runs it on this node's VM
    whatever version it names (``--allow-version-mismatch``)."""
    try:
        parsed = json.loads(document)
        if any_vm_version and isinstance(parsed, dict) and isinstance(parsed.get("vm"), dict):
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


# --- progress on a terminal --------------------------------------------------------------


class Progress:
    """Blocks done/total, blocks/s, tx/s and an ETA on one line of a terminal, redrawn at most five
    times a second; silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.total = total
        self.started = time.monotonic()
        self._shown = 0.0
        self._drawn = False

    def update(self, blocks: int, transactions: int) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._shown < PROGRESS_INTERVAL and blocks < self.total:
            return
        self._shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = blocks / elapsed
        eta = f"{(self.total - blocks) / rate:.0f}s" if rate > 0 else "?"
        self.stream.write(
            f"\r\x1b[K{blocks}/{self.total} blocks  {rate:.0f} blocks/s  {transactions / elapsed:.0f} tx/s  ETA {eta}"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.stream is not None and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


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
    progress: TextIO | None = None,
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
            chain = Chain.create(fresh_store(stack, store, last - first + 1), genesis)
            genesis_check = _genesis_divergence(chain, header.genesis_hash, header.chain_id)
            if genesis_check is not None:
                run.divergence = genesis_check
            else:
                shown = Progress(progress, last - first + 1)
                try:
                    replay_records(chain, _take(reader.records(), last - first + 1), run, progress=shown)
                finally:
                    shown.close()
    except (Refused, ArchiveError) as error:
        return ReplayResult(
            "refused",
            source,
            run.blocks,
            run.transactions,
            first,
            last,
            time.monotonic() - started,
            error=str(error),
            warnings=warnings,
        )
    return ReplayResult(
        "diverged" if run.divergence else "match",
        source,
        run.blocks,
        run.transactions,
        first,
        last,
        time.monotonic() - started,
        run.divergence,
        warnings=warnings,
    )


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
    progress: TextIO | None = None,
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
                shown = Progress(progress, last - start)
                try:
                    replay_records(
                        chain,
                        records,
                        run,
                        progress=shown,
                        recorded_changes=lambda height: recorded.state_changes(height, height)[height],
                    )
                finally:
                    shown.close()
                if run.divergence is None:
                    run.divergence = _stored_state_divergence(recorded, chain, last)
    except Refused as error:
        return ReplayResult(
            "refused",
            source,
            run.blocks,
            run.transactions,
            first,
            last,
            time.monotonic() - started,
            error=str(error),
            warnings=warnings,
        )
    return ReplayResult(
        "diverged" if run.divergence else "match",
        source,
        run.blocks,
        run.transactions,
        first,
        last,
        time.monotonic() - started,
        run.divergence,
        warnings=warnings,
    )


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
        written = recorded_params(document).version
        if written != VM_VERSION:
            problems.append(f"the chain's genesis names VM {written!r}; this node runs {VM_VERSION!r}")
    except ArchiveError as error:
        raise Refused(f"the database's genesis: {error}") from None
    warnings = _refusal(problems, allow_version_mismatch)
    genesis = load_genesis_document(document, any_vm_version=allow_version_mismatch, where="stored genesis")
    try:
        return _Stored(Chain(kv, genesis), warnings)
    except ChainError as error:
        raise Refused(str(error)) from None


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
    return Divergence(
        start,
        "start_state",
        f"the state at block {start} rebuilt from the database does not have header {start}'s state root {hex0x(root)}",
        state=tuple(diffs[:MAX_STATE_DIFFS]),
        state_omitted=max(0, len(diffs) - MAX_STATE_DIFFS),
    )


def _stored_state_divergence(recorded: Chain, chain: Chain, height: int) -> Divergence | None:
    stored = recorded.state_at(height)
    replayed = dict(schema.iterate_state(chain.kv))
    diffs = compare_states(stored, replayed)
    if not diffs:
        return None
    where = "the head" if height == recorded.head.height else f"block {height}"
    return Divergence(
        height,
        "stored_state",
        f"the database's state at {where} is not the replayed state: {len(diffs)} key(s) differ",
        state=tuple(diffs[:MAX_STATE_DIFFS]),
        state_omitted=max(0, len(diffs) - MAX_STATE_DIFFS),
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


def import_records(chain: Chain, reader: ArchiveReader, progress: TextIO | None = None) -> ImportResult:
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
    shown = Progress(progress, header.count)
    run = _Run()
    try:
        replay_records(chain, reader.records(), run, progress=shown)
    except ArchiveError as error:
        return ImportResult(run.blocks, run.transactions, None, str(error))
    finally:
        shown.close()
    return ImportResult(run.blocks, run.transactions, run.divergence)


# --- the report for humans ---------------------------------------------------------------------


def describe_report(report: dict[str, Any]) -> str:
    """``ReplayResult.to_json()`` as text."""
    lines = []
    span = f"blocks {report['from']}..{report['to']}" if report["from"] is not None else "no blocks"
    status = report["status"]
    if status == "match":
        lines.append(
            f"match: {report['blocks']} blocks, {report['transactions']} transactions replayed "
            f"({span} of {report['source']}) in {report['seconds']:.2f} s: "
            "every receipt, state root and state key is the same"
        )
    elif status == "refused":
        lines.append(f"refused: {report['error']}")
    lines += [f"warning: {warning}" for warning in report["warnings"]]
    divergence = report["divergence"]
    if divergence is not None:
        lines += describe_divergence(divergence)
        lines.append(f"({report['blocks']} blocks before it matched, {span} asked for)")
    return "\n".join(lines)


def describe_divergence(divergence: dict[str, Any]) -> list[str]:
    """``Divergence.to_json()`` as lines of text."""
    lines = [f"diverged at block {divergence['height']}: {divergence['check']}", f"  {divergence['message']}"]
    if divergence["recorded"] is not None or divergence["replayed"] is not None:
        lines += [f"  recorded: {_brief(divergence['recorded'])}", f"  replayed: {_brief(divergence['replayed'])}"]
    if divergence["tx_index"] is not None:
        lines.append(f"  transaction {divergence['tx_index']}:")
        for name, values in divergence["receipt"].items():
            lines.append(f"    {name}: recorded {_brief(values['recorded'])}, replayed {_brief(values['replayed'])}")
    if divergence["state"]:
        lines.append("  state keys that differ:")
        for item in divergence["state"]:
            account = item["what"].startswith("account ")
            lines += [
                f"    {item['what']}",
                f"      recorded {_brief(item['recorded'])}{_account_text(item['recorded']) if account else ''}",
                f"      replayed {_brief(item['replayed'])}{_account_text(item['replayed']) if account else ''}",
            ]
        if divergence["state_omitted"]:
            lines.append(f"    ... and {divergence['state_omitted']} more")
    return lines


def _account_text(value: str | None) -> str:
    """An account's value decoded, for humans: ``" (balance B, nonce N)"``."""
    if value is None:
        return ""
    try:
        account = Account.decode(bytes.fromhex(value[2:]))
    except (ValueError, ChainError):
        return " (not an account)"
    code = f", code 0x{account.code_hash.hex()}" if account.code_hash else ""
    return f" (balance {account.balance}, nonce {account.nonce}{code})"


def _brief(value: Any, limit: int = 66) -> str:
    """A value on one line; long hex cut short, with its length in bytes."""
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) <= limit + 20:
        return text
    size = f"{(len(text) - 2) // 2} bytes" if text.startswith("0x") else f"{len(text)} characters"
    return f"{text[:limit]}... ({size})"
