"""What one JSON-RPC request may cost the node (docs/rpc.md, "Limits"): the gas cap of view and simulate,
a request's gas budget, the size of one answer and of a batch's, and a batch that lets the loop serve
others between its calls.  Each test fails on the node before the limits (issue 12, item 1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from tests.chain.test_rpc import (
    DEV0,
    TOKEN_CODE,
    G,
    deploy_token,
    request,
    send,
    signed,
    submit,
)
from tests.chain.test_rpc_docs import docs_node
from tests.helpers import ROOT
from wasmchain.cli.main import main
from wasmchain.client.client import Client
from wasmchain.client.local import LocalTransport
from wasmchain.node import rpc as rpc_module
from wasmchain.node.jsonrpc import (
    DEFAULT_GAS_CAP,
    DEFAULT_LIMITS,
    LIMIT_EXCEEDED,
    Limits,
)
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.keys import contract_address, format_address
from wasmchain.protocol.transactions import TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV

SPIN_CODE = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "spin") (loop (br 0))))'))
"""A method that never returns: it runs out of whatever gas it has."""
SPIN = format_address(contract_address(DEV0.address, 0))


def dispatcher(limits: Limits = DEFAULT_LIMITS) -> Dispatcher:
    return Dispatcher(Node(Chain.create(MemoryKV(), G), clock=None), limits=limits)


def deploy_spin(rpc: Dispatcher) -> str:
    answer = submit(rpc, signed(DEV0, 0, TxKind.DEPLOY, code=SPIN_CODE))
    assert answer["receipt"]["address"] == SPIN
    return SPIN


def spin(gas: int, id: Any = 1) -> dict[str, Any]:
    return request("view", {"contract": SPIN, "method": "spin", "gas": gas}, id=id)


# -- the gas cap ------------------------------------------------------------------------------------


def test_a_view_runs_with_at_most_the_gas_cap() -> None:
    rpc = dispatcher()
    deploy_spin(rpc)
    limit = G.chain.block_gas_limit
    answer = send(rpc, spin(limit))["result"]  # before: it ran 2e9 gas, seconds of the node's one thread
    assert answer["status"] == "out_of_gas" and answer["gas_used"] == DEFAULT_GAS_CAP
    small = dispatcher(Limits(gas_cap=1_000_000))
    deploy_spin(small)
    assert send(small, spin(limit))["result"]["gas_used"] == 1_000_000
    assert send(small, spin(10_000))["result"]["gas_used"] == 10_000  # below the cap: as asked


def test_a_simulate_executes_at_most_the_gas_cap_beyond_its_intrinsic_gas() -> None:
    rpc = dispatcher(Limits(gas_cap=1_000_000))
    deploy_spin(rpc)
    params = {"from": format_address(DEV0.address), "to": SPIN, "method": "spin", "gas": G.chain.block_gas_limit}
    ran = rpc.call("simulate", params)
    assert ran["status"] == "out_of_gas"
    assert 1_000_000 < ran["gas_used"] <= 1_000_000 + 60_000  # the cap, and the intrinsic gas of a small call
    # A deploy's compiling is intrinsic: a token's deploy (~28M gas) simulates in full under a 1M cap.
    deploy = rpc.call("simulate", {"from": format_address(DEV0.address), "code": "0x" + TOKEN_CODE.hex()})
    assert deploy["status"] == "ok" and deploy["gas_used"] > 20_000_000


def test_the_clients_gas_estimation_works_under_a_small_cap() -> None:
    client = Client(LocalTransport(dispatcher(Limits(gas_cap=2_000_000))))
    alice, bob = client.dev_account(0), client.dev_account(1)
    token = alice.deploy(TOKEN_CODE, "init", {"supply": 1_000})  # ~28M gas, mostly compiling: intrinsic
    assert token.call("transfer", {"to": bob, "amount": 10}, sender=alice).status == "ok"
    assert token.view("balance_of", {"owner": bob}) == 10


# -- a request's gas budget -------------------------------------------------------------------------


def test_a_batch_executes_at_most_its_gas_budget() -> None:
    rpc = dispatcher(Limits(gas_cap=10_000_000, batch_gas=25_000_000))
    deploy_spin(rpc)
    answers = send(rpc, [spin(10_000_000, id) for id in range(4)])
    assert [answer["result"]["gas_used"] for answer in answers[:2]] == [10_000_000, 10_000_000]
    for answer in answers[2:]:  # before: every call ran, whatever the batch's total
        error = answer["error"]
        assert error["code"] == LIMIT_EXCEEDED and error["data"]["reason"] == "gas_budget_exceeded"
        assert "asks for 10000000 gas, but this request has 5000000 of its 25000000 left" in error["message"]
        assert "--rpc-batch-gas" in error["message"]
    # What a call did not use goes back: small calls fit, and a small one still fits after the refusals.
    assert send(rpc, [spin(10_000_000, 0), spin(10_000_000, 1), spin(5_000_000, 2)])[2]["result"]["gas_used"] == (
        5_000_000
    )
    token_rpc = dispatcher(Limits(gas_cap=10_000_000, batch_gas=25_000_000))
    token = deploy_token(token_rpc)
    cheap = [request("view", {"contract": token, "method": "total_supply"}, id) for id in range(100)]
    assert all(answer["result"]["result"] == 1_000 for answer in send(token_rpc, cheap))


def test_a_single_call_is_a_request_of_its_own() -> None:
    rpc = dispatcher(Limits(gas_cap=10_000_000, batch_gas=25_000_000))
    deploy_spin(rpc)
    for _ in range(5):
        assert rpc.call("view", {"contract": SPIN, "method": "spin", "gas": 10_000_000})["gas_used"] == 10_000_000


# -- answer sizes -----------------------------------------------------------------------------------


def test_an_answer_over_the_limit_is_refused_naming_it() -> None:
    rpc = dispatcher(Limits(max_answer_size=10_000))
    token = deploy_token(rpc)
    error = send(rpc, request("get_code", {"address": token}))["error"]  # before: 42 KB sent
    assert error["code"] == LIMIT_EXCEEDED and error["data"]["reason"] == "answer_too_large"
    assert "over the node's limit of 10000 for one answer" in error["message"]
    assert "--rpc-max-answer-size" in error["message"]
    assert send(rpc, request("get_balance", {"address": token}))["result"]["balance"] == 0


def test_a_batchs_answers_stop_at_their_limit_and_the_rest_does_not_run() -> None:
    rpc = dispatcher(Limits(max_batch_answer_size=200_000))
    token = deploy_token(rpc)
    code = request("get_code", {"address": token})
    batch = [{**code, "id": id} for id in range(50)] + [request("devnet_mine", id="mine")]
    raw = rpc.handle(json.dumps(batch).encode())  # before: 50 copies of the code, 2 MB for a 4 KB request
    assert raw is not None and len(raw) < 200_000 + 50 * 500
    answers = json.loads(raw)
    assert [answer["id"] for answer in answers] == [*range(50), "mine"]
    sent = [answer for answer in answers if "result" in answer]
    assert len(sent) == 4  # each ~42 KB
    for answer in answers[4:]:
        assert answer["error"]["code"] == LIMIT_EXCEEDED
        assert answer["error"]["data"]["reason"] == "batch_answer_too_large"
        assert "--rpc-max-batch-answer-size" in answer["error"]["message"]
    assert rpc.chain.head.height == 1  # the devnet_mine after the limit did not run


def test_get_raw_blocks_sends_fewer_blocks_rather_than_pass_the_answer_limit() -> None:
    rpc = dispatcher(Limits(max_answer_size=3_000))
    for nonce in range(10):
        submit(rpc, signed(DEV0, nonce))
    page = rpc.call("get_raw_blocks", {"from_height": 1, "count": 10})
    assert page["head"] == 10 and 1 <= len(page["blocks"]) < 10  # before: all ten
    assert [block["height"] for block in page["blocks"]] == list(range(1, len(page["blocks"]) + 1))
    assert len(json.dumps({"jsonrpc": "2.0", "id": 1, "result": page})) <= 3_000
    tiny = dispatcher(Limits(max_answer_size=300))
    submit(tiny, signed(DEV0, 0))
    error = send(tiny, request("get_raw_blocks", {"from_height": 1}))["error"]
    assert error["data"]["reason"] == "answer_too_large" and "get_raw_blocks (block 1)" in error["message"]


def test_the_defaults_leave_normal_use_untouched() -> None:
    rpc = dispatcher()
    token = deploy_token(rpc)
    assert len(send(rpc, request("get_code", {"address": token}))["result"]["code"]) > 40_000
    assert len(send(rpc, [request("get_code", {"address": token}, id) for id in range(100)])) == 100


# -- a batch lets the loop serve others -------------------------------------------------------------


def test_a_batch_served_on_a_loop_lets_other_requests_in_between_its_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpc_module, "TURN_AFTER", 0.0)  # a turn after every call, whatever the machine's speed
    rpc = dispatcher()
    deploy_spin(rpc)
    ran: list[str] = []
    view = rpc.methods["view"]
    monkeypatch.setitem(
        rpc.methods,
        "view",
        rpc_module.Method("view", lambda *a, **k: ran.append("view") or view.handler(*a, **k), view.params, True),
    )

    async def health() -> None:
        while len(ran) < 10:
            assert json.loads(rpc.handle(json.dumps(request("chain_info")).encode()) or b"null")["result"]
            ran.append("health")
            await asyncio.sleep(0)

    async def both() -> bytes | None:
        checker = asyncio.create_task(health())
        answer = await rpc.serve(json.dumps([spin(1_000_000, id) for id in range(10)]).encode())
        await checker
        return answer

    answer = asyncio.run(both())
    assert answer is not None and len(json.loads(answer)) == 10
    views = [index for index, what in enumerate(ran) if what == "view"]
    between = [what for what in ran[views[0] : views[-1]] if what == "health"]
    assert len(between) >= 9, ran  # before: the batch ran to its end before anything else


def test_the_docs_example_of_a_refusal_is_the_nodes_answer() -> None:
    text = (ROOT / "docs" / "rpc.md").read_text()
    limits = text.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    documented = json.loads(limits.split("```text\n", 1)[1].split("```", 1)[0])
    rpc = docs_node()
    rpc.limits = Limits(max_answer_size=1000)
    token = format_address(contract_address(DEV0.address, 0))
    assert send(rpc, request("get_code", {"address": token})) == documented


@pytest.mark.parametrize("command", ["devnet", "follow"])
def test_a_limit_flag_must_be_positive(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--data", str(tmp_path / "data")] + (["--rpc", "http://127.0.0.1:1"] if command == "follow" else [])
    assert main([command, *where, "--port", "0", "--rpc-batch-gas", "0"]) == 2
    assert "--rpc-batch-gas must be a positive integer, found 0" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before anything was opened
