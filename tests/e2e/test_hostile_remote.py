"""``wasmchain follow`` against a hostile remote: a real follower process, and a small HTTP server in
this test that gives a true genesis and then answers every page with something hostile:

- JSON nested 100,000 deep (a ``RecursionError`` in the transport, before);
- an ``"error"`` that is not an object (an ``AttributeError``, before);
- 200 MB, announced with ``Content-Length`` or streamed until the connection closes (read whole
  into memory and fetched again every poll, before: 2.4 GB);
- 100,000 bytes promised and one sent every 2 s (silent at height 0 forever, and deaf to SIGINT,
  before).

For each, the follower says what is wrong, retries, keeps its memory bounded, and ends within 2 s of
SIGINT (exit 0, ``stopped at height 0``); left alone, it gives up after ``BAD_ANSWERS`` answers in a
row with the message (exit 1).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.devnet import GENESIS, STOP_TIMEOUT, Devnet, start_listening, wait_for
from wasmchain.history.follow import BAD_ANSWERS, genesis_hash
from wasmchain.store.genesis_file import load_genesis

HOSTILE = 200_000_000
"""Bytes of the oversized answers."""
PROMISED = 100_000
"""Bytes the drip promises."""
DRIP = 2.0
"""Seconds between two bytes of the drip."""
SIGINT_EXIT = 2.0
"""Seconds the follower may take to exit after SIGINT."""
MEMORY = 96 * 2**20
"""Bytes the follower's peak RSS may grow past its size when it listens (the default answer limit is 64 MiB)."""

_GENESIS = load_genesis(GENESIS)
_GENESIS_ANSWER = {"genesis_hash": "0x" + genesis_hash(_GENESIS).hex(), "document": json.loads(_GENESIS.document)}


class Hostile:
    """An HTTP server on 127.0.0.1: a true ``get_genesis``, and every batch (a follower's page) answered by ``mode``."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.pages = 0
        """Pages asked for so far."""
        self.dripping = threading.Event()
        """Set once a drip has sent its first byte."""
        self.closing = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def close(self) -> None:
        self.closing.set()
        for thread in self.threads:
            thread.join(STOP_TIMEOUT)
        self.listener.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            try:
                while not self.closing.is_set():
                    request = _read_request(reader)
                    if request is None:
                        return
                    if isinstance(request, dict):  # get_genesis
                        _send(connection, {"jsonrpc": "2.0", "id": request["id"], "result": _GENESIS_ANSWER})
                        continue
                    self.pages += 1
                    if not self._hostile(connection, [call["id"] for call in request]):
                        return
            except OSError:
                return  # the follower hung up: what it should do

    def _hostile(self, connection: socket.socket, ids: list[int]) -> bool:
        """Answer a page as ``mode`` says; whether the connection stays open."""
        if self.mode == "nested":
            _send(connection, None, b"[" * 100_000 + b"]" * 100_000)
            return True
        if self.mode == "error_not_object":
            _send(connection, [{"jsonrpc": "2.0", "id": id, "error": "the remote is hostile"} for id in ids])
            return True
        if self.mode in ("large_announced", "large_streamed"):
            length = f"Content-Length: {HOSTILE}" if self.mode == "large_announced" else "Connection: close"
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n\r\n".encode())
            chunk = b"[" * 2**20
            for _ in range(HOSTILE // len(chunk)):
                if self.closing.is_set():
                    break
                connection.sendall(chunk)
            return False
        assert self.mode == "drip"
        connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {PROMISED}\r\n\r\n".encode())
        for _ in range(PROMISED):
            connection.sendall(b"[")
            self.dripping.set()
            if self.closing.wait(DRIP):
                break
        return False


def _read_request(reader: object) -> object:
    """One HTTP request's JSON body; ``None`` when the client closed the connection."""
    assert hasattr(reader, "readline") and hasattr(reader, "read")
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if line == b"":
        return None
    return json.loads(reader.read(length))


def _send(connection: socket.socket, answer: object, body: bytes | None = None) -> None:
    body = json.dumps(answer).encode() if body is None else body
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    connection.sendall(head.encode() + body)


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[Hostile]:
    server = Hostile(request.param)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def follower_started(tmp_path: Path) -> Iterator[list[Devnet]]:
    started: list[Devnet] = []
    try:
        yield started
    finally:
        for follower in started:
            follower.kill()


def start(started: list[Devnet], data: Path, url: str, *options: str) -> Devnet:
    follower = start_listening(
        ["follow", "--rpc", url, "--data", str(data), "--port", "0", "--poll", "0.05", *options], data
    )
    started.append(follower)
    return follower


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


MESSAGES = {
    "nested": "answered with JSON nested too deep to read (HTTP 200)",
    "error_not_object": 'answered an error that is not an object: "the remote is hostile"',
    "large_announced": f"is over the limit of {64 * 2**20:,} bytes (it announced {HOSTILE:,})",
    "large_streamed": f"is over the limit of {64 * 2**20:,} bytes (it sent more)",
}


@pytest.mark.slow
@pytest.mark.parametrize("hostile", [*MESSAGES, "drip"], indirect=True)
def test_a_follower_of_a_hostile_remote_says_what_is_wrong_stays_small_and_stops_on_sigint(
    hostile: Hostile, follower_started: list[Devnet], tmp_path: Path
) -> None:
    follower = start(follower_started, tmp_path / "follower", hostile.url)
    listening = peak_rss(follower.process.pid)
    peak = listening
    if hostile.mode == "drip":  # a call in flight that never ends (the default --timeout is 10 s)
        wait_for("the drip to start", hostile.dripping.is_set, timeout=STOP_TIMEOUT)
    else:  # an answer refused, and asked for again
        message = MESSAGES[hostile.mode]

        def retried() -> bool:
            nonlocal peak
            peak = max(peak, peak_rss(follower.process.pid))
            return message in follower.output() and "retrying in" in follower.output() and hostile.pages >= 2

        wait_for("the follower to refuse an answer and retry", retried, timeout=STOP_TIMEOUT)
    peak = max(peak, peak_rss(follower.process.pid))
    assert follower.process.poll() is None, follower.output()
    print(f"{hostile.mode}: peak RSS {peak / 2**20:.0f} MiB, {listening / 2**20:.0f} MiB when it listened")
    assert peak - listening < MEMORY, f"peak RSS {peak:,} bytes, {listening:,} when it listened"

    sent = time.monotonic()
    follower.process.send_signal(signal.SIGINT)
    try:
        code = follower.process.wait(SIGINT_EXIT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {SIGINT_EXIT} s after SIGINT:\n{follower.output()}") from None
    took = time.monotonic() - sent
    follower.reader.join(STOP_TIMEOUT)
    print(f"{hostile.mode}: exited {took:.2f} s after SIGINT")
    assert code == 0, follower.output()
    assert "Traceback" not in follower.output()
    assert follower.lines[-1] == "stopped at height 0\n"


GIVE_UP = {
    **MESSAGES,
    "drip": "did not answer within 1 s",
}


@pytest.mark.slow
@pytest.mark.parametrize("hostile", ["nested", "error_not_object", "large_announced", "drip"], indirect=True)
def test_left_alone_a_follower_of_a_hostile_remote_gives_up_with_the_message(
    hostile: Hostile, follower_started: list[Devnet], tmp_path: Path
) -> None:
    follower = start(follower_started, tmp_path / "follower", hostile.url, "--timeout", "1")
    code = follower.process.wait(STOP_TIMEOUT)
    follower.reader.join(STOP_TIMEOUT)
    output = follower.output()
    assert code == 1, output
    assert "Traceback" not in output
    assert f"error: the node at {hostile.url}" in output or f"error: the answer of the node at {hostile.url}" in output
    assert f"{GIVE_UP[hostile.mode]} ({BAD_ANSWERS} times in a row: giving up)\n" in output
    assert output.count("retrying in") == BAD_ANSWERS - 1
    if hostile.mode == "large_announced":  # asked again for fewer blocks first, down to one
        assert "asking for 1 block at a time" in output
    assert follower.lines[-1] == "stopped at height 0\n"
