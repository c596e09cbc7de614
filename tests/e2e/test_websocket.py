"""The node's WebSocket (``GET /ws``, chain/node/websocket.py): live subscriptions and JSON-RPC over text frames.

Against a real ``wasmchain devnet`` process, with a small client written here
(raw frames, so that it can also send the bad ones a library would not):
blocks, events and pending transactions arrive as they happen; a subscriber
that falls behind is told and dropped; every other method is the
dispatcher's; each kind of bad frame closes that connection only, with the
code RFC 6455 gives it; the handshake follows the Host and Origin rules of
docs/rpc.md (the node's own origin is allowed).  Then, in process, a
``Session`` with a stand-in hub: a client that does not read is cut off,
never waited for.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Devnets
from tests.e2e.tools import (
    Devnet,
    call,
    deploy_token,
    native_transfer,
    next_nonce,
    parse_response,
    rpc,
    submit,
    token_transfer,
)
from wasmchain.node import websocket
from wasmchain.node.jsonrpc import DEFAULT_LIMITS, RPCError
from wasmchain.node.websocket import (
    BINARY,
    CLOSE,
    CONTINUATION,
    MAX_MESSAGE_BYTES,
    MAX_SUBSCRIPTIONS,
    PING,
    PONG,
    TEXT,
    encode_frame,
)
from wasmchain.protocol.keys import dev_key, format_address

KEY = dev_key(4)
"""This module's sender."""
TIMEOUT = 10.0


class WS:
    """A minimal WebSocket client over a socket: masked frames in, frames out, JSON-RPC helpers."""

    def __init__(self, port: int, headers: dict[str, str] | None = None, path: str = "/ws") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = {
            "Host": f"127.0.0.1:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
            **(headers or {}),
        }
        head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items() if v) + "\r\n"
        self.sock.sendall(head.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        head_bytes, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(head_bytes.split(b" ", 2)[1]) if head_bytes else 0
        self.head = head_bytes.decode("latin-1")
        if self.status == 101:
            expected = websocket.check_handshake(
                {
                    "upgrade": "websocket",
                    "connection": "upgrade",
                    "sec-websocket-version": "13",
                    "sec-websocket-key": key,
                }
            )
            assert f"Sec-WebSocket-Accept: {expected}" in self.head, self.head
        self.next_id = 0

    def refusal(self) -> dict[str, Any]:
        """The HTTP refusal's JSON-RPC error (a handshake that was not accepted)."""
        while True:  # (read until the node closes)
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        response = parse_response(self.head.encode("latin-1") + b"\r\n\r\n" + self.buffer)
        error: dict[str, Any] = response.json()["error"]
        return error

    def close(self) -> None:
        self.sock.close()

    # -- frames ---------------------------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> None:
        self.sock.sendall(encode_frame(opcode, payload, fin=fin, mask=os.urandom(4) if mask else None))

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"the node closed the connection ({len(self.buffer)} of {count} bytes)")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        assert not second & 0x80, "a server's frames are not masked"
        assert first & 0x80, "the node does not fragment"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(length)

    def closed_with(self) -> tuple[int, str]:
        """The node's close frame (after any frames before it): its code and reason; then the connection ends."""
        while True:
            opcode, payload = self.frame()
            if opcode == CLOSE:
                break
        code = struct.unpack("!H", payload[:2])[0]
        try:  # (after a bad frame the node may reset the connection: what it has not read is garbage)
            self.send_frame(CLOSE, payload[:2])
            assert self.sock.recv(1) == b"", "the node closes the connection after the close handshake"
        except ConnectionResetError:
            pass
        return code, payload[2:].decode()

    # -- JSON-RPC -------------------------------------------------------------------------------

    def send(self, payload: Any) -> None:
        self.send_frame(TEXT, json.dumps(payload).encode())

    def message(self) -> Any:
        opcode, payload = self.frame()
        assert opcode == TEXT, (opcode, payload)
        return json.loads(payload)

    def call(self, method: str, params: Any = None) -> Any:
        """A call's answer (notifications that come before it are kept in ``self.early``)."""
        self.next_id += 1
        self.send(call(method, params, self.next_id))
        while True:
            answer = self.message()
            if answer.get("id") == self.next_id:
                return answer
            self.early.append(answer)

    early: list[Any] = []

    def notification(self, subscription: str) -> Any:
        """The next notification's result for ``subscription``."""
        for index, message in enumerate(self.early):
            if message["params"]["subscription"] == subscription:
                return self.early.pop(index)["params"]["result"]
        while True:
            message = self.message()
            assert message.get("method") == "subscription" and "id" not in message, message
            if message["params"]["subscription"] == subscription:
                return message["params"]["result"]
            self.early.append(message)


@pytest.fixture
def ws(devnet: Devnet) -> Iterator[WS]:
    client = WS(devnet.port)
    client.early = []
    assert client.status == 101, client.head
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(autouse=True)
def still_serving(devnet: Devnet) -> Iterator[None]:
    """Whatever a test sends, the node goes on answering, over HTTP and over a new WebSocket."""
    yield
    assert devnet.process.poll() is None, f"the devnet died:\n{devnet.output()}"
    assert rpc(devnet, call("chain_info"))["result"]["chain_id"]
    after = WS(devnet.port)
    after.early = []
    try:
        assert after.call("chain_info")["result"]["chain_id"]
    finally:
        after.close()


def subscribe(ws: WS, params: dict[str, Any]) -> str:
    answer = ws.call("subscribe", params)
    subscription: str = answer["result"]
    assert subscription.startswith("0x") and len(subscription) == 18, answer
    return subscription


# -- subscriptions ------------------------------------------------------------------------------------


def test_a_mined_transfers_block_arrives(devnet: Devnet, ws: WS) -> None:
    client = devnet.client()
    subscription = subscribe(ws, {"kind": "blocks"})
    signed = native_transfer(KEY, next_nonce(client, KEY), dev_key(9).address, 5)
    receipt = submit(client, signed)["receipt"]
    block = ws.notification(subscription)
    assert block["height"] == receipt["block_height"]
    assert "0x" + signed.hash.hex() in block["transactions"]
    assert block == client.call("get_block", block=block["height"]) | {"transactions": block["transactions"]}
    # devnet_mine: one notification per block, in order.
    client.call("devnet_mine", blocks=3)
    heights = [ws.notification(subscription)["height"] for _ in range(3)]
    assert heights == [block["height"] + 1, block["height"] + 2, block["height"] + 3]


def test_events_filtered_by_contract_and_name(devnet: Devnet, ws: WS) -> None:
    client = devnet.client()
    token = deploy_token(client, KEY, 1_000)["address"]
    transfers = subscribe(ws, {"kind": "events", "contract": token, "name": "Transfer"})
    other = subscribe(ws, {"kind": "events", "contract": format_address(dev_key(9).address)})
    signed = token_transfer(KEY, next_nonce(client, KEY), bytes.fromhex(token[2:]), dev_key(9).address, 7)
    receipt = submit(client, signed)["receipt"]
    event = ws.notification(transfers)
    assert event["contract"] == token and event["name"] == "Transfer"
    assert event["tx_hash"] == "0x" + signed.hash.hex() and event["block_height"] == receipt["block_height"]
    assert event["data"] == receipt["events"][0]["data"]
    assert ws.call("unsubscribe", {"subscription": other})["result"] is True
    assert not [m for m in ws.early if m["params"]["subscription"] == other]  # (no event of that contract)


def test_pending_transactions(devnet: Devnet, ws: WS) -> None:
    client = devnet.client()
    subscription = subscribe(ws, {"kind": "pending"})
    signed = native_transfer(KEY, next_nonce(client, KEY), dev_key(9).address, 1)
    submit(client, signed)
    pending = ws.notification(subscription)
    assert pending == {
        "hash": "0x" + signed.hash.hex(),
        "from": format_address(KEY.address),
        "to": format_address(dev_key(9).address),
        "method": None,
        "nonce": signed.tx.nonce,
    }


def test_unsubscribe_and_bad_params(ws: WS) -> None:
    subscription = subscribe(ws, {"kind": "blocks"})
    assert ws.call("unsubscribe", {"subscription": subscription})["result"] is True
    assert ws.call("unsubscribe", {"subscription": subscription})["result"] is False
    assert ws.call("unsubscribe", ["0x" + "00" * 8])["result"] is False
    for method, params, message in [
        ("subscribe", {"kind": "nope"}, "kind must be one of"),
        ("subscribe", {}, 'subscribe takes {"kind"'),
        ("subscribe", "blocks", 'subscribe takes {"kind"'),
        ("subscribe", {"kind": "blocks", "contract": "0x12"}, "take no filters"),
        ("subscribe", {"kind": "events", "contract": "0x12"}, "contract must be 0x followed by 40 hex digits"),
        ("unsubscribe", {}, 'unsubscribe takes {"subscription": ID}'),
        ("unsubscribe", {"subscription": 5}, 'unsubscribe takes {"subscription": ID}'),
    ]:
        error = ws.call(method, params)["error"]
        assert error["code"] == -32602 and message in error["message"], (params, error)


def test_other_methods_are_the_dispatchers(ws: WS, devnet: Devnet) -> None:
    assert ws.call("chain_info")["result"] == rpc(devnet, call("chain_info"))["result"]
    assert ws.call("no_such_method")["error"]["code"] == -32601
    ws.send([call("chain_info", request_id="a"), call("subscribe", {"kind": "blocks"}, "b"), 42])
    answers = {answer["id"]: answer for answer in ws.message()}
    assert answers["a"]["result"]["chain_id"] and answers["b"]["result"].startswith("0x")
    assert answers[None]["error"]["code"] == -32600
    ws.send_frame(TEXT, b"{not json")
    assert ws.message()["error"]["code"] == -32700
    ws.send({"jsonrpc": "2.0", "method": "chain_info"})  # a notification: no answer
    assert ws.call("chain_info")["id"] == ws.next_id


def test_subscriptions_per_connection_are_bounded(ws: WS) -> None:
    for _ in range(MAX_SUBSCRIPTIONS):
        subscribe(ws, {"kind": "pending"})
    error = ws.call("subscribe", {"kind": "pending"})["error"]
    assert error["code"] == -32006 and error["data"]["reason"] == "too_many_subscriptions", error


def test_a_subscriber_that_falls_behind_is_told_and_dropped(devnet: Devnet, ws: WS) -> None:
    """2,000 blocks in one call: the queue passes its limit before the connection is served again."""
    subscription = subscribe(ws, {"kind": "blocks"})
    ws.call("devnet_mine", {"blocks": 2000})
    last = ws.notification(subscription)
    while "dropped" not in last:
        last = ws.notification(subscription)
    assert "fell behind" in last["dropped"]
    assert ws.call("unsubscribe", {"subscription": subscription})["result"] is False  # it ended
    assert ws.call("chain_info")["result"]["chain_id"]  # the connection goes on


# -- frames --------------------------------------------------------------------------------------


def test_fragments_pings_and_close(ws: WS) -> None:
    text = json.dumps(call("chain_info", request_id=77)).encode()
    ws.send_frame(TEXT, text[:5], fin=False)
    ws.send_frame(PING, b"are you there")
    ws.send_frame(CONTINUATION, text[5:9], fin=False)
    ws.send_frame(PONG, b"unasked")  # ignored
    ws.send_frame(CONTINUATION, text[9:])
    assert ws.frame() == (PONG, b"are you there")
    assert ws.message()["id"] == 77
    ws.send_frame(CLOSE, struct.pack("!H", 1000) + b"bye")
    opcode, payload = ws.frame()
    assert opcode == CLOSE and struct.unpack("!H", payload[:2])[0] == 1000
    assert ws.sock.recv(1) == b""


BAD_FRAMES = [
    (lambda ws: ws.send_frame(TEXT, b"{}", mask=False), 1002, "must be masked"),
    (lambda ws: ws.sock.sendall(bytes([0x80 | 0x40 | TEXT, 0x80]) + os.urandom(4)), 1002, "reserved bits"),
    (lambda ws: ws.sock.sendall(bytes([0x80 | 0x3, 0x80]) + os.urandom(4)), 1002, "unknown opcode"),
    (lambda ws: ws.send_frame(BINARY, b"{}"), 1003, "text messages, not binary"),
    (lambda ws: ws.send_frame(TEXT, b'"\xff\xfe"'), 1007, "UTF-8"),
    (lambda ws: ws.send_frame(CONTINUATION, b"{}"), 1002, "no message to continue"),
    (lambda ws: (ws.send_frame(TEXT, b"{", fin=False), ws.send_frame(TEXT, b"}")), 1002, "before the fragmented"),
    (lambda ws: ws.send_frame(PING, b"x" * 126), 1002, "at most 125 bytes"),
    (lambda ws: ws.send_frame(PING, b"x", fin=False), 1002, "never fragmented"),
    (lambda ws: ws.send_frame(CLOSE, b"\x03"), 1002, "2 bytes"),
    (lambda ws: ws.send_frame(CLOSE, struct.pack("!H", 1005)), 1002, "close code 1005"),
    # Over the limit: refused by the frame's length, before its payload is read (none is sent).
    (
        lambda ws: ws.sock.sendall(bytes([0x80 | TEXT, 0x80 | 127]) + struct.pack("!Q", MAX_MESSAGE_BYTES + 1)),
        1009,
        f"at most {MAX_MESSAGE_BYTES} bytes",
    ),
    (lambda ws: ws.sock.sendall(bytes([0x80 | TEXT, 0x80 | 127]) + struct.pack("!Q", 1 << 63)), 1002, "top bit"),
    # Fragments that pass the limit together.
    (
        lambda ws: [ws.send_frame(TEXT if i == 0 else CONTINUATION, b" " * 2**20, fin=False) for i in range(5)],
        1009,
        "at most",
    ),
]


@pytest.mark.parametrize(
    ("send", "code", "reason"), BAD_FRAMES, ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(BAD_FRAMES)]
)
def test_bad_frames_close_with_their_code(ws: WS, send: Any, code: int, reason: str) -> None:
    subscribe(ws, {"kind": "blocks"})  # (ended with the connection: the hub forgets it)
    send(ws)
    closed = ws.closed_with()
    assert closed[0] == code and reason in closed[1], closed


def test_a_message_at_the_limit_is_read(ws: WS) -> None:
    start = json.dumps(call("chain_info", request_id=1)).encode()[:-1]
    text = start + b" " * (MAX_MESSAGE_BYTES - len(start) - 1) + b"}"
    assert len(text) == MAX_MESSAGE_BYTES
    ws.send_frame(TEXT, text)
    assert ws.message()["result"]["chain_id"]


# -- the handshake: HTTP's rules -------------------------------------------------------------------


def test_handshake_refusals(devnet: Devnet) -> None:
    for headers, status, message in [
        ({"Upgrade": "", "Connection": "", "Sec-WebSocket-Key": ""}, 426, "/ws is a WebSocket"),
        ({"Sec-WebSocket-Version": "8"}, 426, "version 13 is served, found '8'"),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400, "Sec-WebSocket-Key must be 16 bytes"),
        ({"Host": "attacker.example"}, 403, "Host 'attacker.example' is not allowed"),
        ({"Origin": "http://attacker.example"}, 403, "Origin 'http://attacker.example' is not allowed"),
        ({"Origin": "null"}, 403, "Origin 'null' is not allowed"),
        # The node's own origin only with its own Host and port: another port is another site.
        ({"Origin": f"http://127.0.0.1:{devnet.port + 1}"}, 403, "is not allowed"),
        ({"Origin": f"http://localhost:{devnet.port}"}, 403, "is not allowed"),  # (Host is 127.0.0.1)
        ({"Origin": f"https://127.0.0.1:{devnet.port}"}, 403, "is not allowed"),
    ]:
        client = WS(devnet.port, headers)
        try:
            assert client.status == status, (headers, client.head)
            assert message in client.refusal()["message"], headers
            assert not [line for line in client.head.lower().splitlines() if line.startswith("access-control-")]
            if status == 426 and "version" in message:
                assert "Sec-WebSocket-Version: 13" in client.head
        finally:
            client.close()


def test_the_nodes_own_origin_is_allowed(devnet: Devnet) -> None:
    for headers in [
        {"Origin": f"http://127.0.0.1:{devnet.port}"},
        {"Origin": f"http://localhost:{devnet.port}", "Host": f"localhost:{devnet.port}"},
        {"Origin": f"http://LOCALHOST:{devnet.port}", "Host": f"localhost:{devnet.port}"},
        {},  # the developer's tools send none
    ]:
        client = WS(devnet.port, headers)
        client.early = []
        try:
            assert client.status == 101, (headers, client.head)
            assert client.call("chain_info")["result"]["chain_id"]
        finally:
            client.close()
    # And a POST from the page it served (a browser sends Origin with every POST, same-origin too).
    answer = rpc_with(devnet, {"Origin": f"http://127.0.0.1:{devnet.port}"})
    assert answer.status == 200 and "access-control-allow-origin" not in answer.headers


def rpc_with(devnet: Devnet, headers: dict[str, str]) -> Any:
    from tests.e2e.tools import post

    return post(devnet, json.dumps(call("chain_info")), headers)


def test_cors_origins_let_a_page_subscribe(devnets: Devnets) -> None:
    node = devnets.start("--cors-origins", "http://localhost:3000")
    allowed = WS(node.port, {"Origin": "http://localhost:3000"})
    allowed.early = []
    refused = WS(node.port, {"Origin": "http://localhost:3001"})
    try:
        assert allowed.status == 101 and allowed.call("chain_info")["result"]["chain_id"]
        assert refused.status == 403 and refused.refusal()["data"]["reason"] == "origin_not_allowed"
    finally:
        allowed.close()
        refused.close()


# -- in process: a client that does not read ------------------------------------------------------


class StandInSubscription:
    def __init__(self, subscription_id: str) -> None:
        self.id = subscription_id
        self.wakeup: asyncio.Event | None = None
        self.dropped: str | None = None
        self.queue: list[Any] = []

    def take(self) -> list[Any]:
        taken, self.queue = self.queue, []
        if self.wakeup is not None:
            self.wakeup.clear()
        return taken


class StandInHub:
    """The spec's ``Hub`` interface, enough to drive a session."""

    def __init__(self) -> None:
        self.live: dict[str, StandInSubscription] = {}

    def subscribe(self, kind: str, params: dict[str, Any] | None) -> StandInSubscription:
        if kind != "blocks":
            raise RPCError(-32602, "invalid params: kind")
        subscription = StandInSubscription(f"0x{len(self.live) + 1:016x}")
        self.live[subscription.id] = subscription
        return subscription

    def unsubscribe(self, subscription_id: str) -> bool:
        return self.live.pop(subscription_id, None) is not None


def test_a_client_that_does_not_read_is_cut_off_and_its_subscriptions_end() -> None:
    async def scenario() -> None:
        hub = StandInHub()
        sessions: list[asyncio.Task[None]] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            session = websocket.Session(reader, writer, lambda *_: None, DEFAULT_LIMITS, hub, send_limit=256 * 1024)
            task = asyncio.current_task()
            assert task is not None
            sessions.append(task)
            await session.run()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = json.dumps(call("subscribe", {"kind": "blocks"})).encode()
        writer.write(encode_frame(TEXT, request, mask=b"abcd"))
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(2), TIMEOUT)  # (the answer's first bytes: subscribed)
        (subscription,) = hub.live.values()
        assert subscription.wakeup is not None
        block = {"height": 1, "padding": "x" * 100_000}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while hub.live and loop.time() < deadline:  # the client reads nothing more
            subscription.queue.extend([block] * 10)
            subscription.wakeup.set()
            await asyncio.sleep(0.01)
        assert not hub.live, "the session was not ended by its unread sends"
        await asyncio.wait_for(asyncio.gather(*sessions), TIMEOUT)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_a_dropped_subscription_gets_one_last_notification() -> None:
    async def scenario() -> None:
        hub = StandInHub()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await websocket.Session(reader, writer, lambda *_: None, DEFAULT_LIMITS, hub).run()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])

        async def message() -> Any:
            first, second = await reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
            return first & 0x0F, json.loads(await reader.readexactly(length))

        writer.write(encode_frame(TEXT, json.dumps(call("subscribe", {"kind": "blocks"})).encode(), mask=b"wxyz"))
        _, answer = await asyncio.wait_for(message(), TIMEOUT)
        subscription = hub.live[answer["result"]]
        assert subscription.wakeup is not None
        subscription.queue.append({"height": 1})
        subscription.dropped = "it fell behind"
        hub.live.pop(subscription.id)  # (the hub forgets a dropped one itself)
        subscription.wakeup.set()
        notes = [await asyncio.wait_for(message(), TIMEOUT) for _ in range(2)]
        assert [note["params"]["result"] for _, note in notes] == [{"height": 1}, {"dropped": "it fell behind"}]
        writer.write(encode_frame(TEXT, json.dumps(call("unsubscribe", [subscription.id], 2)).encode(), mask=b"abcd"))
        _, answer = await asyncio.wait_for(message(), TIMEOUT)
        assert answer == {"jsonrpc": "2.0", "id": 2, "result": False}
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
