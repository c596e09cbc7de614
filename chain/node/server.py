"""The devnet's HTTP transport: JSON-RPC 2.0 over HTTP/1.1, on one asyncio thread.

Everything (parsing requests, executing transactions, producing blocks on
an interval) runs on the event loop's one thread, because the VM must run
on one thread and a node applies transactions one at a time anyway.  A
follower (``follow.py``) runs its loop on the same thread, beside the
server (``run(beside=...)``).
Connections are kept alive (HTTP/1.1), so a client thread pays for one
TCP handshake, not one per call.

The HTTP side is deliberately small: ``POST`` with a ``Content-Length``
body to any path is a JSON-RPC call; ``GET /`` answers ``chain_info``
(a health check); ``OPTIONS`` answers CORS preflight, so a page served
elsewhere may call the node, as Anvil allows.  Everything else gets an
HTTP error with a JSON-RPC error body saying what was wrong.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from wasmchain.node.jsonrpc import INVALID_REQUEST, JSONRPC, RPCError
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.errors import ChainError

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
"""A batch of many transactions, each up to max_tx_size and sent as hex."""
IDLE_TIMEOUT = 120.0
"""Seconds a kept-alive connection may sit idle, or take to send a request."""

Companion = Callable[[], Coroutine[Any, Any, None]]
"""A coroutine function run beside the server, on its loop: a follower's loop."""

_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


@dataclass
class _Request:
    method: str
    target: str
    keep_alive: bool
    headers: dict[str, str]


class _HTTPError(ChainError):
    """A request that is not well-formed HTTP/1.1: answered with ``status`` and a JSON-RPC error body."""

    reason = "invalid_request"

    def __init__(self, status: int, message: str, code: int = INVALID_REQUEST) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class Server:
    def __init__(
        self, node: Node, host: str = "127.0.0.1", port: int = 8545, *, dispatcher: Dispatcher | None = None
    ) -> None:
        self.node = node
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher(node)
        self.host = host
        self.port = port
        self._stop: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()

    # -- running -------------------------------------------------------------------

    def run(self, on_listening: Callable[[str], None] = lambda url: None, beside: Companion | None = None) -> None:
        """Serve until SIGINT or SIGTERM; the node's database is closed by the caller.

        ``beside`` (a follower's loop) runs on the same loop and thread once
        the server listens; when it ends the server stops, and its exception,
        if any, is raised here.  A signal cancels it.
        """
        asyncio.run(self._serve(on_listening, beside))

    async def _serve(self, on_listening: Callable[[str], None], beside: Companion | None) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop.set)
        server = await asyncio.start_server(self._connection, self.host, self.port, limit=MAX_HEADER_BYTES)
        port = server.sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        on_listening(f"http://{host}:{port}")
        producer = asyncio.create_task(self._produce_blocks()) if self.node.block_time else None
        companion = asyncio.create_task(beside()) if beside is not None else None
        if companion is not None:
            companion.add_done_callback(lambda _: self.stop())
        try:
            await self._stop.wait()
        finally:
            server.close()
            if producer is not None:
                producer.cancel()
            if companion is not None:
                companion.cancel()
                await asyncio.gather(companion, return_exceptions=True)
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()
        if companion is not None and not companion.cancelled():
            companion.result()  # its exception, if it raised one

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def _produce_blocks(self) -> None:
        """With ``--block-time``: a block every interval, on a fixed schedule (no drift)."""
        loop = asyncio.get_running_loop()
        interval = self.node.block_time
        assert interval is not None
        due = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                self.node.produce_block()
            except Exception as error:  # keep producing; say what happened
                print(f"error: producing a block failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            due = max(due + interval, loop.time())

    # -- one connection ------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT):  # (wait_for would make a task per request)
                        request, body = await self._read(reader)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return  # the client went away, or sat idle
                except _HTTPError as error:
                    self._write(writer, error.status, _error_body(error.code, error.message), keep_alive=False)
                    await writer.drain()
                    return
                status, payload = await self._respond(request, body)
                self._write(writer, status, payload, keep_alive=request.keep_alive)
                await writer.drain()
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.CancelledError):
            # (Cancelled: the server is stopping.  Ending normally keeps
            # asyncio's stream callback from logging the cancellation as an
            # error, as Python 3.11 does.)
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[_Request, bytes]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _HTTPError(431, f"the request's headers are over {MAX_HEADER_BYTES} bytes") from None
        except asyncio.IncompleteReadError as error:
            if error.partial.strip():
                raise _HTTPError(400, "the request ended before its headers did") from None
            raise
        request = _parse_head(head)
        if request.method != "POST":
            return request, b""
        if "transfer-encoding" in request.headers:
            raise _HTTPError(411, "chunked bodies are not accepted: send a Content-Length")
        length_text = request.headers.get("content-length")
        if length_text is None:
            raise _HTTPError(411, "a POST needs a Content-Length header")
        # ASCII digits only ("²".isdigit() is true), and few enough for int()
        # (over 4300 digits raise ValueError).
        if not (length_text.isascii() and length_text.isdigit()):
            raise _HTTPError(400, f"Content-Length must be a number of bytes, found {length_text[:40]!r}")
        digits = length_text.lstrip("0") or "0"
        if len(digits) > 18 or int(digits) > MAX_BODY_BYTES:
            shown = digits if len(digits) <= 20 else digits[:20] + "..."
            raise _HTTPError(413, f"the body is {shown} bytes, over the limit of {MAX_BODY_BYTES}")
        return request, await reader.readexactly(int(digits))

    async def _respond(self, request: _Request, body: bytes) -> tuple[int, bytes | None]:
        if request.method == "POST":
            return 200, await self.dispatcher.serve(body)  # (a batch lets the loop serve others between calls)
        if request.method == "GET" and request.target in ("/", "/health"):
            return 200, self.dispatcher.handle(b'{"jsonrpc":"2.0","id":0,"method":"chain_info"}')
        if request.method == "OPTIONS":
            return 204, None
        return 405, _error_body(
            INVALID_REQUEST, f"method {request.method} is not served: POST JSON-RPC calls to this URL"
        )

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, payload: bytes | None, *, keep_alive: bool) -> None:
        if payload is None and status == 200:
            status = 204  # only notifications: JSON-RPC sends nothing back
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}",
            "Access-Control-Allow-Origin: *",
            "Access-Control-Allow-Methods: POST, GET, OPTIONS",
            "Access-Control-Allow-Headers: Content-Type",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        if payload is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        elif status != 204:
            lines.append("Content-Length: 0")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (payload or b""))


def _parse_head(head: bytes) -> _Request:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise _HTTPError(400, "the request's headers are not text") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise _HTTPError(400, f"a request line is METHOD TARGET HTTP/1.1, found {lines[0][:80]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _HTTPError(505, f"HTTP/1.1 is served, found {version[:20]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _HTTPError(400, f"a header line is NAME: VALUE, found {line[:80]!r}")
        headers[name.lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return _Request(method, target, keep_alive, headers)


def _error_body(code: int, message: str) -> bytes:
    return json.dumps({"jsonrpc": JSONRPC, "id": None, "error": RPCError(code, message).to_json()}).encode()
