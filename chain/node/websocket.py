"""WebSocket (RFC 6455), the server side, for the node's live subscriptions on ``GET /ws`` (docs/rpc.md).

The HTTP server (``server.py``) reads the upgrade request and checks it as
any other (``Host``, ``Origin``); ``check_handshake`` checks the WebSocket
headers and ``handshake_response`` is the ``101`` answer.  A ``Session`` then
owns the connection: JSON-RPC over text messages, ``subscribe`` and
``unsubscribe`` through the node's hub (``subscriptions.py``), every other
method the ``Dispatcher``'s, as over ``POST``; and, per subscription, a pump
that waits on its ``wakeup`` and sends what ``take()`` gives as
notifications.

Only what a JSON-RPC subscriber needs, and strictly: no extensions (a
reserved bit set closes with ``1002``), no subprotocols, text messages only
(binary closes with ``1003``), client frames masked, control frames of at
most 125 bytes and never fragmented, fragmented messages reassembled, a
message over ``MAX_MESSAGE_BYTES`` refused (``1009``) before it is read, text
that is not UTF-8 refused (``1007``); pings are answered, pongs ignored.
Bounded: ``MAX_SUBSCRIPTIONS`` per connection; a connection whose unsent
bytes pass ``SEND_BUFFER_LIMIT`` (a client that does not read) is closed at
once, so nothing ever waits on a slow reader; a connection with no
subscription sits idle at most ``IDLE_TIMEOUT`` seconds.  Everything runs on
the server's one loop thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from wasmchain.node.jsonrpc import (
    INVALID_PARAMS,
    JSONRPC,
    LIMIT_EXCEEDED,
    Limits,
    RPCError,
    answering,
)
from wasmchain.node.rpc import TURN, TURN_AFTER, GasBudget

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455's constant, appended to the client's key for ``Sec-WebSocket-Accept``."""
PATH = "/ws"
"""Where the node serves its WebSocket."""
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""One incoming message (all its fragments): a transaction of the largest size (1 MiB) as hex, and more."""
MAX_SUBSCRIPTIONS = 64
"""Subscriptions one connection may hold at once."""
SEND_BUFFER_LIMIT = 16 * 1024 * 1024
"""Bytes written to a connection and not yet taken by its client; past it the connection is closed."""
IDLE_TIMEOUT = 120.0
"""Seconds a connection without subscriptions may go without a message."""
CLOSE_TIMEOUT = 2.0
"""Seconds to wait for the client's close frame after sending ours."""

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_OPCODES = (CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG)

NORMAL, GOING_AWAY, PROTOCOL_ERROR, UNSUPPORTED_DATA = 1000, 1001, 1002, 1003
INVALID_DATA, POLICY_VIOLATION, MESSAGE_TOO_BIG, INTERNAL = 1007, 1008, 1009, 1011


class ProtocolError(Exception):
    """A client's frame that breaks RFC 6455 or the node's bounds: the connection is closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class HandshakeError(Exception):
    """An upgrade request the node refuses: answered over HTTP with ``status`` (and ``headers``)."""

    def __init__(self, status: int, message: str, headers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


# -- the handshake ----------------------------------------------------------------------------------


def is_upgrade(headers: dict[str, str]) -> bool:
    """Whether a request asks to become a WebSocket (``Upgrade: websocket``)."""
    return "websocket" in _tokens(headers.get("upgrade", ""))


def check_handshake(headers: dict[str, str]) -> str:
    """The ``Sec-WebSocket-Accept`` value for a valid upgrade request (lowercased header names); else
    ``HandshakeError``."""
    if not is_upgrade(headers) or "upgrade" not in _tokens(headers.get("connection", "")):
        raise HandshakeError(
            426,
            f"{PATH} is a WebSocket: connect with a WebSocket client (Upgrade: websocket, Connection: Upgrade); "
            "JSON-RPC calls are also served by POST to any path",
            ("Upgrade: websocket",),
        )
    version = headers.get("sec-websocket-version")
    if version != "13":
        raise HandshakeError(
            426, f"WebSocket version 13 is served, found {(version or 'none')[:20]!r}", ("Sec-WebSocket-Version: 13",)
        )
    key = headers.get("sec-websocket-key", "")
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        decoded = b""
    if len(decoded) != 16:
        raise HandshakeError(400, f"Sec-WebSocket-Key must be 16 bytes in base64, found {key[:40]!r}")
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def handshake_response(accept: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


# -- frames -------------------------------------------------------------------------------------------


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame; a server's are unmasked (``mask`` is for a client: the tests')."""
    length = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask is not None else 0
    if length < 126:
        head += bytes([bit | length])
    elif length < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", length)
    if mask is None:
        return head + payload
    return head + mask + unmask(payload, mask)


def unmask(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XOR the repeated 4-byte ``mask`` (masking and unmasking are the same)."""
    if not payload:
        return payload
    length = len(payload)
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


def close_payload(code: int, reason: str) -> bytes:
    return struct.pack("!H", code) + reason.encode()[:123]


async def read_frame(reader: asyncio.StreamReader, limit: int) -> tuple[bool, int, bytes]:
    """One client frame: (fin, opcode, unmasked payload); ``ProtocolError`` for a frame the node refuses."""
    first, second = await reader.readexactly(2)
    fin, opcode = bool(first & 0x80), first & 0x0F
    if first & 0x70:
        raise ProtocolError(PROTOCOL_ERROR, "reserved bits set: no extension was agreed")
    if opcode not in _OPCODES:
        raise ProtocolError(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
    if not second & 0x80:
        raise ProtocolError(PROTOCOL_ERROR, "a client's frames must be masked")
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
        if length >> 63:
            raise ProtocolError(PROTOCOL_ERROR, "a frame's length has its top bit set")
    if opcode >= CLOSE and (length > 125 or not fin):
        raise ProtocolError(PROTOCOL_ERROR, "a control frame is at most 125 bytes and never fragmented")
    if length > limit:
        raise ProtocolError(MESSAGE_TOO_BIG, f"a message is at most {limit} bytes, found a frame of {length}")
    mask = await reader.readexactly(4)
    return fin, opcode, unmask(await reader.readexactly(length), mask)


# -- what a session needs of the node's hub (subscriptions.py) -----------------------------------------


class LiveSubscription(Protocol):
    id: str
    wakeup: asyncio.Event | None
    dropped: str | None

    def take(self) -> list[Any]: ...


class SubscriptionHub(Protocol):
    def subscribe(self, kind: str, params: dict[str, Any] | None) -> Any: ...

    def unsubscribe(self, subscription_id: str) -> bool: ...


Call = Callable[[str, Any, GasBudget], Any]
"""The dispatcher's ``call(method, params, budget)``."""


class Session:
    """One WebSocket connection after its handshake: JSON-RPC messages in, answers and notifications out."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        call: Call,
        limits: Limits,
        hub: SubscriptionHub | None,
        *,
        max_message: int = MAX_MESSAGE_BYTES,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        send_limit: int = SEND_BUFFER_LIMIT,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.call = call
        self.limits = limits
        self.hub = hub
        self.max_message = max_message
        self.max_subscriptions = max_subscriptions
        self.send_limit = send_limit
        self.idle_timeout = idle_timeout
        self.subscriptions: dict[str, LiveSubscription] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._new: list[LiveSubscription] = []
        """Subscribed during the message being answered: their pumps start once the answer is sent."""
        self._closed = False

    async def run(self) -> None:
        try:
            while not self._closed:
                async with asyncio.timeout(None if self.subscriptions else self.idle_timeout):
                    text = await self._next_message()
                if text is None:
                    return
                await self._answer(text)
        except ProtocolError as error:
            await self._close(error.code, error.reason)
        except TimeoutError:
            await self._close(NORMAL, f"idle for {self.idle_timeout:g} s without a subscription")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except asyncio.CancelledError:
            self._send_close(GOING_AWAY, "the node is stopping")
            raise
        finally:
            for task in self._pumps.values():
                task.cancel()
            if self.hub is not None:
                for subscription_id in self.subscriptions:
                    self.hub.unsubscribe(subscription_id)
            self.subscriptions.clear()
            self.writer.close()

    # -- reading ---------------------------------------------------------------------------------------

    async def _next_message(self) -> str | None:
        """The next text message, pings answered on the way; ``None`` once the client closed."""
        parts: list[bytes] = []
        size = 0
        opcode_of_message: int | None = None
        while True:
            fin, opcode, payload = await read_frame(self.reader, self.max_message - size)
            if opcode == PING:
                self._send(encode_frame(PONG, payload))
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                self._answer_close(payload)
                return None
            if opcode == CONTINUATION:
                if opcode_of_message is None:
                    raise ProtocolError(PROTOCOL_ERROR, "a continuation frame with no message to continue")
            elif opcode_of_message is not None:
                raise ProtocolError(PROTOCOL_ERROR, "a new message began before the fragmented one ended")
            else:
                opcode_of_message = opcode
            parts.append(payload)
            size += len(payload)
            if fin:
                break
        if opcode_of_message == BINARY:
            raise ProtocolError(UNSUPPORTED_DATA, "send JSON-RPC as text messages, not binary")
        try:
            return b"".join(parts).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(INVALID_DATA, "a text message must be UTF-8") from None

    def _answer_close(self, payload: bytes) -> None:
        """The client's close frame: answered with the same code (a bad one with 1002), then the end."""
        code, reason = NORMAL, ""
        if len(payload) == 1:
            code, reason = PROTOCOL_ERROR, "a close frame's payload is a code of 2 bytes and a reason"
        elif len(payload) >= 2:
            (code,) = struct.unpack("!H", payload[:2])
            if not (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011) or 3000 <= code <= 4999):
                code, reason = PROTOCOL_ERROR, f"close code {code} is not one a client may send"
            else:
                try:
                    payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    code, reason = INVALID_DATA, "a close frame's reason must be UTF-8"
        self._send_close(code, reason)

    # -- answering -------------------------------------------------------------------------------------

    async def _answer(self, text: str) -> None:
        budget = GasBudget(self.limits.batch_gas)

        def call(method: str, params: Any) -> Any:
            if method == "subscribe":
                return self._subscribe(params)
            if method == "unsubscribe":
                return self._unsubscribe(params)
            return self.call(method, params, budget)

        steps = answering(text.encode(), call, self.limits)
        turn_due = time.monotonic() + TURN_AFTER
        while True:
            try:
                next(steps)
            except StopIteration as done:
                answer: bytes | None = done.value
                break
            if time.monotonic() >= turn_due:  # (as Dispatcher.serve: others are served between a batch's calls)
                await asyncio.sleep(TURN)
                turn_due = time.monotonic() + TURN_AFTER
        if answer is not None:
            self._send(encode_frame(TEXT, answer))
        new, self._new = self._new, []
        for subscription in new:
            if subscription.id in self.subscriptions and not self._closed:
                self._pumps[subscription.id] = asyncio.create_task(self._pump(subscription))

    def _subscribe(self, params: Any) -> str:
        if isinstance(params, list) and len(params) in (1, 2) and (len(params) == 1 or isinstance(params[1], dict)):
            params = {"kind": params[0], **(params[1] if len(params) == 2 else {})}
        if not isinstance(params, dict) or "kind" not in params:
            raise RPCError(
                INVALID_PARAMS,
                'invalid params: subscribe takes {"kind": "blocks" | "events" | "pending", ...filters}',
            )
        if self.hub is None:
            raise RPCError(INVALID_PARAMS, "invalid params: this node serves no subscriptions")
        if len(self.subscriptions) >= self.max_subscriptions:
            raise RPCError(
                LIMIT_EXCEEDED,
                f"this connection has {self.max_subscriptions} subscriptions already: unsubscribe one first",
                "too_many_subscriptions",
            )
        subscription: LiveSubscription = self.hub.subscribe(params["kind"], params)
        if subscription.wakeup is None:
            subscription.wakeup = asyncio.Event()
        self.subscriptions[subscription.id] = subscription
        self._new.append(subscription)
        return subscription.id

    def _unsubscribe(self, params: Any) -> bool:
        if isinstance(params, list) and len(params) == 1:
            params = {"subscription": params[0]}
        if (
            not isinstance(params, dict)
            or set(params) != {"subscription"}
            or not isinstance(params["subscription"], str)
        ):
            raise RPCError(INVALID_PARAMS, 'invalid params: unsubscribe takes {"subscription": ID}')
        subscription_id = params["subscription"]
        if self.subscriptions.pop(subscription_id, None) is None:
            return False  # (another connection's ids are not this one's to end)
        task = self._pumps.pop(subscription_id, None)
        if task is not None:
            task.cancel()
        if self.hub is not None:
            self.hub.unsubscribe(subscription_id)
        return True

    async def _pump(self, subscription: LiveSubscription) -> None:
        """Send a subscription's results as they are queued; after a drop, one last notification, and it ends."""
        wakeup = subscription.wakeup
        assert wakeup is not None
        while not self._closed:
            await wakeup.wait()
            for result in subscription.take():
                self._notify(subscription.id, result)
            if subscription.dropped is not None:
                self._notify(subscription.id, {"dropped": subscription.dropped})
                self.subscriptions.pop(subscription.id, None)
                self._pumps.pop(subscription.id, None)
                if self.hub is not None:
                    self.hub.unsubscribe(subscription.id)
                return

    def _notify(self, subscription_id: str, result: Any) -> None:
        notification = {
            "jsonrpc": JSONRPC,
            "method": "subscription",
            "params": {"subscription": subscription_id, "result": result},
        }
        self._send(encode_frame(TEXT, json.dumps(notification, separators=(",", ":")).encode()))

    # -- writing ---------------------------------------------------------------------------------------

    def _send(self, frame: bytes) -> None:
        """Write without waiting; a client that lets ``send_limit`` bytes pile up is cut off."""
        if self._closed or self.writer.is_closing():
            return
        self.writer.write(frame)
        if self.writer.transport.get_write_buffer_size() > self.send_limit:
            self._closed = True
            self.writer.transport.abort()  # (a close frame would wait behind what it does not read)

    def _send_close(self, code: int, reason: str) -> None:
        self._send(encode_frame(CLOSE, close_payload(code, reason)))
        self._closed = True

    async def _close(self, code: int, reason: str) -> None:
        """Our close frame, then the client's (or ``CLOSE_TIMEOUT``), then the end."""
        self._send_close(code, reason)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.writer.drain()
                while True:
                    _, opcode, _ = await read_frame(self.reader, 125)
                    if opcode == CLOSE:
                        return
        except (TimeoutError, ProtocolError, asyncio.IncompleteReadError, ConnectionError):
            return
