"""Crash safety: a producer killed with SIGKILL at any instant leaves a whole, valid chain.

``crash_worker`` produces reproducible blocks into a LevelDB directory; the
test kills it at seeded random points (during start-up, right as a block's
write begins, between blocks), then reopens the directory and checks:

- the head is at least the last block the worker reported written, and at
  most the last one it started writing;
- every block 1..head is stored, with its receipts and its indexes, and the
  stored state is exactly the head's (its Merkle root, from scratch);
- every stored block is the one the reproducible history says (the
  restarted worker neither skipped nor repeated anything), and re-applying
  the stored blocks from genesis in a fresh in-memory chain (``apply_block``,
  which re-executes and validates each) reaches the stored head's state root.

Then the worker is restarted and must carry on from that head.  While it
runs, a second opener gets ``DatabaseLocked`` pointing at ``--rpc``.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.chain.crash_worker import GENESIS_PATH, ROOT, next_block
from wasmchain.protocol.blocks import Block
from wasmchain.protocol.errors import GenesisError
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import DatabaseLocked, DatabaseMissing, LevelDBKV, MemoryKV

KILLS = 15
SEED = 20261123
UNTIL = 10**6
"""The worker's own stop height while it is being killed: out of reach, so only the test stops it."""
LINE_TIMEOUT = 60.0
"""Seconds to wait for the worker's next line before calling it hung."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def merkle_root(items: list[bytes]) -> bytes:
    """RFC 6962, from its definition."""
    if not items:
        return sha256(b"")
    if len(items) == 1:
        return sha256(b"\x00" + items[0])
    split = 1
    while split * 2 < len(items):
        split *= 2
    return sha256(b"\x01" + merkle_root(items[:split]) + merkle_root(items[split:]))


def reference_state_root(entries: dict[bytes, bytes]) -> bytes:
    """The sparse Merkle root of ``{state_key: value}``, from the definition in ``smt.py``."""

    def bit(path: bytes, depth: int) -> int:
        return (path[depth // 8] >> (7 - depth % 8)) & 1

    def subtree(leaves: dict[bytes, bytes], depth: int) -> bytes:
        if len(leaves) <= 1:
            return sha256(b"\x00" + b"".join(leaves.popitem())) if leaves else bytes(32)
        left = {p: v for p, v in leaves.items() if bit(p, depth) == 0}
        right = {p: v for p, v in leaves.items() if bit(p, depth) == 1}
        return sha256(b"\x01" + subtree(left, depth + 1) + subtree(right, depth + 1))

    return subtree({sha256(key): sha256(value) for key, value in entries.items()}, 0)


class Worker:
    """The worker process, with its stdout lines arriving on a queue."""

    def __init__(self, data_dir: Path, until: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.chain.crash_worker", str(data_dir), "--until", str(until)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.opened: int | None = None
        self.started: int | None = None
        """The last block whose write began (``commit``)."""
        self.done: int | None = None
        """The last block whose write returned (``done``)."""

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_event(self) -> tuple[str, int | None]:
        try:
            line = self.lines.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"the worker printed nothing for {LINE_TIMEOUT} s") from None
        if line is None:
            self.process.wait()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the worker exited ({self.process.returncode}) unexpectedly:\n{stderr}")
        return self._record(line)

    def _record(self, line: str) -> tuple[str, int | None]:
        if not line.endswith("\n"):  # cut short by the kill: not reported
            return "", None
        word, *number = line.split()
        height = int(number[0]) if number else None
        if word == "open":
            self.opened = height
        elif word == "commit":
            assert height == (self.started or self.opened or 0) + 1, f"the worker skipped to block {height}"
            self.started = height
        elif word == "done":
            assert height == self.started, line
            self.done = height
        return word, height

    def wait_for(self, word: str, count: int = 1) -> None:
        for _ in range(count):
            while self.next_event()[0] != word:
                pass

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.reader.join(timeout=LINE_TIMEOUT)
        while (line := self.lines.get_nowait()) is not None:  # lines printed before the signal landed count
            self._record(line)
        self.close()

    def close(self) -> None:
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class Expected:
    """The reproducible history, produced in memory, and a validating replay of what was stored."""

    def __init__(self) -> None:
        genesis = load_genesis(GENESIS_PATH)
        self.reference = Chain.create(MemoryKV(), genesis)
        self.blocks: list[bytes] = []
        """``encode()`` of the reference block at each height, from 1."""
        self.replay = Chain.create(MemoryKV(), genesis)
        """Stored blocks re-applied from genesis; ``replay.head`` is the last one applied."""

    def block(self, height: int) -> bytes:
        while len(self.blocks) < height:
            transactions, timestamp = next_block(self.reference)
            block, _ = self.reference.produce(transactions, timestamp)
            self.blocks.append(block.encode())
        return self.blocks[height - 1]

    def check(self, chain: Chain) -> None:
        head = chain.head.height
        for height in range(1, head + 1):
            block = chain.block(height)
            assert block.encode() == self.block(height), f"block {height} is not the reproducible one"
            receipts = chain.receipts(height)
            assert len(receipts) == len(block.transactions)
            assert merkle_root([sha256(receipt.encode()) for receipt in receipts]) == block.header.receipts_root
            assert chain.block_by_hash(block.hash).height == height
            for index, tx in enumerate(block.transactions):
                located, at, receipt = chain.transaction(tx.hash)
                assert (located.height, at, receipt) == (height, index, receipts[index])
            if height > self.replay.head.height:
                # Blocks below were applied after an earlier kill and are byte-identical
                # (checked above), so applying only the new ones is a replay from genesis.
                applied = self.replay.apply_block(Block.decode(block.encode()))
                assert list(applied) == receipts
        assert self.replay.head.height == head
        stored = {key[1:]: value for key, value in chain.kv.iterate(b"S")}
        assert reference_state_root(stored) == chain.head.state_root, "the stored state is not the head's"
        assert self.replay.head.state_root == chain.head.state_root
        assert chain.head == chain.block(head).header


def reopen_and_check(data_dir: Path, worker: Worker, previous: int, expected: Expected) -> int:
    """The head after the worker stopped; -1 if no run has written the genesis block yet."""
    try:
        kv = LevelDBKV(data_dir, create=False)
    except DatabaseMissing:
        assert previous == -1 and worker.opened is None, "the chain was written, yet there is no database"
        return -1
    try:
        try:
            chain = Chain.load(kv)
        except GenesisError:
            assert previous == -1 and worker.opened is None, "the chain was written, yet it is gone"
            return -1
        head = chain.head.height
        reported = max(previous, worker.opened or 0, worker.done or 0)
        begun = max(previous, worker.opened or 0, worker.started or 0)
        assert reported <= head <= begun, f"head {head}: block {reported} was reported written, {begun} begun"
        expected.check(chain)
        return head
    finally:
        kv.close()


def assert_locked(data_dir: Path) -> None:
    with pytest.raises(DatabaseLocked) as locked:
        LevelDBKV(data_dir, create=False)
    assert "--rpc" in str(locked.value)


def test_a_producer_killed_at_random_points_leaves_a_whole_chain_and_resumes(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    expected = Expected()
    head = -1
    kills_by_moment: dict[str, int] = {}
    worker: Worker | None = None
    try:
        for kill in range(KILLS):
            worker = Worker(data_dir, UNTIL)
            moment = "start-up" if kill % 5 == 0 else rng.choice(["commit", "commit", "between blocks"])
            kills_by_moment[moment] = kills_by_moment.get(moment, 0) + 1
            if moment == "start-up":
                # Importing, opening LevelDB, loading the chain or (the first time) writing genesis.
                time.sleep(rng.uniform(0.1, 0.25) if kill == 0 else rng.choice([0.0, rng.uniform(0.05, 0.4)]))
            else:
                worker.wait_for("open")
                assert worker.opened == max(head, 0), "the worker did not resume from the stored head"
                if kill % 3 == 0:
                    assert_locked(data_dir)
                if moment == "commit":
                    worker.wait_for("commit", rng.randint(1, 4))  # the block's one write begins now
                    time.sleep(rng.choice([0.0, 0.0, 0.0005, 0.002]))
                else:
                    worker.wait_for("done", rng.randint(1, 6))
                    time.sleep(rng.uniform(0.0, 0.02))
            worker.kill()
            head = reopen_and_check(data_dir, worker, head, expected)
            worker = None

        # A last, undisturbed run carries on to a fixed height and stops by itself.
        final = max(head, 0) + 5
        worker = Worker(data_dir, final)
        worker.wait_for("stop")
        assert worker.process.wait(timeout=LINE_TIMEOUT) == 0
        assert worker.opened == max(head, 0) and worker.done == final
        worker.close()
        assert reopen_and_check(data_dir, worker, head, expected) == final
        worker = None
    finally:
        if worker is not None and worker.process.poll() is None:
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
    assert kills_by_moment["commit"] >= 3 and final > 20, (kills_by_moment, final)
    statuses = {receipt.status for height in range(1, final + 1) for receipt in expected.reference.receipts(height)}
    assert statuses == {"ok", "abort"}, "the history should include failed transactions"
