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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmchain.node import websocket
from wasmchain.node.jsonrpc import INVALID_REQUEST, JSONRPC, RPCError
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
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
            server = await asyncio.start_server(self._connection, self.host, self.port, limit=MAX_HEADER_BYTES)
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
                    body = _error_body(error.code, error.message, error.reason)
                    self._write(writer, error.status, body, keep_alive=False, cors=error.headers)
                    await writer.drain()
                    return
                if request.method == "GET" and _path(request.target) == websocket.PATH:
                    await self._websocket(request, reader, writer)
                    return
                status, payload, headers = await self._respond(request, body)
                self._write(writer, status, payload, keep_alive=request.keep_alive, cors=(*request.cors, *headers))
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
            self._admit(request)
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
        body = await reader.readexactly(int(digits))  # (read before a refusal, so the client sees the refusal)
        self._admit(request)
        return request, body

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

    async def _respond(self, request: _Request, body: bytes) -> tuple[int, bytes | None, tuple[str, ...]]:
        """The status, body and extra header lines of a request's answer (a JSON body unless they name a type)."""
        if request.method == "POST":
            return 200, await self.dispatcher.serve(body), ()  # (a batch lets the loop serve others between calls)
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

    @staticmethod
    def _write(
        writer: asyncio.StreamWriter,
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
