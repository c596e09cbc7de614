"""``HTTPTransport`` against a server in this test that answers what a hostile node could: every
answer bounded in size and in total time, every malformed one an ``RPCClientError`` that names the
node and what was wrong (code ``None`` and its own reason), never a traceback from inside."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from wasmchain.client.transport import BAD_ANSWER, LARGE_ANSWER, SLOW_ANSWER, HTTPTransport, RPCClientError

Answer = Callable[[socket.socket], None]


class Server:
    """Answers each request on a connection with ``answer``, reading the request first."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.closing = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            with connection, connection.makefile("rb") as reader:
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                try:
                    self.answer(connection)
                except OSError:
                    pass  # the client hung up


def body(text: bytes, status: str = "200 OK") -> Answer:
    def answer(connection: socket.socket) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(text)}\r\n\r\n"
        connection.sendall(head.encode() + text)

    return answer


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Server]]:
    servers: list[Server] = []

    def start(answer: Answer) -> Server:
        servers.append(Server(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.closing.set()
        server.thread.join(10)
        server.listener.close()


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "with JSON nested too deep to read (HTTP 200)"),
        (b"<html>", "with no JSON (HTTP 200)"),
        (b'{"jsonrpc": "2.0", "id": 1, "error": "boom"}', 'an error that is not an object: "boom"'),
        (b'{"id": 1, "error": ["x"]}', 'an error that is not an object: ["x"]'),
        (
            b'{"id": 1, "error": {"code": "7", "message": "m"}}',
            'an error without an integer code and a string message: {"code": "7", "message": "m"}',
        ),
        (
            b'{"id": 1, "error": {"code": 7, "message": {"a": 1}}}',
            'an error without an integer code and a string message: {"code": 7, "message": {"a": 1}}',
        ),
        (b'{"id": 1}', '{"id": 1}, with neither a result nor an error'),
        (b"[1, 2]", "[1, 2], not a JSON-RPC response"),
    ],
)
def test_a_malformed_answer_is_an_error_naming_the_node_and_what_was_wrong(
    serve: Callable[[Answer], Server], text: bytes, what: str
) -> None:
    server = serve(body(text))
    transport = HTTPTransport(server.url, timeout=10)
    with pytest.raises(RPCClientError) as caught:
        transport.call("get_block", {})
    transport.close()
    assert (caught.value.code, caught.value.reason, caught.value.message) == (
        None,
        BAD_ANSWER,
        f"the node at {server.url} answered {what}",
    )


def test_a_batch_answered_with_an_error_that_is_not_an_object_or_an_unhashable_id_is_refused(
    serve: Callable[[Answer], Server],
) -> None:
    server = serve(body(b'[{"id": 1, "result": 1}, {"id": [], "result": 0}, {"id": 2, "error": 5}]'))
    transport = HTTPTransport(server.url, timeout=10)
    with pytest.raises(RPCClientError, match="^the node at .* answered an error that is not an object: 5$"):
        transport.batch([("get_block", {}), ("get_block", {})])
    transport.close()


def test_an_answer_over_the_limit_is_refused_announced_or_streamed_without_reading_it_whole(
    serve: Callable[[Answer], Server],
) -> None:
    def streamed(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(100):  # 100 MiB, unless the client hangs up
            connection.sendall(b"[" * 2**20)

    announced = serve(body(b"[]" * 1000))
    transport = HTTPTransport(announced.url, timeout=10, max_answer=1000)
    with pytest.raises(RPCClientError) as caught:
        transport.call("get_block", {})
    assert (caught.value.reason, caught.value.message) == (
        LARGE_ANSWER,
        f"the answer of the node at {announced.url} is over the limit of 1,000 bytes (it announced 2,000)",
    )
    stream = serve(streamed)
    transport = HTTPTransport(stream.url, timeout=10, max_answer=2**20)
    with pytest.raises(RPCClientError, match=r"is over the limit of 1,048,576 bytes \(it sent more\)$") as caught:
        transport.call("get_block", {})
    assert caught.value.reason == LARGE_ANSWER


def test_a_drip_does_not_reset_the_time_a_call_may_take(serve: Callable[[Answer], Server]) -> None:
    stop = threading.Event()

    def drip(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not stop.wait(0.05):  # a byte every 0.05 s: no one read waits long
            connection.sendall(b"[")

    server = serve(drip)
    transport = HTTPTransport(server.url, timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(RPCClientError) as caught:
            transport.call("get_block", {})
    finally:
        stop.set()
    assert time.monotonic() - started < 5
    assert (caught.value.reason, caught.value.message) == (
        SLOW_ANSWER,
        f"the node at {server.url} did not answer within 0.5 s",
    )


def test_abort_ends_a_call_in_flight_in_another_thread(serve: Callable[[Answer], Server]) -> None:
    stop = threading.Event()

    def silent(connection: socket.socket) -> None:
        stop.wait(30)

    server = serve(silent)
    transport = HTTPTransport(server.url, timeout=30)
    errors: list[RPCClientError] = []

    def call() -> None:
        try:
            transport.call("get_block", {})
        except RPCClientError as error:
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while not transport._connections or next(iter(transport._connections)).sock is None:
        assert time.monotonic() < deadline, "the call never connected"
        time.sleep(0.01)
    started = time.monotonic()
    transport.abort()
    caller.join(10)
    stop.set()
    assert not caller.is_alive() and time.monotonic() - started < 2
    assert errors and errors[0].code is None
