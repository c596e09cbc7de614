"""Live subscriptions over a node's WebSocket: the client end of docs/rpc.md's "Subscriptions".

``WebSocketSubscription(url, kind, params)`` opens ``ws://HOST:PORT/ws`` (the
node's JSON-RPC URL with the ``ws`` scheme and the path ``/ws``), sends
``subscribe`` and waits for its id; iterating it then yields each
notification's result as the node sends it (blocking until one comes).

It ends with an ``RPCClientError`` whose ``reason`` says why: the node
dropped the subscription because it fell behind (``SUBSCRIPTION_DROPPED``),
or the connection closed (``NO_ANSWER``); either way the subscriber
reconnects, and ``Client.events(follow=True, from_block=...)`` picks up from
a height without a gap.

The ``websockets`` library (its synchronous client) is imported here only:
``HTTPTransport.subscribe`` imports this module the first time it is used, so
``import wasmchain`` stays light.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import deque
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from wasmchain.client.transport import BAD_ANSWER, NO_ANSWER, RPCClientError, describe

SUBSCRIPTION_DROPPED = "subscription_dropped"
"""The reason of an ``RPCClientError`` when the node dropped the subscription (it fell behind)."""
PATH = "/ws"
"""Where a node serves its WebSocket."""


def websocket_url(url: str) -> str:
    """The WebSocket URL of a node's ``http://HOST:PORT`` URL: ``ws://HOST:PORT/ws``."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise RPCClientError(None, f"a node URL is http://HOST:PORT (as `wasmchain devnet` prints it), found {url!r}")
    return urllib.parse.urlunsplit(("ws", parsed.netloc, PATH, "", ""))


class WebSocketSubscription:
    """One subscription on its own WebSocket: an iterator of its results (JSON objects), oldest first."""

    def __init__(
        self,
        url: str,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float = 60.0,
        max_size: int = 64 * 1024 * 1024,
    ) -> None:
        self.url = websocket_url(url)
        self.kind = kind
        self._early: deque[Any] = deque()
        """Notifications that came before ``subscribe``'s answer (kept, then filtered by the id)."""
        self._results: deque[Any] = deque()
        self._closed = False
        try:
            # legacy=True: the documented form that returns the connection (this class closes it) rather than a
            # context manager; without it websockets 17.1+ warns.  No proxy: a node is reached directly, as over HTTP.
            self._socket: ClientConnection = connect(
                self.url, open_timeout=timeout, proxy=None, compression=None, max_size=max_size, legacy=True
            )
        except InvalidStatus as error:
            raise RPCClientError(
                None,
                f"the node at {self.url} refused the WebSocket (HTTP {error.response.status_code}): "
                "a node older than wasmchain's subscriptions serves no /ws, and a node's Host and Origin "
                "rules apply to it as to its JSON-RPC",
            ) from None
        except (OSError, TimeoutError, WebSocketException) as error:
            raise RPCClientError(
                None,
                f"cannot open a WebSocket to {self.url}: {error or type(error).__name__} "
                "(is a node running there? start one with `make run` or `wasmchain devnet`)",
            ) from None
        try:
            self.id = self._subscribe({"kind": kind, **(params or {})}, timeout)
        except BaseException:
            self.close()
            raise

    def _subscribe(self, params: dict[str, Any], timeout: float) -> str:
        self._send({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": params})
        while True:
            for message in self._receive(timeout):
                if isinstance(message, dict) and message.get("id") == 1:
                    error = message.get("error")
                    if isinstance(error, dict):
                        data = error.get("data")
                        reason = data.get("reason") if isinstance(data, dict) else None
                        raise RPCClientError(
                            error.get("code") if type(error.get("code")) is int else None,
                            str(error.get("message", "subscribe failed")),
                            reason if isinstance(reason, str) else None,
                        )
                    result = message.get("result")
                    if not isinstance(result, str):
                        raise self._bad(f"subscribe with {describe(result)}, not a subscription id")
                    return result
                self._early.append(message)

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._socket.send(json.dumps(message))
        except ConnectionClosed as error:
            raise self._closed_error(error) from None

    def _receive(self, timeout: float | None = None) -> list[Any]:
        """The next frame's messages (a batch is several); raises when the connection closes."""
        try:
            raw = self._socket.recv(timeout)
        except TimeoutError:
            raise RPCClientError(
                None, f"the node at {self.url} did not answer subscribe within {timeout:g} s", "slow_answer"
            ) from None
        except ConnectionClosed as error:
            raise self._closed_error(error) from None
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):
            raise self._bad(f"a frame that is not JSON: {str(raw)[:80]!r}") from None
        return message if isinstance(message, list) else [message]

    def _closed_error(self, error: ConnectionClosed) -> RPCClientError:
        received = error.rcvd
        why = f" ({received.code} {received.reason})".rstrip() if received is not None else ""
        return RPCClientError(
            None, f"the node at {self.url} closed the subscription's connection{why}; reconnect", NO_ANSWER
        )

    def _bad(self, what: str) -> RPCClientError:
        return RPCClientError(None, f"the node at {self.url} sent {what}", BAD_ANSWER)

    def _take(self, message: Any) -> None:
        """Queue a notification's result if it is this subscription's; a drop notice raises."""
        if not isinstance(message, dict) or message.get("method") != "subscription":
            return  # (an answer to nothing we asked, or another subscription's)
        params = message.get("params")
        if not isinstance(params, dict) or params.get("subscription") != self.id:
            return
        result = params.get("result")
        dropped = params.get("dropped")
        if dropped is None and isinstance(result, dict) and set(result) == {"dropped"}:
            dropped = result["dropped"]
        if dropped is not None:
            self.close()
            raise RPCClientError(
                None, f"the node dropped this subscription: {dropped}; reconnect", SUBSCRIPTION_DROPPED
            )
        self._results.append(result)

    def __iter__(self) -> WebSocketSubscription:
        return self

    def __next__(self) -> Any:
        while not self._results:
            if self._closed:
                raise StopIteration
            if self._early:
                self._take(self._early.popleft())
                continue
            for message in self._receive():
                self._take(message)
        return self._results.popleft()

    def close(self) -> None:
        """Close the connection (the node forgets the subscription); iterating then stops."""
        if not self._closed:
            self._closed = True
            self._socket.close()
