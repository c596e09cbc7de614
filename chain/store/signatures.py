"""Signature checks in worker processes, ahead of the transactions' execution.

Ed25519 verification (~130-190 µs) is the part of a transaction's
validation that needs nothing but the transaction, so a block's
signatures can be checked on other cores while the executing thread runs
the transactions before them.  Threads do not help: ``cryptography``
releases the GIL while it verifies, but wasmtime-py's ctypes calls take
and release it dozens of times per contract call, and the two threads
spend the gain passing it back and forth (measured in issue 5).  Worker
processes have GILs of their own.

``SignatureWorkers.check_ahead`` sends the transactions whose verdict is
not known yet to the workers in chunks and gives each transaction a
pending verdict; ``SignedTransaction.signature_valid`` waits for it when
execution reaches that transaction.  A verdict is a pure function of the
public key, the signature and the signed bytes, so it is the same whether
a worker or the executing thread computes it.  If a worker fails (killed,
out of memory), the transactions it had are verified on the spot and a
new worker is started for later blocks.  Nothing about a block's result
can therefore depend on the workers: they only move work to other cores.

A worker is ``python -I -m wasmchain.store.signatures`` with a pipe each way, not a
``multiprocessing`` pool: a spawned pool re-imports the parent's main
script in each child, which breaks any script without an
``if __name__ == "__main__"`` guard.  The protocol: the parent writes
frames of a u32 big-endian length and a msgpack array of ``[public key,
signature, message]``; the worker answers each frame, in order, with a
frame holding an array of booleans.  The worker imports ``wasmchain.protocol.keys``
(``cryptography``) and nothing of wasmtime; it exits when its input closes.
"""

from __future__ import annotations

import atexit
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

import msgpack

from wasmchain.protocol.keys import verify_signature

if TYPE_CHECKING:
    from wasmchain.protocol.transactions import SignedTransaction

CHUNK = 32
"""Transactions per frame sent to a worker: a round trip costs tens of µs, a verification ~150 µs."""

MIN_TRANSACTIONS = 32
"""Fewer unverified transactions than this are left to the executing thread: not worth the round trips."""

MAX_WORKERS = 4

_FRAME = struct.Struct(">I")


def default_workers() -> int:
    """One worker per core but the executing one's, at most ``MAX_WORKERS``; 0 on one core."""
    return max(0, min(MAX_WORKERS, (os.cpu_count() or 1) - 1))


def _verify_inline(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    return [verify_signature(public_key, signature, message) for public_key, signature, message in items]


class _Chunk:
    """One frame sent to a worker, and its verdicts once read."""

    __slots__ = ("worker", "items", "verdicts")

    def __init__(self, worker: _Worker, items: list[tuple[bytes, bytes, bytes]]) -> None:
        self.worker = worker
        self.items = items
        self.verdicts: list[bool] | None = None

    def verdict(self, offset: int) -> bool:
        if self.verdicts is None:
            started = time.perf_counter()
            self.worker.wait_for(self)
            self.worker.waited += time.perf_counter() - started
        assert self.verdicts is not None
        return self.verdicts[offset]


class _Verdict:
    """A pending verdict on one transaction's signature (``SignedTransaction.expect_signature_verdict``)."""

    __slots__ = ("_chunk", "_offset")

    def __init__(self, chunk: _Chunk, offset: int) -> None:
        self._chunk = chunk
        self._offset = offset

    def __call__(self) -> bool:
        return self._chunk.verdict(self._offset)


class _Worker:
    """One worker process, the frames sent to it not yet answered, and a thread that writes to it."""

    def __init__(self) -> None:
        # Isolated mode (``-I``): neither the working directory nor ``PYTHONPATH`` is on the worker's path,
        # so it imports the installed ``wasmchain``, never a package that happens to sit where the node runs.
        # Unbuffered, so that ``select`` on the pipe sees every answer not yet read.
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "wasmchain.store.signatures"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            bufsize=0,
        )
        self.sent: deque[_Chunk] = deque()
        self.alive = True
        self.waited = 0.0
        """Seconds callers spent waiting for this worker's verdicts (read by benchmarks)."""
        self._lock = threading.Lock()
        # Frames are written by a thread of their own: a block's frames can exceed the pipe's buffer,
        # and the executing thread must not wait for the worker to read them.
        self._outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_frames, name="wasmchain-signature-writer", daemon=True)
        self._writer.start()

    def send(self, chunk: _Chunk) -> None:
        payload = msgpack.packb(chunk.items, use_bin_type=True)
        with self._lock:  # frames go out in the order of ``sent``, whichever thread sends
            self.sent.append(chunk)
            self._outgoing.put(_FRAME.pack(len(payload)) + payload)

    def _write_frames(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (frame := self._outgoing.get()) is not None:
                stdin.write(frame)
                stdin.flush()
        except (OSError, ValueError):
            self.alive = False
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def wait_for(self, chunk: _Chunk) -> None:
        """Read answers, in order, until ``chunk`` has its verdicts; if the worker fails, verify here."""
        with self._lock:
            while chunk.verdicts is None:
                if not self.alive or not self.sent:
                    chunk.verdicts = _verify_inline(chunk.items)
                    break
                verdicts = self._read_frame()
                head = self.sent.popleft()
                if verdicts is None or len(verdicts) != len(head.items):
                    self.alive = False  # dead, hung or garbled: this chunk and the rest are verified here
                    head.verdicts = _verify_inline(head.items)
                else:
                    head.verdicts = verdicts

    def _read_frame(self) -> list[bool] | None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            header = _read_exactly(stdout, _FRAME.size, ANSWER_TIMEOUT)
            if header is None:
                return None
            body = _read_exactly(stdout, _FRAME.unpack(header)[0], ANSWER_TIMEOUT)
            verdicts = None if body is None else msgpack.unpackb(body)
        except (OSError, ValueError):
            return None
        if not isinstance(verdicts, list) or not all(isinstance(verdict, bool) for verdict in verdicts):
            return None
        return verdicts

    def stop(self) -> None:
        """End the process and close the pipes: its answers are closed first (a worker blocked writing
        answers nobody reads then fails at once), then its input; killed if it does not exit."""
        self.alive = False
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._outgoing.put(None)
        self._writer.join(timeout=2)
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


ANSWER_TIMEOUT = 30.0
"""Seconds a worker may take to answer (a chunk takes ~5 ms): a worker silent for longer is taken for hung,
stopped, and its transactions verified by the waiting thread."""


def _read_exactly(stream: IO[bytes], size: int, timeout: float | None = None) -> bytes | None:
    """``size`` bytes, or ``None`` at the end of the stream or after ``timeout`` seconds without data."""
    data = b""
    while len(data) < size:
        if timeout is not None and not select.select([stream], [], [], timeout)[0]:
            return None
        more = stream.read(size - len(data))
        if not more:
            return None
        data += more
    return data


class SignatureWorkers:
    """Worker processes that verify transaction signatures; started on first use."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else workers
        self._pool: list[_Worker] = []
        self._next = 0
        self._lock = threading.Lock()

    def check_ahead(self, transactions: Sequence[SignedTransaction]) -> int:
        """Start verifying the signatures of ``transactions`` not yet known; return how many were sent.

        Nothing is sent without workers, or for fewer than ``MIN_TRANSACTIONS``
        transactions still unverified: ``signature_valid`` then verifies inline.
        """
        todo = [signed for signed in transactions if not signed.signature_known()]
        if self.workers <= 0 or len(todo) < MIN_TRANSACTIONS:
            return 0
        with self._lock:
            if not self._start_workers():
                return 0
            for start in range(0, len(todo), CHUNK):
                batch = todo[start : start + CHUNK]
                worker = self._pool[self._next % len(self._pool)]
                self._next += 1
                chunk = _Chunk(worker, [(s.tx.public_key, s.signature, s.tx.signing_bytes()) for s in batch])
                worker.send(chunk)
                for offset, signed in enumerate(batch):
                    signed.expect_signature_verdict(_Verdict(chunk, offset))
        return len(todo)

    def _start_workers(self) -> list[_Worker]:
        """Replace failed workers and start missing ones (the caller holds the lock)."""
        for worker in self._pool:
            if not worker.alive:
                worker.stop()
        self._pool = [worker for worker in self._pool if worker.alive]
        while len(self._pool) < self.workers:
            try:
                self._pool.append(_Worker())
            except (OSError, RuntimeError):  # no process or thread to be had now: verify inline meanwhile
                break
        return list(self._pool)

    def warm_up(self) -> None:
        """Start the workers now, and wait until each has answered once (a benchmark does this untimed)."""
        if self.workers <= 0:
            return
        with self._lock:
            pool = self._start_workers()
        for worker in pool:
            chunk = _Chunk(worker, [(bytes(32), bytes(64), b"")])
            worker.send(chunk)
            chunk.verdict(0)
            worker.waited = 0.0

    def take_wait_seconds(self) -> float:
        """Seconds spent waiting for verdicts since the last call."""
        with self._lock:
            waited = sum(worker.waited for worker in self._pool)
            for worker in self._pool:
                worker.waited = 0.0
        return waited

    def close(self) -> None:
        """Stop the workers (a later ``check_ahead`` starts new ones)."""
        with self._lock:
            pool, self._pool = self._pool, []
        for worker in pool:
            worker.stop()


_shared: SignatureWorkers | None = None
_shared_lock = threading.Lock()


def shared_workers() -> SignatureWorkers:
    """The process's workers (``default_workers()`` of them), shared by every chain that uses them."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SignatureWorkers()
            atexit.register(_shared.close)  # end the workers with the process, their pipes closed
        return _shared


def _serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """A worker's loop: answer each frame until the input closes."""
    while (header := _read_exactly(source, _FRAME.size)) is not None:
        body = _read_exactly(source, _FRAME.unpack(header)[0])
        if body is None:
            return
        answer = msgpack.packb(_verify_inline([tuple(item) for item in msgpack.unpackb(body)]))
        sink.write(_FRAME.pack(len(answer)) + answer)
        sink.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
