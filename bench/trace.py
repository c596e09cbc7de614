"""Tracing one token transfer: the node's time for ``debug_trace_transaction``, against running it untraced.

A chain in LevelDB (a temporary directory) holds the token and, in a block of its own, one
``transfer``.  Timed, each as the median of ``--iterations`` runs:

- ``trace_rpc``: ``debug_trace_transaction`` through the node's ``Dispatcher`` (JSON in, JSON out): the
  block re-executed from its parent state (rebuilt from the undo records), the transfer traced, its
  receipt compared with the stored one, the trace object encoded;
- ``trace``: ``Chain.trace_transaction`` alone (no JSON);
- ``untraced``: ``Chain.simulate`` of the same transfer at the head (validation and execution without a
  tracer), the floor.

Target: ``trace_rpc`` under 5 ms.  Prints a table and, last, one JSON line with the figures.
Usage: ``python bench/trace.py [--iterations N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgpack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmchain.node.node import Node  # noqa: E402
from wasmchain.node.rpc import Dispatcher  # noqa: E402
from wasmchain.protocol.keys import contract_address, dev_key  # noqa: E402
from wasmchain.protocol.transactions import Transaction, TxKind  # noqa: E402
from wasmchain.store.chain import Chain  # noqa: E402
from wasmchain.store.genesis_file import load_genesis  # noqa: E402
from wasmchain.store.kv import LevelDBKV  # noqa: E402

TOKEN = ROOT / "contracts" / "token" / "token.wasm"
TARGET_MS = 5.0


def median_ms(run: Callable[[], object], iterations: int) -> float:
    run()  # warm: compiled module, caches
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    options = parser.parse_args()
    genesis = load_genesis(ROOT / "genesis.json")
    dev0, dev1 = dev_key(0), dev_key(1)
    token = contract_address(dev0.address, 0)

    def tx(nonce: int, kind: TxKind, **fields: object) -> Transaction:
        return Transaction(genesis.chain_id, nonce, 10**8, 1, dev0.public_key, kind, **fields)  # type: ignore[arg-type]

    transfer = {"to": dev1.address, "amount": 5}
    with tempfile.TemporaryDirectory() as directory, LevelDBKV(Path(directory) / "db", create=True) as kv:
        chain = Chain.create(kv, genesis)
        deploy = tx(0, TxKind.DEPLOY, code=TOKEN.read_bytes(), method="init", args=msgpack.packb({"supply": 10**9}))
        _, deployed = chain.produce([deploy.sign(dev0)], genesis.genesis_time + 1)
        assert deployed[0].ok, deployed
        mined = tx(1, TxKind.CALL, to=token, method="transfer", args=msgpack.packb(transfer)).sign(dev0)
        _, receipts = chain.produce([mined], genesis.genesis_time + 2)
        assert receipts[0].ok, receipts
        again = tx(2, TxKind.CALL, to=token, method="transfer", args=msgpack.packb(transfer)).sign(dev0)
        rpc = Dispatcher(Node(chain, clock=None))
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "debug_trace_transaction", "params": ["0x" + mined.hash.hex()]}
        ).encode()
        answer = json.loads(rpc.handle(body) or b"null")
        assert answer["result"]["matches_receipt"] is True, answer
        figures = {
            "trace_rpc_ms": median_ms(lambda: rpc.handle(body), options.iterations),
            "trace_ms": median_ms(lambda: chain.trace_transaction(mined.hash), options.iterations),
            "untraced_ms": median_ms(lambda: chain.simulate(again, chain.head.timestamp), options.iterations),
        }
    print(f"one token transfer, median of {options.iterations} (target: trace_rpc under {TARGET_MS:g} ms)")
    for name, value in figures.items():
        print(f"  {name:<14} {value:8.3f} ms")
    print(json.dumps({**figures, "iterations": options.iterations, "target_ms": TARGET_MS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
