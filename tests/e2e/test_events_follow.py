"""Live subscriptions against a real ``wasmchain devnet`` process: the client's iterators and ``wasmchain events
--follow`` (a real CLI process), and the issue's "a transfer within 100 ms of its block".

The latency is measured from the moment the transfer is submitted (so its block is committed later than that:
the figure is an upper bound of block-to-event) to the moment the event is yielded or its line read; it is
printed (``-s``) and asserted under a generous bound, so that a loaded machine does not fail the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import pytest

from tests.helpers.devnet import ROOT, WASMCHAIN, Devnet
from wasmchain import Client, Contract, RPCClientError
from wasmchain.client.live import WebSocketSubscription
from wasmchain.node.jsonrpc import INVALID_PARAMS

TOKEN = ROOT / "contracts" / "token" / "token.wasm"
TRANSFERS = 20
BOUND = 1.0
"""Seconds the median may take here (the issue asks 100 ms; the figure measured is printed)."""


@pytest.fixture(scope="module")
def token(devnet: Devnet) -> Contract:
    return devnet.client().dev_account(0).deploy(TOKEN, init="init", args={"supply": 10**9})


def collect(iterator: Iterator[Any], arrived: list[tuple[float, Any]], count: int) -> threading.Thread:
    """Take ``count`` items in a thread, each with the time it came."""

    def take() -> None:
        try:
            for item in iterator:
                arrived.append((time.perf_counter(), item))
                if len(arrived) >= count:
                    return
        except RPCClientError:
            return  # (closed by the test before it had them all: the test says what is missing)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def median_ms(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] * 1e3


def test_client_events_follow_yields_each_transfer_soon_after_its_block(devnet: Devnet, token: Contract) -> None:
    client = devnet.client()
    owner, dev1 = client.dev_account(0), client.dev_account(1)
    arrived: list[tuple[float, Any]] = []
    sent: list[float] = []
    answered: list[float] = []
    with client.events(contract=token.address, name="Transfer", follow=True, from_block=0) as events:
        thread = collect(events, arrived, TRANSFERS + 1)
        wait_until(lambda: len(arrived) == 1)  # the mint, from the past events
        for amount in range(1, TRANSFERS + 1):
            sent.append(time.perf_counter())
            token.call("transfer", {"to": dev1, "amount": amount}, sender=owner)
            answered.append(time.perf_counter())
            wait_until(lambda amount=amount: len(arrived) == amount + 1)
        thread.join(10)
    events_in_order = [event for _, event in arrived]
    assert events_in_order[0].data["to"] == client.dev_account(0).address  # the mint
    assert [event.data["amount"] for event in events_in_order[1:]] == list(range(1, TRANSFERS + 1))
    latencies = [at - started for (at, _), started in zip(arrived[1:], sent)]
    after_receipt = [at - done for (at, _), done in zip(arrived[1:], answered)]
    print(
        f"\nsubmit to event (client.events(follow=True), real devnet): median {median_ms(latencies):.2f} ms, "
        f"max {max(latencies) * 1e3:.2f} ms; the event came {median_ms(after_receipt):.2f} ms after the "
        "submit's answer (median; negative: before it)"
    )
    assert median_ms(latencies) < BOUND * 1e3


def test_client_blocks_and_pending_transactions(devnet: Devnet, token: Contract) -> None:
    client = devnet.client()
    with client.blocks() as blocks, client.pending_transactions() as pending:
        receipt = token.call("transfer", {"to": client.dev_account(2), "amount": 1}, sender=client.dev_account(0))
        block = next(blocks)
        admitted = next(pending)
    assert block["height"] == receipt.block_height
    assert block == client.call("get_block", block=receipt.block_height)
    assert admitted["hash"] == receipt.tx_hash == block["transactions"][0]
    assert admitted["method"] == "transfer" and admitted["to"] == token.address


def test_a_bad_filter_is_refused_by_the_node(devnet: Devnet) -> None:
    with pytest.raises(RPCClientError, match="contract must be 0x followed by 40 hex digits") as refused:
        WebSocketSubscription(devnet.url, "events", {"contract": "0x12"})
    assert refused.value.code == INVALID_PARAMS
    with pytest.raises(RPCClientError, match="kind must be one of 'blocks', 'events', 'pending'"):
        WebSocketSubscription(devnet.url, "logs")


# -- wasmchain events --follow -----------------------------------------------------------------------


@contextmanager
def follow_process(devnet: Devnet, *arguments: str) -> Iterator[tuple[subprocess.Popen[str], list[tuple[float, str]]]]:
    """``wasmchain events --follow`` running, once it says it is subscribed; and the lines it prints, timed."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("WASMCHAIN_")}
    process = subprocess.Popen(
        [str(WASMCHAIN), "events", "--follow", "--rpc", devnet.url, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[tuple[float, str]] = []
    assert process.stdout is not None and process.stderr is not None
    with process, process.stdout, process.stderr:
        try:
            notice = process.stderr.readline()  # once subscribed (or an error)
            assert notice.startswith("following events from block "), notice + process.stderr.read()
            reader = threading.Thread(target=_read, args=(process.stdout, lines), daemon=True)
            reader.start()
            yield process, lines
            reader.join(10)
        finally:
            if process.poll() is None:
                process.kill()


def _read(stream: IO[str], lines: list[tuple[float, str]]) -> None:
    for line in stream:
        lines.append((time.perf_counter(), line))


def test_the_cli_prints_each_transfer_soon_after_its_block_and_ctrl_c_exits_0(devnet: Devnet, token: Contract) -> None:
    client = devnet.client()
    owner, dev3 = client.dev_account(0), client.dev_account(3)
    head = client.head().height
    with follow_process(devnet, "--contract", token.address, "--name", "Transfer") as (process, lines):
        sent = []
        for amount in range(1, 12):
            sent.append(time.perf_counter())
            token.call("transfer", {"to": dev3, "amount": amount}, sender=owner)
            wait_until(lambda amount=amount: len(lines) == amount)
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    fields = [line.split("  ") for _, line in lines]
    assert all(int(height) > head for height, *_ in fields)
    assert [json.loads(data)["amount"] for *_, data in fields] == list(range(1, 12))
    assert all(contract == token.address and name == "Transfer" for _, _, contract, name, _ in fields)
    latencies = [at - started for (at, _), started in zip(lines[1:], sent[1:])]
    print(f"\nsubmit to printed line (wasmchain events --follow): median {median_ms(latencies):.2f} ms")
    assert median_ms(latencies) < BOUND * 1e3


def test_the_cli_follows_from_a_block_as_json_and_stops_at_the_limit(devnet: Devnet, token: Contract) -> None:
    client = devnet.client()
    owner = client.dev_account(0)
    first = token.call("transfer", {"to": client.dev_account(4), "amount": 7}, sender=owner)
    arguments = ("--name", "Transfer", "--from-block", str(first.block_height), "--limit", "2", "--json")
    with follow_process(devnet, *arguments) as (process, lines):
        wait_until(lambda: len(lines) == 1)
        second = token.call("transfer", {"to": client.dev_account(4), "amount": 8}, sender=owner)
        assert process.wait(10) == 0
    events = [json.loads(line) for _, line in lines]
    assert [event["tx_hash"] for event in events] == [first.tx_hash, second.tx_hash]
    assert events == client.call("get_events", name="Transfer", from_block=first.block_height)["events"]


def test_client_blocks_from_a_client_made_with_connect(devnet: Devnet) -> None:
    with Client.connect(devnet.url).blocks() as blocks:
        devnet.client().mine()
        assert next(blocks)["transactions"] == []
