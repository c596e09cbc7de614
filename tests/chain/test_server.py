"""The HTTP server's connections (chain/node/server.py, ``_Connection``), in process with a short idle timeout.

The server answers a request in the callback that read it, with one idle
timer per connection: these tests hold what that must keep.  An idle
connection, a slow one (a request dripped in) and one kept alive after its
answer are closed once the timeout passes, and no sooner; one that keeps
sending requests is not, however long it lives.  A pipelined burst is
answered in order, also when a batch in it is answered in a task (the loop
given turns) and the requests behind it wait, and when the client reads
nothing until it has sent everything.  A WebSocket upgrade sent with its
first frame gets that frame answered.  tests/e2e holds the rest (every bad
request, Host and Origin, the explorer's files) against a real devnet.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

import wasmchain.node.server as server_module
from tests.helpers import GENESIS
from wasmchain.node.node import Node
from wasmchain.node.server import Server
from wasmchain.node.websocket import TEXT, encode_frame
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV

IDLE = 0.4
"""The idle timeout of these tests' servers, in seconds."""


def serving(check: Callable[[int], None], idle_timeout: float = IDLE) -> None:
    """Run ``check(port)`` in a thread against a server on this thread's loop; the server stops when it ends."""
    node = Node(Chain.create(MemoryKV(), genesis_from_document(json.loads(GENESIS.read_text()))), clock=None)
    server = Server(node, "127.0.0.1", 0)
    server.idle_timeout = idle_timeout

    async def beside() -> None:
        assert server.listening_port is not None
        await asyncio.to_thread(check, server.listening_port)

    server.run(beside=beside)


def request(body: Any, *, close: bool = False) -> bytes:
    payload = json.dumps(body).encode()
    return (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + (b"Connection: close\r\n" if close else b"")
        + b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )


def call(request_id: Any, method: str = "chain_info", params: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params else {})}


def answers(raw: bytes) -> list[Any]:
    """The JSON bodies of the HTTP responses in ``raw``, in order."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        found.append(json.loads(rest[:length]))
        raw = rest[length:]
    return found


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes ``sock`` (it must send nothing meanwhile)."""
    start = time.monotonic()
    assert sock.recv(65536) == b""
    return time.monotonic() - start


def test_an_idle_connection_is_closed_after_the_timeout_and_not_before() -> None:
    def check(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert IDLE * 0.9 <= closed_after(sock) < IDLE + 2

    serving(check)


def test_a_kept_alive_connection_is_closed_the_timeout_after_its_last_answer() -> None:
    def check(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            time.sleep(IDLE * 0.6)
            sock.sendall(request(call(1)))
            head = sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 OK") and b"keep-alive" in head
            assert IDLE * 0.9 <= closed_after(sock) < IDLE + 2  # counted from the answer, not the connection

    serving(check)


def test_a_connection_that_keeps_asking_stays_open_past_the_timeout() -> None:
    def check(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            start = time.monotonic()
            index = 0
            while time.monotonic() - start < IDLE * 3:
                sock.sendall(request(call(index)))
                (answer,) = answers(sock.recv(65536))
                assert answer["id"] == index and "result" in answer
                index += 1
                time.sleep(IDLE / 4)
            assert index >= 8

    serving(check)


def test_a_request_dripped_in_is_cut_off_at_the_timeout_however_often_it_sends() -> None:
    def check(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            start = time.monotonic()
            sock.sendall(b"POST / HTTP/1.1\r\n")
            try:
                for _ in range(int(IDLE * 3 / 0.05)):
                    sock.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.05)
            except OSError:
                pass  # (closed under it: a reset)
            sock.settimeout(10)
            try:
                assert sock.recv(65536) == b""
            except ConnectionResetError:
                pass
            assert IDLE * 0.9 <= time.monotonic() - start < IDLE * 3

    serving(check)


def test_a_pipelined_burst_is_answered_in_order_also_around_a_batch_answered_in_a_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_module, "TURN_AFTER", 0.0)  # every batch of two or more calls goes to a task
    burst = [call(0), [call(1, "get_block", {"block": 0}), call(2), call(3)], call(4), [call(5), call(6)]]
    burst += [call(index) for index in range(7, 60)]

    def check(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"".join(request(body) for body in burst) + request(call(60), close=True))
            got = answers(read_until_closed(sock))
        ids = [[item["id"] for item in answer] if isinstance(answer, list) else answer["id"] for answer in got]
        assert ids == [0, [1, 2, 3], 4, [5, 6], *range(7, 61)]
        assert got[1][0]["result"]["height"] == 0

    serving(check)


def test_a_client_that_reads_nothing_until_it_has_sent_everything_gets_every_answer_in_order() -> None:
    count = 600  # (answers of about 1 MB: more than the socket buffers and the transport's high-water mark)

    def check(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            big = call(0, "get_genesis")
            payload = b"".join(request({**big, "id": index}) for index in range(count))
            sock.sendall(payload + request(call(count), close=True))
            got = answers(read_until_closed(sock))
        assert [answer["id"] for answer in got] == [*range(count + 1)]
        assert all("result" in answer for answer in got)

    serving(check)


def test_a_websocket_upgrade_sent_with_its_first_frame_gets_that_frame_answered() -> None:
    def check(port: int) -> None:
        key = base64.b64encode(os.urandom(16))
        upgrade = (
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        frame = encode_frame(TEXT, json.dumps(call(7)).encode(), mask=os.urandom(4))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request(call(6)) + upgrade + frame)  # an HTTP request before it, on the same connection
            raw = b""
            while not (found := websocket_text(raw)):
                raw += sock.recv(65536)
        assert raw.startswith(b"HTTP/1.1 200 OK") and raw.count(b"HTTP/1.1 101 Switching Protocols\r\n") == 1
        assert json.loads(found)["id"] == 7

    serving(check)


def websocket_text(raw: bytes) -> bytes | None:
    """The payload of the first (unmasked, text) frame after an HTTP answer and a 101 handshake, once complete."""
    at = raw.find(b"\r\n\r\n", raw.find(b"HTTP/1.1 101"))
    if raw.find(b"HTTP/1.1 101") < 0 or at < 0 or len(raw) < at + 6:
        return None
    frames = raw[at + 4 :]
    assert frames[0] == 0x80 | TEXT
    length, start = frames[1], 2
    if length == 126:
        length, start = int.from_bytes(frames[2:4], "big"), 4
    return frames[start : start + length] if len(frames) >= start + length else None


def test_the_server_stopping_closes_the_connections_it_holds() -> None:
    held: list[socket.socket] = []

    def check(port: int) -> None:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        held[0].sendall(b"POST / HTTP/1.1\r\n")  # half a request

    serving(check, idle_timeout=60)
    with held[0] as sock:
        assert read_until_closed(sock) == b""
