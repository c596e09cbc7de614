"""How a client reaches a node: the ``Transport`` protocol, JSON-RPC over HTTP, and the errors of a call.

``HTTPTransport(url)`` talks to a running ``wasmchain devnet`` (one kept-alive connection per
thread); ``wasmchain.client.local.LocalTransport`` calls a ``Dispatcher`` in this process.  Both
raise ``RPCClientError`` with the node's code, message and reason when the node refuses a call.

An HTTP answer is not trusted either: whatever the other end sends, a call ends within
``timeout`` seconds in all (connecting, sending, and the whole answer: an answer that drips does
not reset it), reads at most ``max_answer`` bytes (an answer that announces or sends more is
refused before it is read whole), and an answer that is not JSON-RPC (not JSON, nested too deep,
an ``error`` that is not an object, a code that is not an integer) is an ``RPCClientError`` with
code ``None`` that names the node and what was wrong; its ``reason`` says which
(``SLOW_ANSWER``, ``LARGE_ANSWER``, ``BAD_ANSWER``; ``NO_ANSWER`` when the node cannot be reached).
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any, Protocol

from wasmchain.node.jsonrpc import REASONS
from wasmchain.protocol.errors import ChainError

DEFAULT_TIMEOUT = 60.0
"""Seconds one call may take in all, from connecting to the last byte of the answer."""
DEFAULT_MAX_ANSWER = 64 * 1024 * 1024
"""Bytes one answer may have: 64 MiB, 32 times a `get_raw_blocks` page of 100 transfer blocks and 60 times
one block holding a maximum-size (1 MiB) deploy, hex-encoded; a follower that meets a larger page asks for
fewer blocks (``wasmchain follow --max-answer`` raises it)."""
_CHUNK = 64 * 1024
"""Bytes read from the socket at a time."""


NO_ANSWER = "no_answer"
"""The reason of an ``RPCClientError`` when the node could not be reached or closed the connection."""
SLOW_ANSWER = "slow_answer"
"""The reason of an ``RPCClientError`` when the node did not answer in full within the transport's ``timeout``."""
LARGE_ANSWER = "answer_too_large"
"""The reason of an ``RPCClientError`` when the answer announced or sent more than ``max_answer`` bytes."""
BAD_ANSWER = "bad_answer"
"""The reason of an ``RPCClientError`` when the answer is not JSON-RPC: not JSON, too deep, or of the wrong shape."""
START_A_NODE = (
    "(is a node running there? start one with `make run` or `wasmchain devnet`;"
    " or, for the CLI, unset WASMCHAIN_RPC and leave out --rpc to work on a data directory)"
)
"""What the message of an unreachable node says to do next."""


class ClientError(ChainError):
    """A client-side error: a bad argument to the client, or an answer it cannot use."""

    reason = "client_error"


class RPCClientError(ClientError):
    """The node answered with an error, or gave no usable answer (code ``None``).

    ``reason`` is the node's stable name for what went wrong (the error's ``data.reason``, e.g.
    ``"nonce_too_low"``, ``"not_found"``; docs/rpc.md lists them), or the code's own where a node
    sends none: branch on it, not on the message.  With code ``None`` it is the transport's:
    ``"no_answer"``, ``"slow_answer"``, ``"answer_too_large"`` or ``"bad_answer"``.
    """

    reason = "rpc_client_error"

    def __init__(self, code: int | None, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else NO_ANSWER if code is None else REASONS.get(code, "unknown")


class Transport(Protocol):
    """How a ``Client`` reaches its node: ``HTTPTransport`` here, ``client.local.LocalTransport`` in process."""

    mines_while_waiting: bool
    """Whether blocks can appear while a caller waits (a running node); an in-process chain mines only when told."""

    def call(self, method: str, params: dict[str, Any]) -> Any: ...

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]: ...


class LiveResults(Protocol):
    """A live subscription's results as they come (``Client.blocks``, ``Client.events(follow=True)``)."""

    def __iter__(self) -> Iterator[Any]: ...

    def __next__(self) -> Any: ...

    def close(self) -> None: ...


class Subscribing(Protocol):
    """A transport that can subscribe (``HTTPTransport``, over the node's WebSocket)."""

    def subscribe(self, kind: str, params: dict[str, Any]) -> LiveResults: ...


class _Connection(http.client.HTTPConnection):
    """An HTTP connection whose every socket operation, connecting included, ends by one deadline."""

    deadline = math.inf
    """``time.monotonic()`` by which the request in progress must be done."""

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), min(self.remaining(), self.timeout or math.inf))
        self.sock = _DeadlineSocket(self, raw)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def abort(self) -> None:
        """Shut the socket down from any thread: a read or write in progress on it fails at once."""
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already


class _DeadlineSocket(socket.socket):
    """A connected socket whose reads and writes each wait at most until its connection's deadline."""

    def __init__(self, connection: _Connection, raw: socket.socket) -> None:
        super().__init__(fileno=raw.detach())
        self.connection = connection

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(self.connection.remaining())
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.settimeout(self.connection.remaining())
        return super().recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.settimeout(self.connection.remaining())
        super().sendall(data, flags)


class HTTPTransport:
    """JSON-RPC over HTTP/1.1 with a kept-alive connection per thread.

    ``timeout`` bounds each call's total time and ``max_answer`` the bytes of its answer (see the module).
    """

    mines_while_waiting = True

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, max_answer: int = DEFAULT_MAX_ANSWER) -> None:
        expected = f"a node URL is http://HOST:PORT (as `wasmchain devnet` prints it), found {url!r}"
        try:
            parsed = urllib.parse.urlsplit(url)
            port = parsed.port  # raises ValueError for a port that is not a number from 0 to 65535
        except ValueError:
            raise RPCClientError(None, expected) from None
        if parsed.scheme != "http" or not parsed.hostname:
            raise RPCClientError(None, expected)
        self.url = url
        self.host = parsed.hostname
        self.port = port or 80
        self.path = parsed.path or "/"
        self.timeout = timeout
        self.max_answer = max_answer
        self._local = threading.local()
        self._ids = 0
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._aborted = False

    def _connection(self) -> _Connection:
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = _Connection(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._connections.add(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._local.connection = None
        with self._lock:
            self._connections.discard(connection)

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        deadline = time.monotonic() + self.timeout
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            if self._aborted:
                raise RPCClientError(None, f"the transport to {self.url} was aborted: no more calls")
            connection = self._connection()
            connection.deadline = deadline
            response = None
            try:
                connection.request("POST", self.path, body, headers)
                response = connection.getresponse()
                data = self._read(response)
                break
            except (ConnectionError, http.client.HTTPException, OSError, RPCClientError) as error:
                if response is not None:
                    response.close()  # (it holds the socket open)
                self._drop(connection)
                if isinstance(error, RPCClientError):
                    raise
                if isinstance(error, TimeoutError):
                    raise RPCClientError(
                        None, f"the node at {self.url} did not answer within {self.timeout:g} s", SLOW_ANSWER
                    ) from None
                if attempt == 2 or self._aborted:
                    raise RPCClientError(None, f"cannot reach the node at {self.url}: {error} {START_A_NODE}") from None
            finally:
                connection.deadline = math.inf
        assert response is not None
        if response.status == 204:
            return None
        try:
            return json.loads(data)
        except RecursionError:
            raise self._bad(f"with JSON nested too deep to read (HTTP {response.status})") from None
        except ValueError:
            raise self._bad(f"with no JSON (HTTP {response.status})") from None

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        """The answer's body, at most ``max_answer`` bytes of it: more, announced or sent, is refused unread."""
        limit = self.max_answer
        if response.length is not None and response.length > limit:
            raise self._too_large(f"it announced {response.length:,}")
        chunks: list[bytes] = []  # (not a growing bytearray: its copies would double the peak)
        size = 0
        while chunk := response.read(min(_CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                chunks.clear()  # now: the error's traceback keeps this frame, and the caller may try again
                raise self._too_large("it sent more")
        return b"".join(chunks)

    def _too_large(self, detail: str) -> RPCClientError:
        return RPCClientError(
            None,
            f"the answer of the node at {self.url} is over the limit of {self.max_answer:,} bytes ({detail})",
            LARGE_ANSWER,
        )

    def _bad(self, what: str) -> RPCClientError:
        return RPCClientError(None, f"the node at {self.url} answered {what}", BAD_ANSWER)

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def call(self, method: str, params: dict[str, Any]) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": self._next_id(), "method": method, "params": params})
        return self._result(reply)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
        first = self._next_id()
        self._ids += len(calls)
        payload = [
            {"jsonrpc": "2.0", "id": first + index, "method": method, "params": params}
            for index, (method, params) in enumerate(calls)
        ]
        replies = self._post(payload)
        if not isinstance(replies, list):
            raise self._bad(f"a batch with {describe(replies)}, not a list")
        by_id = {reply["id"]: reply for reply in replies if isinstance(reply, dict) and type(reply.get("id")) is int}
        results: list[Any | RPCClientError] = []
        for index in range(len(calls)):
            try:
                results.append(self._result(by_id.get(first + index)))
            except RPCClientError as error:
                if error.reason == BAD_ANSWER:
                    raise  # the answer as a whole is not to be trusted
                results.append(error)
        return results

    def _result(self, reply: Any) -> Any:
        """A reply's result; its error as an ``RPCClientError``; a reply of any other shape refused (``BAD_ANSWER``)."""
        if not isinstance(reply, dict):
            raise self._bad(f"{describe(reply)}, not a JSON-RPC response")
        if "error" in reply:
            error = reply["error"]
            if not isinstance(error, dict):
                raise self._bad(f"an error that is not an object: {describe(error)}")
            code, message = error.get("code"), error.get("message", "unknown error")
            if type(code) is not int or not isinstance(message, str):
                raise self._bad(f"an error without an integer code and a string message: {describe(error)}")
            data = error.get("data")
            reason = data.get("reason") if isinstance(data, dict) else None
            raise RPCClientError(code, message, reason if isinstance(reason, str) else None)
        if "result" not in reply:
            raise self._bad(f"{describe(reply)}, with neither a result nor an error")
        return reply["result"]

    def subscribe(self, kind: str, params: dict[str, Any]) -> LiveResults:
        """A live subscription on its own WebSocket to the node (``ws://HOST:PORT/ws``; ``client.live``)."""
        from wasmchain.client.live import WebSocketSubscription  # (loads the websockets library on first use)

        return WebSocketSubscription(self.url, kind, params, timeout=self.timeout, max_size=self.max_answer)

    def close(self) -> None:
        """Close this thread's connection (another thread closes its own, or ``abort`` closes them all)."""
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            self._drop(connection)

    def abort(self) -> None:
        """From any thread: end every call in progress at once (``RPCClientError``) and refuse new ones."""
        self._aborted = True
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.abort()


def describe(value: Any, limit: int = 200) -> str:
    """A JSON value for a message, cut to ``limit`` characters; one too deep to print is said to be."""
    try:
        text = json.dumps(value)
    except (RecursionError, ValueError):
        return "a value nested too deep to print"
    return text if len(text) <= limit else text[: limit - 3] + "..."
