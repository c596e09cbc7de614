"""Replay throughput of a chain of token transfers, beside the throughput of producing it.

1. *production*: a fresh temporary data directory (LevelDB, ``sync=False``)
   holding ``Chain.create(genesis.json)`` and, on it, the node's own block
   producer in-process (``Node(chain, block_time=1.0, clock=None)``).  Every
   transaction is signed beforehand (signing is not counted); the timed
   loop submits them with ``node.submit`` (admission: envelope, signature,
   payload, nonce and balance checks) and calls ``node.produce_block()``
   (execution, state tree, commit): a block where dev0 deploys
   ``contracts/token/token.wasm`` (compiling it), a block where dev0 gives
   each sender (dev1..dev4) tokens, then ``--transactions`` transfers
   round-robin over the senders, ``--per-block`` to a block.  Every receipt
   must be "ok".  The figure is the whole chain's transactions over the
   whole loop, exactly what a replay re-executes; the transfers alone are
   reported too;
2. *export*: ``chain.archive.write_archive`` of blocks 1..head (timed;
   file size in MB);
3. *replay*, every one checked to be "match":
   - in-process: ``chain.replay.replay_archive`` of the file, with the
     default store ("auto": memory up to 50,000 blocks) and with
     ``store="leveldb"`` (like production, which writes a LevelDB), and
     ``replay_database`` of the data directory (default store);
   - ``wasmchain replay FILE --json`` and ``wasmchain replay --data DIR
     --json`` in subprocesses: their own ``seconds``, and the wall time
     including interpreter start-up;
4. the same, smaller (``--small-transactions``, default 2,000; 0 skips it),
   for a chain of one transfer per block: the shape instant mining makes.

Replay tx/s is the replay's transactions over its own seconds, as
``wasmchain replay --json`` reports them (they include opening the source
and creating the fresh genesis state).  The target: replay tx/s at least
production tx/s (replay hands the signatures of the blocks it reads ahead to
worker processes, ``chain/signatures.py``).

Prints human-readable lines, then as the last line one JSON object with
every figure, the parameters, the CPU count and the Python version.
Usage: ``python bench/replay.py [--transactions N] [--per-block K]
[--small-transactions M] [--senders S] [--repeat R] [--keep DIR] [--json-only]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from common import (
    DEPLOY_GAS,
    GENESIS,
    PER_SENDER,
    RECIPIENTS,
    ROOT,
    SUPPLY,
    TOKEN,
    busy_share,
    say,
    set_quiet,
    shown_share,
)

from wasmchain.history.archive import write_archive  # noqa: E402
from wasmchain.history.replay import ReplayResult, StoreKind, replay_archive, replay_database  # noqa: E402
from wasmchain.node.mempool import DEFAULT_CAPACITY, DEFAULT_MAX_NONCE_GAP, Mempool  # noqa: E402
from wasmchain.node.node import Node  # noqa: E402
from wasmchain.protocol.errors import ChainError  # noqa: E402
from wasmchain.protocol.genesis import Genesis  # noqa: E402
from wasmchain.protocol.keys import DEV_ACCOUNTS, KeyPair, contract_address, dev_key  # noqa: E402
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind  # noqa: E402
from wasmchain.store.chain import Chain  # noqa: E402
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import LevelDBKV, MemoryKV  # noqa: E402

SETUP_TRANSACTIONS_NOTE = "block 1: the token deploy; block 2: one grant per sender; both timed"


class OtherLoad:
    """The CPU time the rest of the machine used while we ran: all CPUs' busy time (``/proc/stat``) less
    this process's and its children's, as an average number of CPUs taken from us."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except OSError:
            return None
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # not idle, not iowait
        own = sum(os.times()[:4])  # user + system, ours and our waited-for children's
        return time.monotonic(), busy, own

    def cpus(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None or end[0] <= self._start[0]:
            return None
        other = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return max(0.0, other / (end[0] - self._start[0]))


def recipients() -> list[bytes]:
    return [hashlib.sha256(b"bench/replay recipient %d" % index).digest()[:20] for index in range(RECIPIENTS)]


def _mb(size: int) -> float:
    return round(size / 1e6, 2)


# -- production -------------------------------------------------------------------------------


@dataclass
class Produced:
    data: Path
    """The data directory (``db``, ``cache``), closed, as ``wasmchain replay --data`` reads it."""
    figures: dict[str, Any]


def _signed(
    chain_id: str,
    key: KeyPair,
    nonce: int,
    gas_limit: int,
    kind: TxKind,
    *,
    to: bytes = b"",
    code: bytes = b"",
    method: str = "",
    args: dict[str, Any] | None = None,
) -> SignedTransaction:
    tx = Transaction(
        chain_id=chain_id,
        nonce=nonce,
        gas_limit=gas_limit,
        gas_price=1,
        public_key=key.public_key,
        kind=kind,
        to=to,
        code=code,
        method=method,
        args=b"" if args is None else msgpack.packb(args),
    )
    return tx.sign(key)


def _mine_ok(node: Node, transactions: list[SignedTransaction]) -> tuple[Any, ...]:
    for signed in transactions:
        node.submit(signed)
    _, receipts = node.produce_block()
    if len(receipts) != len(transactions) or any(receipt.status != "ok" for receipt in receipts):
        raise RuntimeError(f"a set-up block did not include every transaction with status ok: {receipts}")
    return receipts


def _plan(genesis: Genesis, senders: int) -> tuple[bytes, int]:
    """The token's address and a transfer's gas limit (twice what a simulated transfer uses), found on a
    scratch in-memory chain, so that every transaction of the real one can be signed before timing."""
    chain_id = genesis.chain_id
    owner = dev_key(0)
    keys = [dev_key(index) for index in range(1, senders + 1)]
    node = Node(Chain.create(MemoryKV(), genesis), block_time=1.0, clock=None)
    token = _mine_ok(node, [_deploy(chain_id)])[0].contract_address
    if token != contract_address(owner.address, 0):
        raise RuntimeError("the token is not at the address its deploy predicts")
    _mine_ok(node, _grants(chain_id, token, keys))
    simulated = node.simulate(
        _signed(
            chain_id,
            keys[0],
            0,
            DEPLOY_GAS,
            TxKind.CALL,
            to=token,
            method="transfer",
            args={"to": b"\xee" * 20, "amount": 1},
        )
    )
    if simulated.status != "ok":
        raise RuntimeError(f"a simulated transfer failed: {simulated}")
    return token, 2 * simulated.gas_used


def _deploy(chain_id: str) -> SignedTransaction:
    return _signed(
        chain_id,
        dev_key(0),
        0,
        DEPLOY_GAS,
        TxKind.DEPLOY,
        code=TOKEN.read_bytes(),
        method="init",
        args={"supply": SUPPLY},
    )


def _grants(chain_id: str, token: bytes, keys: list[KeyPair]) -> list[SignedTransaction]:
    return [
        _signed(
            chain_id,
            dev_key(0),
            1 + index,
            DEPLOY_GAS,
            TxKind.CALL,
            to=token,
            method="transfer",
            args={"to": key.address, "amount": PER_SENDER},
        )
        for index, key in enumerate(keys)
    ]


def produce(data: Path, count: int, per_block: int, senders: int, label: str) -> Produced:
    """Produce a chain of ``count`` token transfers, ``per_block`` to a block, into a fresh data directory.

    Timed: the whole chain after genesis, set-up blocks (deploy, grants) included, so that a replay
    re-executes exactly what was timed here; the transfers alone are timed too.
    """
    genesis = load_genesis(GENESIS)
    chain_id = genesis.chain_id
    token, gas_limit = _plan(genesis, senders)
    keys = [dev_key(index) for index in range(1, senders + 1)]
    to = recipients()
    nonces = [0] * senders
    signing = time.perf_counter()
    setup = [[_deploy(chain_id)], _grants(chain_id, token, keys)]
    transactions = []
    for index in range(count):  # round robin over the senders: each block has some of each
        sender = index % senders
        transactions.append(
            _signed(
                chain_id,
                keys[sender],
                nonces[sender],
                gas_limit,
                TxKind.CALL,
                to=token,
                method="transfer",
                args={"to": to[index % len(to)], "amount": 1 + index % 5},
            )
        )
        nonces[sender] += 1
    signing = time.perf_counter() - signing

    data.mkdir(parents=True)
    kv = LevelDBKV(data / "db", create=True, sync=False)
    try:
        chain = Chain.create(kv, genesis, cache_dir=data / "cache")
        # The default mempool takes nonces at most 64 ahead of a sender's next one: a block of more than
        # senders x 64 transfers needs a larger window (a node setting, not a change to any check).
        gap = max(DEFAULT_MAX_NONCE_GAP, math.ceil(per_block / senders) + 1)
        node = Node(
            chain,
            block_time=1.0,
            clock=None,
            mempool=Mempool(capacity=max(DEFAULT_CAPACITY, per_block), max_nonce_gap=gap),
        )
        blocks = []
        cpu, thread_cpu = time.process_time(), time.thread_time()
        started = time.perf_counter()
        for batch in setup:  # the deploy (its module compiled, as a replay compiles it), then the grants
            for signed in batch:
                node.submit(signed)
            blocks.append(node.produce_block())
        transfers_started = time.perf_counter()
        for start in range(0, count, per_block):
            for signed in transactions[start : start + per_block]:
                node.submit(signed)
            blocks.append(node.produce_block())
        ended = time.perf_counter()
        cpu, thread_cpu = time.process_time() - cpu, time.thread_time() - thread_cpu
        head = chain.head.height
    finally:
        kv.close()

    included = sum(len(receipts) for _, receipts in blocks)
    total = count + sum(len(batch) for batch in setup)
    if included != total or len(node.mempool):
        raise RuntimeError(f"{included} of {total} transactions were included; {len(node.mempool)} still pending")
    failed = [receipt for _, receipts in blocks for receipt in receipts if receipt.status != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} transactions failed, the first: {failed[0]}")
    elapsed, transfers = ended - started, ended - transfers_started
    figures = {
        "tx_per_s": round(total / elapsed, 1),
        "blocks_per_s": round(len(blocks) / elapsed, 1),
        "transactions": total,
        "blocks": len(blocks),
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "ms_per_tx": round(elapsed / total * 1000, 3),
        "main_thread_cpu_seconds": round(thread_cpu, 3),
        "tx_per_main_thread_cpu_s": round(total / thread_cpu, 1),
        "transfers": count,
        "per_block": per_block,
        "transfers_seconds": round(transfers, 3),
        "transfers_tx_per_s": round(count / transfers, 1),
        "setup_seconds": round(transfers_started - started, 3),
        "head": head,
        "transfer_gas_limit": gas_limit,
        "signing_seconds_untimed": round(signing, 3),
    }
    say(
        f"production ({label}): {figures['tx_per_s']} tx/s, {figures['blocks_per_s']} blocks/s: {total} transactions "
        f"({count} transfers, {total - count} set-up) in {len(blocks)} blocks in {figures['seconds']} s "
        f"(CPU {figures['cpu_seconds']} s), all receipts ok; the transfers alone {figures['transfers_tx_per_s']} tx/s; "
        f"signed beforehand in {figures['signing_seconds_untimed']} s (not counted)"
    )
    return Produced(data, figures)


# -- export ------------------------------------------------------------------------------------


def export(data: Path, out: Path, label: str) -> dict[str, Any]:
    """``write_archive`` of blocks 1..head of the data directory's chain (the database open is not timed)."""
    with LevelDBKV(data / "db", create=False) as kv:
        chain = Chain.load(kv)
        head = chain.head.height
        cpu = time.process_time()
        started = time.perf_counter()
        _, transactions, size = write_archive(out, chain, 1, head)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    figures = {
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "bytes": size,
        "mb": _mb(size),
        "mb_per_s": round(size / 1e6 / elapsed, 1),
        "blocks": head,
        "transactions": transactions,
        "blocks_per_s": round(head / elapsed, 1),
    }
    say(
        f"export ({label}): {figures['mb']} MB ({head} blocks, {transactions} transactions) in "
        f"{figures['seconds']} s, {figures['mb_per_s']} MB/s, {figures['blocks_per_s']} blocks/s"
    )
    return figures


# -- replay ---------------------------------------------------------------------------------------


def _replay_figures(
    result: dict[str, Any], wall: float, cpu: tuple[float, float] | None, expected_blocks: int
) -> dict[str, Any]:
    """A ``ReplayResult.to_json()``-shaped report, checked to be a whole match, as figures."""
    if result["status"] != "match" or result["blocks"] != expected_blocks:
        raise RuntimeError(f"the replay did not match all {expected_blocks} blocks: {json.dumps(result)[:2000]}")
    seconds = result["seconds"]
    figures = {
        "status": result["status"],
        "tx_per_s": round(result["transactions"] / seconds, 1),
        "blocks_per_s": round(result["blocks"] / seconds, 1),
        "seconds": seconds,
        "transactions": result["transactions"],
        "blocks": result["blocks"],
        "wall_seconds": round(wall, 3),
    }
    if cpu is not None:  # the process's CPU time, and the calling (executing) thread's
        figures["cpu_seconds"] = round(cpu[0], 3)
        figures["cpu_per_wall"] = round(cpu[0] / wall, 2)
        figures["main_thread_cpu_seconds"] = round(cpu[1], 3)
        figures["tx_per_main_thread_cpu_s"] = round(result["transactions"] / cpu[1], 1)
    return figures


def replay_in_process(what: str, data: Path, archive: Path, expected_blocks: int, store: StoreKind) -> dict[str, Any]:
    cpu, thread_cpu = time.process_time(), time.thread_time()
    started = time.perf_counter()
    result: ReplayResult
    if what == "file":
        result = replay_archive(archive, store=store)
    else:
        with LevelDBKV(data / "db", create=False) as kv:
            result = replay_database(kv, store=store, source=str(data))
    wall = time.perf_counter() - started
    return _replay_figures(
        result.to_json(), wall, (time.process_time() - cpu, time.thread_time() - thread_cpu), expected_blocks
    )


def replay_cli(what: str, data: Path, archive: Path, expected_blocks: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "wasmchain.cli.main", "replay", "--json"]
    command += [str(archive)] if what == "file" else ["--data", str(data)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(
            f"`{' '.join(command)}` exited {done.returncode} without a JSON report: "
            f"{(done.stdout + done.stderr).strip()[-2000:]}"
        ) from None
    figures = _replay_figures(result, wall, None, expected_blocks)
    figures["command"] = "wasmchain replay --json " + ("FILE" if what == "file" else "--data DIR")
    return figures


def replays(produced: Produced, archive: Path, label: str, *, cli: bool, leveldb: bool) -> dict[str, dict[str, Any]]:
    """Every replay of one chain, each checked to match, by name."""
    expected = produced.figures["head"]
    runs: list[tuple[str, str, Any]] = [
        (
            "file",
            "in-process replay_archive(FILE), store auto",
            lambda: replay_in_process("file", produced.data, archive, expected, "auto"),
        ),
    ]
    if leveldb:
        runs.append(
            (
                "file_leveldb",
                'in-process replay_archive(FILE, store="leveldb")',
                lambda: replay_in_process("file", produced.data, archive, expected, "leveldb"),
            )
        )
    runs.append(
        (
            "data",
            "in-process replay_database(data dir), store auto",
            lambda: replay_in_process("data", produced.data, archive, expected, "auto"),
        )
    )
    if cli:
        runs += [
            (
                "cli_file",
                "`wasmchain replay FILE --json` (subprocess)",
                lambda: replay_cli("file", produced.data, archive, expected),
            ),
            (
                "cli_data",
                "`wasmchain replay --data DIR --json` (subprocess)",
                lambda: replay_cli("data", produced.data, archive, expected),
            ),
        ]
    production = produced.figures["tx_per_s"]
    results = {}
    for name, description, run in runs:
        figures = run()
        figures["ratio_to_production"] = round(figures["tx_per_s"] / production, 2)
        cpu = f", CPU {figures['cpu_per_wall']:.2f}x wall" if "cpu_per_wall" in figures else ""
        startup = f" (wall with start-up {figures['wall_seconds']} s)" if name.startswith("cli") else ""
        say(
            f"replay ({label}, {description}): {figures['status']}, {figures['tx_per_s']} tx/s, "
            f"{figures['blocks_per_s']} blocks/s: {figures['transactions']} transactions in {figures['blocks']} blocks "
            f"in {figures['seconds']} s{startup}{cpu}; {figures['ratio_to_production']}x production"
        )
        results[name] = figures
    return results


# -- the whole run ---------------------------------------------------------------------------------


def scenario(
    work: Path,
    name: str,
    count: int,
    per_block: int,
    senders: int,
    label: str,
    *,
    cli: bool,
    leveldb: bool,
    repeat: int,
    keep: bool,
) -> dict[str, Any]:
    """Produce, export and replay one chain ``repeat`` times; the best of each figure (a busy machine
    only ever makes a run slower), every run's figure beside it."""
    productions, exports, replayed_runs = [], [], []
    for index in range(repeat):
        tag = label if repeat == 1 else f"{label}, run {index + 1}/{repeat}"
        stem = name if repeat == 1 else f"{name}-{index + 1}"
        produced = produce(work / stem, count, per_block, senders, tag)
        archive = work / f"{stem}.blocks"
        exports.append(export(produced.data, archive, tag))
        replayed_runs.append(replays(produced, archive, tag, cli=cli, leveldb=leveldb))
        productions.append(produced.figures)
        if not keep:
            shutil.rmtree(produced.data, ignore_errors=True)
            archive.unlink(missing_ok=True)

    production = max(productions, key=lambda figures: figures["tx_per_s"])
    figures: dict[str, Any] = {
        "production": production,
        "export": min(exports, key=lambda figures: figures["seconds"]),
        "replay": {},
    }
    for variant in replayed_runs[0]:
        best = dict(max((run[variant] for run in replayed_runs), key=lambda figures: figures["tx_per_s"]))
        best["ratio_to_production"] = round(best["tx_per_s"] / production["tx_per_s"], 2)
        if "tx_per_main_thread_cpu_s" in best:
            best["main_thread_cpu_ratio_to_production"] = round(
                best["tx_per_main_thread_cpu_s"] / max(run["tx_per_main_thread_cpu_s"] for run in productions), 2
            )
        figures["replay"][variant] = best
    if repeat > 1:
        figures["runs"] = {
            "production_tx_per_s": [run["tx_per_s"] for run in productions],
            "replay_tx_per_s": {
                variant: [run[variant]["tx_per_s"] for run in replayed_runs] for variant in replayed_runs[0]
            },
        }
    met = {variant: replayed["tx_per_s"] >= production["tx_per_s"] for variant, replayed in figures["replay"].items()}
    figures["targets_met"] = met
    file = figures["replay"]["file"]
    slowest = min(figures["replay"].values(), key=lambda replayed: replayed["tx_per_s"])
    best_of = "" if repeat == 1 else f"best of {repeat}: "
    say(
        f"=> {label}: {best_of}production {production['tx_per_s']} tx/s, replay FILE {file['tx_per_s']} tx/s: "
        f"replay/production {file['ratio_to_production']}x (slowest replay {slowest['ratio_to_production']}x); "
        f"target replay >= production "
        f"{'met' if all(met.values()) else 'NOT met by ' + ', '.join(k for k, v in met.items() if not v)}; "
        f"per CPU-second of the executing thread, replay FILE does {file['main_thread_cpu_ratio_to_production']}x "
        "production's transactions (an upper bound for a machine with a CPU free for the signature worker: "
        "waiting for its verdicts is not CPU time)"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--transactions", type=int, default=20_000, help="token transfers in the main chain (default %(default)s)"
    )
    parser.add_argument(
        "--per-block", type=int, default=100, help="transfers per block in the main chain (default %(default)s)"
    )
    parser.add_argument(
        "--small-transactions",
        type=int,
        default=2_000,
        help="transfers in the one-per-block chain; 0 skips it (default %(default)s)",
    )
    parser.add_argument(
        "--senders",
        type=int,
        default=4,
        help=f"sending accounts dev1..devS (1..{DEV_ACCOUNTS - 1}, default %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="produce and replay each chain this many times, report the best (default %(default)s)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="produce into DIR (which must not exist) and keep the data directories and archives",
    )
    parser.add_argument(
        "--quick", action="store_true", help="5,000 transfers and a one-per-block chain of 500 (make bench)"
    )
    parser.add_argument("--json-only", action="store_true", help="print the JSON line only")
    options = parser.parse_args(argv)
    if options.quick:
        options.transactions = min(options.transactions, 5_000)
        options.small_transactions = min(options.small_transactions, 500)
    if not 1 <= options.senders < DEV_ACCOUNTS:
        parser.error(f"--senders must be 1 to {DEV_ACCOUNTS - 1}")
    if min(options.transactions, options.per_block, options.repeat) < 1 or options.small_transactions < 0:
        parser.error("--transactions, --per-block and --repeat must be at least 1, --small-transactions not negative")
    if options.keep is not None and options.keep.exists():
        parser.error(f"--keep {options.keep}: it exists already")
    try:
        return run(options)
    except (RuntimeError, OSError, ChainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run(options: argparse.Namespace) -> int:
    set_quiet(options.json_only)
    busy = busy_share()
    shown = shown_share(busy)
    say(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, CPUs busy before the start: {shown}; "
        "every transaction is signed before timing (signing is not counted in production)"
    )
    if busy is not None and busy > 0.1:
        say(
            "warning: other work is running: production and replay share the CPUs with it (replay's signature "
            "worker most of all), so the figures will be low and noisy"
        )

    if options.keep is not None:
        options.keep.mkdir(parents=True)
        work = options.keep
    else:
        work = Path(tempfile.mkdtemp(prefix="wasmchain-bench-replay-"))
    results: dict[str, Any] = {}
    other_load = OtherLoad()
    try:
        results["main"] = scenario(
            work,
            "main",
            options.transactions,
            options.per_block,
            options.senders,
            f"{options.per_block} transfers per block",
            cli=True,
            leveldb=True,
            repeat=options.repeat,
            keep=options.keep is not None,
        )
        if options.small_transactions:
            results["one_per_block"] = scenario(
                work,
                "one-per-block",
                options.small_transactions,
                1,
                options.senders,
                "1 transfer per block, instant-mining shape",
                cli=False,
                leveldb=False,
                repeat=options.repeat,
                keep=options.keep is not None,
            )
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    other_cpus = other_load.cpus()

    main_figures = results["main"]
    summary: dict[str, Any] = {
        "bench": "replay",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "cpus_busy_before": None if busy is None else round(busy, 2),
        "other_load_cpus": None if other_cpus is None else round(other_cpus, 2),
        "presigned": True,
        "production_tx_per_s": main_figures["production"]["tx_per_s"],
        "replay_file_tx_per_s": main_figures["replay"]["file"]["tx_per_s"],
        "replay_data_tx_per_s": main_figures["replay"]["data"]["tx_per_s"],
        "replay_cli_file_tx_per_s": main_figures["replay"]["cli_file"]["tx_per_s"],
        "ratio_replay_file_to_production": main_figures["replay"]["file"]["ratio_to_production"],
        "main_thread_cpu_ratio_replay_file_to_production": main_figures["replay"]["file"][
            "main_thread_cpu_ratio_to_production"
        ],
        "target": "replay tx/s >= production tx/s",
        "target_met": all(main_figures["targets_met"].values()),
    }
    if "one_per_block" in results:
        small = results["one_per_block"]
        summary["one_per_block_production_tx_per_s"] = small["production"]["tx_per_s"]
        summary["one_per_block_replay_file_tx_per_s"] = small["replay"]["file"]["tx_per_s"]
        summary["one_per_block_ratio_replay_file_to_production"] = small["replay"]["file"]["ratio_to_production"]
        summary["one_per_block_target_met"] = all(small["targets_met"].values())
    summary.update(results)
    summary["params"] = {
        "transactions": options.transactions,
        "per_block": options.per_block,
        "small_transactions": options.small_transactions,
        "senders": options.senders,
        "repeat": options.repeat,
        "setup": SETUP_TRANSACTIONS_NOTE,
        "store": "production: LevelDB sync=False",
        "keep": None if options.keep is None else str(options.keep),
    }
    if other_cpus is not None:
        say(
            f"other work on the machine during the run: {other_cpus:.2f} of {os.cpu_count()} CPUs on average"
            + (
                " (warning: the figures are low and noisy; replay's parallel signature check needs a free CPU)"
                if other_cpus > 0.1
                else ""
            )
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
