"""Token transfers through a CometBFT localnet: committed transactions per second, and submit-to-commit latency.

For each ``--validators`` count (default 1 and 4) the benchmark starts its
own ``wasmchain localnet --validators N`` (real ``cometbft`` and ``wasmchain
node`` processes on a loopback range of its own, in a temporary directory,
stopped with SIGINT at the end), then:

1. set-up (not timed): dev0 deploys the token and gives each sender tokens;
2. throughput: ``--senders`` senders (dev1 ...) each send ``--transactions /
   senders`` token transfers, every one signed (with explicit nonces) and
   its request encoded before the clock starts. Sender ``i`` submits to
   validator ``i mod N`` (a sender's transactions reach CometBFT's mempool in
   nonce order through one node; the validators gossip them), one thread per
   sender, at most ``--window`` transactions ahead of its last committed one.
   The figure is transactions committed per second, from the first submit
   to the last receipt seen on the validator it was sent to;
3. latency: ``--latency-count`` transfers from dev9, one at a time, each
   timed from its ``submit_transaction`` to the first poll (every 5 ms) that
   finds its receipt; p50 and p99.

Every receipt must be ``ok``, and at the end every validator must report
the same state root at the same height. The block-time settings are the
localnet's (``wasmchain.node.localnet.consensus_settings``): they are printed, since
latency is mostly CometBFT's timeouts.

Prints human-readable lines, then as the last line one JSON object with the
figures, the settings and the ``cometbft`` version. Usage: ``python
bench/network.py [--validators 1,4] [--transactions N] [--senders S]
[--latency-count L] [--cometbft PATH] [--quick] [--json-only]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, SUPPLY, TOKEN, say, set_quiet

from wasmchain import Client  # noqa: E402
from wasmchain.client.client import encode_call_args  # noqa: E402
from wasmchain.node.localnet import (  # noqa: E402
    COMETBFT_VERSION,
    CONSENSUS,
    cometbft_version,
    consensus_settings,
    find_cometbft,
)
from wasmchain.protocol.keys import dev_key, format_address  # noqa: E402
from wasmchain.protocol.transactions import Transaction, TxKind  # noqa: E402

WINDOW = 128
"""Transactions a sender has in flight at most, by default (CometBFT's mempool takes a sender's next nonces in
order)."""
TRANSFER_GAS = 400_000
"""A token transfer's gas limit (one uses about 341,000)."""
START_TIMEOUT = 120.0
COMMIT_TIMEOUT = 300.0


@dataclass
class Localnet:
    process: subprocess.Popen[str]
    urls: list[str]
    output: list[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_localnet(validators: int, directory: Path, cometbft: Path) -> Localnet:
    first = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.1"
    command = [
        str(Path(sys.executable).parent / "wasmchain"),
        "localnet",
        "--validators",
        str(validators),
        "--dir",
        str(directory),
        "--cometbft",
        str(cometbft),
        "--first-address",
        first,
    ]
    if not Path(command[0]).exists():
        command[0:1] = [sys.executable, "-m", "wasmchain.cli.main"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    urls: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            words = line.split()
            if len(words) >= 3 and words[0].startswith("validator") and words[1] == "rpc":
                urls.append(words[2])
            if line.startswith("Localnet running"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_TIMEOUT):
        process.kill()
        raise SystemExit(f"the localnet did not start within {START_TIMEOUT:.0f} s:\n{''.join(lines[-30:])}")
    return Localnet(process, urls, lines)


def process_cpu(root: int) -> dict[str, float]:
    """CPU seconds (user + system) of ``root``'s child processes by kind: ``node`` (``wasmchain node``, with its
    signature workers) and ``cometbft`` (Linux ``/proc``; empty elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    kinds: dict[int, str] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
        kinds[pid] = "cometbft" if "cometbft" in command.split(" ", 1)[0] else "node" if " node " in command else ""
    found: dict[str, float] = {}
    for pid in times:
        ancestor, kind = pid, ""
        while ancestor in parents and ancestor != root:  # the nearest kind on the way up to ``root``
            kind = kind or kinds.get(ancestor, "")
            ancestor = parents[ancestor]
        if ancestor == root and kind:
            found[kind] = found.get(kind, 0.0) + times[pid]
    return found


class Poster:
    """A kept-alive HTTP/1.1 connection posting JSON-RPC bodies to one node."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=30)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        self.connection.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = json.loads(self.connection.getresponse().read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, method: str, params: list[dict[str, Any]]) -> list[Any]:
        """``method`` called with each of ``params`` in one JSON-RPC batch request; the results, in order."""
        calls = [{"jsonrpc": "2.0", "id": index, "method": method, "params": each} for index, each in enumerate(params)]
        self.connection.request("POST", "/", json.dumps(calls), {"Content-Type": "application/json"})
        answers = sorted(json.loads(self.connection.getresponse().read()), key=lambda answer: answer["id"])
        for answer in answers:
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
        return [answer["result"] for answer in answers]

    def receipts(self, hashes: list[str]) -> list[Any]:
        """The receipts of ``hashes`` (``None``: not in a block yet), in one batch request."""
        return self.batch("get_receipt", [{"hash": tx_hash} for tx_hash in hashes])

    def submit(self, raws: list[str]) -> list[str]:
        """Submit transactions in one request (a JSON-RPC batch when more than one); their hashes, in order."""
        if len(raws) == 1:
            return [self.call("submit_transaction", {"tx": raws[0]})["tx_hash"]]
        return [result["tx_hash"] for result in self.batch("submit_transaction", [{"tx": raw} for raw in raws])]


def signed_transfer(sender: int, nonce: int, token: str, to: str, amount: int, chain_id: str, price: int) -> str:
    key = dev_key(sender)
    tx = Transaction(
        chain_id=chain_id,
        nonce=nonce,
        gas_limit=TRANSFER_GAS,
        gas_price=price,
        public_key=key.public_key,
        kind=TxKind.CALL,
        to=bytes.fromhex(token[2:]),
        value=0,
        code=b"",
        method="transfer",
        args=encode_call_args({"to": bytes.fromhex(to[2:]), "amount": amount}),
    )
    return "0x" + tx.sign(key).encoded.hex()


def wait_receipt(poster: Poster, tx_hash: str, interval: float) -> dict[str, Any]:
    deadline = time.monotonic() + COMMIT_TIMEOUT
    while time.monotonic() < deadline:
        receipt = poster.call("get_receipt", {"hash": tx_hash})
        if receipt is not None:
            return dict(receipt)
        time.sleep(interval)
    raise SystemExit(f"no receipt for {tx_hash} within {COMMIT_TIMEOUT:.0f} s")


def run_network(validators: int, args: argparse.Namespace, cometbft: Path, scratch: Path) -> dict[str, Any]:
    net = start_localnet(validators, scratch / f"net{validators}", cometbft)
    try:
        return _measure(net, validators, args)
    finally:
        net.stop()


def _measure(net: Localnet, validators: int, args: argparse.Namespace) -> dict[str, Any]:
    client = Client.connect(net.urls[0])
    dev0 = client.dev_account(0)
    token = dev0.deploy(TOKEN, init="init", args={"supply": SUPPLY})
    senders = list(range(1, args.senders + 1))
    for sender in [*senders, 9]:
        token.call("transfer", {"to": client.dev_account(sender), "amount": SUPPLY // 100}, sender=dev0)
    chain_id, price = client.chain_id, client.gas_price
    per_sender = args.transactions // len(senders)
    recipients = [format_address(dev_key(100 + index).address) for index in range(8)]
    plans: dict[int, list[str]] = {}
    for sender in senders:
        first = client.nonce(client.dev_account(sender))
        plans[sender] = []
        for offset in range(per_sender):
            raw = signed_transfer(
                sender, first + offset, token.address, recipients[offset % 8], 1 + offset % 7, chain_id, price
            )
            plans[sender].append(raw)
    failures: list[str] = []
    last_receipt = [0.0]
    lock = threading.Lock()

    window = args.window

    def send(sender: int) -> None:
        poster = Poster(net.urls[sender % validators])
        hashes: list[str] = []
        committed = 0
        plan = plans[sender]

        def settle(window: int) -> None:
            """Count the receipts that have come (in nonce order), polling the first ``window`` in flight in one
            batch request, every 20 ms until at least one has."""
            nonlocal committed
            deadline = time.monotonic() + COMMIT_TIMEOUT
            while time.monotonic() < deadline:
                receipts = poster.receipts(hashes[committed : committed + window])
                for receipt in receipts:
                    if receipt is None:
                        break
                    if receipt["status"] != "ok":
                        failures.append(f"dev{sender}: {receipt['status']} {receipt.get('error')}")
                    committed += 1
                if receipts and receipts[0] is not None:
                    return
                time.sleep(0.02)
            raise RuntimeError(f"no receipt for {hashes[committed]} within {COMMIT_TIMEOUT:.0f} s")

        try:
            while len(hashes) < len(plan):
                if len(hashes) - committed >= window:
                    settle(window)
                room = min(args.batch, window - (len(hashes) - committed), len(plan) - len(hashes))
                hashes.extend(poster.submit(plan[len(hashes) : len(hashes) + room]))
            while committed < len(hashes):
                settle(window)
            with lock:
                last_receipt[0] = max(last_receipt[0], time.perf_counter())
        except Exception as error:  # reported below: the run is wrong
            failures.append(f"dev{sender}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=send, args=(sender,)) for sender in senders]
    cpu_before = process_cpu(net.process.pid)
    client_before = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} transactions failed, e.g. {failures[0]}")
    cpu_after = process_cpu(net.process.pid)
    client_cpu = time.process_time() - client_before
    total = per_sender * len(senders)
    seconds = last_receipt[0] - started
    cpu_ms = {kind: round((cpu_after[kind] - cpu_before.get(kind, 0.0)) * 1000 / total, 3) for kind in cpu_after}
    cpu_ms["client"] = round(client_cpu * 1000 / total, 3)
    tx_per_s = total / seconds

    poster = Poster(net.urls[9 % validators])
    nonce = client.nonce(client.dev_account(9))
    latencies = []
    for index in range(args.latency_count):
        raw = signed_transfer(9, nonce + index, token.address, recipients[0], 1, chain_id, price)
        t = time.perf_counter()
        tx_hash = poster.call("submit_transaction", {"tx": raw})["tx_hash"]
        receipt = wait_receipt(poster, tx_hash, 0.005)
        latencies.append(time.perf_counter() - t)
        if receipt["status"] != "ok":
            raise SystemExit(f"latency transfer {index}: {receipt['status']} {receipt.get('error')}")
    latencies.sort()

    # every validator at one height: the same state root
    height = min(Client.connect(url).call("chain_info")["head"]["height"] for url in net.urls)
    roots = {Client.connect(url).call("get_block", block=height)["state_root"] for url in net.urls}
    if len(roots) != 1:
        raise SystemExit(f"the validators disagree at height {height}: {sorted(roots)}")
    return {
        "validators": validators,
        "transactions": total,
        "senders": len(senders),
        "seconds": round(seconds, 3),
        "committed_tx_per_s": round(tx_per_s, 1),
        "latency_ms_p50": round(latencies[len(latencies) // 2] * 1000, 1),
        "latency_ms_p99": round(latencies[min(len(latencies) - 1, (len(latencies) * 99) // 100)] * 1000, 1),
        "latency_ms_mean": round(statistics.mean(latencies) * 1000, 1),
        "cpu_ms_per_tx": cpu_ms,
        "batch": args.batch,
        "window": args.window,
        "height": height,
        "state_root": roots.pop(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--validators", default="1,4", help="comma-separated validator counts (default 1,4)")
    parser.add_argument("--transactions", type=int, default=2000, help="token transfers per network (default 2000)")
    parser.add_argument("--senders", type=int, default=8, help="sending accounts, dev1.. (at most 8; default 8)")
    parser.add_argument(
        "--batch", type=int, default=16, help="a sender's transactions per submit request, at most (default 16)"
    )
    parser.add_argument(
        "--window", type=int, default=WINDOW, help=f"a sender's transactions in flight, at most (default {WINDOW})"
    )
    parser.add_argument("--latency-count", type=int, default=50, help="transfers timed one at a time (default 50)")
    parser.add_argument("--cometbft", type=Path, help="the cometbft binary (default: as wasmchain localnet finds it)")
    parser.add_argument("--quick", action="store_true", help="500 transfers and 20 latency samples per network")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    set_quiet(args.json_only)
    if args.quick:
        args.transactions, args.latency_count = 500, 20
    if not 1 <= args.senders <= 8:
        parser.error("--senders must be between 1 and 8 (dev9 times the latency)")
    counts = [int(part) for part in args.validators.split(",") if part.strip()]
    cometbft = find_cometbft(args.cometbft)
    version = cometbft_version(cometbft)
    if version != COMETBFT_VERSION:
        raise SystemExit(f"{cometbft} is CometBFT {version}, the localnet pins {COMETBFT_VERSION}")
    settings = {key: value.strip('"') for key, value in CONSENSUS.items()}
    say(f"CometBFT {version} ({cometbft}); consensus settings: {settings}")
    say(f"{os.cpu_count()} CPUs; {args.transactions} token transfers from {args.senders} senders per network")
    results = []
    with tempfile.TemporaryDirectory(prefix="wasmchain-bench-net-") as scratch:
        for count in counts:
            say(f"\n{count} validator(s): starting the localnet ...")
            result = run_network(count, args, cometbft, Path(scratch))
            changed = {
                key: value.strip('"') for key, value in consensus_settings(count).items() if CONSENSUS[key] != value
            }
            result["consensus"] = {**settings, **changed}
            if changed:
                say(f"  (with {changed} for {count} validator(s))")
            results.append(result)
            say(
                f"  committed {result['committed_tx_per_s']:,.1f} tx/s ({result['transactions']} transfers in "
                f"{result['seconds']} s); submit-to-commit p50 {result['latency_ms_p50']} ms, p99 "
                f"{result['latency_ms_p99']} ms; all validators agree at height {result['height']}"
            )
            say(f"  CPU per committed transaction (ms): {result['cpu_ms_per_tx']}")
    print(
        json.dumps(
            {
                "benchmark": "network",
                "cometbft": version,
                "consensus": settings,
                "cpus": os.cpu_count(),
                "networks": results,
                "root": str(ROOT),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
