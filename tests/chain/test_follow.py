"""The follower core (chain/follow.py), in process: a source node's ``Dispatcher`` behind a
``LocalTransport`` feeds a ``Follower``; transports in between tamper with what it sends,
revert it, or fail.

The real processes (``wasmchain devnet`` and ``wasmchain follow``) are tests/e2e/test_follow.py.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import io
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CONTRACTS, GENESIS
from wasmchain.cli.main import main
from wasmchain.client.client import Client
from wasmchain.client.local import LocalTransport
from wasmchain.client.transport import RPCClientError, Transport
from wasmchain.history.follow import (
    BlockRefused,
    Diverged,
    Follower,
    FollowError,
    FollowOptions,
    fetch_genesis,
    fetch_page,
    genesis_from_remote,
    open_follower_chain,
    receipt_difference,
)
from wasmchain.node.datadir import DataDir
from wasmchain.node.jsonrpc import FOLLOWER_REFUSED, MAX_RAW_BLOCKS, RPCError
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.node.server import Server
from wasmchain.protocol.blocks import Block, Receipt, decode_receipts, encode_receipts, merkle_root
from wasmchain.protocol.codec import encode
from wasmchain.protocol.errors import GenesisError
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.protocol.keys import dev_key, format_address
from wasmchain.protocol.transition import receipts_root
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV
from wasmchain.vm import Event

URL = "http://source.test:8545"
"""The source's URL, as the follower names it in messages (nothing listens there)."""
TOKEN = CONTRACTS / "token" / "token.wasm"
DOCUMENT = json.loads(GENESIS.read_text())
OUTSIDER = "0x" + "11" * 20


class Source:
    """A devnet node in this process (timestamps parent + 1), and a client for it."""

    def __init__(self, document: dict[str, Any] = DOCUMENT) -> None:
        self.node = Node(Chain.create(MemoryKV(), genesis_from_document(copy.deepcopy(document))), clock=None)
        self.transport = LocalTransport(Dispatcher(self.node))
        self.client = Client(self.transport)

    @property
    def chain(self) -> Chain:
        return self.node.chain

    def activity(self) -> None:
        """Blocks 1 to 5: a token deployed, a token transfer, one that fails, a native transfer, a balance override."""
        alice, bob = self.client.dev_account(0), self.client.dev_account(1)
        token = alice.deploy(TOKEN, init="init", args={"supply": 1_000_000})
        token.call("transfer", {"to": bob, "amount": 250}, sender=alice)
        failed = token.call("transfer", {"to": alice, "amount": 10**9}, sender=bob, check=False)
        assert failed.status == "abort"
        bob.transfer(OUTSIDER, 7)
        self.client.call("devnet_set_balance", address=OUTSIDER, balance=10**30)

    def mine(self, blocks: int) -> None:
        self.client.call("devnet_mine", blocks=blocks)


def follower_of(remote: Transport) -> Follower:
    """A follower in memory, created from the remote's genesis as ``wasmchain follow`` creates one."""
    genesis = genesis_from_remote(fetch_genesis(remote), URL)
    return Follower(Chain.create(MemoryKV(), genesis), remote, URL)


def assert_same_chain(source: Chain, follower: Chain) -> None:
    assert follower.head == source.head
    for height in range(source.head.height + 1):
        assert follower.block(height).encode() == source.block(height).encode()
        assert follower.receipts(height) == source.receipts(height)


class Rewriting:
    """A transport in front of another that rewrites the blocks ``get_raw_blocks`` answers."""

    def __init__(self, inner: Transport, rewrite: Callable[[int, bytes, bytes], tuple[bytes, bytes]]) -> None:
        self.inner = inner
        self.rewrite = rewrite

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.inner.call(method, params)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
        results = self.inner.batch(calls)
        for (method, _), result in zip(calls, results):
            if method == "get_raw_blocks" and isinstance(result, dict):
                for entry in result["blocks"]:
                    block, receipts = self.rewrite(
                        entry["height"], bytes.fromhex(entry["block"][2:]), bytes.fromhex(entry["receipts"][2:])
                    )
                    entry["block"], entry["receipts"] = "0x" + block.hex(), "0x" + receipts.hex()
        return results


Change = Callable[[Block, list[Receipt]], tuple[Block, list[Receipt]]]
"""A rewrite of a block and the receipts sent with it."""


def at_height(height: int, change: Change) -> Callable[[int, bytes, bytes], tuple[bytes, bytes]]:
    """A rewrite of one block (and the receipts sent with it); the others pass untouched."""

    def rewrite(found: int, block: bytes, receipts: bytes) -> tuple[bytes, bytes]:
        if found != height:
            return block, receipts
        new_block, new_receipts = change(Block.decode(block), decode_receipts(receipts))
        return new_block.encode(), encode_receipts(new_receipts)

    return rewrite


def with_header(block: Block, **fields: Any) -> Block:
    return Block(dataclasses.replace(block.header, **fields), block.transactions, block.overrides)


# -- following ---------------------------------------------------------------------------------


def test_a_follower_takes_every_block_in_pages_and_ends_with_the_same_chain() -> None:
    source = Source()
    source.activity()
    source.mine(2 * MAX_RAW_BLOCKS + 3)  # three pages
    follower = follower_of(source.transport)
    assert follower.sync() == source.chain.head.height
    assert_same_chain(source.chain, follower.chain)
    assert follower.sync() == 0  # caught up: nothing more

    # It keeps up as new blocks arrive.
    source.client.dev_account(2).transfer(OUTSIDER, 3)
    source.mine(4)
    assert follower.sync() == 5
    assert_same_chain(source.chain, follower.chain)

    # A follower serves what a follower needs: another can follow it.
    second = follower_of(LocalTransport(Dispatcher(Node(follower.chain), follows=URL)))
    assert second.sync() == source.chain.head.height
    assert_same_chain(source.chain, second.chain)


def test_a_page_is_the_remotes_block_at_our_head_and_at_most_a_page_after_it() -> None:
    source = Source()
    source.mine(MAX_RAW_BLOCKS + 5)
    page = fetch_page(source.transport, 2)
    assert page.hash_at_height == source.chain.header(2).hash
    assert page.remote_head == MAX_RAW_BLOCKS + 5
    assert [raw.height for raw in page.blocks] == list(range(3, 3 + MAX_RAW_BLOCKS))
    assert not page.caught_up
    last = fetch_page(source.transport, source.chain.head.height)
    assert last.blocks == () and last.caught_up
    beyond = fetch_page(source.transport, source.chain.head.height + 1)
    assert beyond.hash_at_height is None


def test_the_follower_answers_the_read_only_rpc_like_the_source_and_refuses_what_would_change_its_chain() -> None:
    source = Source()
    source.activity()
    follower = follower_of(source.transport)
    follower.sync()
    rpc = Dispatcher(Node(follower.chain), follows=URL)
    token = source.client.call("get_receipt", hash=source.client.call("get_block", block=1)["transactions"][0])[
        "address"
    ]
    same = [
        ("get_balance", {"address": OUTSIDER}),
        ("get_account", {"address": token}),
        ("get_block", {"block": 3}),
        ("view", {"contract": token, "method": "balance_of", "args": {"owner": format_address(dev_key(1).address)}}),
        ("get_events", {"contract": token}),
        ("get_proof", {"address": OUTSIDER}),
    ]
    for method, params in same:
        assert rpc.call(method, params) == source.transport.dispatcher.call(method, params), method
    assert rpc.call("chain_info")["mining"] == {"follows": URL}
    assert rpc.call("chain_info")["head"] == source.client.call("chain_info")["head"]
    simulated = rpc.call("simulate", {"from": format_address(dev_key(0).address), "to": OUTSIDER, "value": 1})
    assert simulated["status"] == "ok"

    changing: list[tuple[str, dict[str, Any]]] = [
        ("submit_transaction", {"tx": "0x00"}),
        ("devnet_mine", {}),
        ("devnet_snapshot", {}),
        ("devnet_set_balance", {"address": OUTSIDER, "balance": 1}),
    ]
    for method, arguments in changing:
        with pytest.raises(RPCError) as refused:
            rpc.call(method, arguments)
        assert refused.value.code == FOLLOWER_REFUSED
        assert refused.value.message == (
            f"this node is a follower of {URL} and does not take {method}: send it to the node it follows"
        )
    assert follower.chain.head == source.chain.head  # nothing changed


# -- refusing blocks ---------------------------------------------------------------------------


def refused_at(height: int, change: Change) -> tuple[BlockRefused, Source, Follower]:
    """A source with blocks 1 to 8, whose block ``height`` reaches a new follower changed: it must be refused there."""
    source = Source()
    source.activity()
    source.mine(3)
    follower = follower_of(Rewriting(source.transport, at_height(height, change)))
    with pytest.raises(BlockRefused) as refused:
        follower.sync()
    assert refused.value.height == height and refused.value.reason == "block_refused"
    # Everything before it is committed; nothing of it.
    assert follower.chain.head == source.chain.header(height - 1)
    return refused.value, source, follower


def test_a_block_whose_state_root_does_not_match_is_refused_naming_its_height_and_both_roots() -> None:
    wrong = bytes(range(32))
    error, source, _ = refused_at(3, lambda block, receipts: (with_header(block, state_root=wrong), receipts))
    right = source.chain.header(3).state_root
    assert str(error) == f"block 3 refused: state_root mismatch: computed 0x{right.hex()}, block has 0x{wrong.hex()}"


def test_a_tampered_transaction_is_refused_at_the_tx_root() -> None:
    def tamper(block: Block, receipts: list[Receipt]) -> tuple[Block, list[Receipt]]:
        signed = block.transactions[0]
        forged = dataclasses.replace(signed, signature=bytes(64))
        return Block(block.header, (forged,), block.overrides), receipts

    error, source, _ = refused_at(2, tamper)
    assert error.problem.startswith("tx_root mismatch: computed 0x")
    assert error.problem.endswith(f"block has 0x{source.chain.header(2).tx_root.hex()}")


def test_a_forged_signature_with_a_matching_tx_root_fails_on_replay_and_names_the_receipt() -> None:
    """The header is rebuilt around the forged transaction, so only re-executing the block finds it out."""

    def tamper(block: Block, receipts: list[Receipt]) -> tuple[Block, list[Receipt]]:
        forged = dataclasses.replace(block.transactions[0], signature=bytes(64))
        assert forged.hash != block.transactions[0].hash
        forged_receipts = [dataclasses.replace(receipts[0], tx_hash=forged.hash)]
        header = dataclasses.replace(
            block.header, tx_root=merkle_root([forged.hash]), receipts_root=receipts_root(forged_receipts)
        )
        return Block(header, (forged,), block.overrides), forged_receipts

    error, _, _ = refused_at(2, tamper)
    assert error.problem.startswith("receipts_root mismatch: computed 0x")
    assert error.difference == 'transaction 0 status: remote "ok", replayed "invalid"'


def test_receipts_that_replay_does_not_make_are_named_by_transaction_and_field() -> None:
    """A producer whose engine charged other gas: its header agrees with its receipts, not with replay."""

    def tamper(block: Block, receipts: list[Receipt]) -> tuple[Block, list[Receipt]]:
        changed = [dataclasses.replace(receipts[0], gas_used=receipts[0].gas_used + 1)]
        return with_header(block, receipts_root=receipts_root(changed), gas_used=block.header.gas_used + 1), changed

    error, source, _ = refused_at(3, tamper)
    gas = source.chain.receipts(3)[0].gas_used
    assert error.problem.startswith("receipts_root mismatch")
    assert error.difference == f"transaction 0 gas_used: remote {gas + 1}, replayed {gas}"
    assert str(error).endswith(
        f"; the first receipt that differs: transaction 0 gas_used: remote {gas + 1}, replayed {gas}"
    )


def test_receipts_the_remote_sends_must_be_the_blocks() -> None:
    def tamper(block: Block, receipts: list[Receipt]) -> tuple[Block, list[Receipt]]:
        return block, [dataclasses.replace(receipts[0], error="made up")]

    error, source, _ = refused_at(3, tamper)  # the failing transfer
    assert error.problem.startswith("the receipts the remote sent have root 0x")
    assert error.problem.endswith(f"the block's receipts_root is 0x{source.chain.header(3).receipts_root.hex()}")
    assert error.difference == (
        'transaction 0 error: remote "made up", replayed "insufficient balance: have 250, need 1000000000"'
    )


def test_a_block_that_does_not_decode_is_refused() -> None:
    source = Source()
    source.mine(2)
    follower = follower_of(
        Rewriting(
            source.transport, lambda height, block, receipts: (block + b"\x00" if height == 2 else block, receipts)
        )
    )
    with pytest.raises(BlockRefused, match=r"^block 2 refused: it does not decode: "):
        follower.sync()
    assert follower.chain.head.height == 1
    follower.remote = Rewriting(source.transport, lambda height, block, receipts: (block, encode(5)))
    with pytest.raises(BlockRefused, match=r"^block 2 refused: its receipts from the remote do not decode: "):
        follower.sync()
    assert follower.chain.head.height == 1


def test_an_override_the_header_does_not_commit_to_is_refused() -> None:
    def tamper(block: Block, receipts: list[Receipt]) -> tuple[Block, list[Receipt]]:
        ((address, _),) = block.overrides
        return Block(block.header, block.transactions, ((address, 1),)), receipts

    error, _, _ = refused_at(5, tamper)  # the set_balance block
    assert error.problem.startswith("overrides_root mismatch: computed 0x")


def test_receipt_difference_names_the_first_transaction_and_field() -> None:
    a = Receipt(b"\x01" * 32, "ok", 10, events=(Event(b"\x02" * 20, "Transfer", b"\x80"),))
    assert receipt_difference([a], [a]) is None
    no_events = dataclasses.replace(a, events=())
    assert receipt_difference([a], [no_events]) == "transaction 0 events: the remote has 1, replay made 0"
    other = dataclasses.replace(a, events=(Event(b"\x02" * 20, "Transfer", b"\x81"),))
    assert receipt_difference([a, a], [a, other]) == "transaction 1 events[0].data: remote 0x80, replayed 0x81"
    assert receipt_difference([a, a], [a]) == "the remote has 2 receipts, replay made 1"


# -- a remote that changed --------------------------------------------------------------------


def test_a_remote_reverted_below_the_followers_head_is_detected() -> None:
    source = Source()
    snapshot = source.client.call("devnet_snapshot")["id"]
    source.mine(5)
    follower = follower_of(source.transport)
    follower.sync()
    source.client.call("devnet_revert", id=snapshot)
    with pytest.raises(Diverged) as diverged:
        follower.sync()
    assert diverged.value.reason == "remote_diverged"
    assert str(diverged.value) == (
        f"{URL} has no block at height 5 any more (its head is at 0): it was reverted "
        "(devnet_revert) or reset since we took that block. A follower does not follow a "
        "node onto another chain: start it again with a new --data to follow this one."
    )
    assert follower.chain.head.height == 5


def test_a_remote_reverted_and_mined_again_is_detected_at_the_followers_height() -> None:
    source = Source()
    source.mine(2)
    snapshot = source.client.call("devnet_snapshot")["id"]
    source.mine(3)
    follower = follower_of(source.transport)
    follower.sync()
    ours = follower.chain.head.hash
    source.client.call("devnet_revert", id=snapshot)
    source.client.dev_account(0).transfer(OUTSIDER, 1)  # another block 3, then 4, 5, 6
    source.mine(3)
    with pytest.raises(Diverged) as diverged:
        follower.sync()
    theirs = source.chain.header(5).hash
    assert str(diverged.value).startswith(
        f"the block at height 5 of {URL} is 0x{theirs.hex()}, ours is 0x{ours.hex()}: "
        "it was reverted (devnet_revert) or reset since we took ours. "
    )


def test_a_remote_on_another_genesis_is_refused() -> None:
    other = copy.deepcopy(DOCUMENT)
    other["genesis_time"] += 1
    follower = follower_of(Source().transport)
    with pytest.raises(Diverged, match=r"is on another chain: its genesis block is 0x[0-9a-f]{64}, ours is 0x"):
        Follower(follower.chain, Source(other).transport, URL).sync()
    other_rules = copy.deepcopy(DOCUMENT)
    other_rules["chain"]["min_gas_price"] = 2  # block 0 commits to the whole document now (issue 12)
    with pytest.raises(Diverged, match=r"is on another chain: its genesis block is 0x[0-9a-f]{64}, ours is 0x"):
        Follower(follower.chain, Source(other_rules).transport, URL).sync()


def test_a_genesis_that_does_not_hash_to_what_the_remote_says_is_refused() -> None:
    answer = fetch_genesis(Source().transport)
    lying = dataclasses.replace(answer, genesis_hash=bytes(32))
    with pytest.raises(FollowError, match=f"^the genesis of {URL} does not hash to the genesis hash it gives"):
        genesis_from_remote(lying, URL)


# -- the loop beside the server ------------------------------------------------------------------


class Flaky:
    """A transport that cannot reach the node for its first ``failures`` calls."""

    def __init__(self, inner: Transport, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def _fail(self) -> None:
        if self.failures:
            self.failures -= 1
            raise RPCClientError(None, f"cannot reach the node at {URL}: [Errno 111] Connection refused")

    def call(self, method: str, params: dict[str, Any]) -> Any:
        self._fail()
        return self.inner.call(method, params)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
        self._fail()
        return self.inner.batch(calls)


async def run_until(follower: Follower, done: Callable[[], bool], out: io.StringIO, err: io.StringIO) -> None:
    """Run the follow loop until ``done()`` (checked between the loop's steps, with a deadline), then cancel it."""
    task = asyncio.create_task(follower.run(0.001, out, err))
    async with asyncio.timeout(30):
        while not done():
            assert not task.done(), task.exception()
            await asyncio.sleep(0.001)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_the_loop_retries_an_unreachable_remote_with_one_line_and_catches_up() -> None:
    source = Source()
    source.activity()
    follower = follower_of(source.transport)
    follower.remote = Flaky(source.transport, failures=5)
    out, err = io.StringIO(), io.StringIO()
    asyncio.run(run_until(follower, lambda: "synced" in out.getvalue(), out, err))  # (printed after the page)
    assert err.getvalue() == (
        f"cannot reach the node at {URL}: [Errno 111] Connection refused; retrying\nreached {URL} again\n"
    )
    assert out.getvalue() == "synced to height 5 (+5 blocks; the remote's head is at 5)\n"
    assert_same_chain(source.chain, follower.chain)


def test_a_remote_that_answers_with_an_error_stops_the_loop() -> None:
    class Old(LocalTransport):  # a node from before get_raw_blocks
        def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
            return [RPCClientError(-32601, f"method not found: {method!r}") for method, _ in calls]

    source = Source()
    follower = follower_of(source.transport)
    follower.remote = Old(source.transport.dispatcher)
    with pytest.raises(FollowError, match=f"^{URL} answered an error: method not found: 'get_raw_blocks'$"):
        asyncio.run(follower.run(0.001, io.StringIO(), io.StringIO()))


def test_the_server_stops_when_the_loop_beside_it_refuses_a_block_and_raises_its_error() -> None:
    source = Source()
    source.mine(2)
    remote = Rewriting(
        source.transport, at_height(2, lambda block, receipts: (with_header(block, gas_used=1), receipts))
    )
    follower = follower_of(remote)
    node = Node(follower.chain)
    server = Server(node, "127.0.0.1", 0, dispatcher=Dispatcher(node, follows=URL))
    with pytest.raises(BlockRefused, match="^block 2 refused: gas_used mismatch: computed 0, block has 1$"):
        server.run(beside=lambda: follower.run(0.001, io.StringIO(), io.StringIO()))
    assert follower.chain.head.height == 1


# -- the command ----------------------------------------------------------------------------------


def test_the_command_refuses_bad_options_and_an_unreachable_node_to_start_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "follower")
    assert main(["follow", "--rpc", URL, "--data", data, "--poll", "0"]) == 2
    assert capsys.readouterr().err == "error: --poll must be between 0 and 3600 seconds, found 0\n"
    assert main(["follow", "--rpc", "ftp://x", "--data", data]) == 2
    assert "a node URL is http://HOST:PORT" in capsys.readouterr().err
    with socket.socket() as unused:  # a port nothing listens on: bound, never listening
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        assert main(["follow", "--rpc", url, "--data", data]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot reach the node at {url}: ")
    assert not (tmp_path / "follower").exists()  # nothing created without a genesis


def test_the_data_directory_is_created_from_the_remotes_genesis_held_to_a_local_file_if_given(tmp_path: Path) -> None:
    source = Source()
    source.mine(2)
    options = FollowOptions(URL, DataDir(tmp_path / "follower"), genesis=GENESIS)
    chain, created = open_follower_chain(options, source.transport)
    try:
        assert created and chain.head == source.chain.header(0)
        assert Follower(chain, source.transport, URL).sync() == 2
    finally:
        chain.kv.close()
    chain, created = open_follower_chain(options, source.transport)  # resumed
    try:
        assert not created and chain.head == source.chain.head
    finally:
        chain.kv.close()

    other = tmp_path / "other.json"
    other.write_text(json.dumps({**DOCUMENT, "chain": {**DOCUMENT["chain"], "min_gas_price": 2}}))
    with pytest.raises(GenesisError, match=f"^the genesis of {URL} is not {other} "):
        open_follower_chain(FollowOptions(URL, DataDir(tmp_path / "new"), genesis=other), source.transport)
    assert not (tmp_path / "new").exists()
    with pytest.raises(GenesisError, match=f"'s genesis is not {other} "):
        open_follower_chain(FollowOptions(URL, DataDir(tmp_path / "follower"), genesis=other), source.transport)


# -- a remote that answers too much, or badly ------------------------------------------------------


class Limited:
    """A transport that refuses, as too large, every page of more than ``most`` blocks (code ``None``:
    over the transport's limit; ``-32000``: over the node's own, reason ``answer_too_large`` both)."""

    def __init__(self, inner: Transport, most: int, code: int | None) -> None:
        self.inner = inner
        self.most = most
        self.code = code
        self.asked: list[int] = []

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.inner.call(method, params)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
        count = calls[-1][1]["count"]
        self.asked.append(count)
        if count > self.most:
            raise RPCClientError(self.code, f"the answer of the node at {URL} is over the limit", "answer_too_large")
        return self.inner.batch(calls)


@pytest.mark.parametrize("code", [None, -32000])
def test_a_page_too_large_is_asked_for_again_in_fewer_blocks(code: int | None) -> None:
    source = Source()
    source.mine(30)
    follower = follower_of(source.transport)
    remote = Limited(source.transport, 10, code)
    follower.remote = remote
    out, err = io.StringIO(), io.StringIO()
    asyncio.run(run_until(follower, lambda: follower.chain.head.height == 30, out, err))
    assert remote.asked[:5] == [MAX_RAW_BLOCKS, 50, 25, 12, 6]
    assert max(remote.asked[5:]) <= 12  # doubled back after each page, halved again when too large
    assert err.getvalue().startswith(
        f"the answer of the node at {URL} is over the limit; asking for 50 blocks at a time\n"
    )
    assert_same_chain(source.chain, follower.chain)


def test_answers_it_cannot_use_are_retried_with_back_off_then_it_gives_up_with_the_message() -> None:
    class Bad(Flaky):
        def _fail(self) -> None:
            raise RPCClientError(None, f"the node at {URL} answered with no JSON (HTTP 200)", "bad_answer")

    source = Source()
    follower = follower_of(source.transport)
    follower.remote = Bad(source.transport, 0)
    err = io.StringIO()
    with pytest.raises(FollowError) as caught:
        asyncio.run(follower.run(0.001, io.StringIO(), err))
    assert str(caught.value) == f"the node at {URL} answered with no JSON (HTTP 200) (5 times in a row: giving up)"
    assert err.getvalue().splitlines() == [
        f"the node at {URL} answered with no JSON (HTTP 200); retrying in {delay:g} s ({count} of 5)"
        for count, delay in enumerate((0.001, 0.002, 0.004, 0.008), start=1)
    ]
