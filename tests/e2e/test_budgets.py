"""A real ``wasmchain devnet`` (and ``follow``) process under heavy requests (issue 12, item 1): the limit
flags reach the node, and a health check and a cheap call are answered within 50 ms while a heavy batch runs.

The latency is measured, not assumed: while a batch of 60 busy loops at the gas cap (about 1 s of the
node's one thread) runs, this thread sends ``GET /`` and ``get_balance`` one after the other and records
each answer's time; the figures are printed (``pytest -s``).  The bound has slack for a loaded 2-core
machine: the median within 50 ms, every answer within 250 ms (before the fix: the first answer waited for
the whole batch, over a second).
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import wasmtime

from tests.e2e.conftest import Devnets
from tests.helpers.devnet import Devnet, start_listening, wait_for
from wasmchain import Client
from wasmchain.node.jsonrpc import DEFAULT_GAS_CAP

SPIN_CODE = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "spin") (loop (br 0))))'))
"""A method that never returns: it runs out of whatever gas it has."""
HEAVY_CALLS = 60
BOUND = 0.050
"""Seconds: the latency a health check must keep while a heavy batch runs (its median)."""
SLACK_BOUND = 0.250
"""Seconds: the latency every single answer must keep, with room for a loaded machine."""


def post(connection: http.client.HTTPConnection, body: Any) -> Any:
    connection.request("POST", "/", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    assert response.status == 200, payload
    return json.loads(payload)


def connect(devnet: Devnet, timeout: float = 60.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", devnet.port, timeout=timeout)


def deploy_spin(client: Client) -> str:
    return client.dev_account(0).deploy(SPIN_CODE).address


def spin(contract: str, gas: int, id: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": "view",
        "params": {"contract": contract, "method": "spin", "gas": gas},
    }


def test_the_limit_flags_reach_the_devnet(devnets: Devnets) -> None:
    devnet = devnets.start("--rpc-gas-cap", "1000000", "--rpc-max-answer-size", "20000", "--rpc-batch-gas", "3000000")
    client = devnet.client()
    contract = deploy_spin(client)
    token = client.dev_account(0).deploy(Path(__file__).parents[2] / "contracts" / "token" / "token.wasm")
    connection = connect(devnet)
    try:
        answers = post(connection, [spin(contract, 2_000_000_000, id) for id in range(4)])
        assert [answer["result"]["gas_used"] for answer in answers[:3]] == [1_000_000] * 3
        assert answers[3]["error"]["data"]["reason"] == "gas_budget_exceeded"
        code = post(connection, {"jsonrpc": "2.0", "id": 1, "method": "get_code", "params": {"address": token.address}})
        assert (
            code["error"]["data"]["reason"] == "answer_too_large"
            and "--rpc-max-answer-size" in code["error"]["message"]
        )
    finally:
        connection.close()


def test_the_limit_flags_reach_a_follower(devnets: Devnets, tmp_path: Path) -> None:
    devnet = devnets.start()
    contract = deploy_spin(devnet.client())
    data = tmp_path / "follower"
    follower = start_listening(
        [
            "follow",
            "--rpc",
            devnet.url,
            "--data",
            str(data),
            "--port",
            "0",
            "--poll",
            "0.05",
            "--rpc-gas-cap",
            "1000000",
        ],
        data,
    )
    try:
        client = follower.client()
        wait_for("the follower to take the deploy", lambda: client.head().height >= 1, timeout=30.0)
        assert client.view(contract, "spin", gas=2_000_000_000).gas_used == 1_000_000
    finally:
        follower.stop()


def test_health_and_cheap_calls_are_answered_while_a_heavy_batch_runs(devnets: Devnets) -> None:
    devnet = devnets.start("--rpc-batch-gas", str(HEAVY_CALLS * DEFAULT_GAS_CAP))
    client = devnet.client()
    contract = deploy_spin(client)
    dev0 = client.dev_account(0).address
    heavy = [spin(contract, 2_000_000_000, id) for id in range(HEAVY_CALLS)]
    done: list[Any] = []
    finished: list[float] = []
    sender = connect(devnet)

    def send_heavy() -> None:
        try:
            done.append(post(sender, heavy))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            done.append(error)
        finished.append(time.monotonic())

    checker = connect(devnet, timeout=10.0)
    try:
        post(checker, {"jsonrpc": "2.0", "id": 0, "method": "chain_info"})  # connected, warm
        thread = threading.Thread(target=send_heavy, daemon=True)
        started = time.monotonic()
        thread.start()
        answers: list[tuple[float, float]] = []
        while not done:
            begin = time.monotonic()
            if len(answers) % 2:
                answer = post(checker, {"jsonrpc": "2.0", "id": 1, "method": "get_balance", "params": [dev0]})
                assert answer["result"]["balance"] > 0
            else:
                checker.request("GET", "/")
                response = checker.getresponse()
                assert response.status == 200 and json.loads(response.read())["result"]["head"]["height"] == 1
            answers.append((begin, time.monotonic() - begin))
            assert time.monotonic() - started < 120, "the heavy batch did not finish within 120 s"
        thread.join(10)
        batch_seconds = finished[0] - started
        latencies = [latency for begin, latency in answers if begin < finished[0]]  # asked while the batch ran
    finally:
        checker.close()
        sender.close()
    result = done[0]
    assert not isinstance(result, BaseException), result
    assert [answer["result"]["gas_used"] for answer in result] == [DEFAULT_GAS_CAP] * HEAVY_CALLS
    median, worst = statistics.median(latencies), max(latencies)
    p90 = sorted(latencies)[int(len(latencies) * 0.9)]
    print(
        f"\nheavy batch: {HEAVY_CALLS} x {DEFAULT_GAS_CAP:,} gas in {batch_seconds:.2f} s; "
        f"{len(latencies)} health/cheap answers meanwhile: median {median * 1e3:.1f} ms, p90 {p90 * 1e3:.1f} ms, "
        f"max {worst * 1e3:.1f} ms"
    )
    assert len(latencies) >= 10, f"only {len(latencies)} answers while the batch ran ({batch_seconds:.2f} s)"
    assert median < BOUND, f"median {median * 1e3:.1f} ms, over {BOUND * 1e3:.0f} ms"
    assert worst < SLACK_BOUND, f"worst {worst * 1e3:.1f} ms, over {SLACK_BOUND * 1e3:.0f} ms"
