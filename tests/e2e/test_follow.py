"""``wasmchain follow`` as a user runs it: a real devnet process, a real follower process beside it.

- the follower catches up with a devnet that has a token and transfers, keeps
  up with new transactions, answers the same heads, state roots and balances
  through its own RPC, and refuses transactions; stopped with SIGTERM (exit 0,
  ``stopped at height N``) while the devnet goes on, it resumes at its head
  when started again and catches up;
- a devnet reverted under it (``devnet_revert``) stops it with exit 1 naming
  the height, and so does starting it again on the same data directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Devnets
from tests.e2e.tools import (
    deploy_token,
    native_balance,
    native_transfer,
    next_nonce,
    submit,
    token_balance,
    token_transfer,
    tx_hex,
)
from tests.helpers.devnet import STOP_TIMEOUT, Devnet, start_listening, wait_for
from wasmchain import Client, RPCClientError
from wasmchain.node.jsonrpc import FOLLOWER_REFUSED
from wasmchain.protocol.keys import dev_key

POLL = "0.05"
"""The followers' --poll: seconds between two looks at the devnet's head."""
CATCH_UP = 30.0
"""Seconds a follower may take to reach the devnet's head."""
EXIT_TIMEOUT = 30.0
"""Seconds a follower may take to stop by itself once the devnet is reverted under it."""
ACCOUNTS = [dev_key(index) for index in range(4)]


def start_follower(data: Path, rpc: str) -> Devnet:
    """``wasmchain follow --rpc RPC --data DATA --port 0 --poll POLL``, once it listens (a ``Devnet``: the same
    process handle, whose ``stop`` checks for exit 0 and ``stopped at height N``)."""
    return start_listening(["follow", "--rpc", rpc, "--data", str(data), "--port", "0", "--poll", POLL], data)


class Followers:
    """The follower processes of one test: each still running at the end is stopped (and checked), or killed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Devnet] = []

    def start(self, rpc: str, data: Path | None = None) -> Devnet:
        follower = start_follower(data or self.root / "follower", rpc)
        self.started.append(follower)
        return follower


@pytest.fixture
def followers(tmp_path: Path) -> Iterator[Followers]:
    started = Followers(tmp_path)
    try:
        yield started
        for follower in started.started:
            if follower.process.poll() is None:
                follower.stop()
    finally:
        for follower in started.started:
            follower.kill()


def head(client: Client) -> dict[str, object]:
    found: dict[str, object] = client.call("chain_info")["head"]
    return found


def caught_up(follower: Client, devnet: Client) -> None:
    """Wait until the follower's head is the devnet's (the devnet is idle), then compare what both answer."""
    wait_for("the follower to reach the devnet's head", lambda: head(follower) == head(devnet), timeout=CATCH_UP)
    token = devnet.call("get_receipt", hash=devnet.call("get_block", block=1)["transactions"][0])["address"]
    for key in ACCOUNTS:
        assert native_balance(follower, key.address) == native_balance(devnet, key.address)
        assert token_balance(follower, token, key.address) == token_balance(devnet, token, key.address)
    height = devnet.call("chain_info")["head"]["height"]
    for block in (1, height):
        assert follower.call("get_block", block=block) == devnet.call("get_block", block=block)


def transfers(client: Client, token: str, count: int) -> None:
    """``count`` token transfers and as many native ones, dev0 to dev1..dev3 (instant mining: a block each)."""
    owner = ACCOUNTS[0]
    nonce = next_nonce(client, owner)
    for index in range(count):
        to = ACCOUNTS[1 + index % 3].address
        for signed in (
            token_transfer(owner, nonce, bytes.fromhex(token[2:]), to, 10 + index),
            native_transfer(owner, nonce + 1, to, 1_000 + index),
        ):
            assert submit(client, signed)["receipt"]["status"] == "ok"
        nonce += 2


def test_a_follower_keeps_up_serves_the_same_state_and_resumes_after_a_restart(
    devnets: Devnets, followers: Followers
) -> None:
    devnet = devnets.start()
    client = devnet.client()
    token = deploy_token(client, ACCOUNTS[0], 10**9)["address"]
    transfers(client, token, 5)

    follower = followers.start(devnet.url)
    assert "(created from the genesis of " + devnet.url + ")" in follower.output()
    ours = follower.client()
    caught_up(ours, client)

    # New blocks while it runs.
    transfers(client, token, 3)
    caught_up(ours, client)

    # It takes no transactions: they go to the devnet.
    signed = native_transfer(ACCOUNTS[1], next_nonce(client, ACCOUNTS[1]), ACCOUNTS[2].address, 1)
    with pytest.raises(RPCClientError) as refused:
        ours.call("submit_transaction", tx=tx_hex(signed))
    assert refused.value.code == FOLLOWER_REFUSED
    assert ours.call("chain_info")["mining"] == {"follows": devnet.url}

    # Stopped, it keeps its blocks; the devnet goes on; started again, it resumes and catches up.
    stopped = follower.stop()
    assert stopped == head(client)["height"]
    transfers(client, token, 4)
    follower = followers.start(devnet.url, follower.data)
    assert f"(resumed at height {stopped})" in follower.output()
    caught_up(follower.client(), client)
    assert follower.stop() == head(client)["height"]


def test_a_follower_stops_when_the_devnet_is_reverted_under_it_and_refuses_to_start_on_the_other_chain(
    devnets: Devnets, followers: Followers
) -> None:
    devnet = devnets.start()
    client = devnet.client()
    snapshot = client.call("devnet_snapshot")["id"]
    client.call("devnet_mine", blocks=3)
    follower = followers.start(devnet.url)
    ours = follower.client()
    wait_for("the follower to reach height 3", lambda: head(ours)["height"] == 3, timeout=CATCH_UP)

    client.call("devnet_revert", id=snapshot)
    assert follower.process.wait(EXIT_TIMEOUT) == 1
    follower.reader.join(STOP_TIMEOUT)
    expected = (
        f"error: {devnet.url} has no block at height 3 any more (its head is at 0): it was reverted "
        "(devnet_revert) or reset since we took that block."
    )
    assert expected in follower.output()
    assert follower.lines[-1] == "stopped at height 3\n"
    assert "Traceback" not in follower.output()

    # The devnet grows another chain past it; the follower, started again, checks before it follows.
    submit(client, native_transfer(ACCOUNTS[0], next_nonce(client, ACCOUNTS[0]), ACCOUNTS[1].address, 5))
    client.call("devnet_mine", blocks=3)
    again = followers.start(devnet.url, follower.data)
    assert again.process.wait(EXIT_TIMEOUT) == 1
    again.reader.join(STOP_TIMEOUT)
    assert f"error: the block at height 3 of {devnet.url} is 0x" in again.output()
    assert again.lines[-1] == "stopped at height 3\n"


def test_a_follower_s_subscribers_get_the_blocks_and_events_it_takes(devnets: Devnets, followers: Followers) -> None:
    """Blocks a follower takes from its remote reach its own WebSocket subscribers, with their events."""
    devnet = devnets.start()
    client = devnet.client()
    token = deploy_token(client, ACCOUNTS[0], 10**9)["address"]
    follower = followers.start(devnet.url)
    ours = Client.connect(follower.url)
    caught_up(ours, client)
    start = head(client)["height"]
    with (
        ours.blocks() as blocks,
        ours.events(contract=token, name="Transfer", from_block=start + 1, follow=True) as events,
    ):
        transfers(client, token, 1)  # a token transfer, then a native one: a block each
        taken = [next(iter(blocks)), next(iter(blocks))]
        event = next(iter(events))
    assert [block["height"] for block in taken] == [start + 1, start + 2]
    assert [len(block["transactions"]) for block in taken] == [1, 1]
    assert event.name == "Transfer" and event.block_height == start + 1 and event.data["amount"] == 10
    ours.close()
