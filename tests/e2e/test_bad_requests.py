"""Every class of bad request, sent to a real ``wasmchain devnet`` process.

JSON-RPC (bodies that are not JSON, not requests, empty or mixed batches,
unknown methods, bad parameters of each kind, notifications), transactions
refused at admission (each with a ``-32000`` message naming the problem),
and HTTP itself (methods, lengths, chunked bodies, oversized headers,
garbage, HTTP/2, clients that vanish mid-request), sent raw where an HTTP
library would not send them.  After every test the node must still answer
``chain_info`` with the head it had, and the module's teardown checks that
it logged no traceback and exits 0 on SIGTERM.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

from tests.e2e.conftest import Devnets
from tests.e2e.tools import (
    CHAIN_ID,
    GAS_PRICE,
    Devnet,
    call,
    deploy_token,
    exchange,
    native_transfer,
    next_nonce,
    parse_response,
    post,
    rpc,
    sign,
    submit,
    tx_hex,
)
from wasmchain import Client, RPCClientError
from wasmchain.protocol.codec import encode
from wasmchain.protocol.keys import KeyPair, dev_key, format_address
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
TX_REJECTED = -32000
NOT_FOUND = -32001

ADDRESS = format_address(dev_key(0).address)


@pytest.fixture(autouse=True)
def still_serving(devnet: Devnet) -> Iterator[None]:
    """Whatever a test sends, the node goes on answering, from the same process."""
    yield
    assert devnet.process.poll() is None, f"the devnet died:\n{devnet.output()}"
    answer = rpc(devnet, call("chain_info", request_id="after"))
    assert answer["id"] == "after" and answer["result"]["chain_id"] == CHAIN_ID


@pytest.fixture(scope="module")
def client(devnet: Devnet) -> Client:
    return devnet.client()


def error_of(answer: Any, request_id: Any = 1) -> dict[str, Any]:
    assert isinstance(answer, dict) and answer.get("jsonrpc") == "2.0", answer
    assert answer["id"] == request_id, answer
    assert "result" not in answer, answer
    error: dict[str, Any] = answer["error"]
    assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"], answer
    return error


def posted_error(devnet: Devnet, body: bytes | str, request_id: Any = None) -> dict[str, Any]:
    response = post(devnet, body)
    assert response.status == 200 and response.headers["content-type"] == "application/json", response
    return error_of(response.json(), request_id)


# -- the JSON-RPC envelope -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"jsonrpc": "2.0", "method": "chain_info", "id": 1',
        b"chain_info",
        b"\xff\xfe{}",
        b'{"jsonrpc": "2.0", "method": "chain_info", "id": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["empty", "open-brace", "truncated", "bare-word", "not-utf8", "nan", "deep"],
)
def test_body_not_json(devnet: Devnet, body: bytes) -> None:
    error = posted_error(devnet, body)
    assert error["code"] == PARSE_ERROR and "not JSON" in error["message"]


@pytest.mark.parametrize("body", ["42", '"chain_info"', "null", "true", "[1]"])
def test_not_a_request_object(devnet: Devnet, body: str) -> None:
    answer = rpc(devnet, json.loads(body))
    if isinstance(answer, list):  # [1]: a batch of one non-object
        assert len(answer) == 1
        answer = answer[0]
    error = error_of(answer, None)
    assert error["code"] == INVALID_REQUEST and "JSON object" in error["message"]


def test_empty_batch(devnet: Devnet) -> None:
    error = error_of(rpc(devnet, []), None)
    assert error["code"] == INVALID_REQUEST and "empty batch" in error["message"]


def test_batch_too_large(devnet: Devnet) -> None:
    error = error_of(rpc(devnet, [call("chain_info", request_id=index) for index in range(1001)]), None)
    assert error["code"] == INVALID_REQUEST and "at most 1000" in error["message"]


def test_batch_of_good_and_bad(devnet: Devnet) -> None:
    batch = [
        call("chain_info", request_id=1),
        42,
        call("no_such_method", request_id="two"),
        {"jsonrpc": "2.0", "method": "chain_info"},  # a notification: no answer
        call("get_balance", {"address": "0x12"}, request_id=3),
        {"jsonrpc": "1.0", "method": "chain_info", "id": 4},
        call("get_balance", [ADDRESS], request_id=5),
    ]
    answers = rpc(devnet, batch)
    assert isinstance(answers, list) and len(answers) == 6
    by_id: dict[Any, Any] = {}
    for answer in answers:
        by_id.setdefault(answer["id"], []).append(answer)
    assert by_id[1][0]["result"]["chain_id"] == CHAIN_ID
    assert error_of(by_id[None][0], None)["code"] == INVALID_REQUEST
    assert error_of(by_id["two"][0], "two")["code"] == METHOD_NOT_FOUND
    assert error_of(by_id[3][0], 3)["code"] == INVALID_PARAMS
    assert error_of(by_id[4][0], 4)["code"] == INVALID_REQUEST
    assert by_id[5][0]["result"]["address"] == ADDRESS


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"method": "chain_info", "id": 7}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "1.0", "method": "chain_info", "id": 7}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": 2.0, "method": "chain_info", "id": 7}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": 7}, "method must be a string"),
        ({"jsonrpc": "2.0", "method": 5, "id": 7}, "method must be a string"),
        ({"jsonrpc": "2.0", "method": ["chain_info"], "id": 7}, "method must be a string"),
        ({"jsonrpc": "2.0", "method": "chain_info", "id": 7, "extra": 1}, "unknown member 'extra'"),
    ],
    ids=["no-version", "version-1.0", "version-number", "no-method", "method-number", "method-array", "extra-member"],
)
def test_invalid_request(devnet: Devnet, request_: dict[str, Any], message: str) -> None:
    error = error_of(rpc(devnet, request_), 7)
    assert error["code"] == INVALID_REQUEST and message in error["message"]


@pytest.mark.parametrize("request_id", [True, 1.5, {"a": 1}, [1]])
def test_invalid_id(devnet: Devnet, request_id: Any) -> None:
    error = error_of(rpc(devnet, call("chain_info", request_id=request_id)), None)
    assert error["code"] == INVALID_REQUEST and "id must be" in error["message"]


@pytest.mark.parametrize("request_id", ["a string id", 0, -3, None, 2**62])
def test_ids_echoed(devnet: Devnet, request_id: Any) -> None:
    answer = rpc(devnet, call("chain_info", request_id=request_id))
    assert answer["id"] == request_id and "result" in answer


def test_unknown_method(devnet: Devnet) -> None:
    for method in ("no_such_method", "", "CHAIN_INFO", "eth_blockNumber", "__init__", "call"):
        error = error_of(rpc(devnet, call(method)))
        assert error["code"] == METHOD_NOT_FOUND and repr(method) in error["message"], error


# -- parameters -------------------------------------------------------------------------


BAD_PARAMS = [
    ("get_block", {"block": True}, 'block must be a height, a 0x block hash or "latest"'),
    ("get_block", {"block": -1}, "block must be"),
    ("get_block", {"block": "earliest"}, "block must be"),
    ("get_block", {"block": 1.5}, "block must be"),
    ("devnet_mine", {"blocks": "3"}, "blocks must be a non-negative integer"),
    ("devnet_mine", {"blocks": None}, "blocks must be a non-negative integer"),
    ("view", {"contract": ADDRESS, "method": 7}, "method must be a string"),
    ("view", {"contract": ADDRESS, "method": "m", "gas": 0}, "gas must be an integer from 1"),
    ("get_events", {"limit": "all"}, "limit must be a non-negative integer"),
    ("get_balance", {}, "get_balance needs 'address'"),
    ("get_transaction", {}, "get_transaction needs 'hash'"),
    ("submit_transaction", {}, "submit_transaction needs 'tx'"),
    ("devnet_revert", {}, "devnet_revert needs 'id'"),
    ("view", {"contract": ADDRESS}, "view needs 'method'"),
    ("get_balance", {"address": ADDRESS, "block": 1}, "get_balance has no parameter 'block' (it takes: address)"),
    ("chain_info", {"verbose": True}, "chain_info has no parameter 'verbose' (it takes: none)"),
    ("get_balance", {"addr": ADDRESS}, "has no parameter 'addr'"),
    ("get_balance", {"address": "0x" + "zz" * 20}, "address must be 0x followed by 40 hex digits"),
    ("get_balance", {"address": ADDRESS[2:]}, "address must be 0x followed by 40 hex digits"),
    ("get_balance", {"address": ADDRESS + "00"}, "address must be 0x followed by 40 hex digits"),
    ("get_balance", {"address": ADDRESS[:-1]}, "address must be 0x followed by 40 hex digits"),
    ("get_balance", {"address": 12}, "address must be 0x followed by 40 hex digits"),
    ("get_transaction", {"hash": "0x12"}, "hash must be 0x followed by 64 hex digits"),
    ("get_transaction", {"hash": "0x" + "g" * 64}, "hash must be 0x followed by 64 hex digits"),
    ("get_receipt", {"hash": "0X" + "a" * 64}, "hash must be 0x followed by 64 hex digits"),
    ("get_block", {"block": "0x" + "q" * 64}, "block must be 0x followed by 64 hex digits"),
    ("submit_transaction", {"tx": "0xabc"}, "tx must be 0x followed by an even number of hex digits"),
    ("submit_transaction", {"tx": "0xzz"}, "tx must be 0x followed by an even number of hex digits"),
    ("submit_transaction", {"tx": "abcd"}, "tx must be 0x followed by an even number of hex digits"),
    ("get_balance", [ADDRESS, 1], "get_balance takes at most 1 parameters, found 2"),
    ("chain_info", [1], "chain_info takes at most 0 parameters, found 1"),
    ("get_balance", [], "get_balance needs 'address'"),
    ("get_balance", "0x00", "params must be an object or an array"),
    ("get_balance", 5, "params must be an object or an array"),
    (
        "simulate",
        {"from": ADDRESS, "to": ADDRESS, "method": "m", "args": {}, "args_hex": "0x80"},
        "give args or args_hex",
    ),
    ("simulate", {"from": ADDRESS, "to": ADDRESS, "method": "m", "args": {"a": 1.5}}, "invalid params: args"),
    ("simulate", {"from": ADDRESS}, "say what to simulate"),
    ("get_events", {"from_block": 5, "to_block": 1}, "from_block 5 is after to_block 1"),
    ("get_events", {"limit": 0}, "limit must be between 1"),
]


@pytest.mark.parametrize(
    ("method", "params", "message"),
    BAD_PARAMS,
    ids=[f"{method}-{index}" for index, (method, _, _) in enumerate(BAD_PARAMS)],
)
def test_bad_params(devnet: Devnet, method: str, params: Any, message: str) -> None:
    error = error_of(rpc(devnet, call(method, params)))
    assert error["code"] == INVALID_PARAMS, error
    assert error["message"].startswith("invalid params: ") and message in error["message"], error


def test_params_by_position(devnet: Devnet) -> None:
    by_name = rpc(devnet, call("get_balance", {"address": ADDRESS}))["result"]
    assert rpc(devnet, call("get_balance", [ADDRESS]))["result"] == by_name
    assert rpc(devnet, call("chain_info", []))["result"]["chain_id"] == CHAIN_ID


def test_not_found(devnet: Devnet) -> None:
    missing = "0x" + "ab" * 32
    for method, params in [
        ("get_transaction", {"hash": missing}),
        ("get_receipt", {"hash": missing}),
        ("get_block", {"block": 10**9}),
        ("get_block", {"block": 2**64}),
        ("get_block", {"block": missing}),
        ("get_code", {"address": ADDRESS}),
        ("view", {"contract": ADDRESS, "method": "balance_of"}),
    ]:
        error = error_of(rpc(devnet, call(method, params)))
        assert error["code"] == NOT_FOUND, (method, error)


# -- notifications ------------------------------------------------------------------------


def test_notifications_get_no_answer(devnet: Devnet) -> None:
    height = rpc(devnet, call("chain_info"))["result"]["head"]["height"]
    for notification in [
        {"jsonrpc": "2.0", "method": "chain_info"},
        {"jsonrpc": "2.0", "method": "no_such_method"},
        {"jsonrpc": "2.0", "method": "get_balance", "params": {"address": "nope"}},
        [{"jsonrpc": "2.0", "method": "chain_info"}, {"jsonrpc": "2.0", "method": "get_block"}],
    ]:
        response = post(devnet, json.dumps(notification))
        assert response.status == 204 and response.body == b"", (notification, response)
    # A notification is still carried out: here, a block is mined.
    assert post(devnet, json.dumps({"jsonrpc": "2.0", "method": "devnet_mine"})).status == 204
    assert rpc(devnet, call("chain_info"))["result"]["head"]["height"] == height + 1
    # A batch with a call among notifications answers the call only.
    answers = rpc(devnet, [{"jsonrpc": "2.0", "method": "chain_info"}, call("get_block", {"block": 0}, 9)])
    assert [answer["id"] for answer in answers] == [9]


# -- transactions refused at admission ---------------------------------------------------------------


SENDER = dev_key(8)
"""This module's sender of refused transactions (no other test uses it)."""


def rejected(client: Client, tx: str) -> str:
    with pytest.raises(RPCClientError) as caught:
        client.call("submit_transaction", tx=tx)
    assert caught.value.code == TX_REJECTED, caught.value.message
    assert caught.value.message.startswith("rejected: "), caught.value.message
    return caught.value.message


def test_transaction_does_not_decode(client: Client) -> None:
    good = native_transfer(SENDER, 0, dev_key(9).address, 1)
    fields, signature = good.tx.fields(), good.signature
    for raw, problem in [
        (b"\xde\xad\xbe\xef", "does not decode"),
        (b"", "does not decode"),
        (good.encoded[:-1], "does not decode"),
        (good.encoded + b"\x00", "does not decode"),
        (encode([fields[:11], signature]), "a transaction has 12 fields, found 11"),
        (encode([fields, signature[:10]]), "signature must be 64 bytes"),
        (encode([[2, *fields[1:]], signature]), "version must be 1"),
        (encode([[*fields[:6], 7, *fields[7:]], signature]), "kind must be 0 (transfer), 1 (deploy) or 2 (call)"),
        (encode([[*fields[:7], b"\x01" * 5, *fields[8:]], signature]), "a transfer needs a 20-byte recipient"),
        (encode([fields]), "a signed transaction is [fields, signature]"),
        (msgpack.packb({"tx": 1}), "a dict is not a canonical value"),
    ]:
        message = rejected(client, "0x" + raw.hex())
        assert "the transaction does not decode" in message and problem in message, (raw, message)


def test_bad_signature(client: Client) -> None:
    good = native_transfer(SENDER, next_nonce(client, SENDER), dev_key(9).address, 1)
    flipped = bytes([good.signature[0] ^ 1]) + good.signature[1:]
    message = rejected(client, tx_hex(SignedTransaction(good.tx, flipped)))
    assert f"bad signature: not signed by the key of {format_address(SENDER.address)}" in message
    # Signed by another key over the sender's public key.
    forged = SignedTransaction(good.tx, dev_key(9).sign(good.tx.signing_bytes()))
    assert "bad signature" in rejected(client, tx_hex(forged))


def test_wrong_chain_id(client: Client) -> None:
    signed = sign(
        SENDER,
        next_nonce(client, SENDER),
        TxKind.TRANSFER,
        to=dev_key(9).address,
        value=1,
        chain_id="wasmchain-mainnet",
    )
    message = rejected(client, tx_hex(signed))
    assert "wrong chain id" in message and "wasmchain-mainnet" in message and CHAIN_ID in message


def test_gas_price_and_limit(client: Client) -> None:
    nonce = next_nonce(client, SENDER)
    cheap = sign(SENDER, nonce, TxKind.TRANSFER, to=dev_key(9).address, value=1, gas_price=0)
    assert "gas price 0 is below the minimum 1" in rejected(client, tx_hex(cheap))
    limit = client.call("chain_info")["block_gas_limit"]
    greedy = sign(SENDER, nonce, TxKind.TRANSFER, to=dev_key(9).address, value=1, gas_limit=limit + 1)
    assert f"gas limit {limit + 1} is above the block gas limit {limit}" in rejected(client, tx_hex(greedy))
    starved = sign(SENDER, nonce, TxKind.TRANSFER, to=dev_key(9).address, value=1, gas_limit=1)
    assert "gas" in rejected(client, tx_hex(starved))


def test_nonces(client: Client) -> None:
    target = dev_key(9).address
    nonce = next_nonce(client, SENDER)
    first = native_transfer(SENDER, nonce, target, 1)
    assert submit(client, first)["status"] == "included"
    stale = native_transfer(SENDER, nonce, target, 2)
    assert f"nonce {nonce} was already used: the account's next nonce is {nonce + 1}" in rejected(client, tx_hex(stale))
    far = native_transfer(SENDER, nonce + 1 + 65, target, 1)
    assert "too far ahead" in rejected(client, tx_hex(far))
    # The largest gap allowed waits in the mempool; a second one with its nonce is refused.
    waiting = native_transfer(SENDER, nonce + 1 + 64, target, 1)
    assert submit(client, waiting)["status"] == "pending"
    rival = native_transfer(SENDER, nonce + 1 + 64, target, 2)
    assert f"already taken by pending transaction 0x{waiting.hash.hex()}" in rejected(client, tx_hex(rival))


def test_duplicates(client: Client) -> None:
    target = dev_key(9).address
    nonce = next_nonce(client, SENDER)
    included = native_transfer(SENDER, nonce, target, 3)
    submit(client, included)
    assert f"transaction 0x{included.hash.hex()} is already in a block" in rejected(client, tx_hex(included))
    pending = native_transfer(SENDER, nonce + 2, target, 3)
    assert submit(client, pending)["status"] == "pending"
    assert f"transaction 0x{pending.hash.hex()} is already in the mempool" in rejected(client, tx_hex(pending))


def test_unaffordable(client: Client) -> None:
    pauper = KeyPair(bytes(range(32)))
    signed = native_transfer(pauper, 0, dev_key(9).address, 0)
    assert "balance 0 is below value plus maximum fee" in rejected(client, tx_hex(signed))
    balance = client.call("get_balance", address=format_address(SENDER.address))["balance"]
    greedy = native_transfer(SENDER, next_nonce(client, SENDER), dev_key(9).address, balance)
    assert f"balance {balance} is below" in rejected(client, tx_hex(greedy))


def test_oversize(client: Client) -> None:
    limit = client.call("chain_info")["max_tx_size"]
    huge = sign(SENDER, next_nonce(client, SENDER), TxKind.DEPLOY, code=b"\x00asm" + bytes(limit))
    assert f"over max_tx_size ({limit})" in rejected(client, tx_hex(huge))


def test_bad_payloads(client: Client) -> None:
    nonce = next_nonce(client, SENDER)
    not_wasm = sign(SENDER, nonce, TxKind.DEPLOY, gas_limit=100_000_000, code=b"not a module")
    assert "invalid module" in rejected(client, tx_hex(not_wasm))
    nowhere = sign(SENDER, nonce, TxKind.CALL, to=dev_key(9).address, method="transfer", args=msgpack.packb({}))
    assert f"no contract at {format_address(dev_key(9).address)}" in rejected(client, tx_hex(nowhere))
    token = bytes.fromhex(deploy_token(client, SENDER, 100)["address"][2:])
    nonce = next_nonce(client, SENDER)
    no_method = sign(SENDER, nonce, TxKind.CALL, to=token, method="mint", args=msgpack.packb({}))
    message = rejected(client, tx_hex(no_method))
    assert "mint" in message and "transfer" in message  # names the methods there are
    bad_args = Transaction(
        CHAIN_ID, nonce, 2_000_000, GAS_PRICE, SENDER.public_key, TxKind.CALL, to=token, method="transfer", args=b"\xc1"
    )
    assert "args do not decode as msgpack" in rejected(client, tx_hex(bad_args.sign(SENDER)))
    assert next_nonce(client, SENDER) == nonce  # nothing refused used a nonce


# -- HTTP ------------------------------------------------------------------------------------


def test_get_is_chain_info(devnet: Devnet) -> None:
    for path in ("/", "/health"):
        response = post(devnet, b"", method="GET", path=path)
        assert response.status == 200
        assert response.json()["result"]["chain_id"] == CHAIN_ID


def test_other_methods(devnet: Devnet) -> None:
    for method, path in [("PUT", "/"), ("DELETE", "/"), ("PATCH", "/"), ("HEAD", "/x")]:
        response = post(devnet, json.dumps(call("chain_info")), method=method, path=path)
        assert response.status == 405, (method, path, response)
        if method != "HEAD":
            assert error_of(response.json(), None)["code"] == INVALID_REQUEST
            assert f"method {method} is not served" in response.json()["error"]["message"]
    # A GET of another path than the explorer's, /health and /ws: 404 (tests/e2e/test_static.py has the rest).
    response = post(devnet, b"", method="GET", path="/favicon.ico")
    assert response.status == 404 and "nothing at '/favicon.ico'" in error_of(response.json(), None)["message"]


def test_cors_preflight(devnet: Devnet, devnets: Devnets) -> None:
    """No CORS unless --cors-origins names the page (tests/e2e/test_origin.py has the rest)."""
    page = {"Origin": "http://localhost:3000"}
    assert post(devnet, b"", page, method="OPTIONS").status == 403
    response = post(devnets.start("--cors-origins", "*"), b"", page, method="OPTIONS")
    assert response.status == 204 and response.body == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]


def test_post_to_any_path(devnet: Devnet) -> None:
    response = post(devnet, json.dumps(call("chain_info")), path="/rpc/v1?x=1")
    assert response.status == 200 and response.json()["result"]["chain_id"] == CHAIN_ID


JSON = b"POST / HTTP/1.1\r\nContent-Type: application/json\r\n"
"""The start of a raw POST the node would read."""

RAW_HTTP_ERRORS = [
    (b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 411, "needs a Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411, "chunked"),
    (b"POST / HTTP/1.1\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "chunked"),
    (b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400, "Content-Length must be a number"),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length must be a number"),
    (b"POST / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n", 400, "Content-Length must be a number"),
    (b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", 413, "over the limit"),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413, "the body is 99999999999 bytes, over the limit"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "headers are over"),
    (b"GET / HTTP/1.1\r\n" + b"X-Many: a\r\n" * 8000 + b"\r\n", 431, "headers are over"),
    (b"hello there\r\n\r\n", 400, "a request line is METHOD TARGET HTTP/1.1"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "a request line"),
    (b"GET  / HTTP/1.1\r\n\r\n", 400, "a request line"),
    (b"\r\n\r\n", 400, "a request line"),
    (b"POST / HTTP/2.0\r\nContent-Length: 2\r\n\r\n{}", 505, "HTTP/1.1 is served, found 'HTTP/2.0'"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/1.1 is served"),
    (b"GET / HTTP/0.9\r\n\r\n", 505, "HTTP/1.1 is served"),
    (b"POST / HTTP/1.1\r\nno colon here\r\n\r\n", 400, "a header line is NAME: VALUE"),
    (b"POST / HTTP/1.1\r\n Content-Length: 2\r\n\r\n{}", 400, "a header line is NAME: VALUE"),
    # Two of a header a proxy in front and the node could each read another of (request smuggling).
    (JSON + b"Content-Length: 2\r\nContent-Length: 49\r\n\r\n{}", 400, "two Content-Length headers"),
    (JSON + b"Content-Length: 2\r\ncontent-length: 2\r\n\r\n{}", 400, "two content-length headers"),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\n\r\n", 400, "two Host headers"),
    (JSON + b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", 400, "two Content-Type headers"),
    # Not the developer's own tools (tests/e2e/test_origin.py).
    (b"GET / HTTP/1.1\r\nHost: attacker.example:8545\r\n\r\n", 403, "Host 'attacker.example:8545' is not allowed"),
    (b"GET / HTTP/1.1\r\nOrigin: http://attacker.example\r\n\r\n", 403, "is not allowed: web pages may call"),
    (b"POST / HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", 415, "application/json"),
    (b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 415, "Content-Type: application/json, found none"),
]


@pytest.mark.parametrize(
    ("request_", "status", "message"),
    RAW_HTTP_ERRORS,
    ids=[f"{status}-{index}" for index, (_, status, _) in enumerate(RAW_HTTP_ERRORS)],
)
def test_http_errors(devnet: Devnet, request_: bytes, status: int, message: str) -> None:
    response = parse_response(exchange(devnet, request_))
    assert response.status == status, response
    assert response.headers["connection"] == "close"
    error = error_of(response.json(), None)
    assert error["code"] == INVALID_REQUEST and message in error["message"], error


def test_headers_end_early(devnet: Devnet) -> None:
    """A client that stops sending mid-headers (and says so) gets a 400."""
    response = parse_response(exchange(devnet, b"POST / HTTP/1.1\r\nHost: x\r\n", half_close=True))
    assert response.status == 400 and "ended before its headers did" in response.json()["error"]["message"]
    assert exchange(devnet, b"", half_close=True) == b""  # nothing sent, nothing said


def test_disconnects_mid_request(devnet: Devnet) -> None:
    body = json.dumps(call("devnet_mine")).encode()
    height = rpc(devnet, call("chain_info"))["result"]["head"]["height"]
    for partial in [
        JSON + b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:10]),  # mid-body
        JSON + b"Content-Len",  # mid-headers
        JSON + b"Content-Length: %d\r\n\r\n" % len(body),  # before the body
    ]:
        for half_close in (False, True):
            sock = socket.create_connection(("127.0.0.1", devnet.port), timeout=10)
            sock.sendall(partial)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            sock.close()
    # A client that vanishes while the node answers it.
    sock = socket.create_connection(("127.0.0.1", devnet.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close sends RST
    sock.sendall(JSON + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    sock.close()
    # None of the unfinished ones mined; the finished one may have, before it noticed.
    after = rpc(devnet, call("chain_info"))["result"]["head"]["height"]
    assert after in (height, height + 1)


def test_slow_client_does_not_block_others(devnet: Devnet, client: Client) -> None:
    with socket.create_connection(("127.0.0.1", devnet.port), timeout=10) as slow:
        slow.sendall(JSON + b'Content-Length: 1000\r\n\r\n{"jsonrpc"')
        assert client.call("chain_info")["chain_id"] == CHAIN_ID
        slow.sendall(b" " * 10)
        assert client.call("get_balance", address=ADDRESS)["address"] == ADDRESS


def test_keep_alive_and_pipelining(devnet: Devnet) -> None:
    """Two requests sent back to back on one connection get two answers, in order; HTTP/1.0 closes."""
    first = json.dumps(call("chain_info", request_id="a")).encode()
    second = json.dumps(call("get_block", {"block": 0}, "b")).encode()
    with socket.create_connection(("127.0.0.1", devnet.port), timeout=10) as sock:
        sock.sendall(
            JSON
            + b"Content-Length: %d\r\n\r\n%s" % (len(first), first)
            + JSON
            + b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(second), second)
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    one = parse_response(raw)
    rest = raw[raw.index(b"\r\n\r\n") + 4 + len(one.body) :]
    two = parse_response(rest)
    assert one.headers["connection"] == "keep-alive" and one.json()["id"] == "a"
    assert two.headers["connection"] == "close" and two.json()["id"] == "b"
    assert two.json()["result"]["height"] == 0

    raw = exchange(
        devnet,
        b"POST / HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(first), first),
    )
    assert parse_response(raw).headers["connection"] == "close"  # the node closed: exchange returned


def test_node_still_correct_after_one_bad_request_of_each_class(devnets: Devnets) -> None:
    """A node of its own (no other test's requests before): a block, then one bad request of each class above,
    then the same head over HTTP as the blocks say, and a transaction still goes in."""
    node = devnets.start()
    client = node.client()
    key = dev_key(2)
    assert submit(client, native_transfer(key, next_nonce(client, key), dev_key(3).address, 1))["status"] == "included"

    assert posted_error(node, b"{")["code"] == PARSE_ERROR
    assert error_of(rpc(node, 42), None)["code"] == INVALID_REQUEST
    assert error_of(rpc(node, []), None)["code"] == INVALID_REQUEST
    assert len(rpc(node, [call("chain_info"), 42, call("no_such_method", request_id=2)])) == 3
    assert error_of(rpc(node, call("no_such_method")))["code"] == METHOD_NOT_FOUND
    assert error_of(rpc(node, call("get_balance", {"address": 12})))["code"] == INVALID_PARAMS
    assert error_of(rpc(node, call("get_receipt", {"hash": "0x" + "ab" * 32})))["code"] == NOT_FOUND
    assert rpc(node, {"jsonrpc": "2.0", "method": "no_such_method"}) is None
    assert "does not decode" in rejected(client, "0xdeadbeef")
    stale = native_transfer(key, next_nonce(client, key) - 1, dev_key(3).address, 2)
    assert "was already used" in rejected(client, tx_hex(stale))
    assert post(node, json.dumps(call("chain_info")), method="PUT").status == 405
    for request_, status, _ in RAW_HTTP_ERRORS:
        assert parse_response(exchange(node, request_)).status == status, request_
    for half_close in (False, True):
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
            sock.sendall(JSON + b'Content-Length: 100\r\n\r\n{"jsonrpc"')
            if half_close:
                sock.shutdown(socket.SHUT_WR)

    assert node.process.poll() is None, f"the devnet died:\n{node.output()}"
    info = client.call("chain_info")
    block = client.call("get_block")
    assert info["head"]["height"] == block["height"] == 1 and info["head"]["hash"] == block["hash"]
    report = submit(client, native_transfer(key, next_nonce(client, key), dev_key(3).address, 1))
    assert report["status"] == "included" and report["receipt"]["block_height"] == block["height"] + 1
