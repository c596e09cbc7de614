"""How a client reaches a node: the ``Transport`` protocol, JSON-RPC over HTTP, and the errors of a call.

``HTTPTransport(url)`` talks to a running ``wasmchain devnet`` (one kept-alive connection per
thread); ``wasmchain.client.local.LocalTransport`` calls a ``Dispatcher`` in this process.  Both
raise ``RPCClientError`` with the node's code, message and reason when the node refuses a call.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any, Protocol

from wasmchain.node.jsonrpc import REASONS
from wasmchain.protocol.errors import ChainError

DEFAULT_TIMEOUT = 60.0


NO_ANSWER = "no_answer"
"""The reason of an ``RPCClientError`` when the node could not be reached or did not answer JSON-RPC."""


class ClientError(ChainError):
    """A client-side error: a bad argument to the client, or an answer it cannot use."""

    reason = "client_error"


class RPCClientError(ClientError):
    """The node answered with an error, or gave no usable answer (code ``None``, reason ``"no_answer"``).

    ``reason`` is the node's stable name for what went wrong (the error's ``data.reason``, e.g.
    ``"nonce_too_low"``, ``"not_found"``; docs/rpc.md lists them), or the code's own where a node
    sends none: branch on it, not on the message.
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


class HTTPTransport:
    """JSON-RPC over HTTP/1.1 with a kept-alive connection per thread."""

    mines_while_waiting = True

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
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
        self._local = threading.local()
        self._ids = 0

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            connection = self._connection()
            try:
                connection.request("POST", self.path, body, headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                connection.close()
                self._local.connection = None
                if attempt == 2 or isinstance(error, TimeoutError):
                    raise RPCClientError(None, f"cannot reach the node at {self.url}: {error}") from None
        if response.status == 204:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise RPCClientError(None, f"the node at {self.url} answered HTTP {response.status} with no JSON") from None

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def call(self, method: str, params: dict[str, Any]) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": self._next_id(), "method": method, "params": params})
        return _result(reply)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
        first = self._next_id()
        self._ids += len(calls)
        payload = [
            {"jsonrpc": "2.0", "id": first + index, "method": method, "params": params}
            for index, (method, params) in enumerate(calls)
        ]
        replies = self._post(payload)
        if not isinstance(replies, list):
            raise RPCClientError(None, f"the node answered a batch with {_describe(replies)}")
        by_id = {reply.get("id"): reply for reply in replies if isinstance(reply, dict)}
        results: list[Any | RPCClientError] = []
        for index in range(len(calls)):
            try:
                results.append(_result(by_id.get(first + index)))
            except RPCClientError as error:
                results.append(error)
        return results

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _describe(reply: Any) -> str:
    text = json.dumps(reply)
    return text if len(text) <= 200 else text[:197] + "..."


def _result(reply: Any) -> Any:
    if not isinstance(reply, dict):
        raise RPCClientError(None, f"not a JSON-RPC response: {_describe(reply)}")
    if "error" in reply:
        error = reply["error"]
        data = error.get("data")
        reason = data.get("reason") if isinstance(data, dict) else None
        raise RPCClientError(
            error.get("code"), error.get("message", "unknown error"), reason if isinstance(reason, str) else None
        )
    return reply.get("result")
