"""The client's live iterators (client.blocks(), client.events(follow=True), client.pending_transactions()) and
``wasmchain events --follow``, over the client's real WebSocket end (chain/client/live.py) against a stand-in server:
a thread that speaks docs/rpc.md's subscription protocol over a node's hub (tests/e2e/test_events_follow.py runs
the same against a real devnet)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.chain.test_node import DEV, OUTSIDER, deploy_token, new_node, token_transfer
from tests.helpers.cli import refused, wasmchain
from wasmchain.cli import commands
from wasmchain.client.client import Client
from wasmchain.client.live import SUBSCRIPTION_DROPPED, WebSocketSubscription, websocket_url
from wasmchain.client.local import LocalTransport
from wasmchain.client.transport import RPCClientError
from wasmchain.node.datadir import DataDir
from wasmchain.node.jsonrpc import INVALID_PARAMS, RPCError
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.node.subscriptions import Subscription
from wasmchain.protocol.keys import contract_address, format_address

TOKEN = contract_address(DEV[0].address, 0)


class StandIn:
    """A node whose JSON-RPC is called in process and whose subscriptions are served over a real WebSocket.

    One lock around everything that touches the node (it is single-threaded), as the server's loop would be.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self.lock = threading.RLock()
        self.local = LocalTransport(Dispatcher(node))
        self.server: Server = serve(self._handle, "127.0.0.1", 0, process_request=self._only_ws)
        self.url = f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.before_head: Callable[[], None] | None = None
        """Run once before the next ``chain_info`` answer (to commit a block between subscribing and the head)."""

    # the transport: calls in process, subscriptions over the WebSocket
    mines_while_waiting = True

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "chain_info" and self.before_head is not None:
            hook, self.before_head = self.before_head, None
            hook()
        with self.lock:
            return self.local.call(method, params)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        with self.lock:
            return self.local.batch(calls)

    def subscribe(self, kind: str, params: dict[str, Any]) -> WebSocketSubscription:
        return WebSocketSubscription(self.url, kind, params, timeout=10)

    def client(self) -> Client:
        return Client(self)  # type: ignore[arg-type]

    # the server
    serves_ws = True

    def _only_ws(self, connection: ServerConnection, request: Any) -> Any:
        if request.path != "/ws" or not self.serves_ws:
            return connection.respond(404, "not found\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        mine: dict[str, Subscription] = {}
        try:
            while True:
                try:
                    raw = connection.recv(timeout=0.0005)
                except TimeoutError:
                    pass
                else:
                    self._answer(connection, json.loads(raw), mine)
                with self.lock:
                    taken = [(sub, sub.take(), sub.dropped) for sub in mine.values()]
                for subscription, results, dropped in taken:
                    for result in results:
                        connection.send(json.dumps(notification(subscription.id, result)))
                    if dropped is not None:
                        connection.send(json.dumps(notification(subscription.id, {"dropped": dropped})))
                        connection.close()
                        return
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                for subscription_id in mine:
                    self.node.hub.unsubscribe(subscription_id)

    def _answer(self, connection: ServerConnection, request: dict[str, Any], mine: dict[str, Subscription]) -> None:
        try:
            with self.lock:
                if request["method"] == "subscribe":
                    subscription = self.node.hub.subscribe(request["params"]["kind"], request["params"])
                    mine[subscription.id] = subscription
                    result: Any = subscription.id
                else:
                    result = self.node.hub.unsubscribe(request["params"]["subscription"])
                    mine.pop(request["params"]["subscription"], None)
        except RPCError as error:
            connection.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error.to_json()}))
            return
        connection.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}))

    def submit(self, signed: Any) -> None:
        with self.lock:
            self.node.submit(signed)

    def mine(self, blocks: int = 1) -> None:
        with self.lock:
            self.node.mine(blocks)

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


def notification(subscription_id: str, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"subscription": subscription_id, "result": result}}


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    node = new_node()
    node.submit(deploy_token(DEV[0], 0))
    server = StandIn(node)
    yield server
    server.close()


def transfer(stand_in: StandIn, nonce: int, amount: int) -> None:
    stand_in.submit(token_transfer(DEV[0], nonce, TOKEN, OUTSIDER, amount))


def next_within(iterator: Iterator[Any], seconds: float = 10.0) -> Any:
    """``next`` in a thread, so that a missing result fails the test instead of hanging it."""
    found: list[Any] = []
    errors: list[BaseException] = []

    def take() -> None:
        try:
            found.append(next(iterator))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(seconds)
    if errors:
        raise errors[0]
    assert found, f"nothing came within {seconds} s"
    return found[0]


# -- the URL ----------------------------------------------------------------------------------------


def test_the_websocket_url_is_the_node_url_with_ws_and_path_ws() -> None:
    assert websocket_url("http://127.0.0.1:8545") == "ws://127.0.0.1:8545/ws"
    assert websocket_url("http://localhost:9/") == "ws://localhost:9/ws"
    with pytest.raises(RPCClientError, match="a node URL is http://HOST:PORT"):
        websocket_url("https://x:1")


# -- the iterators -------------------------------------------------------------------------------------


def test_blocks_yields_each_committed_block_as_get_block_reports_it(stand_in: StandIn) -> None:
    client = stand_in.client()
    with client.blocks() as blocks:
        stand_in.mine(2)
        transfer(stand_in, 1, 5)
        got = [next_within(blocks) for _ in range(3)]
    assert [block["height"] for block in got] == [2, 3, 4]
    assert got == [client.call("get_block", block=height) for height in (2, 3, 4)]
    assert len(got[2]["transactions"]) == 1


def test_pending_transactions_yields_admissions(stand_in: StandIn) -> None:
    with stand_in.client().pending_transactions() as pending:
        transfer(stand_in, 1, 5)
        found = next_within(pending)
    assert found["from"] == format_address(DEV[0].address) and found["method"] == "transfer" and found["nonce"] == 1


def test_events_follow_yields_the_past_then_the_live_ones_filtered(stand_in: StandIn) -> None:
    transfer(stand_in, 1, 1)
    transfer(stand_in, 2, 2)
    client = stand_in.client()
    with client.events(contract=TOKEN, name="Transfer", from_block=3, follow=True) as events:
        transfer(stand_in, 3, 3)
        stand_in.mine()
        transfer(stand_in, 4, 4)
        amounts = [next_within(events).data["amount"] for _ in range(3)]
    assert amounts == [2, 3, 4]  # block 2 (amount 1) is before from_block


def test_events_follow_has_no_gap_and_no_duplicate_around_the_head(stand_in: StandIn) -> None:
    """A block committed after the subscription and before the head is read is in both the past events and the
    subscription's queue: it is yielded once."""
    transfer(stand_in, 1, 1)
    stand_in.before_head = lambda: transfer(stand_in, 2, 2)
    with stand_in.client().events(name="Transfer", follow=True) as events:
        transfer(stand_in, 3, 3)
        got = [next_within(events) for _ in range(4)]
    assert [event.data["amount"] for event in got] == [1000, 1, 2, 3]  # the init's mint, then the transfers
    assert [event.block_height for event in got] == [1, 2, 3, 4]
    assert len({(event.tx_hash, event.log_index) for event in got}) == 4


def test_events_follow_takes_no_to_block_and_checks_its_filters(stand_in: StandIn) -> None:
    with pytest.raises(Exception, match="takes no to_block"):
        stand_in.client().events(to_block=3, follow=True)  # type: ignore[call-overload]
    with pytest.raises(RPCClientError) as refused:
        WebSocketSubscription(stand_in.url, "events", {"contract": "0x12"}, timeout=10)
    assert refused.value.code == INVALID_PARAMS and "contract must be 0x followed by 40 hex digits" in str(
        refused.value
    )


def test_a_subscriber_that_falls_behind_is_told_it_was_dropped(stand_in: StandIn) -> None:
    stand_in.node.hub.queue_limit = 3
    blocks = stand_in.client().blocks()
    with stand_in.lock:  # (the server cannot send meanwhile: the queue fills as with a slow subscriber)
        stand_in.node.mine(4)
    with pytest.raises(RPCClientError) as dropped:
        for _ in range(5):
            next_within(blocks)
    assert dropped.value.reason == SUBSCRIPTION_DROPPED
    assert str(dropped.value).startswith("the node dropped this subscription: it fell behind: 3 notifications")
    assert str(dropped.value).endswith("; reconnect")
    with pytest.raises(StopIteration):
        next(blocks)


def test_a_closed_connection_ends_the_iterator_with_a_clear_error(stand_in: StandIn) -> None:
    blocks = stand_in.client().blocks()
    stand_in.close()
    with pytest.raises(RPCClientError, match="closed the subscription's connection.*; reconnect") as closed:
        next_within(blocks)
    assert closed.value.reason == "no_answer"


def test_a_node_without_a_websocket_is_named(stand_in: StandIn) -> None:
    stand_in.serves_ws = False
    with pytest.raises(RPCClientError, match=r"refused the WebSocket \(HTTP 404\): a node older than"):
        stand_in.client().blocks()
    stand_in.close()
    with pytest.raises(RPCClientError, match="cannot open a WebSocket to ws://127.0.0.1"):
        stand_in.client().blocks()


# -- the latency of an event ----------------------------------------------------------------------------


def test_an_event_reaches_the_iterator_soon_after_its_block_is_committed(stand_in: StandIn) -> None:
    """The issue's 100 ms: from the block's commit (the hub told of it) to the event yielded.  A measurement
    (printed with -s), asserted under a generous bound so that a loaded machine does not fail it."""
    committed: list[float] = []
    hub = stand_in.node.hub
    publish = hub.block_committed

    def timed(block: Any, receipts: Any) -> None:
        committed.append(time.perf_counter())
        publish(block, receipts)

    hub.block_committed = timed  # type: ignore[method-assign]
    latencies = []
    with stand_in.client().events(name="Transfer", follow=True, from_block=2) as events:
        for nonce in range(1, 21):
            transfer(stand_in, nonce, nonce)
            event = next_within(events)
            latencies.append(time.perf_counter() - committed[-1])
            assert event.data["amount"] == nonce
    latencies.sort()
    print(f"\nblock to event (stand-in server): p50 {latencies[10] * 1e3:.2f} ms, max {latencies[-1] * 1e3:.2f} ms")
    assert latencies[10] < 1.0


# -- wasmchain events --follow ------------------------------------------------------------------------


class _Remote(commands.Session):
    def __init__(self, stand_in: StandIn, data: DataDir) -> None:
        super().__init__(data, stand_in.url, client=stand_in.client())


def test_events_follow_in_the_cli_emits_each_event_and_stops_at_the_limit(stand_in: StandIn, tmp_path: Any) -> None:
    transfer(stand_in, 1, 1)
    emitted: list[dict[str, Any]] = []
    session = _Remote(stand_in, DataDir(tmp_path / "data"))

    def emit(event: dict[str, Any]) -> None:
        emitted.append(event)
        if len(emitted) == 1:
            transfer(stand_in, 2, 2)

    code = commands.follow_events(session, format_address(TOKEN), "Transfer", 2, 2, emit)
    assert code == 0
    assert [event["data"]["amount"] for event in emitted] == [1, 2]
    assert emitted == stand_in.client().call("get_events", name="Transfer", from_block=2)["events"]


def test_events_follow_in_the_cli_starts_after_the_head_and_ctrl_c_exits_0(stand_in: StandIn, tmp_path: Any) -> None:
    transfer(stand_in, 1, 1)
    emitted: list[int] = []
    session = _Remote(stand_in, DataDir(tmp_path / "data"))

    def emit(event: dict[str, Any]) -> None:
        emitted.append(event["data"]["amount"])
        raise KeyboardInterrupt

    threading.Timer(0.5, lambda: transfer(stand_in, 2, 2)).start()
    assert commands.follow_events(session, None, "Transfer", None, None, emit) == 0
    assert emitted == [2]


def test_events_follow_in_the_cli_needs_a_node(tmp_path: Any) -> None:
    with pytest.raises(Exception, match=r"events --follow needs a running node: give --rpc URL or set \$WASMCHAIN_RPC"):
        commands.follow_events(commands.Session(DataDir(tmp_path)), None, None, None, None, print)


def test_the_cli_refuses_follow_without_a_node_and_with_to_block(tmp_path: Any) -> None:
    refused(
        wasmchain("events", "--follow", "--data", str(tmp_path / "data")),
        "events --follow needs a running node: give --rpc URL or set $WASMCHAIN_RPC",
    )
    refused(wasmchain("events", "--follow", "--to-block", "3", "--rpc", "http://127.0.0.1:9"), "takes no --to-block")
