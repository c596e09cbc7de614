"""Every devnet control method, against a real ``wasmchain devnet`` process.

The module shares one instant-mining devnet; each test reads the head it
starts from and checks relative to it.  The restart test has its own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Devnets
from tests.e2e.tools import native_balance, native_transfer, next_nonce, submit
from tests.helpers.devnet import Devnet
from wasmchain import Client, RPCClientError
from wasmchain.protocol.keys import dev_key, format_address

DEVNET_REFUSED = -32002
INVALID_PARAMS = -32602
NOT_FOUND = -32001


@pytest.fixture
def client(devnet: Devnet) -> Client:
    return devnet.client()


def refused(client: Client, method: str, **params: Any) -> RPCClientError:
    with pytest.raises(RPCClientError) as caught:
        client.call(method, **params)
    return caught.value


def head(client: Client) -> dict[str, Any]:
    info: dict[str, Any] = client.call("chain_info")["head"]
    return info


def test_mine(client: Client) -> None:
    start = head(client)
    mined = client.call("devnet_mine", blocks=3)
    assert [block["height"] for block in mined["blocks"]] == [
        start["height"] + 1,
        start["height"] + 2,
        start["height"] + 3,
    ]
    assert mined["head"] == start["height"] + 3 == head(client)["height"]
    assert all(block["transactions"] == 0 for block in mined["blocks"])
    for block in mined["blocks"]:
        assert client.call("get_block", block=block["height"])["hash"] == block["hash"]
    parent = client.call("get_block", block=start["height"])
    for block in mined["blocks"]:
        stored = client.call("get_block", block=block["hash"])
        assert stored["parent_hash"] == parent["hash"] and stored["timestamp"] >= parent["timestamp"]
        parent = stored

    one = client.call("devnet_mine")  # blocks defaults to 1
    assert len(one["blocks"]) == 1 and one["head"] == start["height"] + 4

    # A timestamp: the first block gets it, the later ones are never earlier.
    when = head(client)["timestamp"] + 1000
    mined = client.call("devnet_mine", blocks=2, timestamp=when)
    first, second = (client.call("get_block", block=block["height"]) for block in mined["blocks"])
    assert first["timestamp"] == when
    assert second["timestamp"] >= when

    assert refused(client, "devnet_mine", timestamp=when - 1).code == DEVNET_REFUSED  # before the head
    assert refused(client, "devnet_mine", blocks=0).code == DEVNET_REFUSED
    assert refused(client, "devnet_mine", blocks=10_001).code == DEVNET_REFUSED
    assert refused(client, "devnet_mine", blocks=-1).code == INVALID_PARAMS
    assert head(client)["height"] == start["height"] + 6  # the refusals mined nothing


def test_mine_packs_pending_transactions(client: Client) -> None:
    """With instant mining a gap-free transaction is mined at once; mine leaves a gapped one waiting."""
    key, target = dev_key(5), dev_key(6).address
    nonce = next_nonce(client, key)
    waiting = native_transfer(key, nonce + 1, target, 1)
    assert submit(client, waiting)["status"] == "pending"
    mined = client.call("devnet_mine")
    assert mined["blocks"][0]["transactions"] == 0
    assert client.call("get_transaction", hash="0x" + waiting.hash.hex())["status"] == "pending"
    filled = submit(client, native_transfer(key, nonce, target, 1))
    assert filled["status"] == "included"
    receipt = client.call("get_receipt", hash="0x" + waiting.hash.hex())
    assert receipt["status"] == "ok" and receipt["block_height"] == filled["receipt"]["block_height"] + 1
    assert next_nonce(client, key) == nonce + 2


def test_snapshot_and_revert(client: Client) -> None:
    key, stranger = dev_key(7), bytes.fromhex("5a" * 20)
    before = client.call("chain_info")
    balance_before = native_balance(client, key.address)
    nonce = next_nonce(client, key)
    snapshot = client.call("devnet_snapshot")
    assert snapshot["height"] == before["head"]["height"]

    signed = native_transfer(key, nonce, stranger, 12_345)
    included = submit(client, signed)["receipt"]
    client.call("devnet_mine", blocks=2)
    inner = client.call("devnet_snapshot")
    assert inner["id"] != snapshot["id"] and inner["height"] == before["head"]["height"] + 3
    client.call("devnet_set_balance", address=format_address(stranger), balance=1)
    assert native_balance(client, stranger) == 1
    pending = native_transfer(key, nonce + 5, stranger, 1)  # a gap: it waits in the mempool
    assert submit(client, pending)["status"] == "pending"

    reverted = client.call("devnet_revert", id=snapshot["id"])
    assert reverted == {"reverted": True, "head": before["head"]["height"]}
    after = client.call("chain_info")
    assert after["head"] == before["head"]  # height, hash, timestamp and state root
    assert after["pending"] == 0  # the mempool was emptied
    assert native_balance(client, stranger) == 0
    assert native_balance(client, key.address) == balance_before
    assert next_nonce(client, key) == nonce
    for block in (included["block_height"], included["block_hash"], before["head"]["height"] + 1):
        assert refused(client, "get_block", block=block).code == NOT_FOUND
    for gone in (signed, pending):
        assert refused(client, "get_transaction", hash="0x" + gone.hash.hex()).code == NOT_FOUND
        assert refused(client, "get_receipt", hash="0x" + gone.hash.hex()).code == NOT_FOUND
    assert client.call("get_events", from_block=before["head"]["height"] + 1)["events"] == []

    # The reverted snapshot and every later one are gone.
    for used in (snapshot["id"], inner["id"]):
        error = refused(client, "devnet_revert", id=used)
        assert error.code == DEVNET_REFUSED and f"no snapshot with id {used}" in error.message
    assert refused(client, "devnet_revert", id=10**6).code == DEVNET_REFUSED

    # The reverted transaction is new again: the same bytes go in, at the same height.
    again = submit(client, signed)
    assert again["status"] == "included"
    assert again["receipt"]["block_height"] == included["block_height"]
    assert native_balance(client, stranger) == 12_345


def test_snapshot_ids_are_independent(client: Client) -> None:
    outer = client.call("devnet_snapshot")
    client.call("devnet_mine")
    inner = client.call("devnet_snapshot")
    client.call("devnet_mine")
    assert client.call("devnet_revert", id=inner["id"])["head"] == inner["height"]
    assert head(client)["height"] == inner["height"]
    client.call("devnet_mine", blocks=3)
    assert client.call("devnet_revert", id=outer["id"])["head"] == outer["height"]
    assert head(client)["height"] == outer["height"]


def test_set_next_block_timestamp(client: Client) -> None:
    start = head(client)
    when = start["timestamp"] + 777
    assert client.call("devnet_set_next_block_timestamp", timestamp=when) == {"timestamp": when}
    key = dev_key(8)
    # The next block, whatever makes it: here a transaction.
    receipt = submit(client, native_transfer(key, next_nonce(client, key), dev_key(9).address, 1))["receipt"]
    assert client.call("get_block", block=receipt["block_height"])["timestamp"] == when
    # Only the next one: the one after follows the clock again (never earlier than its parent).
    following = client.call("devnet_mine")["blocks"][0]
    assert client.call("get_block", block=following["height"])["timestamp"] >= when

    now = head(client)["timestamp"]
    assert client.call("devnet_set_next_block_timestamp", timestamp=now)["timestamp"] == now  # equal is allowed
    assert client.call("get_block", block=client.call("devnet_mine")["head"])["timestamp"] == now
    error = refused(client, "devnet_set_next_block_timestamp", timestamp=now - 1)
    assert error.code == DEVNET_REFUSED and "earlier than the head" in error.message
    assert refused(client, "devnet_set_next_block_timestamp", timestamp=-5).code == INVALID_PARAMS
    assert refused(client, "devnet_set_next_block_timestamp", timestamp=2**64).code == INVALID_PARAMS
    assert refused(client, "devnet_set_next_block_timestamp").code == INVALID_PARAMS


def test_increase_time(client: Client) -> None:
    """It moves the node's clock forward: blocks are at least the clock plus the offset (and never before the head)."""
    offset = client.call("devnet_increase_time", seconds=0)["offset"]  # the total so far
    clock = int(time.time())
    assert client.call("devnet_increase_time", seconds=3600) == {"offset": offset + 3600}
    parent = head(client)["timestamp"]
    mined = client.call("devnet_mine")["blocks"][0]
    timestamp = client.call("get_block", block=mined["height"])["timestamp"]
    assert timestamp >= clock + offset + 3600 and timestamp >= parent
    # It lasts: later blocks too are ahead of the clock.
    clock = int(time.time())
    later = client.call("devnet_mine")["blocks"][0]
    assert client.call("get_block", block=later["height"])["timestamp"] >= clock + offset + 3600
    assert refused(client, "devnet_increase_time", seconds=-1).code == INVALID_PARAMS
    assert refused(client, "devnet_increase_time", seconds="60").code == INVALID_PARAMS
    assert refused(client, "devnet_increase_time", seconds=2**64 - 1).code == DEVNET_REFUSED  # past the last timestamp
    assert client.call("devnet_increase_time", seconds=0)["offset"] == offset + 3600


def test_set_balance(client: Client) -> None:
    someone = bytes.fromhex("c0" * 20)
    result = client.call("devnet_set_balance", address=format_address(someone), balance=424242)
    assert result["address"] == format_address(someone) and result["balance"] == 424242
    assert result["block_height"] == head(client)["height"]
    block = client.call("get_block", block=result["block_height"])
    assert block["overrides"] == [{"address": format_address(someone), "balance": 424242}]
    assert block["transactions"] == []
    assert native_balance(client, someone) == 424242
    assert client.call("get_account", address=format_address(someone))["nonce"] == 0

    # An account with a nonce keeps it; zero is a balance too.
    key = dev_key(3)
    nonce = next_nonce(client, key)
    client.call("devnet_set_balance", address=format_address(key.address), balance=0)
    assert native_balance(client, key.address) == 0
    assert next_nonce(client, key) == nonce
    client.call("devnet_set_balance", address=format_address(key.address), balance=10**22)
    assert submit(client, native_transfer(key, nonce, someone, 8))["status"] == "included"
    assert native_balance(client, someone) == 424250

    error = refused(client, "devnet_set_balance", address=format_address(someone), balance=2**128)
    assert error.code == DEVNET_REFUSED and "2**128 - 1" in error.message
    assert refused(client, "devnet_set_balance", address=format_address(someone), balance=-1).code == INVALID_PARAMS
    assert refused(client, "devnet_set_balance", address="0x1234", balance=1).code == INVALID_PARAMS
    assert native_balance(client, someone) == 424250


def test_controls_survive_a_restart(devnets: Devnets) -> None:
    """A balance set, and a revert, are in the data directory; snapshots are not (they are in memory)."""
    devnet = devnets.start()
    client = devnet.client()
    someone = bytes.fromhex("d1" * 20)
    set_at = client.call("devnet_set_balance", address=format_address(someone), balance=99)["block_height"]
    snapshot = client.call("devnet_snapshot")
    key = dev_key(0)
    gone = native_transfer(key, next_nonce(client, key), someone, 1)
    submit(client, gone)
    client.call("devnet_mine", blocks=2)
    client.call("devnet_revert", id=snapshot["id"])
    kept = client.call("devnet_snapshot")
    info = client.call("chain_info")

    assert devnet.stop() == info["head"]["height"] == set_at
    devnet = devnets.restart(devnet)
    client = devnet.client()
    assert client.call("chain_info")["head"] == info["head"]
    assert native_balance(client, someone) == 99
    assert client.call("get_block", block=set_at)["overrides"] == [{"address": format_address(someone), "balance": 99}]
    assert refused(client, "get_transaction", hash="0x" + gone.hash.hex()).code == NOT_FOUND
    assert refused(client, "get_block", block=set_at + 1).code == NOT_FOUND
    assert refused(client, "devnet_revert", id=kept["id"]).code == DEVNET_REFUSED
    # The balance set is a block like any other: the chain goes on from it.
    assert submit(client, gone)["receipt"]["block_height"] == set_at + 1
    assert native_balance(client, someone) == 100
