"""How the cost of a transfer grows with the state: token transfers with 10k, 100k and 1M accounts in state.

For each size N, a genesis (``bench/workload.py``) holds the 100 funded
senders and N further accounts ("holders"), each with 1 native token and
1 token in the token contract's storage: 2N + 200 state entries (an
account entry and a storage entry each), every one a leaf of the sparse
Merkle tree.  Untimed: writing that genesis into a fresh LevelDB data
directory, compacting it (so that LevelDB is not still compacting the
bulk write in the background, slowing every write, as it would be right
after a bulk load but not on a node long past its genesis), closing it,
and opening it again (``Chain.load``), so the run starts as a node
restarted on a large state would, with nothing of it in the process's
caches (the OS's file cache may still hold it).

Timed: ``transfer_tps.py``'s default token workload (5,000 transfers,
blocks of 500, every optimization on), except that each recipient is
drawn from the N holders, so the transfers read and write accounts spread
over the whole tree and the whole database.  Every receipt must be "ok"
and every recipient's token balance must match the plan.

Opening the chain (``Chain.load``, timed apart as ``open_seconds``) reads
the genesis document and warms the tree cache (``chain.tuning``'s
``tree_cache``: the tree's upper levels by position, ``store/treecache.py``),
as a node does when it starts.

Reported per size: the genesis write time, the opening time, the tree
cache's memory, the data directory's size before and after the run, tx/s
and µs per transaction by phase.  The target (issue 18): tx/s at 1M within
15% of the figure at 10k.  ``--without-tree-cache`` also runs each size with
that lever off, on a copy of the same compacted genesis directory, after
the run with it on, and requires the same state root.

Prints a table, then as its last line one JSON object.
``--quick`` (``make bench``): sizes 10k and 100k and 2,000 transfers.
Usage: ``python bench/state_scale.py [--quick] [--sizes 10000,100000,1000000] [--transfers N]
[--per-block K] [--without-tree-cache] [--json-only]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import busy_share, say, set_quiet, shown_share
from transfer_tps import PHASES, apply_blocks
from workload import genesis, sender_keys, sign, transfers

from wasmchain.store.chain import Chain  # noqa: E402
from wasmchain.store.kv import LevelDBKV  # noqa: E402
from wasmchain.store.tuning import OPTIMIZED, Tuning  # noqa: E402

WITHOUT_TREE_CACHE = Tuning(tree_cache=False)

SENDERS = 100


def holders(count: int) -> list[bytes]:
    return [
        hashlib.sha256(b"wasmchain bench holder" + index.to_bytes(4, "big")).digest()[:20] for index in range(count)
    ]


def directory_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def run(db: Path, tuning: Tuning, blocks: list[list[bytes]], plan: list[Any]) -> dict[str, Any]:
    """Open the data directory at ``db`` as a node starting would, then apply ``blocks``, timed."""
    with LevelDBKV(db, create=False, sync=False) as kv:
        started = time.perf_counter()
        chain = Chain.load(kv, tuning=tuning)
        opened = time.perf_counter() - started
        figures = apply_blocks("token", chain, blocks, plan, initial=1)
        upper = chain.upper_tree
        figures["open_seconds"] = round(opened, 2)
        figures["tree_cache_mb"] = 0.0 if upper is None else round(upper.memory() / 2**20, 1)
    return figures


def measure(size: int, count: int, per_block: int, without_tree_cache: bool) -> dict[str, Any]:
    keys = sender_keys(SENDERS)
    pool = holders(size)
    started = time.perf_counter()
    genesis_ = genesis(keys, pool)
    built = time.perf_counter() - started
    plan = transfers(count, SENDERS, pool)
    encoded = sign("token", plan, keys, genesis_.chain_id)
    blocks = [encoded[start : start + per_block] for start in range(0, len(encoded), per_block)]
    with tempfile.TemporaryDirectory(prefix="wasmchain-scale-") as directory:
        db = Path(directory) / "db"
        started = time.perf_counter()
        with LevelDBKV(db, create=True, sync=False) as kv:
            Chain.create(kv, genesis_)
            written = time.perf_counter() - started
            kv.compact()  # as a node long past its genesis: no compaction of the bulk write left to run
        compacted = time.perf_counter() - started - written
        size_before = directory_size(db)
        if without_tree_cache:
            shutil.copytree(db, Path(directory) / "copy")
        figures = run(db, OPTIMIZED, blocks, plan)
        size_after = directory_size(db)
        if without_tree_cache:
            shutil.rmtree(db)  # the page cache keeps what it can of the copy's files
            figures["without_tree_cache"] = run(Path(directory) / "copy", WITHOUT_TREE_CACHE, blocks, plan)
            if figures["without_tree_cache"]["state_root"] != figures["state_root"]:
                raise RuntimeError(f"{size} holders: the state root differs with the tree cache off")
    figures.update(
        {
            "accounts": size + SENDERS,
            "state_entries": 2 * (size + SENDERS) + 3,
            "genesis_document_seconds": round(built, 1),
            "genesis_write_seconds": round(written, 1),
            "compact_seconds": round(compacted, 1),
            "db_mb_before": round(size_before / 1e6, 1),
            "db_mb_after": round(size_after / 1e6, 1),
            "transfers": count,
        }
    )
    say(
        f"{size:>9,} holders: genesis written in {figures['genesis_write_seconds']} s "
        f"({figures['db_mb_before']} MB), opened in {figures['open_seconds']} s "
        f"(tree cache {figures['tree_cache_mb']} MB), {figures['tx_per_s']} tx/s, then {figures['db_mb_after']} MB"
        + (f"; without the tree cache {figures['without_tree_cache']['tx_per_s']} tx/s" if without_tree_cache else "")
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10k and 100k, 2,000 transfers")
    parser.add_argument("--sizes", help="holder counts, comma-separated (default 10000,100000,1000000)")
    parser.add_argument("--transfers", type=int, help="default 5,000 (2,000 with --quick)")
    parser.add_argument("--per-block", type=int, default=500)
    parser.add_argument(
        "--without-tree-cache", action="store_true", help="also run each size with the tree cache off (same root)"
    )
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    set_quiet(args.json_only)
    try:
        sizes = [
            int(size) for size in (args.sizes or ("10000,100000" if args.quick else "10000,100000,1000000")).split(",")
        ]
    except ValueError:
        parser.error(f"--sizes takes integers separated by commas, found {args.sizes!r}")
    count = args.transfers or (2000 if args.quick else 5000)
    if min(sizes) < 1 or count < 1 or args.per_block < 1:
        parser.error("--sizes, --transfers and --per-block must be at least 1")
    idle = busy_share()
    say(
        f"{count} token transfers from {SENDERS} senders to holders drawn from the N in state, blocks of "
        f"{args.per_block} (other load before the run: {shown_share(idle)} of the CPUs)"
    )
    results = {str(size): measure(size, count, args.per_block, args.without_tree_cache) for size in sizes}

    say("")
    say(
        f"{'holders':>10} {'entries':>10} {'MB':>8} {'tx/s':>8} {'µs/tx':>7} "
        + " ".join(f"{name:>13}" for name in PHASES)
    )
    for size, figures in results.items():
        rows = [("", figures)]
        if "without_tree_cache" in figures:
            rows.append((" (no tree cache)", figures["without_tree_cache"]))
        for label, row in rows:
            phases = " ".join(f"{row['us_per_tx'][name]:>13.1f}" for name in PHASES)
            say(
                f"{int(size):>10,} {figures['state_entries']:>10,} {figures['db_mb_after']:>8.1f} "
                f"{row['tx_per_s']:>8.0f} {row['us_per_tx_total']:>7.0f} {phases}{label}"
            )
    smallest, largest = results[str(min(sizes))], results[str(max(sizes))]
    ratio = round(largest["tx_per_s"] / smallest["tx_per_s"], 2)
    root_ratio = round(largest["us_per_tx"]["root"] / smallest["us_per_tx"]["root"], 2)
    say(
        f"tx/s at {max(sizes):,} holders is {ratio:.0%} of the figure at {min(sizes):,}; "
        f"the root costs {root_ratio:.2f}x as much per transaction"
    )
    summary = {
        "benchmark": "state_scale",
        "sizes": results,
        "largest_to_smallest_tx_per_s": ratio,
        "largest_to_smallest_root_us": root_ratio,
        "parameters": {"sizes": sizes, "transfers": count, "per_block": args.per_block, "senders": SENDERS},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "busy_before": None if idle is None else round(idle, 2),
        },
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
