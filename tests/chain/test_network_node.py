"""``wasmchain node``'s JSON-RPC without CometBFT: a stand-in answers ``broadcast_tx_async`` and gives the
node the ``CheckTx`` verdict its application would (chain/node/network.py).

What a validator's node answers that a devnet does not: ``submit_transaction`` handed to CometBFT (its
refusals mapped back to ours, an unreachable CometBFT said plainly), what it forwarded remembered as
pending, the devnet controls refused with -32005, and ``chain_info`` naming CometBFT.  The real thing is
tests/network/.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import GENESIS
from wasmchain.node.abci.app import CODES
from wasmchain.node.jsonrpc import FOLLOWER_REFUSED, TX_REJECTED
from wasmchain.node.network import BROADCAST_BATCH, NetworkDispatcher, NetworkNode
from wasmchain.protocol.keys import dev_key, format_address
from wasmchain.protocol.transactions import Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

Answer = Callable[[dict[str, Any]], dict[str, Any]]
Verdict = Callable[[bytes], "tuple[int, str] | None"]
"""The ``CheckTx`` verdict the stand-in's application gives a transaction it took (``None``: none ever comes)."""


def _admit(tx: bytes) -> tuple[int, str]:
    return 0, ""


def _chain() -> Chain:
    return Chain.create(MemoryKV(), load_genesis(GENESIS))


def _transfer(chain: Chain, nonce: int = 0, sender: int = 0) -> bytes:
    tx = Transaction(
        chain_id=chain.genesis.chain_id,
        nonce=nonce,
        gas_limit=100_000,
        gas_price=chain.genesis.chain.min_gas_price,
        public_key=dev_key(sender).public_key,
        kind=TxKind.TRANSFER,
        to=dev_key(1).address,
        value=5,
    )
    return tx.sign(dev_key(sender)).encoded


async def _cometbft(
    answer: Answer,
    seen: list[dict[str, Any]],
    node: NetworkNode | None = None,
    verdict: Verdict = _admit,
    posts: list[int] | None = None,
    batch_limit: int | None = None,
) -> tuple[asyncio.Server, str]:
    """A stand-in for CometBFT's RPC: each call's JSON body to ``answer`` (a batch's one by one, in order), its
    result sent back; a transaction it takes gets ``verdict``'s ``CheckTx`` answer, given to ``node`` as its
    application would.  ``posts`` gets each request's number of calls; a batch of more than ``batch_limit``
    calls is refused whole, as CometBFT's ``max_request_batch_size`` does.  It closes each connection after one
    answer (the node's kept-alive connection then fails and it opens another)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        request = json.loads(await reader.readexactly(length))
        calls = request if isinstance(request, list) else [request]
        if posts is not None:
            posts.append(len(calls))
        taken: list[bytes] = []
        if batch_limit is not None and len(calls) > batch_limit:
            error = {"code": -32600, "message": "Invalid Request", "data": f"max batch size is {batch_limit}"}
            reply: Any = {"jsonrpc": "2.0", "id": -1, "error": error}
        else:
            replies = []
            for call in calls:
                seen.append(call)
                result = answer(call)
                replies.append({"jsonrpc": "2.0", "id": call["id"], **result})
                if "result" in result:
                    taken.append(base64.b64decode(call["params"]["tx"]))
            reply = replies if isinstance(request, list) else replies[0]
        body = json.dumps(reply).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()
        for tx in taken if node is not None else []:
            given = verdict(tx)
            if given is not None:
                asyncio.get_running_loop().call_soon(node.checked, tx, *given)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def _call(dispatcher: NetworkDispatcher, method: str, **params: Any) -> dict[str, Any]:
    async def run() -> bytes | None:
        return await dispatcher.serve(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        )

    answer = asyncio.run(run())
    assert answer is not None
    decoded: dict[str, Any] = json.loads(answer)
    return decoded


def _with_cometbft(
    answer: Answer,
    calls: Callable[[NetworkDispatcher], Any],
    verdict: Verdict = _admit,
    posts: list[int] | None = None,
    batch_limit: int | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``calls(dispatcher)`` on a loop with the stand-in listening; its value and the calls CometBFT got."""
    seen: list[dict[str, Any]] = []
    chain = _chain()

    async def run() -> Any:
        node = NetworkNode(chain, "http://127.0.0.1:9")
        server, url = await _cometbft(answer, seen, node, verdict, posts, batch_limit)
        node.cometbft_rpc, node.rpc.url = url, url
        dispatcher = NetworkDispatcher(node)
        try:
            return await calls(dispatcher)
        finally:
            await node.rpc.close()
            server.close()

    return asyncio.run(run()), seen


async def _serve(dispatcher: NetworkDispatcher, method: str, **params: Any) -> dict[str, Any]:
    answer = await dispatcher.serve(
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    )
    assert answer is not None
    decoded: dict[str, Any] = json.loads(answer)
    return decoded


def test_a_transaction_is_handed_to_cometbft_and_remembered_as_pending() -> None:
    chain = _chain()
    tx = _transfer(chain)
    sender = format_address(dev_key(0).address)

    async def calls(dispatcher: NetworkDispatcher) -> list[dict[str, Any]]:
        submitted = await _serve(dispatcher, "submit_transaction", tx="0x" + tx.hex())
        tx_hash = submitted["result"]["tx_hash"]
        return [
            submitted,
            await _serve(dispatcher, "get_receipt", hash=tx_hash),
            await _serve(dispatcher, "get_next_nonce", address=sender),
            await _serve(dispatcher, "get_transaction", hash=tx_hash),
            await _serve(dispatcher, "chain_info"),
        ]

    answers, seen = _with_cometbft(lambda request: {"result": {"code": 0, "hash": "AB", "log": ""}}, calls)
    submitted, receipt, nonce, transaction, info = answers
    assert submitted["result"]["status"] == "pending" and submitted["result"]["receipt"] is None
    assert receipt["result"] is None  # pending: the client polls on
    assert nonce["result"]["nonce"] == 1  # the forwarded one counted
    assert transaction["result"]["status"] == "pending"
    assert info["result"]["mining"]["cometbft"].startswith("http://127.0.0.1:")
    assert info["result"]["pending"] == 1
    assert [request["method"] for request in seen] == ["broadcast_tx_async"]
    assert base64.b64decode(seen[0]["params"]["tx"]) == tx


def test_a_check_tx_refusal_is_our_refusal_with_its_reason() -> None:
    chain = _chain()
    tx = _transfer(chain, nonce=7)

    def refuse(tx: bytes) -> tuple[int, str]:
        return CODES["nonce_too_high"], "nonce 7 is ahead: the next nonce is 0"

    async def calls(dispatcher: NetworkDispatcher) -> dict[str, Any]:
        return await _serve(dispatcher, "submit_transaction", tx="0x" + tx.hex())

    answer, _ = _with_cometbft(lambda request: {"result": {"code": 0, "hash": "AB"}}, calls, refuse)
    error = answer["error"]
    assert error["code"] == TX_REJECTED
    assert error["data"]["reason"] == "nonce_too_high"
    assert error["message"] == "rejected: nonce 7 is ahead: the next nonce is 0"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("tx already exists in cache", "duplicate_transaction"), ("mempool is full: 5000 txs", "mempool_full")],
)
def test_cometbft_s_own_refusals_are_ours(text: str, reason: str) -> None:
    chain = _chain()
    tx = _transfer(chain)

    async def calls(dispatcher: NetworkDispatcher) -> dict[str, Any]:
        return await _serve(dispatcher, "submit_transaction", tx="0x" + tx.hex())

    answer, _ = _with_cometbft(
        lambda request: {"error": {"code": -32603, "message": "Internal error", "data": text}}, calls
    )
    assert answer["error"]["data"]["reason"] == reason


def test_a_malformed_transaction_never_reaches_cometbft() -> None:
    async def calls(dispatcher: NetworkDispatcher) -> dict[str, Any]:
        return await _serve(dispatcher, "submit_transaction", tx="0x9c00")

    answer, seen = _with_cometbft(lambda request: {"result": {"code": 0}}, calls)
    assert answer["error"]["code"] == TX_REJECTED
    assert "does not decode" in answer["error"]["message"]
    assert seen == []


def test_an_unreachable_cometbft_is_said_plainly() -> None:
    chain = _chain()
    dispatcher = NetworkDispatcher(NetworkNode(chain, "http://127.0.0.1:9"))
    answer = _call(dispatcher, "submit_transaction", tx="0x" + _transfer(chain).hex())
    error = answer["error"]
    assert error["data"]["reason"] == "cometbft_unreachable"
    assert "cannot reach CometBFT at http://127.0.0.1:9" in error["message"]
    assert "cometbft start" in error["message"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("devnet_mine", {}),
        ("devnet_snapshot", {}),
        ("devnet_revert", {"id": 1}),
        ("devnet_set_balance", {"address": "0x" + "11" * 20, "balance": 1}),
        ("devnet_set_next_block_timestamp", {"timestamp": 1}),
        ("devnet_increase_time", {"seconds": 1}),
    ],
)
def test_the_devnet_controls_are_refused(method: str, params: dict[str, Any]) -> None:
    chain = _chain()
    answer = _call(NetworkDispatcher(NetworkNode(chain, "http://127.0.0.1:9")), method, **params)
    error = answer["error"]
    assert error["code"] == FOLLOWER_REFUSED
    assert error["data"]["reason"] == "network_refused"
    assert error["message"].startswith("this node is a validator of a CometBFT network")
    assert chain.head.height == 0


def test_reads_answer_as_on_a_devnet() -> None:
    chain = _chain()
    dispatcher = NetworkDispatcher(NetworkNode(chain, "http://127.0.0.1:9"))
    balance = _call(dispatcher, "get_balance", address=format_address(dev_key(0).address))
    assert balance["result"]["balance"] == chain.account(dev_key(0).address).balance
    assert _call(dispatcher, "get_block", block=0)["result"]["height"] == 0


def test_a_batch_is_handed_over_in_order_and_each_gets_its_own_verdict() -> None:
    """A request's transactions reach CometBFT one after the other, in the request's order (each once the one
    before is queued), and each answer is its own ``CheckTx``'s: a refused one in the middle refuses that one
    only."""
    chain = _chain()
    txs = [_transfer(chain, nonce) for nonce in range(4)]
    bad = txs[2]

    def verdict(tx: bytes) -> tuple[int, str]:
        return (CODES["bad_signature"], "bad signature: not signed by the key") if tx == bad else (0, "")

    answers, seen = _with_cometbft(lambda request: {"result": {"code": 0, "hash": "AB"}}, _submit_all(txs), verdict)
    assert [base64.b64decode(request["params"]["tx"]) for request in seen] == txs
    assert [answer.get("result", {}).get("status") for answer in answers] == ["pending", "pending", None, "pending"]
    assert answers[2]["error"]["data"]["reason"] == "bad_signature"


def _submit_all(txs: list[bytes]) -> Callable[[NetworkDispatcher], Any]:
    async def calls(dispatcher: NetworkDispatcher) -> list[dict[str, Any]]:
        body = [
            {"jsonrpc": "2.0", "id": index, "method": "submit_transaction", "params": {"tx": "0x" + tx.hex()}}
            for index, tx in enumerate(txs)
        ]
        answer = await dispatcher.serve(json.dumps(body).encode())
        assert answer is not None
        decoded: list[dict[str, Any]] = json.loads(answer)
        return sorted(decoded, key=lambda item: item["id"])

    return calls


def test_a_request_s_transactions_go_to_cometbft_in_batches_of_broadcast_batch() -> None:
    """Twelve transactions: two HTTP requests to CometBFT (a JSON-RPC batch of ``BROADCAST_BATCH``, 10, then
    2), in the request's order; CometBFT's refusal of one call in a batch (in its cache) refuses that one only."""
    chain = _chain()
    txs = [_transfer(chain, nonce) for nonce in range(12)]
    cached = base64.b64encode(txs[4]).decode()

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        if call["params"]["tx"] == cached:
            return {"error": {"code": -32603, "message": "Internal error", "data": "tx already exists in cache"}}
        return {"result": {"code": 0, "hash": "AB"}}

    posts: list[int] = []
    answers, seen = _with_cometbft(answer, _submit_all(txs), posts=posts)
    assert posts == [BROADCAST_BATCH, 12 - BROADCAST_BATCH] and BROADCAST_BATCH == 10
    assert [base64.b64decode(call["params"]["tx"]) for call in seen] == txs
    assert [answer.get("result", {}).get("status") for answer in answers] == ["pending"] * 4 + [None] + ["pending"] * 7
    assert answers[4]["error"]["data"]["reason"] == "duplicate_transaction"


def test_a_cometbft_that_refuses_batches_gets_one_transaction_at_a_time() -> None:
    """A CometBFT whose ``max_request_batch_size`` is below the batch refuses it whole: the node sends the
    transactions again one per request, in order, and each is admitted."""
    chain = _chain()
    txs = [_transfer(chain, nonce) for nonce in range(3)]
    posts: list[int] = []
    answers, seen = _with_cometbft(
        lambda call: {"result": {"code": 0, "hash": "AB"}}, _submit_all(txs), posts=posts, batch_limit=1
    )
    assert posts == [3, 1, 1, 1]
    assert [base64.b64decode(call["params"]["tx"]) for call in seen] == txs
    assert [answer["result"]["status"] for answer in answers] == ["pending"] * 3


def test_a_check_tx_that_never_comes_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    import wasmchain.node.network as network

    monkeypatch.setattr(network, "BROADCAST_TIMEOUT", 0.2)
    chain = _chain()

    async def calls(dispatcher: NetworkDispatcher) -> dict[str, Any]:
        answer = await _serve(dispatcher, "submit_transaction", tx="0x" + _transfer(chain).hex())
        assert dispatcher.node._verdicts == {}  # (nothing left waiting)
        return answer

    answer, _ = _with_cometbft(lambda request: {"result": {"code": 0, "hash": "AB"}}, calls, lambda tx: None)
    assert answer["error"]["data"]["reason"] == "cometbft_unreachable"
    assert "CheckTx did not reach this node" in answer["error"]["message"]


def test_kept_alive_connections_are_reused() -> None:
    """Against a server that keeps connections open, two transactions take one connection."""
    chain = _chain()
    opened = []

    async def run() -> list[dict[str, Any]]:
        node = NetworkNode(chain, "http://127.0.0.1:9")

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            opened.append(1)
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    writer.close()
                    return
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                request = json.loads(await reader.readexactly(length))
                body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {"hash": "AB"}}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                asyncio.get_running_loop().call_soon(node.checked, base64.b64decode(request["params"]["tx"]), 0, "")

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        node.cometbft_rpc, node.rpc.url = url, url
        dispatcher = NetworkDispatcher(node)
        try:
            return [
                await _serve(dispatcher, "submit_transaction", tx="0x" + _transfer(chain, nonce).hex())
                for nonce in range(2)
            ]
        finally:
            await node.rpc.close()
            await asyncio.sleep(0.05)  # (the stand-in sees the end of its connection and closes its side)
            server.close()

    answers = asyncio.run(run())
    assert [answer["result"]["status"] for answer in answers] == ["pending", "pending"]
    assert len(opened) == 1


def test_handed_over_transactions_reach_check_tx_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's transactions are given to the application decoded (``NetworkNode.share``): their ``CheckTx``
    does not decode them again, and verifies each signature once."""
    from wasmchain.node.abci.app import AbciApp
    from wasmchain.node.abci.proto.tendermint.abci import types_pb2
    from wasmchain.protocol import transactions

    chain = _chain()
    txs = [_transfer(chain, nonce) for nonce in range(6)]
    app = AbciApp(chain)
    verified: list[bytes] = []
    decoded: list[bytes] = []
    real_verify, real_decode = transactions.verify_signature, transactions.SignedTransaction.decode.__func__

    def counting(public_key: bytes, signature: bytes, message: bytes) -> bool:
        verified.append(signature)
        return real_verify(public_key, signature, message)

    def decode(cls: type[transactions.SignedTransaction], data: bytes) -> transactions.SignedTransaction:
        decoded.append(bytes(data))
        return real_decode(cls, data)

    monkeypatch.setattr(transactions, "verify_signature", counting)
    monkeypatch.setattr(transactions.SignedTransaction, "decode", classmethod(decode))
    seen: list[dict[str, Any]] = []
    checked: list[int] = []

    async def run() -> list[dict[str, Any]]:
        node = NetworkNode(chain, "http://127.0.0.1:9")
        node.share = app.remember

        def verdict(tx: bytes) -> tuple[int, str]:
            response = app.check_tx(types_pb2.RequestCheckTx(tx=tx))
            checked.append(response.code)
            return response.code, response.log

        server, url = await _cometbft(lambda call: {"result": {"code": 0, "hash": "AB"}}, seen, node, verdict)
        node.cometbft_rpc, node.rpc.url = url, url
        try:
            answers: list[dict[str, Any]] = await _submit_all(txs)(NetworkDispatcher(node))
            return answers
        finally:
            await node.rpc.close()
            server.close()

    answers = asyncio.run(run())
    assert [answer["result"]["status"] for answer in answers] == ["pending"] * 6
    assert checked == [0] * 6
    assert decoded == txs  # (once each, by the node's JSON-RPC)
    assert len(verified) == 6


def test_a_sender_s_transactions_far_ahead_of_its_nonce_are_remembered_as_pending() -> None:
    """CheckTx admits a sender's next nonces without a bound: the node's mirror places 100 of them (the devnet's
    mempool takes 64 beyond the account's nonce), so the last one's receipt is pending, not "not found"."""
    chain = _chain()
    txs = [_transfer(chain, nonce) for nonce in range(100)]

    async def calls(dispatcher: NetworkDispatcher) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        answers = await _submit_all(txs[:50])(dispatcher) + await _submit_all(txs[50:])(dispatcher)
        last = answers[-1]["result"]["tx_hash"]
        return answers, await _serve(dispatcher, "get_receipt", hash=last)

    (answers, receipt), _ = _with_cometbft(lambda call: {"result": {"code": 0, "hash": "AB"}}, calls)
    assert [answer["result"]["status"] for answer in answers] == ["pending"] * 100
    assert "error" not in receipt and receipt["result"] is None


def test_forwarded_transactions_are_scanned_for_expiry_once_an_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every JSON-RPC call prunes, but the scan of what was forwarded (for the ones past ``FORWARDED_TTL``) runs
    at most every ``PRUNE_INTERVAL`` seconds: at every call it cost a fifth of the node's time under load."""
    import wasmchain.node.network as network

    chain = _chain()
    txs = [_transfer(chain, nonce) for nonce in range(3)]

    async def calls(dispatcher: NetworkDispatcher) -> tuple[int, int, int]:
        await _submit_all(txs)(dispatcher)
        node = dispatcher.node
        looked: list[bytes] = []
        real_get = node.mempool.get

        def get(tx_hash: Any) -> Any:
            looked.append(tx_hash)
            return real_get(tx_hash)

        monkeypatch.setattr(node.mempool, "get", get)
        node._scan_after = 0.0
        for _ in range(50):
            await _serve(dispatcher, "chain_info")
        scanned = len(looked)
        pending = len(node.mempool)
        monkeypatch.setattr(network, "FORWARDED_TTL", 0.0)
        node._scan_after = 0.0
        await _serve(dispatcher, "chain_info")
        return scanned, pending, len(node.mempool)

    (scanned, pending, after), _ = _with_cometbft(lambda call: {"result": {"code": 0, "hash": "AB"}}, calls)
    assert (scanned, pending) == (3, 3)  # one scan in 50 calls
    assert after == 0  # expired: forgotten at the next scan
