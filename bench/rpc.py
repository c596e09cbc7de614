"""JSON-RPC over HTTP against a devnet: submit-to-receipt latency and token-transfer throughput.

By default the benchmark starts its own devnets (``wasmchain devnet --port 0
--fresh`` on a temporary data directory, stopped with SIGTERM at the end):

1. *instant mining* (a block per transaction, the default devnet):
   - latency: ``--latency-count`` token transfers from dev0, one at a time;
     each figure is the whole round trip of ``submit_transaction``, whose
     result carries the receipt;
   - throughput: ``--threads`` client threads, each with its own
     connection and its own sender (dev1, dev2, ...), submit
     ``--transactions`` transfers each as fast as the node answers;
     the figure is included transactions per second from the first submit
     to the last receipt;
   - the same with JSON-RPC batches of ``--batch`` submits per request;
2. *interval mining* (``--block-time``, a second devnet): the same
   throughput run, where a submit answers "pending" and each thread polls
   ``get_receipt`` (batched) for the transactions it has in flight (at
   most ``WINDOW`` per sender, so at most about threads x 65 / block time
   transactions per second).

Every benchmark transaction is signed, and its request body encoded, before
any timing starts, so client-side signing is not counted as server time.
The timed requests go through a minimal kept-alive HTTP/1.1 client (below),
so that the client threads, which share the machine with the node, take as
little CPU as they can; setup and checks use ``chain.client.Client``.
Every receipt must be "ok", and at the end each sender's and recipient's
token balance, and each sender's native balance (the fees are burned),
must be exactly what the receipts say.

With ``--url`` the phases run against a node already running, in its
mining mode; the chain need not be fresh (nonces come from
``get_next_nonce``, and each run deploys its own token).

Prints human-readable lines, then as the last line one JSON object with
the figures, the machine's CPU count and the parameters.
Usage: ``python bench/rpc.py [--url URL [--pid PID]] [--latency-count N]
[--threads T] [--transactions M] [--batch K] [--block-time S] [--json-only]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

from wasmchain import Client, RPCClientError  # noqa: E402
from wasmchain.protocol.keys import DEV_ACCOUNTS, KeyPair, dev_key, format_address  # noqa: E402
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind  # noqa: E402

STARTUP_TIMEOUT = 60.0
WINDOW = 64
"""With interval mining, a sender's transactions in flight: the mempool holds nonces at most 64 (its
default ``max_nonce_gap``) ahead of the next, so one sender moves at most ~65 per block."""
STALL_TIMEOUT = 60.0
"""Seconds without any reply or new receipt before the run is declared stuck."""
TARGET_P50_MS = 5.0
TARGET_TX_PER_S = 1_000.0


# -- a devnet of our own ------------------------------------------------------------------


class Devnet:
    """``wasmchain devnet`` in a subprocess on a fresh temporary data directory."""

    def __init__(self, block_time: float | None) -> None:
        self.block_time = block_time
        self._dir = tempfile.TemporaryDirectory(prefix="wasmchain-bench-")
        command = [
            sys.executable,
            "-m",
            "wasmchain.cli.main",
            "devnet",
            "--data",
            self._dir.name,
            "--fresh",
            "--port",
            "0",
            "--genesis",
            str(GENESIS),
        ]
        if block_time is not None:
            command += ["--block-time", f"{block_time:g}"]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self._wait_listening()
        self._stderr: list[str] = []
        for stream, sink in ((self.process.stdout, None), (self.process.stderr, self._stderr)):
            threading.Thread(target=_drain, args=(stream, sink), daemon=True).start()

    def _wait_listening(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for line in self.process.stdout:
            if line.startswith("Listening on "):
                return line.split()[2]
            if time.monotonic() > deadline:
                break
        self.process.kill()
        _, errors = self.process.communicate()
        raise SystemExit(f"the devnet did not start: {errors.strip()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._stderr:
            say("devnet stderr: " + "".join(self._stderr).strip()[-2000:])
        self._dir.cleanup()


def node_cpu(pid: int) -> tuple[float, float, float] | None:
    """User plus system CPU seconds a node process has used so far: all its threads, its main thread
    (the event loop; LevelDB compacts on threads of its own), and the main thread's system time alone
    (the kernel's side of its socket calls).  ``None`` without ``/proc``."""
    try:
        user, system = _cpu_seconds(f"/proc/{pid}/task/{pid}/stat")
        return sum(_cpu_seconds(f"/proc/{pid}/stat")), user + system, system
    except OSError:
        return None


def _cpu_seconds(stat_path: str) -> tuple[float, float]:
    """User and system CPU seconds from a ``/proc`` stat file."""
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _drain(stream: Any, sink: list[str] | None) -> None:
    for line in stream:
        if sink is not None:
            sink.append(line)


# -- a minimal HTTP/1.1 client for the timed requests -------------------------------------


def encode_request(url: str, payload: Any) -> bytes:
    """The whole HTTP request that POSTs a JSON-RPC payload to ``url``."""
    parsed = urllib.parse.urlsplit(url)
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"POST {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One kept-alive HTTP/1.1 connection that sends requests made by ``encode_request``."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.hostname is None:
            raise ValueError(f"a node URL is http://HOST:PORT, found {url!r}")
        self.socket = socket.create_connection((parsed.hostname, parsed.port or 80), timeout=STALL_TIMEOUT)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.socket.makefile("rb")

    def exchange(self, request: bytes) -> Any:
        """Send one request, read its response, return the decoded JSON."""
        self.socket.sendall(request)
        file = self.file
        status = file.readline()
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the node answered {status!r}")
        length = 0
        while True:
            line = file.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return json.loads(file.read(length))

    def close(self) -> None:
        self.file.close()
        self.socket.close()


# -- transactions ----------------------------------------------------------------------------


@dataclass
class Setup:
    client: Client
    chain_id: str
    token: bytes
    gas_limit: int
    """Each benchmark transfer's gas limit: twice what a simulated transfer used."""
    nonces: dict[bytes, int]
    """The next nonce of each of our accounts, by address."""


def _transfer(setup: Setup, key: KeyPair, to: bytes, amount: int, gas_limit: int | None = None) -> SignedTransaction:
    """A signed token transfer with the key's next nonce."""
    nonce = setup.nonces[key.address]
    setup.nonces[key.address] = nonce + 1
    tx = Transaction(
        chain_id=setup.chain_id,
        nonce=nonce,
        gas_limit=gas_limit or setup.gas_limit,
        gas_price=1,
        public_key=key.public_key,
        kind=TxKind.CALL,
        to=setup.token,
        method="transfer",
        args=msgpack.packb({"to": to, "amount": amount}),
    )
    return tx.sign(key)


def _hex(signed: SignedTransaction) -> str:
    return "0x" + signed.encoded.hex()


def _wait_receipt(client: Client, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = client.call("get_receipt", hash=tx_hash)
        if receipt is not None:
            return receipt  # type: ignore[no-any-return]
        time.sleep(0.01)
    raise RuntimeError(f"no receipt for {tx_hash} after {timeout} s")


def _submit_and_wait(client: Client, signed: SignedTransaction) -> dict[str, Any]:
    result = client.call("submit_transaction", tx=_hex(signed))
    receipt = result["receipt"] or _wait_receipt(client, result["tx_hash"])
    if receipt["status"] != "ok":
        raise RuntimeError(f"setup transaction failed: {receipt}")
    return receipt


def recipients() -> list[bytes]:
    return [hashlib.sha256(b"bench/rpc recipient %d" % index).digest()[:20] for index in range(RECIPIENTS)]


def set_up(url: str, senders: list[KeyPair]) -> Setup:
    """Deploy a token from dev0, give each sender tokens, and find a transfer's gas."""
    client = Client.connect(url)
    info = client.call("chain_info")
    owner = dev_key(0)
    nonces = {
        key.address: client.call("get_next_nonce", address=format_address(key.address))["nonce"]
        for key in [owner, *senders]
    }
    setup = Setup(client, info["chain_id"], b"", 0, nonces)
    deploy = Transaction(
        chain_id=setup.chain_id,
        nonce=nonces[owner.address],
        gas_limit=DEPLOY_GAS,
        gas_price=1,
        public_key=owner.public_key,
        kind=TxKind.DEPLOY,
        code=TOKEN.read_bytes(),
        method="init",
        args=msgpack.packb({"supply": SUPPLY}),
    )
    nonces[owner.address] += 1
    setup.token = bytes.fromhex(_submit_and_wait(client, deploy.sign(owner))["address"][2:])
    pending = [
        client.call("submit_transaction", tx=_hex(_transfer(setup, owner, key.address, PER_SENDER, DEPLOY_GAS)))
        for key in senders
    ]
    for result in pending:
        receipt = result["receipt"] or _wait_receipt(client, result["tx_hash"])
        if receipt["status"] != "ok":
            raise RuntimeError(f"setup transfer failed: {receipt}")
    simulated = client.call(
        "simulate",
        **{"from": format_address(senders[0].address)},
        to=format_address(setup.token),
        method="transfer",
        args={"to": "0x" + "ee" * 20, "amount": 1},
    )
    if simulated["status"] != "ok":
        raise RuntimeError(f"a simulated transfer failed: {simulated}")
    setup.gas_limit = 2 * simulated["gas_used"]
    return setup


def token_balance(client: Client, token: bytes, owner: bytes) -> int:
    result = client.call(
        "view", contract=format_address(token), method="balance_of", args={"owner": format_address(owner)}
    )
    if result["status"] != "ok":
        raise RuntimeError(f"balance_of failed: {result}")
    return result["result"]  # type: ignore[no-any-return]


def native_balance(client: Client, address: bytes) -> int:
    return client.call("get_balance", address=format_address(address))["balance"]  # type: ignore[no-any-return]


# -- latency -----------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def run_latency(url: str, setup: Setup, count: int) -> dict[str, Any]:
    owner = dev_key(0)
    to = recipients()
    requests = [
        encode_request(
            url,
            {
                "jsonrpc": "2.0",
                "id": index,
                "method": "submit_transaction",
                "params": {"tx": _hex(_transfer(setup, owner, to[index % len(to)], 1))},
            },
        )
        for index in range(count)
    ]
    times = []
    connection = Connection(url)
    try:
        for request in requests:
            start = time.perf_counter()
            reply = connection.exchange(request)
            times.append(time.perf_counter() - start)
            result = reply["result"]
            if result["status"] != "included" or result["receipt"]["status"] != "ok":
                raise RuntimeError(f"latency transfer not included and ok: {reply}")
    finally:
        connection.close()
    times.sort()
    figures = {
        "count": count,
        **{
            name: round(percentile(times, fraction) * 1000, 3)
            for name, fraction in (("p50_ms", 0.50), ("p90_ms", 0.90), ("p99_ms", 0.99))
        },
        "max_ms": round(times[-1] * 1000, 3),
        "mean_ms": round(sum(times) / count * 1000, 3),
    }
    say(
        f"latency (instant mining, submit to receipt, {count} sequential transfers): "
        f"p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"max {figures['max_ms']} ms"
    )
    return figures


# -- throughput --------------------------------------------------------------------------


@dataclass
class Sender:
    """One client thread: its key, its pre-encoded requests and what happened to them."""

    key: KeyPair
    transactions: list[SignedTransaction]
    requests: list[bytes] = field(default_factory=list)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """tx hash -> receipt."""
    first_submit: float = 0.0
    last_receipt: float = 0.0
    error: BaseException | None = None


def _instant_worker(url: str, sender: Sender, barrier: threading.Barrier) -> None:
    connection = None
    try:
        connection = Connection(url)
        barrier.wait()
        sender.first_submit = time.perf_counter()
        for request in sender.requests:
            reply = connection.exchange(request)
            for item in reply if isinstance(reply, list) else [reply]:
                result = item.get("result")
                if result is None or result["status"] != "included":
                    raise RuntimeError(f"a transfer was not included at once: {item}")
                sender.receipts[result["tx_hash"]] = result["receipt"]
        sender.last_receipt = time.perf_counter()
    except BaseException as error:
        sender.error = error
        barrier.abort()  # nobody waits for a thread that failed before the start
    finally:
        if connection is not None:
            connection.close()


def _interval_worker(url: str, sender: Sender, barrier: threading.Barrier, window: int, pause: float) -> None:
    """Submit while fewer than ``window`` are in flight; else poll their receipts in one batch."""
    connection = None
    in_flight: list[str] = []
    try:
        connection = Connection(url)
        barrier.wait()
        sender.first_submit = progress = time.perf_counter()
        position = 0
        while position < len(sender.requests) or in_flight:
            if position < len(sender.requests) and len(in_flight) < window:
                reply = connection.exchange(sender.requests[position])
                result = reply.get("result")
                if result is None:
                    raise RuntimeError(f"a transfer was refused: {reply}")
                in_flight.append(result["tx_hash"])
                position += 1
                continue
            replies = connection.exchange(
                encode_request(
                    url,
                    [
                        {"jsonrpc": "2.0", "id": index, "method": "get_receipt", "params": {"hash": tx_hash}}
                        for index, tx_hash in enumerate(in_flight)
                    ],
                )
            )
            for reply in replies:
                if "error" in reply:
                    raise RuntimeError(f"a transfer failed: {reply}")
            found = {reply["id"]: reply["result"] for reply in replies}
            now = time.perf_counter()
            still = []
            for index, tx_hash in enumerate(in_flight):
                if found.get(index) is None:
                    still.append(tx_hash)
                else:
                    sender.receipts[tx_hash] = found[index]
                    sender.last_receipt = progress = now
            if len(still) == len(in_flight):
                if now - progress > STALL_TIMEOUT:
                    raise RuntimeError(f"no receipt for {STALL_TIMEOUT} s: {len(still)} transfers still pending")
                time.sleep(pause)  # nothing new in a block yet
            in_flight = still
    except BaseException as error:
        sender.error = error
        barrier.abort()
    finally:
        if connection is not None:
            connection.close()


def run_throughput(
    url: str,
    setup: Setup,
    senders: list[KeyPair],
    count: int,
    *,
    label: str,
    batch: int = 1,
    interval: float | None = None,
    node_pid: int | None = None,
) -> dict[str, Any]:
    """Each sender's thread submits ``count`` transfers; checks every receipt and the balances after."""
    client = setup.client
    to = recipients()
    work = []
    for key in senders:
        transactions = [_transfer(setup, key, to[index % len(to)], 1 + index % 5) for index in range(count)]
        work.append(Sender(key, transactions))
    tokens_before = {
        address: token_balance(client, setup.token, address)
        for address in [*(sender.key.address for sender in work), *to]
    }
    native_before = {sender.key.address: native_balance(client, sender.key.address) for sender in work}
    for sender in work:  # encode every request now: the timed loop only sends and reads
        calls = [
            {"jsonrpc": "2.0", "id": index, "method": "submit_transaction", "params": {"tx": _hex(signed)}}
            for index, signed in enumerate(sender.transactions)
        ]
        size = batch if interval is None else 1
        sender.requests = [
            encode_request(url, calls[start : start + size] if size > 1 else calls[start])
            for start in range(0, len(calls), size)
        ]

    barrier = threading.Barrier(len(work) + 1)
    if interval is None:
        threads = [threading.Thread(target=_instant_worker, args=(url, sender, barrier)) for sender in work]
    else:
        threads = [
            threading.Thread(target=_interval_worker, args=(url, sender, barrier, WINDOW, interval / 10))
            for sender in work
        ]
    for thread in threads:
        thread.start()
    server_cpu = node_cpu(node_pid) if node_pid is not None else None
    client_cpu = time.process_time()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass  # a thread failed before the start: it says why below
    for thread in threads:
        thread.join()
    client_cpu = time.process_time() - client_cpu
    if node_pid is not None and server_cpu is not None:
        after = node_cpu(node_pid)
        server_cpu = (
            None if after is None else (after[0] - server_cpu[0], after[1] - server_cpu[1], after[2] - server_cpu[2])
        )
    for sender in work:
        if sender.error is not None:
            raise RuntimeError(f"the thread of {format_address(sender.key.address)} failed") from sender.error

    total = count * len(work)
    elapsed = max(sender.last_receipt for sender in work) - min(sender.first_submit for sender in work)
    _check(client, setup, work, tokens_before, native_before)
    figures: dict[str, Any] = {
        "tx_per_s": round(total / elapsed, 1),
        "transactions": total,
        "seconds": round(elapsed, 3),
        "threads": len(work),
        "batch": batch if interval is None else 1,
        "mining": "instant" if interval is None else {"block_time": interval},
        "client_cpu_ms_per_tx": round(client_cpu / total * 1000, 3),
    }
    cpu = ""
    if server_cpu is not None:
        figures["node_cpu_ms_per_tx"] = round(server_cpu[0] / total * 1000, 3)
        figures["node_main_thread_ms_per_tx"] = round(server_cpu[1] / total * 1000, 3)
        figures["node_main_thread_sys_ms_per_tx"] = round(server_cpu[2] / total * 1000, 3)
        figures["node_main_thread_busy"] = round(server_cpu[1] / elapsed, 2)
        cpu = (
            f"; node CPU {figures['node_cpu_ms_per_tx']} ms/tx, its event-loop thread "
            f"{figures['node_main_thread_ms_per_tx']} ms/tx (busy {figures['node_main_thread_busy']:.0%}; "
            f"in the kernel {figures['node_main_thread_sys_ms_per_tx']} ms/tx)"
        )
    say(
        f"throughput ({label}): {figures['tx_per_s']} tx/s, {total} transfers from {len(work)} threads in "
        f"{figures['seconds']} s, all receipts ok, balances exact{cpu}; "
        f"client CPU {figures['client_cpu_ms_per_tx']} ms/tx"
    )
    return figures


def _check(
    client: Client, setup: Setup, work: list[Sender], tokens_before: dict[bytes, int], native_before: dict[bytes, int]
) -> None:
    """Every receipt ok, and every balance moved by exactly what the transfers and their fees say."""
    expected = dict(tokens_before)
    for sender in work:
        fees = 0
        for signed in sender.transactions:
            receipt = sender.receipts.get("0x" + signed.hash.hex())
            if receipt is None or receipt["status"] != "ok":
                raise RuntimeError(f"transfer 0x{signed.hash.hex()} has receipt {receipt}")
            fees += receipt["gas_used"] * signed.tx.gas_price
            args = msgpack.unpackb(signed.tx.args)
            expected[sender.key.address] -= args["amount"]
            expected[args["to"]] += args["amount"]
        native = native_balance(client, sender.key.address)
        if native != native_before[sender.key.address] - fees:
            raise RuntimeError(
                f"{format_address(sender.key.address)} holds {native} native tokens, "
                f"expected {native_before[sender.key.address] - fees}"
            )
    for address, amount in expected.items():
        found = token_balance(client, setup.token, address)
        if found != amount:
            raise RuntimeError(f"{format_address(address)} holds {found} tokens, expected {amount}")


# -- the phases ------------------------------------------------------------------------------


def instant_phases(url: str, options: argparse.Namespace, node_pid: int | None) -> dict[str, Any]:
    senders = [dev_key(index) for index in range(1, options.threads + 1)]
    setup = set_up(url, senders)
    say(f"instant mining at {url}: token at {format_address(setup.token)}, transfer gas limit {setup.gas_limit}")
    results: dict[str, Any] = {"latency": run_latency(url, setup, options.latency_count)}
    results["throughput"] = run_throughput(
        url, setup, senders, options.transactions, label="instant mining", node_pid=node_pid
    )
    if options.batch > 1:
        results["throughput_batch"] = run_throughput(
            url,
            setup,
            senders,
            options.transactions,
            batch=options.batch,
            node_pid=node_pid,
            label=f"instant mining, JSON-RPC batches of {options.batch} submits",
        )
    return results


def interval_phases(url: str, options: argparse.Namespace, block_time: float, node_pid: int | None) -> dict[str, Any]:
    senders = [dev_key(index) for index in range(1, options.threads + 1)]
    setup = set_up(url, senders)
    say(f"interval mining ({block_time:g} s blocks) at {url}: token at {format_address(setup.token)}")
    figures = run_throughput(
        url,
        setup,
        senders,
        options.transactions,
        interval=block_time,
        node_pid=node_pid,
        label=f"--block-time {block_time:g}: blocks pack many; receipts polled, at most {WINDOW} in flight per sender",
    )
    return {"throughput_block_time": figures}


@contextmanager
def own_devnet(block_time: float | None) -> Iterator[Devnet]:
    devnet = Devnet(block_time)
    try:
        yield devnet
    finally:
        devnet.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running node (default: start devnets of our own)")
    parser.add_argument("--pid", type=int, help="with --url: the node's process id, to report its CPU time")
    parser.add_argument(
        "--latency-count", type=int, default=500, help="sequential transfers timed (default %(default)s)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=4,
        help=f"client threads, one sender each (1..{DEV_ACCOUNTS - 1}, default %(default)s)",
    )
    parser.add_argument("--transactions", type=int, default=1000, help="transfers per thread (default %(default)s)")
    parser.add_argument(
        "--batch",
        type=int,
        default=10,
        help="submits per JSON-RPC batch request; 1 skips that run (default %(default)s)",
    )
    parser.add_argument(
        "--block-time",
        type=float,
        default=0.1,
        help="block time of the second devnet; 0 skips it (default %(default)s s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="200 latency samples and 250 transfers per thread (make bench)"
    )
    parser.add_argument("--json-only", action="store_true", help="print the JSON line only")
    options = parser.parse_args(argv)
    if options.quick:
        options.latency_count = min(options.latency_count, 200)
        options.transactions = min(options.transactions, 250)
    if not 1 <= options.threads < DEV_ACCOUNTS:
        parser.error(f"--threads must be 1 to {DEV_ACCOUNTS - 1}: each thread sends from its own dev account")
    if min(options.latency_count, options.transactions, options.batch) < 1 or options.block_time < 0:
        parser.error("--latency-count, --transactions and --batch must be at least 1, --block-time not negative")
    try:
        return run(options)
    except (RPCClientError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run(options: argparse.Namespace) -> int:
    set_quiet(options.json_only)
    busy = busy_share()
    shown = shown_share(busy)
    say(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, CPUs busy before the start: {shown}; every "
        "transaction is signed and every request encoded before timing (client signing is not counted)"
    )
    if busy is not None and busy > 0.1:
        say(
            "warning: other work is running: the node and the client threads share the CPUs with it, "
            "so the figures will be low"
        )

    results: dict[str, Any] = {}
    if options.url:
        mining = Client.connect(options.url).call("chain_info")["mining"]
        if mining == "instant":
            results.update(instant_phases(options.url, options, options.pid))
        else:
            results.update(interval_phases(options.url, options, mining["block_time"], options.pid))
    else:
        with own_devnet(None) as devnet:
            results.update(instant_phases(devnet.url, options, devnet.process.pid))
        if options.block_time > 0:
            with own_devnet(options.block_time) as devnet:
                results.update(interval_phases(devnet.url, options, options.block_time, devnet.process.pid))

    summary: dict[str, Any] = {
        "bench": "rpc",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "cpus_busy_before": None if busy is None else round(busy, 2),
        "presigned": True,
    }
    met: dict[str, bool] = {}
    if "latency" in results:
        summary["latency_p50_ms"] = results["latency"]["p50_ms"]
        met["latency_p50"] = results["latency"]["p50_ms"] <= TARGET_P50_MS
    for name, figures in results.items():
        if name.startswith("throughput"):
            summary[name + "_tx_per_s"] = figures["tx_per_s"]
            met[name] = figures["tx_per_s"] >= TARGET_TX_PER_S
    summary["targets"] = {"latency_p50_ms": TARGET_P50_MS, "tx_per_s": TARGET_TX_PER_S}
    summary["targets_met"] = met
    summary.update(results)
    summary["params"] = {
        "url": options.url,
        "latency_count": options.latency_count,
        "threads": options.threads,
        "transactions_per_thread": options.transactions,
        "batch": options.batch,
        "block_time": options.block_time if not options.url else None,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
