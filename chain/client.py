"""A Python client for a wasmchain node: JSON-RPC over HTTP, or in-process.

``Client.call(method, **params)`` is one JSON-RPC call; it returns the
result or raises ``RPCClientError`` with the node's code and message.  Two
transports carry it:

- ``HTTPTransport(url)``: a running ``wasmchain devnet``; one kept-alive
  connection per thread;
- ``LocalTransport(dispatcher)``: a ``Dispatcher`` in this process (the
  pytest fixture, the embedded CLI): no server, no port, same answers.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any, Protocol

from .rpc import Dispatcher, RPCError

DEFAULT_TIMEOUT = 60.0


class RPCClientError(Exception):
    """The node answered with an error, or could not be reached (code ``None``)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Transport(Protocol):
    def call(self, method: str, params: dict[str, Any]) -> Any: ...

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]: ...


class LocalTransport:
    """Calls a dispatcher in this process; results go through JSON as over HTTP."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            result = self.dispatcher.call(method, params)
        except RPCError as error:
            raise RPCClientError(error.code, error.message) from None
        return json.loads(json.dumps(result))  # the same types a remote caller sees

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
        results: list[Any | RPCClientError] = []
        for method, params in calls:
            try:
                results.append(self.call(method, params))
            except RPCClientError as error:
                results.append(error)
        return results


class HTTPTransport:
    """JSON-RPC over HTTP/1.1 with a kept-alive connection per thread."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise RPCClientError(None, f"a node URL is http://HOST:PORT, found {url!r}")
        self.url = url
        self.host = parsed.hostname
        self.port = parsed.port or 80
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
        payload = [{"jsonrpc": "2.0", "id": first + index, "method": method, "params": params}
                   for index, (method, params) in enumerate(calls)]
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
        raise RPCClientError(error.get("code"), error.get("message", "unknown error"))
    return reply.get("result")


class Client:
    """One node; ``call`` is a raw JSON-RPC call (see docs/rpc.md for the methods)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @classmethod
    def connect(cls, url: str, timeout: float = DEFAULT_TIMEOUT) -> "Client":
        return cls(HTTPTransport(url, timeout))

    def call(self, method: str, /, **params: Any) -> Any:
        """One call; parameters by name (``from`` is a keyword: pass ``**{"from": ...}``)."""
        return self.transport.call(method, params)
