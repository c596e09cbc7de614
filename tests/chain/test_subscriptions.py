"""The node's live subscriptions (chain/node/subscriptions.py): kinds, filters, shapes, bounds, drops, the node's hooks,
and what publishing costs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.chain.test_node import DEV, OUTSIDER, deploy_token, new_node, token_transfer, tx
from wasmchain.client.local import local_client
from wasmchain.node.jsonrpc import INVALID_PARAMS, LIMIT_EXCEEDED, RPCError
from wasmchain.node.network import NetworkNode, Publishing
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.node.subscriptions import KINDS, QUEUE_LIMIT, Hub
from wasmchain.protocol.keys import contract_address, format_address

TOKEN = contract_address(DEV[0].address, 0)


def rpc(node: Node, method: str, **params: Any) -> Any:
    return Dispatcher(node).call(method, params)


def with_token() -> Node:
    node = new_node()
    node.submit(deploy_token(DEV[0], 0))
    return node


# -- subscribing -----------------------------------------------------------------------------------


def test_a_subscription_has_an_unguessable_id_and_a_kind() -> None:
    hub = Hub()
    made = [hub.subscribe(kind, None) for kind in KINDS for _ in range(10)]
    ids = {subscription.id for subscription in made}
    assert len(ids) == len(made) == len(hub)
    for subscription in made:
        assert subscription.id.startswith("0x") and len(subscription.id) == 18
        int(subscription.id, 16)
        assert subscription.take() == [] and subscription.dropped is None
    assert hub.unsubscribe(made[0].id) and not hub.unsubscribe(made[0].id)
    assert not hub.unsubscribe("0x" + "0" * 16) and len(hub) == len(made) - 1


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("nope", None, "kind must be one of 'blocks', 'events', 'pending'"),
        (7, None, "kind must be one of"),
        ("events", {"contract": "0x12"}, "contract must be 0x followed by 40 hex digits"),
        ("events", {"contract": 5}, "contract must be"),
        ("events", {"name": 5}, "name must be a string"),
        ("events", {"topic": "x"}, "events subscriptions take contract and name, found 'topic'"),
        ("blocks", {"contract": None}, "blocks subscriptions take no filters, found 'contract'"),
        ("pending", {"kind": "blocks"}, "kind must be 'pending'"),
        ("blocks", [1], "params must be an object"),
    ],
)
def test_bad_kinds_and_filters_are_invalid_params(kind: Any, params: Any, message: str) -> None:
    with pytest.raises(RPCError) as refused:
        Hub().subscribe(kind, params)
    assert refused.value.code == INVALID_PARAMS
    assert message in refused.value.message


def test_the_kind_may_be_among_the_params_as_sent_over_the_wire() -> None:
    subscription = Hub().subscribe("events", {"kind": "events", "contract": format_address(TOKEN), "name": "Transfer"})
    assert subscription.contract == TOKEN and subscription.name == "Transfer"


def test_a_hub_holds_a_bounded_number_of_subscriptions() -> None:
    hub = Hub(max_subscriptions=3)
    first = [hub.subscribe("blocks") for _ in range(3)]
    with pytest.raises(RPCError) as refused:
        hub.subscribe("blocks")
    assert refused.value.code == LIMIT_EXCEEDED and refused.value.reason == "too_many_subscriptions"
    hub.unsubscribe(first[0].id)
    hub.subscribe("events")


# -- what the node publishes -------------------------------------------------------------------------


def test_blocks_are_published_as_get_block_reports() -> None:
    node = new_node()
    blocks = node.hub.subscribe("blocks")
    node.submit(tx(DEV[0], 0))
    node.set_balance(DEV[1].address, 5)
    node.mine(2)
    taken = blocks.take()
    assert [report["height"] for report in taken] == [1, 2, 3, 4]
    assert taken == [rpc(node, "get_block", block=height) for height in range(1, 5)]
    assert taken[1]["overrides"] == [{"address": format_address(DEV[1].address), "balance": 5}]
    assert blocks.take() == []


def test_interval_mining_publishes_each_block_once() -> None:
    node = new_node(block_time=1.0)
    blocks, pending = node.hub.subscribe("blocks"), node.hub.subscribe("pending")
    sent = [tx(DEV[0], 0), tx(DEV[1], 0)]
    for signed in sent:
        node.submit(signed)
    assert blocks.take() == []
    node.produce_block()
    (block,) = blocks.take()
    assert block["transactions"] == ["0x" + signed.hash.hex() for signed in sent]
    assert [report["hash"] for report in pending.take()] == block["transactions"]


def test_events_are_published_as_get_events_entries_filtered_by_contract_and_name() -> None:
    node = with_token()
    everything = node.hub.subscribe("events")
    transfers = node.hub.subscribe("events", {"contract": format_address(TOKEN), "name": "Transfer"})
    elsewhere = node.hub.subscribe("events", {"contract": format_address(OUTSIDER)})
    other_name = node.hub.subscribe("events", {"name": "Approval"})
    node.submit(token_transfer(DEV[0], 1, TOKEN, OUTSIDER, 5))
    node.submit(token_transfer(DEV[0], 2, TOKEN, DEV[1].address, 7))
    expected = rpc(node, "get_events", from_block=2)["events"]
    assert [event["data"]["amount"] for event in expected] == [5, 7]
    assert transfers.take() == expected
    assert everything.take() == expected
    assert elsewhere.take() == [] and other_name.take() == []


def test_pending_transactions_are_published_on_admission_before_their_block() -> None:
    node = with_token()
    pending, blocks = node.hub.subscribe("pending"), node.hub.subscribe("blocks")
    later, first = tx(DEV[1], 1), token_transfer(DEV[0], 1, TOKEN, OUTSIDER, 5)
    node.submit(later)  # a nonce gap: pending, no block
    assert pending.take() == [
        {
            "hash": "0x" + later.hash.hex(),
            "from": format_address(DEV[1].address),
            "to": format_address(OUTSIDER),
            "method": None,
            "nonce": 1,
        }
    ]
    assert blocks.take() == []
    node.submit(first)
    assert pending.take() == [
        {
            "hash": "0x" + first.hash.hex(),
            "from": format_address(DEV[0].address),
            "to": format_address(TOKEN),
            "method": "transfer",
            "nonce": 1,
        }
    ]
    assert len(blocks.take()) == 1


def test_a_refused_transaction_is_not_published() -> None:
    node = new_node()
    pending = node.hub.subscribe("pending")
    with pytest.raises(Exception, match="nonce"):
        node.submit(tx(DEV[0], 5_000))
    assert pending.take() == []


def test_an_unsubscribed_subscription_gets_nothing_more() -> None:
    node = new_node()
    blocks = node.hub.subscribe("blocks")
    node.mine()
    assert node.hub.unsubscribe(blocks.id)
    node.mine()
    assert [report["height"] for report in blocks.take()] == [1]


def test_a_revert_unsends_nothing_and_a_reused_height_is_sent_again() -> None:
    node = new_node()
    blocks = node.hub.subscribe("blocks")
    snapshot = node.snapshot()
    node.mine(2)
    node.revert(snapshot)
    node.submit(tx(DEV[0], 0))
    taken = blocks.take()
    assert [report["height"] for report in taken] == [1, 2, 1]
    assert taken[0]["hash"] != taken[2]["hash"]


def test_blocks_committed_by_another_path_are_published_by_publish_committed() -> None:
    node = new_node()
    blocks = node.hub.subscribe("blocks")
    node.chain.produce([], node.chain.head.timestamp + 1)  # (a validator's Commit, a follower's apply_block)
    node.chain.produce([], node.chain.head.timestamp + 1)
    assert blocks.take() == []
    node.publish_committed()
    assert [report["height"] for report in blocks.take()] == [1, 2]
    node.publish_committed()
    node.mine()  # the node's own next block follows on
    assert [report["height"] for report in blocks.take()] == [3]


def test_a_block_the_node_commits_after_another_path_sends_the_missed_ones_first() -> None:
    node = new_node()
    blocks = node.hub.subscribe("blocks")
    node.chain.produce([], node.chain.head.timestamp + 1)
    node.mine()
    assert [report["height"] for report in blocks.take()] == [1, 2]


# -- bounds -------------------------------------------------------------------------------------


def test_a_subscription_that_falls_behind_is_dropped_with_a_reason_and_others_go_on() -> None:
    node = new_node()
    node.hub.queue_limit = 5
    slow, fast = node.hub.subscribe("blocks"), node.hub.subscribe("blocks")
    for _ in range(5):
        node.mine()
        assert len(fast.take()) == 1
    assert slow.dropped is None and len(slow) == 5
    node.mine()
    assert slow.dropped is not None and "fell behind: 5 notifications were waiting" in slow.dropped
    assert slow.take() == []
    assert node.hub.get(slow.id) is None and node.hub.get(fast.id) is fast
    node.mine()
    assert slow.take() == [] and [report["height"] for report in fast.take()] == [6, 7]


def test_the_default_queue_bound() -> None:
    hub = Hub()
    subscription = hub.subscribe("pending")
    signed = tx(DEV[0], 0)
    for _ in range(QUEUE_LIMIT):
        hub.transaction_pending(signed)
    assert subscription.dropped is None and len(subscription) == QUEUE_LIMIT
    hub.transaction_pending(signed)
    assert subscription.dropped is not None and len(hub) == 0


def test_wakeup_is_made_on_a_loop_set_when_something_is_queued_and_cleared_by_take() -> None:
    node = new_node()
    assert node.hub.subscribe("blocks").wakeup is None  # (no loop here)

    async def scenario() -> list[int]:
        subscription = node.hub.subscribe("blocks")
        assert subscription.wakeup is not None and not subscription.wakeup.is_set()
        asyncio.get_running_loop().call_soon(node.mine)
        await asyncio.wait_for(subscription.wakeup.wait(), 5)
        heights = [report["height"] for report in subscription.take()]
        assert not subscription.wakeup.is_set()
        return heights

    assert asyncio.run(scenario()) == [1]


def test_a_drop_sets_wakeup() -> None:
    async def scenario() -> None:
        hub = Hub(queue_limit=1)
        subscription = hub.subscribe("pending")
        hub.transaction_pending(tx(DEV[0], 0))
        assert subscription.wakeup is not None
        subscription.take()
        hub.transaction_pending(tx(DEV[0], 0))
        hub.transaction_pending(tx(DEV[0], 0))
        assert subscription.wakeup.is_set() and subscription.dropped is not None

    asyncio.run(scenario())


# -- cost ------------------------------------------------------------------------------------------


def test_publishing_without_subscribers_reports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import wasmchain.node.subscriptions as subscriptions

    def refuse(*args: Any) -> Any:
        raise AssertionError("a report was made for nobody")

    monkeypatch.setattr(subscriptions, "block_report", refuse)
    monkeypatch.setattr(subscriptions, "event_report", refuse)
    node = with_token()
    node.submit(token_transfer(DEV[0], 1, TOKEN, OUTSIDER, 5))
    node.mine()
    node.chain.produce([], node.chain.head.timestamp + 1)
    node.publish_committed()


def produce_seconds(node: Node, blocks: int) -> float:
    started = time.perf_counter()
    for _ in range(blocks):
        node.produce_block()
    return (time.perf_counter() - started) / blocks


def test_what_publishing_costs_block_production() -> None:
    """Empty blocks (the cheapest to produce, so publishing weighs most): with 0 subscribers and with 100
    (50 blocks and 50 events ones).  Printed with -s; the bound is loose (a slow machine's noise)."""
    quiet, busy = new_node(), new_node()
    for index in range(100):
        busy.hub.subscribe("blocks" if index % 2 else "events")
    produce_seconds(quiet, 20), produce_seconds(busy, 20)  # (warm up)
    without, with_100 = produce_seconds(quiet, 200), produce_seconds(busy, 200)
    print(f"\nproduce_block: {without * 1e6:.0f} us with 0 subscribers, {with_100 * 1e6:.0f} us with 100")
    assert with_100 < without * 3 + 0.002


def test_an_in_process_client_says_subscriptions_need_a_node_over_http() -> None:
    client = local_client()
    for start in (client.blocks, client.pending_transactions, lambda: client.events(follow=True)):
        with pytest.raises(Exception, match=r"live subscriptions need a running node \(Client.connect\(URL\)\)"):
            start()


def test_a_validator_publishes_each_block_cometbft_commits() -> None:
    """``wasmchain node``: blocks come through the ABCI app's Commit, not the node; ``Publishing`` tells the hub."""
    node = NetworkNode(new_node().chain, "http://127.0.0.1:9")
    blocks = node.hub.subscribe("blocks")

    class Request:
        def __init__(self, kind: str) -> None:
            self.kind = kind

        def WhichOneof(self, group: str) -> str:  # noqa: N802 (protobuf's name)
            return self.kind

    class App:
        def respond(self, request: Request) -> str:
            if request.kind == "commit":
                node.chain.produce([], node.chain.head.timestamp + 1)
            return "response"

    publishing = Publishing(App(), node)  # type: ignore[arg-type]
    assert publishing.respond(Request("finalize_block")) == "response"  # type: ignore[arg-type]
    assert blocks.take() == []
    publishing.respond(Request("commit"))  # type: ignore[arg-type]
    assert [report["height"] for report in blocks.take()] == [1]
