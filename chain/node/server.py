"""The devnet's HTTP transport: JSON-RPC 2.0 over HTTP/1.1, on one asyncio thread.

Everything (parsing requests, executing transactions, producing blocks on
an interval) runs on the event loop's one thread, because the VM must run
on one thread and a node applies transactions one at a time anyway.  A
follower (``follow.py``) runs its loop on the same thread, beside the
server (``run(beside=...)``).
Connections are kept alive (HTTP/1.1), so a client thread pays for one
TCP handshake, not one per call.

The HTTP side is deliberately small: ``POST`` with a ``Content-Length``
and an ``application/json`` body to any path is a JSON-RPC call; ``GET /ws``
becomes a WebSocket (``websocket.py``: JSON-RPC and live subscriptions);
``GET /`` is the explorer's page for a browser (an ``Accept`` naming
``text/html``) and ``chain_info`` for anything else (a health check, as
``GET /health``); ``GET /explorer/NAME`` serves the files of
``chain/node/explorer/``; everything else gets an HTTP error with a JSON-RPC
error body saying what was wrong.  docs/architecture.md says why this
server is ours and not a library's (measured with bench/rpc.py).

Only the developer's own tools reach the node (``HTTPAccess``,
docs/rpc.md "Host and Origin"): a request whose ``Host`` is not this
machine's (a DNS-rebinding page's name) or whose ``Origin`` is a web page's
is refused with 403 before anything runs, as geth's ``--http.vhosts`` and
``--http.corsdomain`` do; CORS headers, and ``OPTIONS`` preflights, only
for the origins ``--cors-origins`` names.  The node's own origin (a page it
served: ``http://`` and an allowed ``Host`` with the listening port) may
always call it.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmchain.node import websocket
from wasmchain.node.jsonrpc import INVALID_REQUEST, JSONRPC, RPCError
from wasmchain.node.node import Node
from wasmchain.node.rpc import TURN_AFTER, Dispatcher, advance, finish
from wasmchain.protocol.errors import ChainError

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
"""A batch of many transactions, each up to max_tx_size and sent as hex."""
IDLE_TIMEOUT = 120.0
"""Seconds a kept-alive connection may sit idle, or take to send a request."""
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
"""The names a request's ``Host`` may always give (with any port), besides the listening address."""
SINGLE_HEADERS = ("content-length", "content-type", "host", "origin", "transfer-encoding")
"""Headers a request may send once: with two, a proxy in front and this node could each read another."""

EXPLORER = Path(__file__).resolve().parent / "explorer"
"""The explorer's files (package data of ``wasmchain.node``): ``GET /`` is its index.html, ``GET /explorer/NAME``
the others."""
MAX_STATIC_BYTES = 8 * 1024 * 1024
"""The largest explorer file served."""
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
"""The explorer files served, by extension; a file of another kind is not."""
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A file of the explorer's folder: no folders, no ``..``, no hidden files."""

Companion = Callable[[], Coroutine[Any, Any, None]]
"""A coroutine function run beside the server, on its loop: a follower's loop."""

_REASONS = {
    101: "Switching Protocols",
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    404: "Not Found",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


@dataclass
class _Request:
    method: str
    target: str
    keep_alive: bool
    headers: dict[str, str]
    cors: tuple[str, ...] = ()
    """The CORS headers its answer carries: only for an allowed ``Origin``."""


class AccessOptionError(ChainError):
    """An ``--allowed-hosts`` or ``--cors-origins`` entry that can match no request."""

    reason = "invalid_option"


_HOST_NAME = re.compile(r"\[([0-9a-f:.]+)\]|([0-9a-z._~%!$&'()*+,;=-]+)")
"""A host (RFC 3986, lowercased): a name or an IPv4 address, or an IPv6 one in brackets (the group without)."""
_HOST = re.compile(rf"(?:{_HOST_NAME.pattern})(?::[0-9]{{1,5}})?")
"""A ``Host`` header: a host and maybe a port."""
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/?#]+|null")
"""A serialized origin, as browsers send it: scheme://host[:port], or ``null`` (a file, a sandbox)."""


@dataclass(frozen=True, slots=True)
class HTTPAccess:
    """Who may reach the node over HTTP besides this machine's own tools (docs/rpc.md, "Host and Origin")."""

    allowed_hosts: tuple[str, ...] = ()
    """Names a ``Host`` may give besides ``LOCAL_HOSTS`` and the listening address, lowercased; ``*`` any."""
    cors_origins: tuple[str, ...] = ()
    """Origins whose web pages may call the node (and get CORS headers), lowercased; ``*`` any."""

    @classmethod
    def parse(cls, allowed_hosts: str | None = None, cors_origins: str | None = None) -> HTTPAccess:
        """From the flags' comma-separated lists; an entry no request could match is refused, naming it."""
        hosts = []
        for entry in _entries(allowed_hosts):
            match = _HOST_NAME.fullmatch(entry)
            if entry != "*" and match is None:
                raise AccessOptionError(
                    "--allowed-hosts takes host names without a port (any port is allowed; an IPv6 address "
                    f"in brackets), or *; found {entry!r}"
                )
            hosts.append(entry if match is None else match.group(1) or match.group(2))
        origins = []
        for entry in _entries(cors_origins):
            origin = entry.rstrip("/")
            if entry != "*" and _ORIGIN.fullmatch(origin) is None:
                raise AccessOptionError(
                    f"--cors-origins takes origins as a browser sends them, scheme://host[:port] "
                    f"(e.g. http://localhost:3000), or *; found {entry!r}"
                )
            origins.append(origin)
        return cls(tuple(hosts), tuple(origins))


def _entries(text: str | None) -> list[str]:
    return [entry.strip().lower() for entry in (text or "").split(",") if entry.strip()]


class PortInUse(ChainError):
    """The address to listen on is taken: another node, or another program, holds the port."""

    reason = "port_in_use"


class _HTTPError(ChainError):
    """A request that is not well-formed HTTP/1.1: answered with ``status`` and a JSON-RPC error body."""

    reason = "invalid_request"

    def __init__(
        self,
        status: int,
        message: str,
        code: int = INVALID_REQUEST,
        reason: str | None = None,
        headers: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers
        """Header lines the answer carries besides the usual ones."""
        if reason is not None:
            self.reason = reason


class Server:
    def __init__(
        self,
        node: Node,
        host: str = "127.0.0.1",
        port: int = 8545,
        *,
        dispatcher: Dispatcher | None = None,
        access: HTTPAccess = HTTPAccess(),
    ) -> None:
        self.node = node
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher(node)
        self.host = host
        self.port = port
        self.access = access
        listening = host.lower().removeprefix("[").removesuffix("]")
        self._hosts = frozenset((*LOCAL_HOSTS, listening, *access.allowed_hosts))
        self._origins = frozenset(access.cors_origins)
        self._stop: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        """The tasks of connections that are not plain HTTP any more (a WebSocket) or wait on an answer (a batch
        giving the loop turns, a network node's forwarding)."""
        self._open: set[_Connection] = set()
        self.idle_timeout = IDLE_TIMEOUT
        """Seconds a kept-alive connection may sit idle, or take to send a request, before it is closed."""
        self._answers_at_once = type(self.dispatcher).serve is Dispatcher.serve
        """Whether a ``POST`` may be answered in the callback that read it (``Dispatcher.steps``); a dispatcher
        with its own ``serve`` (a network node's, which awaits CometBFT) is awaited in a task."""
        self.listening_port: int | None = None
        """The port it listens on, once it does (``port`` may be 0: any free one)."""

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
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            server = await loop.create_server(lambda: _Connection(self, loop), self.host, self.port)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                f"cannot listen on {host}:{self.port}: the port is in use (another `wasmchain devnet`?):"
                " stop that process, or pass --port 0 to listen on a free port"
            ) from None
        port = self.listening_port = server.sockets[0].getsockname()[1]
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
            for connection in list(self._open):
                connection.close()
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

    @staticmethod
    def _body_length(request: _Request) -> int:
        """A ``POST``'s body length from its head (0 for another method), or its refusal (411, 400, 413)."""
        if request.method != "POST":
            return 0
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
        return int(digits)

    def _admit(self, request: _Request) -> None:
        """Refuse (403, 415) a request from anything but the developer's own tools, before it runs; set its CORS.

        A browser names the page's site in ``Host`` after a DNS rebinding, and sends ``Origin`` with every
        cross-site request (and every ``POST``); the developer's tools (the CLI, the client, a follower,
        curl) send this machine's name and no ``Origin``.
        """
        host = request.headers.get("host")
        if host is not None and "*" not in self.access.allowed_hosts:
            match = _HOST.fullmatch(host.lower())
            name = None if match is None else match.group(1) or match.group(2)
            if name not in self._hosts:
                listed = ", ".join(f"[{h}]" if ":" in h else h for h in sorted(self._hosts))
                raise _HTTPError(
                    403,
                    f"Host {host[:100]!r} is not allowed: this node answers requests to {listed} (any port); "
                    f"to serve another name, start it with --allowed-hosts {name or 'NAME'} (or '*' for any)",
                    reason="host_not_allowed",
                )
        origin = request.headers.get("origin")
        if origin is not None and not self._own_origin(origin, host):
            if "*" not in self._origins and origin.lower() not in self._origins:
                given = ", ".join(sorted(self._origins)) or "none given"
                raise _HTTPError(
                    403,
                    f"Origin {origin[:100]!r} is not allowed: web pages may call this node only from the origins "
                    f"of --cors-origins ({given}); to let this one, start the node with --cors-origins {origin[:100]}",
                    reason="origin_not_allowed",
                )
            request.cors = _cors_headers(request, "*" if "*" in self._origins else origin)
        if request.method == "POST":
            _check_content_type(request.headers.get("content-type"))

    def _own_origin(self, origin: str, host: str | None) -> bool:
        """Whether ``Origin`` is a page this node served: ``http://`` and the request's ``Host``, when that names
        this node by a name it answers to (not just by ``--allowed-hosts '*'``) and its listening port."""
        if host is None or origin.lower() != f"http://{host.lower()}":
            return False
        match = _HOST.fullmatch(host.lower())
        if match is None or (match.group(1) or match.group(2)) not in self._hosts:
            return False
        port = host.rpartition(":")[2] if not host.endswith("]") and ":" in host else "80"
        return port == str(self.listening_port)

    def _respond(self, request: _Request) -> tuple[int, bytes | None, tuple[str, ...]]:
        """The status, body and extra header lines of the answer to a request other than a ``POST`` (a JSON body
        unless they name a type)."""
        if request.method == "GET":
            path = _path(request.target)
            if path == "/health" or (path == "/" and not _wants_html(request.headers.get("accept", ""))):
                return 200, self.dispatcher.handle(b'{"jsonrpc":"2.0","id":0,"method":"chain_info"}'), ()
            if path == "/":
                return self._static(request, "index.html")
            if path.startswith("/explorer/"):
                return self._static(request, path.removeprefix("/explorer/"))
            return (
                404,
                _error_body(
                    INVALID_REQUEST,
                    f"nothing at {path[:100]!r}: GET / is the explorer, GET /explorer/NAME its files, GET /health "
                    "chain_info, GET /ws the WebSocket; JSON-RPC calls are POSTed to any path",
                ),
                (),
            )
        if request.method == "OPTIONS":
            return 204, None, ()
        return (
            405,
            _error_body(INVALID_REQUEST, f"method {request.method} is not served: POST JSON-RPC calls to this URL"),
            (),
        )

    def _static(self, request: _Request, name: str) -> tuple[int, bytes | None, tuple[str, ...]]:
        """One file of the explorer's folder, with its type and the page's security headers; else 404."""
        content_type = CONTENT_TYPES.get(Path(name).suffix.lower()) if _FILE_NAME.fullmatch(name) else None
        data = None
        if content_type is not None:
            path = EXPLORER / name
            try:
                if path.resolve().parent == EXPLORER and path.is_file() and path.stat().st_size <= MAX_STATIC_BYTES:
                    data = path.read_bytes()
            except OSError:
                data = None
        if data is None:
            missing = not (EXPLORER / "index.html").is_file()
            return (
                404,
                _error_body(
                    INVALID_REQUEST,
                    f"the explorer has no file {name[:100]!r}"
                    + (
                        f": the explorer's files are not installed (no {EXPLORER / 'index.html'}); JSON-RPC is served "
                        "by POST, and GET /health answers chain_info"
                        if missing
                        else ""
                    ),
                ),
                (),
            )
        host = request.headers.get("host") or self._listening_authority()
        return (
            200,
            data,
            (
                f"Content-Type: {content_type}",
                f"Content-Security-Policy: default-src 'self'; connect-src 'self' ws://{host}; frame-ancestors 'none'",
                "X-Content-Type-Options: nosniff",
                "Referrer-Policy: no-referrer",
                "Cache-Control: no-cache",
            ),
        )

    def _listening_authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.listening_port if self.listening_port is not None else self.port}"

    async def _websocket(self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``GET /ws``: the handshake (refused over HTTP, as any request), then the connection is a ``Session``'s."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            try:
                accept = websocket.check_handshake(request.headers)
            except websocket.HandshakeError as error:
                body = _error_body(INVALID_REQUEST, error.message)
                self._write(writer, error.status, body, keep_alive=False, cors=error.headers)
                await writer.drain()
                return
            writer.write(websocket.handshake_response(accept))
            hub: websocket.SubscriptionHub | None = getattr(self.node, "hub", None)
            session = websocket.Session(reader, writer, self.dispatcher.call, self.dispatcher.limits, hub)
            await session.run()
        except (ConnectionError, asyncio.CancelledError):
            # (Cancelled: the server is stopping.  Ending normally keeps
            # asyncio's stream callback from logging the cancellation as an
            # error, as Python 3.11 does.)
            return
        finally:
            self._connections.discard(task)
            writer.close()

    @staticmethod
    def _write(
        writer: asyncio.StreamWriter | asyncio.WriteTransport,
        status: int,
        payload: bytes | None,
        *,
        keep_alive: bool,
        cors: tuple[str, ...] = (),
    ) -> None:
        if payload is None and status == 200:
            status = 204  # only notifications: JSON-RPC sends nothing back
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}",
            *cors,
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        if payload is not None:
            if not any(line.startswith("Content-Type:") for line in cors):
                lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(payload)}")
        elif status != 204:
            lines.append("Content-Length: 0")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (payload or b""))


class _Connection(asyncio.Protocol):
    """One HTTP connection, parsed and answered in the loop's callbacks: no task, future or timer per request.

    A request is answered in the ``data_received`` call that completes it (``Dispatcher.steps``), requests
    pipelined behind it next, in order.  Only what must wait runs in a task (then the connection reads no
    further request until it ends): a batch that takes more than ``TURN_AFTER`` (the loop gets turns between
    its calls), a dispatcher's own ``serve``, and a WebSocket, to which the connection is handed over with
    what it has read.  While the client does not read its answers (the transport's buffer over its high-water
    mark, ``pause_writing``), no further request is answered.  The idle timeout is one timer per connection:
    it fires ``idle_timeout`` after the connection began to wait for a request and, if it still waits since
    then, closes it; else it is set again for the time the current wait ends.
    """

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.scanned = 0
        """Bytes of ``buffer`` known to hold no end of headers."""
        self.head: tuple[_Request, int, int] | None = None
        """A request whose headers are read: it, where its body starts and ends in ``buffer``."""
        self.busy = False
        """A task has the connection: a request being answered, or a WebSocket."""
        self.paused = False
        """The client does not read its answers (``pause_writing``)."""
        self.reading_paused = False
        self.eof = False
        self.closed = False
        self.waiting_since: float | None = None
        """When the connection began to wait for a request (``None``: it answers one)."""
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio's callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._open.add(self)
        self._wait()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.busy or self.paused:
            if len(self.buffer) > 2 * MAX_HEADER_BYTES and not self.reading_paused:
                self.reading_paused = True  # (as a StreamReader does, with this limit)
                assert self.transport is not None
                self.transport.pause_reading()
            return
        self._serve()

    def eof_received(self) -> bool:
        self.eof = True
        if not (self.busy or self.paused):
            self._serve()
        return True  # (the answers are still written; ``_serve`` closes)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if not self.busy:
            self._serve()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._open.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # -- requests --------------------------------------------------------------------

    def _serve(self) -> None:
        """Answer the complete requests in the buffer, in order, until one must wait or the connection ends."""
        if self.reading_paused:
            self.reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        while not (self.busy or self.paused or self.closed):
            try:
                read = self._read()
            except _HTTPError as error:
                self._answer(error.status, _error_body(error.code, error.message, error.reason), False, error.headers)
                self.close()
                return
            if read is None:
                if self.eof:
                    self.close()
                return
            request, body = read
            self.waiting_since = None
            server = self.server
            if request.method == "POST":
                steps = server.dispatcher.steps(body) if server._answers_at_once else None
                if steps is not None:
                    done, payload = advance(steps, time.monotonic() + TURN_AFTER)
                    if not done:
                        self._later(request, finish(steps))
                        return
                else:
                    self._later(request, server.dispatcher.serve(body))
                    return
                self._answer(200, payload, request.keep_alive, request.cors)
            elif request.method == "GET" and _path(request.target) == websocket.PATH:
                self._upgrade(request)
                return
            else:
                status, payload, headers = server._respond(request)
                self._answer(status, payload, request.keep_alive, (*request.cors, *headers))
            if not request.keep_alive:
                self.close()
                return
            self._wait()

    def _read(self) -> tuple[_Request, bytes] | None:
        """The next complete request in the buffer, taken out of it; ``None`` until one is (400 for one that ends
        before its headers do, at the end of the input)."""
        buffer = self.buffer
        if self.head is None:
            end = buffer.find(b"\r\n\r\n", self.scanned)
            if end < 0 or end > MAX_HEADER_BYTES:  # (the bounds of ``StreamReader.readuntil`` with this limit)
                if end > MAX_HEADER_BYTES or len(buffer) - 3 > MAX_HEADER_BYTES:
                    raise _HTTPError(431, f"the request's headers are over {MAX_HEADER_BYTES} bytes")
                self.scanned = max(0, len(buffer) - 3)
                if self.eof and buffer.strip():
                    raise _HTTPError(400, "the request ended before its headers did")
                return None
            request = _parse_head(bytes(buffer[: end + 4]))
            start = end + 4
            self.head = request, start, start + self.server._body_length(request)
        request, start, stop = self.head
        if len(buffer) < stop:
            return None  # (at the end of the input: closed without an answer)
        body = bytes(buffer[start:stop])
        del buffer[:stop]
        self.head = None
        self.scanned = 0
        self.server._admit(request)  # (after the body is read, so that the client sees the refusal)
        return request, body

    def _answer(self, status: int, payload: bytes | None, keep_alive: bool, cors: tuple[str, ...]) -> None:
        if not self.closed:
            assert self.transport is not None
            Server._write(self.transport, status, payload, keep_alive=keep_alive, cors=cors)

    def _later(self, request: _Request, answer: Coroutine[Any, Any, bytes | None]) -> None:
        """Answer ``request`` with what ``answer`` returns, in a task; meanwhile no further request is read."""
        self.busy = True
        task = self.loop.create_task(self._answer_later(request, answer))
        self.server._connections.add(task)
        task.add_done_callback(self.server._connections.discard)

    async def _answer_later(self, request: _Request, answer: Coroutine[Any, Any, bytes | None]) -> None:
        try:
            payload = await answer
        except asyncio.CancelledError:  # the server is stopping
            self.close()
            return
        except BaseException:
            self.close()
            raise
        self.busy = False
        if self.closed:
            return
        self._answer(200, payload, request.keep_alive, request.cors)
        if not request.keep_alive:
            self.close()
            return
        self._wait()
        self._serve()

    def _upgrade(self, request: _Request) -> None:
        """Hand the connection, and what it has read after the request, to a stream reader and writer: the
        WebSocket's handshake and session (``Server._websocket``)."""
        self.busy = True
        server, transport = self.server, self.transport
        assert transport is not None
        server._open.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES, loop=self.loop)
        protocol = asyncio.StreamReaderProtocol(
            reader, lambda reader, writer: server._websocket(request, reader, writer), loop=self.loop
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self.buffer:
            reader.feed_data(bytes(self.buffer))
            self.buffer.clear()
        if self.eof:
            reader.feed_eof()
        if self.reading_paused:
            self.reading_paused = False
            transport.resume_reading()

    # -- the idle timeout ------------------------------------------------------------

    def _wait(self) -> None:
        """The connection waits for a request from now: closed if none has come in ``idle_timeout``."""
        self.waiting_since = self.loop.time()
        if self.timer is None:
            self.timer = self.loop.call_at(self.waiting_since + self.server.idle_timeout, self._idle)

    def _idle(self) -> None:
        self.timer = None
        if self.closed or self.waiting_since is None:
            return  # (set again when it waits again)
        due = self.waiting_since + self.server.idle_timeout
        if self.loop.time() >= due:
            self.close()  # (sat idle, or took too long to send a request: no answer, as a timed-out read)
        else:
            self.timer = self.loop.call_at(due, self._idle)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server._open.discard(self)
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if self.transport is not None:
                self.transport.close()


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
        if name.lower() in SINGLE_HEADERS and name.lower() in headers:
            raise _HTTPError(400, f"two {name[:40]} headers: a request sends it once")
        headers[name.lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return _Request(method, target, keep_alive, headers)


def _cors_headers(request: _Request, allowed: str) -> tuple[str, ...]:
    """The CORS headers of an answer to an allowed origin; a preflight (``OPTIONS``) gets what it asks about."""
    headers = [f"Access-Control-Allow-Origin: {allowed}"]
    if allowed != "*":
        headers.append("Vary: Origin")
    if request.method == "OPTIONS":
        headers += [
            "Access-Control-Allow-Methods: POST, GET, OPTIONS",
            "Access-Control-Allow-Headers: Content-Type",
            "Access-Control-Max-Age: 600",
        ]
        if request.headers.get("access-control-request-private-network", "").lower() == "true":
            headers.append("Access-Control-Allow-Private-Network: true")  # a public page calling this machine
    return tuple(headers)


def _check_content_type(value: str | None) -> None:
    """A body is ``application/json`` (a ``charset`` of UTF-8 allowed): a page's form or ``text/plain`` is not."""
    media, _, parameters = (value or "").partition(";")
    if media.strip().lower() != "application/json":
        found = f"found {value[:80]!r}" if value is not None else "found none"
        raise _HTTPError(
            415,
            f"a JSON-RPC body is sent with Content-Type: application/json, {found} "
            "(with curl: -H 'Content-Type: application/json')",
            reason="unsupported_media_type",
        )
    for parameter in parameters.split(";"):
        name, _, charset = parameter.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise _HTTPError(
                415, f"JSON is read as UTF-8, found charset {charset.strip()[:40]!r}", reason="unsupported_media_type"
            )


def _error_body(code: int, message: str, reason: str | None = None) -> bytes:
    return json.dumps({"jsonrpc": JSONRPC, "id": None, "error": RPCError(code, message, reason).to_json()}).encode()


def _path(target: str) -> str:
    """A request target's path (without its query)."""
    return target.partition("?")[0]


def _wants_html(accept: str) -> bool:
    """Whether an ``Accept`` header names a web page (a browser's navigation does; curl and the clients do not)."""
    return any(part.partition(";")[0].strip().lower() == "text/html" for part in accept.split(","))
