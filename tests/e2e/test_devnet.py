"""The devnet as a user runs it: a real ``wasmchain devnet`` process, spoken to over HTTP.

- 200 token transfers sent concurrently by four accounts, each from its own
  thread and connection: every receipt, every token balance (against a
  model kept in the test) and every native balance (against the fees the
  receipts report) is checked; then SIGTERM, a restart on the same data
  directory, and the head, the balances and the nonces must have survived;
- ``--block-time``: submitting answers "pending", ready transactions share
  a block, a transaction with a nonce gap waits for the gap to fill, and
  blocks keep coming while idle.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import Devnets
from tests.e2e.tools import (
    GAS_PRICE,
    call,
    deploy_token,
    native_balance,
    native_transfer,
    next_nonce,
    parse_response,
    rpc,
    submit,
    token_balance,
    token_transfer,
    transfer_event,
    tx_hex,
)
from tests.helpers.devnet import wait_for
from wasmchain import RPCClientError
from wasmchain.protocol.keys import dev_key

SEED = 20260414
SENDERS = [dev_key(index) for index in (1, 2, 3, 4)]
TRANSFERS_EACH = 50
SUPPLY = 10**15
GRANT = 10**12
"""Tokens dev0 hands each sender: far more than the sender's 50 transfers can spend, so none fails."""


def test_200_concurrent_transfers_then_restart(devnets: Devnets) -> None:
    devnet = devnets.start()
    client = devnet.client()
    owner = dev_key(0)
    rng = random.Random(SEED)
    fresh = [rng.randbytes(20) for _ in range(3)]
    recipients = [dev_key(index).address for index in range(10)] + fresh
    native_before = {address: native_balance(client, address) for address in recipients}
    fees: dict[bytes, int] = {address: 0 for address in recipients}  # (every sender is a recipient too)

    # dev0 deploys the token and grants each sender its share.
    height_before = client.call("chain_info")["head"]["height"]
    deployed = deploy_token(client, owner, SUPPLY)
    token = deployed["address"]
    token_address = bytes.fromhex(token[2:])
    fees[owner.address] += deployed["gas_used"] * GAS_PRICE
    model = {address: 0 for address in recipients}
    model[owner.address] = SUPPLY
    nonce = next_nonce(client, owner)
    for offset, sender in enumerate(SENDERS):
        report = submit(client, token_transfer(owner, nonce + offset, token_address, sender.address, GRANT))
        receipt = report["receipt"]
        assert receipt["status"] == "ok", receipt
        assert receipt["events"] == [transfer_event(token, owner.address, sender.address, GRANT)]
        fees[owner.address] += receipt["gas_used"] * GAS_PRICE
        model[owner.address] -= GRANT
        model[sender.address] += GRANT

    # The plan: each sender's 50 transfers, fixed before anything is sent.
    plans = {
        sender.address: [(rng.choice(recipients), rng.randint(0, 10**6)) for _ in range(TRANSFERS_EACH)]
        for sender in SENDERS
    }
    for sender in SENDERS:
        for to, amount in plans[sender.address]:
            model[sender.address] -= amount
            model[to] += amount
    start = threading.Barrier(len(SENDERS))

    def send_all(key: Any) -> list[tuple[Any, Any, int, dict[str, Any]]]:
        own = devnet.client()  # its own transport: its own kept-alive connection
        try:
            first = next_nonce(own, key)
            start.wait(timeout=30)
            sent = []
            for index, (to, amount) in enumerate(plans[key.address]):
                signed = token_transfer(key, first + index, token_address, to, amount)
                sent.append((signed, to, amount, submit(own, signed)))
            return sent
        finally:
            own.transport.close()

    with ThreadPoolExecutor(len(SENDERS)) as pool:
        results = dict(zip((key.address for key in SENDERS), pool.map(send_all, SENDERS)))

    heights = set()
    for sender in SENDERS:
        sent = results[sender.address]
        assert len(sent) == TRANSFERS_EACH
        assert [signed.tx.nonce for signed, *_ in sent] == list(range(TRANSFERS_EACH))
        last_height = 0
        for signed, to, amount, report in sent:
            tx_hash = "0x" + signed.hash.hex()
            assert report["tx_hash"] == tx_hash and report["status"] == "included", report
            receipt = report["receipt"]
            assert receipt["tx_hash"] == tx_hash
            assert receipt["status"] == "ok" and receipt["error"] is None, receipt
            assert receipt["gas_used"] > 0
            assert receipt["events"] == [transfer_event(token, sender.address, to, amount)]
            assert receipt["index"] == 0  # instant mining: a block per transaction
            assert receipt["block_height"] > last_height  # a sender's transactions land in nonce order
            last_height = receipt["block_height"]
            heights.add(receipt["block_height"])
            assert client.call("get_receipt", hash=tx_hash) == receipt
            fees[sender.address] += receipt["gas_used"] * GAS_PRICE
    assert len(heights) == len(SENDERS) * TRANSFERS_EACH
    # They went in concurrently: the senders' spans of blocks overlap.
    spans = sorted(
        (min(r[3]["receipt"]["block_height"] for r in sent), max(r[3]["receipt"]["block_height"] for r in sent))
        for sent in results.values()
    )
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans

    info = client.call("chain_info")
    transactions = 1 + len(SENDERS) + len(SENDERS) * TRANSFERS_EACH
    assert info["head"]["height"] == height_before + transactions
    assert info["pending"] == 0
    assert len(client.call("get_events", contract=token, name="Transfer")["events"]) == transactions

    assert sum(model.values()) == SUPPLY
    tokens = {address: token_balance(client, token, address) for address in recipients}
    assert tokens == model
    assert client.call("view", contract=token, method="total_supply", args={})["result"] == SUPPLY
    # Fees are burned, and only senders pay them: each native balance is down by exactly its fees.
    natives = {address: native_balance(client, address) for address in recipients}
    assert natives == {address: native_before[address] - fees[address] for address in recipients}
    assert all(fees[sender.address] > 0 for sender in SENDERS)

    # SIGTERM, then a restart on the same data directory.
    assert devnet.stop() == info["head"]["height"]
    devnet = devnets.restart(devnet)
    assert f"resumed at height {info['head']['height']}" in devnet.output()
    assert f"Explorer:  {devnet.url}/ in a browser" in devnet.output()  # the banner says where the explorer is
    client = devnet.client()
    after = client.call("chain_info")
    assert after["head"] == info["head"]
    assert after["genesis_hash"] == info["genesis_hash"]
    assert {address: token_balance(client, token, address) for address in recipients} == model
    assert {address: native_balance(client, address) for address in recipients} == natives

    # Nonces carry on from where they were: the next one works, a used one is refused.
    sender = SENDERS[0]
    assert next_nonce(client, sender) == TRANSFERS_EACH  # dev1 sent nothing before its 50
    stale = token_transfer(sender, TRANSFERS_EACH - 1, token_address, owner.address, 1)
    try:
        submit(client, stale)
    except RPCClientError as error:
        assert error.code == -32000 and "already used" in error.message, error.message
    else:
        raise AssertionError("a used nonce was accepted after the restart")
    report = submit(client, token_transfer(sender, TRANSFERS_EACH, token_address, owner.address, 7))
    assert report["status"] == "included"
    assert report["receipt"]["block_height"] == info["head"]["height"] + 1
    assert report["receipt"]["events"] == [transfer_event(token, sender.address, owner.address, 7)]
    assert token_balance(client, token, owner.address) == model[owner.address] + 7


def test_block_time_mode(devnets: Devnets) -> None:
    devnet = devnets.start("--block-time", "0.2")
    client = devnet.client()
    info = client.call("chain_info")
    assert info["mining"] == {"block_time": 0.2}
    alice, bob = dev_key(0), dev_key(1)
    target = dev_key(9).address
    first_alice, first_bob = next_nonce(client, alice), next_nonce(client, bob)
    target_before = native_balance(client, target)

    # One HTTP request, handled in one go: the three are admitted before any block is produced,
    # and bob's, a nonce ahead, must wait for the gap to fill.
    ready = [native_transfer(alice, first_alice + index, target, 1000 + index) for index in range(3)]
    ahead = native_transfer(bob, first_bob + 1, target, 5)
    batch = [call("submit_transaction", {"tx": tx_hex(signed)}, index) for index, signed in enumerate([*ready, ahead])]
    batch.append(call("get_receipt", {"hash": "0x" + ready[0].hash.hex()}, 99))
    answers = {answer["id"]: answer for answer in rpc(devnet, batch)}
    for index, signed in enumerate([*ready, ahead]):
        assert answers[index]["result"] == {"tx_hash": "0x" + signed.hash.hex(), "status": "pending", "receipt": None}
    assert answers[99]["result"] is None  # pending: no receipt yet

    receipts = [
        wait_for("a receipt", lambda signed=signed: client.call("get_receipt", hash="0x" + signed.hash.hex()))
        for signed in ready
    ]
    assert [receipt["status"] for receipt in receipts] == ["ok"] * 3
    assert len({receipt["block_height"] for receipt in receipts}) == 1, receipts  # they share a block
    assert [receipt["index"] for receipt in receipts] == [0, 1, 2]
    shared = client.call("get_block", block=receipts[0]["block_height"])
    assert shared["transactions"] == ["0x" + signed.hash.hex() for signed in ready]

    # Blocks go by; bob's transaction still waits for its gap.
    wait_for("two more blocks", lambda: client.call("chain_info")["head"]["height"] >= shared["height"] + 2)
    assert client.call("get_transaction", hash="0x" + ahead.hash.hex())["status"] == "pending"
    assert client.call("get_receipt", hash="0x" + ahead.hash.hex()) is None
    assert next_nonce(client, bob) == first_bob  # a gap: the pending one does not count
    assert client.call("chain_info")["pending"] == 1

    filler = native_transfer(bob, first_bob, target, 4)
    assert submit(client, filler)["status"] == "pending"
    filled = wait_for("the gap filler's receipt", lambda: client.call("get_receipt", hash="0x" + filler.hash.hex()))
    waited = wait_for("the waiting one's receipt", lambda: client.call("get_receipt", hash="0x" + ahead.hash.hex()))
    assert filled["status"] == waited["status"] == "ok"
    assert (waited["block_height"], waited["index"]) == (filled["block_height"], filled["index"] + 1)
    assert next_nonce(client, bob) == first_bob + 2
    assert client.call("get_transaction", hash="0x" + ahead.hash.hex())["transaction"]["nonce"] == first_bob + 1

    # Idle: blocks keep coming, empty, with timestamps that never go back.
    idle_from = client.call("chain_info")["head"]["height"]
    wait_for("three idle blocks", lambda: client.call("chain_info")["head"]["height"] >= idle_from + 3)
    blocks = [client.call("get_block", block=height) for height in range(idle_from + 1, idle_from + 4)]
    assert all(block["transactions"] == [] for block in blocks)
    previous = client.call("get_block", block=idle_from)
    for block in blocks:
        assert block["parent_hash"] == previous["hash"]
        assert block["timestamp"] >= previous["timestamp"]
        previous = block
    assert native_balance(client, target) == target_before + 1000 + 1001 + 1002 + 5 + 4


def test_sigterm_with_connections_open(devnets: Devnets) -> None:
    """Stopping with clients connected: one kept alive after a call, one mid-headers, one mid-body."""
    devnet = devnets.start()
    kept = socket.create_connection(("127.0.0.1", devnet.port), timeout=10)
    mid_headers = socket.create_connection(("127.0.0.1", devnet.port), timeout=10)
    mid_body = socket.create_connection(("127.0.0.1", devnet.port), timeout=10)
    with kept, mid_headers, mid_body:
        body = json.dumps(call("chain_info")).encode()
        kept.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        answer = parse_response(kept.recv(65536))
        assert answer.status == 200 and answer.headers["connection"] == "keep-alive"
        mid_headers.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        mid_body.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"jsonrpc"')
        # The node still serves others meanwhile.
        assert devnet.client().call("chain_info")["head"]["height"] == 0
        assert devnet.stop() == 0  # exit 0, and no traceback in its output
        assert kept.recv(65536) == b""  # closed by the node
