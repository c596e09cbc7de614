"""Signed transactions applied in blocks: from encoded bytes to the LevelDB write, phase by phase.

The default workload, fixed so that it can be compared with EVM devnets
measured on the same machine (``bench/workload.py`` derives it from fixed
seeds): 100 funded senders, 5,000 token-contract transfers, transfer ``j``
from sender ``j mod 100`` in nonce order, the recipient from a pool of
1,000 addresses and the amount 1..100 drawn from a seeded hash, blocks of
500.  The same plan runs as native-token transfers and as counter
increments (every sender increments one counter), and on the ABI 1
builds of the token and the counter (``token_abi1``: the token workload as
it was before ABI 2, whose final state root must not change).

Untimed: building genesis, signing every transaction and encoding it, and
starting the signature workers.  Timed, per block, exactly what a node
does with blocks of transactions that arrive as bytes:

- *decode+verify*: ``SignedTransaction.decode`` of each transaction's bytes,
  and the signature checks: with the optimizations, the time the executing
  thread spends handing signatures to the worker processes and waiting for
  their verdicts; without, Ed25519 verification inline;
- *execute*: ``apply_body`` (nonce and balance checks, the VM, receipts);
- *root*: the sparse Merkle tree update, the transaction and receipt roots;
- *commit*: the undo record and the block's one atomic LevelDB write
  (``sync=False``, as the devnet writes; ``--sync`` for fsync per block).

Every receipt must be "ok", and the final state is checked against a model
built here: each recipient's token or native balance, the counter's count.
``--compare`` (on by default) runs the token workload first with every
optimization off (``chain.tuning.STRAIGHTFORWARD``) and then on, in this
process, and requires the same state root both ways.

Prints a table, then as its last line one JSON object; its
``token_transfer_tx_per_s`` is the median over ``--repeat`` runs.
``--quick`` (``make bench``) runs each workload once, in under a minute.
``--levers`` also runs the token workload with each speed-up of
``chain.tuning.Tuning`` switched off alone (the others on): what each gives.
Usage: ``python bench/transfer_tps.py [--quick] [--transfers N] [--per-block K] [--senders S]
[--recipients R] [--workloads token,native,counter,token_abi1] [--repeat N] [--no-compare] [--levers] [--sync]
[--json-only]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import busy_share, say, set_quiet, shown_share
from workload import (
    COUNTER_ADDRESS,
    KINDS,
    TOKEN_ADDRESS,
    Transfer,
    genesis,
    recipient_pool,
    sender_keys,
    sign,
    transfers,
)

from wasmchain.protocol.genesis import Genesis  # noqa: E402
from wasmchain.protocol.transactions import SignedTransaction  # noqa: E402
from wasmchain.store.chain import BlockTimings, Chain  # noqa: E402
from wasmchain.store.kv import LevelDBKV  # noqa: E402
from wasmchain.store.signatures import default_workers  # noqa: E402
from wasmchain.store.tuning import OPTIMIZED, STRAIGHTFORWARD, Tuning  # noqa: E402

PHASES = ("decode_verify", "execute", "root", "commit")


def run(
    kind: str, genesis_: Genesis, blocks: list[list[bytes]], plan: list[Transfer], tuning: Tuning, sync: bool
) -> dict[str, Any]:
    """One timed run of ``blocks`` on a fresh chain in a temporary LevelDB; the figures and the final root."""
    with tempfile.TemporaryDirectory(prefix="wasmchain-bench-") as directory:
        kv = LevelDBKV(Path(directory) / "db", create=True, sync=sync)
        try:
            chain = Chain.create(kv, genesis_, tuning=tuning)
            return apply_blocks(kind, chain, blocks, plan)
        finally:
            kv.close()


def apply_blocks(
    kind: str, chain: Chain, blocks: list[list[bytes]], plan: list[Transfer], initial: int = 0
) -> dict[str, Any]:
    """Decode, verify, execute and commit ``blocks`` on ``chain``, timed by phase; check every receipt and
    the final state against ``plan`` (recipients holding ``initial`` of the token and native before it)."""
    timings = chain.timings = BlockTimings()
    if chain.signatures is not None:
        chain.signatures.warm_up()  # start the workers before timing: a node starts them once
        chain.signatures.take_wait_seconds()
    decode = verify = 0.0
    receipts = []
    first_timestamp = chain.head.timestamp + 1
    started = time.perf_counter()
    for number, block in enumerate(blocks):
        before = time.perf_counter()
        transactions = [SignedTransaction.decode(data) for data in block]
        decoded = time.perf_counter()
        if chain.signatures is None:
            for signed in transactions:
                signed.signature_valid()  # inline: the plain path's verification, timed as its own phase
        decode += decoded - before
        verify += time.perf_counter() - decoded
        receipts.extend(chain.produce(transactions, first_timestamp + number)[1])
    elapsed = time.perf_counter() - started
    waited = chain.signatures.take_wait_seconds() if chain.signatures is not None else 0.0
    chain.timings = None
    failed = [receipt for receipt in receipts if receipt.status != "ok"]
    if len(receipts) != len(plan) or failed:
        raise RuntimeError(f"{len(failed)} of {len(receipts)} transactions failed; the first: {failed[:1]}")
    check_state(kind, chain, plan, initial)
    count = len(plan)
    phases = {
        "decode_verify": decode + verify + timings.verify + waited,
        "execute": timings.execute - waited,
        "root": timings.root,
        "commit": timings.commit,
    }
    return {
        "tx_per_s": round(count / elapsed, 1),
        "seconds": round(elapsed, 3),
        "us_per_tx": {name: round(seconds / count * 1e6, 1) for name, seconds in phases.items()},
        "us_per_tx_total": round(elapsed / count * 1e6, 1),
        "state_root": chain.head.state_root.hex(),
    }


def check_state(kind: str, chain: Chain, plan: list[Transfer], initial: int = 0) -> None:
    """The final balances (or count) against a model of the plan, read from the chain's state."""
    state = chain.state()
    if kind == "counter":
        count = int.from_bytes(state.storage_read(COUNTER_ADDRESS, b"count") or b"", "little")
        if count != len(plan):
            raise RuntimeError(f"the counter is {count}, not {len(plan)}")
        return
    received: dict[bytes, int] = {}
    for step in plan:
        received[step.recipient] = received.get(step.recipient, initial) + step.amount
    for recipient, amount in sorted(received.items()):
        if kind in ("token", "token_abi1"):
            found = int.from_bytes(state.storage_read(TOKEN_ADDRESS, b"b" + recipient) or b"", "little")
        else:
            found = state.account(recipient).balance
        if found != amount:
            raise RuntimeError(f"{kind}: recipient 0x{recipient.hex()} holds {found}, the plan gives it {amount}")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run's figures (by tx/s), with the spread."""
    ordered = sorted(runs, key=lambda figures: figures["tx_per_s"])
    median = dict(ordered[len(ordered) // 2])
    median["runs_tx_per_s"] = [figures["tx_per_s"] for figures in runs]
    roots = {figures["state_root"] for figures in runs}
    if len(roots) != 1:
        raise RuntimeError(f"runs of one workload ended in different state roots: {sorted(roots)}")
    return median


def table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    say(f"{'workload':<34} {'tx/s':>8} {'µs/tx':>7} " + " ".join(f"{name:>13}" for name in PHASES))
    for label, figures in rows:
        phases = " ".join(f"{figures['us_per_tx'][name]:>13.1f}" for name in PHASES)
        say(f"{label:<34} {figures['tx_per_s']:>8.0f} {figures['us_per_tx_total']:>7.0f} {phases}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="each workload once (under a minute)")
    parser.add_argument("--transfers", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--per-block", type=int, default=500)
    parser.add_argument("--workloads", default=",".join(KINDS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload; the median is reported")
    parser.add_argument("--no-compare", action="store_true", help="skip the run with every optimization off")
    parser.add_argument(
        "--levers", action="store_true", help="also run the token workload with each speed-up of chain.tuning off alone"
    )
    parser.add_argument("--sync", action="store_true", help="fsync every block's write")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    set_quiet(args.json_only)
    kinds = [kind.strip() for kind in args.workloads.split(",") if kind.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        parser.error(f"--workloads takes some of {', '.join(KINDS)}; found {args.workloads!r}")
    if min(args.transfers, args.senders, args.recipients, args.per_block, args.repeat) < 1:
        parser.error("--transfers, --senders, --recipients, --per-block and --repeat must be at least 1")
    repeat = 1 if args.quick else args.repeat

    idle = busy_share()
    keys = sender_keys(args.senders)
    genesis_ = genesis(keys)
    genesis_abi1 = genesis(keys, abi1=True) if "token_abi1" in kinds else genesis_
    plan = transfers(args.transfers, args.senders, recipient_pool(args.recipients))
    say(
        f"{args.transfers} transfers from {args.senders} senders to a pool of {args.recipients} addresses, "
        f"blocks of {args.per_block}; {default_workers()} signature worker(s); "
        f"{repeat} run(s) per workload, the median shown (other load before the run: "
        f"{shown_share(idle)} of the CPUs)"
    )

    results: dict[str, Any] = {}
    rows: list[tuple[str, dict[str, Any]]] = []
    for kind in kinds:
        started = time.perf_counter()
        encoded = sign(kind, plan, keys, genesis_.chain_id)
        signing = time.perf_counter() - started
        blocks = [encoded[start : start + args.per_block] for start in range(0, len(encoded), args.per_block)]
        if kind == "token" and not args.no_compare:
            plain = summarize([run(kind, genesis_, blocks, plan, STRAIGHTFORWARD, args.sync) for _ in range(repeat)])
            results["token_straightforward"] = plain
            rows.append(("token, every optimization off", plain))
        chosen = genesis_abi1 if kind == "token_abi1" else genesis_
        figures = summarize([run(kind, chosen, blocks, plan, OPTIMIZED, args.sync) for _ in range(repeat)])
        figures["signing_seconds_untimed"] = round(signing, 3)
        results[kind] = figures
        rows.append((f"{kind}" + (", optimized" if kind == "token" and not args.no_compare else ""), figures))
        if kind == "token" and args.levers:
            results["token_without"] = {}
            for lever in (field.name for field in dataclasses.fields(Tuning)):
                tuning = dataclasses.replace(OPTIMIZED, **{lever: False})
                alone = summarize([run(kind, genesis_, blocks, plan, tuning, args.sync) for _ in range(repeat)])
                if alone["state_root"] != figures["state_root"]:
                    raise RuntimeError(f"without {lever}, the state root is {alone['state_root']}")
                results["token_without"][lever] = alone
                rows.append((f"token, without {lever}", alone))
    say("")
    table(rows)
    if "token_straightforward" in results:
        plain, fast = results["token_straightforward"], results["token"]
        if plain["state_root"] != fast["state_root"]:
            say(f"STATE ROOTS DIFFER: straightforward {plain['state_root']}, optimized {fast['state_root']}")
            return 1
        results["token_speedup"] = round(fast["tx_per_s"] / plain["tx_per_s"], 2)
        say(f"optimized / straightforward: {results['token_speedup']}x, the same state root 0x{fast['state_root']}")
    for kind in kinds:
        say(f"{kind}: final state root 0x{results[kind]['state_root']}")

    summary: dict[str, Any] = {
        "benchmark": "transfer_tps",
        "token_transfer_tx_per_s": results["token"]["tx_per_s"] if "token" in results else None,
        "workloads": results,
        "parameters": {
            "transfers": args.transfers,
            "senders": args.senders,
            "recipients": args.recipients,
            "per_block": args.per_block,
            "repeat": repeat,
            "sync": args.sync,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "signature_workers": default_workers(),
            "busy_before": None if idle is None else round(idle, 2),
        },
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
