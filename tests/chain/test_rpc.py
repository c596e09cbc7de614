"""The JSON-RPC dispatcher: the envelope, batches, parameters, every error code, and simulate against real receipts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import CONTRACTS, GENESIS
from wasmchain.client.client import Client
from wasmchain.client.local import LocalTransport
from wasmchain.client.transport import RPCClientError
from wasmchain.node.jsonrpc import (
    DEVNET_REFUSED,
    FOLLOWER_REFUSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_BATCH,
    MEMPOOL_FULL,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PARSE_ERROR,
    STORE_ERROR,
    TX_REJECTED,
    Method,
    RPCError,
)
from wasmchain.node.mempool import DEFAULT_MAX_NONCE_GAP, Mempool
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.node.server import _error_body
from wasmchain.protocol.args import encode_args
from wasmchain.protocol.keys import KeyPair, contract_address, dev_key, format_address
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

G = load_genesis(GENESIS)
DEV0, DEV1, DEV2 = dev_key(0), dev_key(1), dev_key(2)
TOKEN_CODE = (CONTRACTS / "token" / "token.wasm").read_bytes()
VAULT_CODE = (CONTRACTS / "vault" / "vault.wasm").read_bytes()
OUTSIDER = "0x" + "11" * 20
TOKEN = format_address(contract_address(DEV0.address, 0))


def new_dispatcher(**options: Any) -> Dispatcher:
    return Dispatcher(Node(Chain.create(MemoryKV(), G), clock=None, **options))


@pytest.fixture
def rpc() -> Dispatcher:
    return new_dispatcher()


def send(rpc: Dispatcher, body: Any) -> Any:
    """One HTTP body through the dispatcher; the parsed answer, or None for no answer."""
    raw = rpc.handle(body if isinstance(body, bytes) else json.dumps(body).encode())
    return None if raw is None else json.loads(raw)


def request(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    call: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        call["params"] = params
    return call


def error_of(rpc: Dispatcher, method: str, params: Any = None) -> dict[str, Any]:
    answer = send(rpc, request(method, params))
    assert set(answer) == {"jsonrpc", "id", "error"}, answer
    return answer["error"]  # type: ignore[no-any-return]


def signed(
    key: KeyPair, nonce: int, kind: TxKind = TxKind.TRANSFER, gas: int = 10**8, **fields: Any
) -> SignedTransaction:
    if kind is TxKind.TRANSFER:
        fields.setdefault("to", DEV2.address)
    return Transaction(G.chain_id, nonce, gas, 1, key.public_key, kind, **fields).sign(key)


def submit(rpc: Dispatcher, tx: SignedTransaction) -> Any:
    return rpc.call("submit_transaction", {"tx": "0x" + tx.encoded.hex()})


def deploy_token(rpc: Dispatcher, supply: int = 1_000) -> str:
    answer = submit(
        rpc, signed(DEV0, 0, TxKind.DEPLOY, code=TOKEN_CODE, method="init", args=encode_args({"supply": supply}))
    )
    assert answer["receipt"]["address"] == TOKEN
    return TOKEN


# -- the envelope -----------------------------------------------------------------------------


def test_a_call_and_its_answer(rpc: Dispatcher) -> None:
    answer = send(rpc, request("get_next_nonce", {"address": format_address(DEV0.address)}, id=7))
    assert answer == {"jsonrpc": "2.0", "id": 7, "result": {"address": format_address(DEV0.address), "nonce": 0}}


@pytest.mark.parametrize("request_id", ["abc", "", 0, -5, 2**70, None])
def test_the_id_comes_back_as_it_was_sent(rpc: Dispatcher, request_id: Any) -> None:
    answer = send(rpc, request("devnet_snapshot", id=request_id))
    assert answer["id"] == request_id and type(answer["id"]) is type(request_id)
    assert "result" in answer


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":true,"method":"chain_info"}',
        b'{"jsonrpc":"2.0","id":1.5,"method":"chain_info"}',
        b'{"jsonrpc":"2.0","id":{},"method":"chain_info"}',
        b'{"jsonrpc":"2.0","id":[1],"method":"chain_info"}',
    ],
)
def test_an_id_of_another_type_is_an_invalid_request_answered_with_a_null_id(rpc: Dispatcher, body: bytes) -> None:
    assert send(rpc, body) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": INVALID_REQUEST,
            "message": "invalid request: id must be a string, an integer or null",
            "data": {"reason": "invalid_request"},
        },
    }


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"",
        b"\xff\xfe",
        b'{"jsonrpc":"2.0","id":1,"method":"chain_info"} x',
        b'{"jsonrpc":"2.0","id":1,"method":"devnet_mine","params":{"blocks":NaN}}',
        b'{"jsonrpc":"2.0","id":1,"method":"devnet_mine","params":{"blocks":Infinity}}',
        b'{"jsonrpc":"2.0","id":1,"method":"devnet_mine","params":{"blocks":-Infinity}}',
        b"[" * 100_000,
    ],
)
def test_a_body_that_is_not_json_is_a_parse_error(rpc: Dispatcher, body: bytes) -> None:
    answer = send(rpc, body)
    assert answer["id"] is None and answer["error"]["code"] == PARSE_ERROR
    assert answer["error"]["message"].startswith("parse error: the body is not JSON")
    assert rpc.node.chain.head.height == 0


@pytest.mark.parametrize(
    "body, message",
    [
        (1, "invalid request: a call is a JSON object"),
        ("chain_info", "invalid request: a call is a JSON object"),
        ({"id": 1, "method": "chain_info"}, 'invalid request: "jsonrpc" must be "2.0"'),
        ({"jsonrpc": "1.0", "id": 1, "method": "chain_info"}, 'invalid request: "jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": 1}, "invalid request: method must be a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, "invalid request: method must be a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": "chain_info", "param": {}}, "invalid request: unknown member 'param'"),
        ([], "invalid request: an empty batch"),
    ],
)
def test_invalid_requests(rpc: Dispatcher, body: Any, message: str) -> None:
    answer = send(rpc, body)
    assert answer["error"] == {"code": INVALID_REQUEST, "message": message, "data": {"reason": "invalid_request"}}
    assert answer["id"] == (body.get("id") if isinstance(body, dict) else None)


def test_an_unknown_method(rpc: Dispatcher) -> None:
    assert error_of(rpc, "eth_blockNumber") == {
        "code": METHOD_NOT_FOUND,
        "message": "method not found: 'eth_blockNumber' (see docs/rpc.md for the methods)",
        "data": {"reason": "method_not_found"},
    }


def test_a_notification_runs_and_gets_no_answer(rpc: Dispatcher) -> None:
    assert send(rpc, {"jsonrpc": "2.0", "method": "devnet_mine", "params": {"blocks": 2}}) is None
    assert rpc.node.chain.head.height == 2
    # Not even when it fails.
    assert send(rpc, {"jsonrpc": "2.0", "method": "devnet_revert", "params": {"id": 9}}) is None
    assert send(rpc, {"jsonrpc": "2.0", "method": "no_such_method"}) is None
    assert send(rpc, {"jsonrpc": "2.0", "method": "get_block", "params": {"block": -1}}) is None


def test_an_id_of_null_is_not_a_notification(rpc: Dispatcher) -> None:
    assert send(rpc, request("devnet_increase_time", {"seconds": 1}, id=None)) == {
        "jsonrpc": "2.0",
        "id": None,
        "result": {"offset": 1},
    }


# -- batches ----------------------------------------------------------------------------------


def test_a_batch_answers_each_call_in_order_and_leaves_out_notifications(rpc: Dispatcher) -> None:
    answer = send(
        rpc,
        [
            request("devnet_mine", {"blocks": 1}, id="a"),
            {"jsonrpc": "2.0", "method": "devnet_mine"},
            request("get_block", {"block": 99}, id="b"),
            5,
            request("get_block", None, id="c"),
        ],
    )
    assert [item["id"] for item in answer] == ["a", "b", None, "c"]
    assert answer[0]["result"]["head"] == 1
    assert answer[1]["error"]["code"] == NOT_FOUND
    assert answer[2]["error"]["code"] == INVALID_REQUEST
    assert answer[3]["result"]["height"] == 2  # the notification mined block 2, in order


def test_a_batch_of_notifications_gets_no_answer(rpc: Dispatcher) -> None:
    assert send(rpc, [{"jsonrpc": "2.0", "method": "devnet_mine"}] * 3) is None
    assert rpc.node.chain.head.height == 3


def test_a_batch_holds_at_most_max_batch_calls(rpc: Dispatcher) -> None:
    assert len(send(rpc, [request("get_next_nonce", [OUTSIDER], id=i) for i in range(MAX_BATCH)])) == MAX_BATCH
    answer = send(rpc, [request("devnet_mine", id=i) for i in range(MAX_BATCH + 1)])
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": INVALID_REQUEST,
            "message": f"invalid request: a batch holds at most {MAX_BATCH} calls, found {MAX_BATCH + 1}",
            "data": {"reason": "invalid_request"},
        },
    }
    assert rpc.node.chain.head.height == 0  # none of it ran


def test_a_nested_batch_is_one_invalid_call(rpc: Dispatcher) -> None:
    answer = send(rpc, [[request("chain_info")]])
    assert answer == [
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": INVALID_REQUEST,
                "message": "invalid request: a call is a JSON object",
                "data": {"reason": "invalid_request"},
            },
        }
    ]


# -- parameters -------------------------------------------------------------------------------


def test_parameters_by_position_in_the_declared_order(rpc: Dispatcher) -> None:
    rpc.call("devnet_mine", [2, G.genesis_time + 100])
    assert rpc.call("get_block", [1])["timestamp"] == G.genesis_time + 100
    assert rpc.call("get_block", [])["height"] == 2
    assert rpc.call("get_events", [None, None, 0, None, 5]) == {"events": []}
    assert error_of(rpc, "get_balance", [OUTSIDER, 1]) == {
        "code": INVALID_PARAMS,
        "message": "invalid params: get_balance takes at most 1 parameters, found 2",
        "data": {"reason": "invalid_params"},
    }


def test_parameter_errors_name_the_parameter(rpc: Dispatcher) -> None:
    cases = [
        ("get_balance", {}, "invalid params: get_balance needs 'address'"),
        (
            "get_balance",
            {"address": OUTSIDER, "block": 1},
            "invalid params: get_balance has no parameter 'block' (it takes: address)",
        ),
        ("chain_info", {"verbose": True}, "invalid params: chain_info has no parameter 'verbose' (it takes: none)"),
        (
            "get_balance",
            {"address": "0x1234"},
            'invalid params: address must be 0x followed by 40 hex digits, found "0x1234"',
        ),
        (
            "get_balance",
            {"address": "11" * 20},
            'invalid params: address must be 0x followed by 40 hex digits, found "' + "11" * 20 + '"',
        ),
        ("get_balance", "0x", "invalid params: params must be an object or an array"),
        ("devnet_mine", {"blocks": 1.0}, "invalid params: blocks must be a non-negative integer, found 1.0"),
        ("devnet_mine", {"blocks": True}, "invalid params: blocks must be a non-negative integer, found true"),
        ("devnet_mine", {"blocks": -1}, "invalid params: blocks must be a non-negative integer, found -1"),
        (
            "devnet_increase_time",
            {"seconds": 2**64},
            "invalid params: seconds must be an integer from 0 to 2**64-1, found 18446744073709551616",
        ),
        (
            "get_block",
            {"block": "0x12"},
            'invalid params: block must be a height, a 0x block hash or "latest", found "0x12"',
        ),
        (
            "submit_transaction",
            {"tx": "0xzz"},
            'invalid params: tx must be 0x followed by an even number of hex digits, found "0xzz"',
        ),
        (
            "view",
            {"contract": OUTSIDER, "method": "m", "gas": 0},
            "invalid params: gas must be an integer from 1 to 2**63-1, found 0",
        ),
        (
            "view",
            {"contract": OUTSIDER, "method": "m", "args": {"x": 1.5}},
            "invalid params: args: args.x: 1.5 is not an integer; contracts take no floats",
        ),
        ("get_events", {"from_block": 5, "to_block": 4}, "invalid params: from_block 5 is after to_block 4"),
        ("get_events", {"limit": 0}, "invalid params: limit must be between 1 and 10000, found 0"),
        (
            "get_proof",
            {"address": OUTSIDER, "key": "0xzz"},
            "invalid params: storage key '0xzz' starts with 0x but is not hex",
        ),
        (
            "simulate",
            {"from": OUTSIDER},
            "invalid params: say what to simulate: 'to' (a transfer), 'to' and 'method' (a call), or 'code' (a deploy)",
        ),
    ]
    for method, params, message in cases:
        assert error_of(rpc, method, params) == {
            "code": INVALID_PARAMS,
            "message": message,
            "data": {"reason": "invalid_params"},
        }, method


def test_a_long_bad_value_is_shortened_in_the_message(rpc: Dispatcher) -> None:
    message = error_of(rpc, "get_balance", {"address": "x" * 500})["message"]
    assert message.endswith('found "' + "x" * 76 + "...") and len(message) < 200


def test_args_nested_too_deeply_are_invalid_params_not_an_internal_error(rpc: Dispatcher) -> None:
    deep: Any = 0
    for _ in range(700):
        deep = [deep]
    assert error_of(rpc, "view", {"contract": OUTSIDER, "method": "m", "args": deep}) == {
        "code": INVALID_PARAMS,
        "message": "invalid params: args is nested too deeply",
        "data": {"reason": "invalid_params"},
    }


def test_big_integers_travel_exactly(rpc: Dispatcher) -> None:
    big = 2**127 + 12345
    raw = rpc.handle(json.dumps(request("devnet_set_balance", {"address": OUTSIDER, "balance": big})).encode())
    assert raw is not None and str(big).encode() in raw
    answer = send(rpc, request("get_balance", {"address": OUTSIDER}))
    assert answer["result"]["balance"] == big
    assert send(rpc, request("get_account", [format_address(DEV0.address)]))["result"]["balance"] == 10**22
    # Bigger than an amount can be: refused, not rounded.
    assert error_of(rpc, "devnet_set_balance", {"address": OUTSIDER, "balance": 2**128})["code"] == DEVNET_REFUSED


def test_a_float_too_big_for_a_double_is_still_refused_as_a_value(rpc: Dispatcher) -> None:
    answer = send(rpc, b'{"jsonrpc":"2.0","id":1,"method":"devnet_mine","params":{"blocks":1e400}}')
    assert answer["error"] == {
        "code": INVALID_PARAMS,
        "message": "invalid params: blocks must be a non-negative integer, found Infinity",
        "data": {"reason": "invalid_params"},
    }


# -- the error codes of the methods --------------------------------------------------------------


def test_rejected_transactions(rpc: Dispatcher) -> None:
    assert error_of(rpc, "submit_transaction", {"tx": "0x00"})["code"] == TX_REJECTED
    assert error_of(rpc, "submit_transaction", {"tx": "0x00"})["message"].startswith(
        "rejected: the transaction does not decode:"
    )
    forged = signed(DEV0, 0)
    forged = SignedTransaction(forged.tx, bytes(64))
    assert error_of(rpc, "submit_transaction", {"tx": "0x" + forged.encoded.hex()}) == {
        "code": TX_REJECTED,
        "message": f"rejected: bad signature: not signed by the key of {format_address(DEV0.address)}",
        "data": {"reason": "bad_signature"},
    }
    submit(rpc, signed(DEV0, 0))
    assert error_of(rpc, "submit_transaction", {"tx": "0x" + signed(DEV0, 0).encoded.hex()})["message"].endswith(
        "is already in a block"
    )
    assert error_of(
        rpc, "submit_transaction", {"tx": "0x" + signed(DEV0, 0, value=1, to=DEV1.address).encoded.hex()}
    ) == {
        "code": TX_REJECTED,
        "message": "rejected: nonce 0 was already used: the account's next nonce is 1",
        "data": {"reason": "nonce_too_low"},
    }


def test_not_found(rpc: Dispatcher) -> None:
    unknown = "0x" + "ab" * 32
    assert error_of(rpc, "get_block", {"block": 5}) == {
        "code": NOT_FOUND,
        "message": "no block at height 5 (the head is at 0)",
        "data": {"reason": "not_found"},
    }
    assert error_of(rpc, "get_block", {"block": 2**64})["code"] == NOT_FOUND
    assert error_of(rpc, "get_block", {"block": unknown}) == {
        "code": NOT_FOUND,
        "message": f"no block with hash {unknown}",
        "data": {"reason": "not_found"},
    }
    assert error_of(rpc, "get_transaction", {"hash": unknown}) == {
        "code": NOT_FOUND,
        "message": f"no transaction with hash {unknown}",
        "data": {"reason": "not_found"},
    }
    assert error_of(rpc, "get_receipt", {"hash": unknown})["code"] == NOT_FOUND
    assert error_of(rpc, "get_code", {"address": OUTSIDER}) == {
        "code": NOT_FOUND,
        "message": f"no contract at {OUTSIDER}",
        "data": {"reason": "not_found"},
    }
    assert error_of(rpc, "view", {"contract": OUTSIDER, "method": "get"})["code"] == NOT_FOUND


def test_devnet_refusals(rpc: Dispatcher) -> None:
    assert error_of(rpc, "devnet_revert", {"id": 3}) == {
        "code": DEVNET_REFUSED,
        "message": "no snapshot with id 3 (it may have been reverted already)",
        "data": {"reason": "devnet_refused"},
    }
    assert error_of(rpc, "devnet_set_next_block_timestamp", {"timestamp": 5}) == {
        "code": DEVNET_REFUSED,
        "message": f"timestamp 5 is earlier than the head block's ({G.genesis_time})",
        "data": {"reason": "devnet_refused"},
    }
    assert error_of(rpc, "devnet_mine", {"blocks": 0})["code"] == DEVNET_REFUSED


def test_mempool_full() -> None:
    rpc = new_dispatcher(block_time=1.0, mempool=Mempool(capacity=1))
    assert submit(rpc, signed(DEV0, 0))["status"] == "pending"
    assert error_of(rpc, "submit_transaction", {"tx": "0x" + signed(DEV1, 0).encoded.hex()}) == {
        "code": MEMPOOL_FULL,
        "message": "rejected: the mempool is full (1 transactions); try again after the next block",
        "data": {"reason": "mempool_full"},
    }


def test_a_storage_failure(rpc: Dispatcher) -> None:
    rpc.node.chain.kv.close()
    assert error_of(rpc, "get_balance", {"address": OUTSIDER}) == {
        "code": STORE_ERROR,
        "message": "storage error: the memory store is closed",
        "data": {"reason": "storage_error"},
    }


def test_an_unexpected_exception_is_an_internal_error_and_the_node_goes_on(
    rpc: Dispatcher, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(rpc: Dispatcher) -> None:
        raise KeyError("oops")

    rpc.methods["chain_info"] = Method("chain_info", broken, ())
    assert error_of(rpc, "chain_info") == {
        "code": INTERNAL_ERROR,
        "message": "internal error: KeyError: 'oops'",
        "data": {"reason": "internal_error"},
    }
    assert "KeyError: 'oops'" in capsys.readouterr().err  # the traceback goes to the log
    assert send(rpc, request("devnet_mine"))["result"]["head"] == 1
    with pytest.raises(KeyError):  # call() is for in-process use: a bug is not turned into an answer
        rpc.call("chain_info")


def test_call_raises_rpc_errors(rpc: Dispatcher) -> None:
    with pytest.raises(RPCError) as caught:
        rpc.call("get_block", {"block": 3})
    assert caught.value.code == NOT_FOUND and caught.value.to_json()["message"].startswith("no block at height 3")


# -- the methods --------------------------------------------------------------------------------


def test_submit_in_instant_and_interval_mode() -> None:
    instant = new_dispatcher()
    answer = submit(instant, signed(DEV0, 0, value=5, to=DEV1.address))
    assert answer["status"] == "included" and answer["receipt"]["block_height"] == 1
    assert instant.call("chain_info")["mining"] == "instant"

    interval = new_dispatcher(block_time=2.0)
    tx = signed(DEV0, 0, value=5, to=DEV1.address)
    answer = submit(interval, tx)
    assert answer == {"tx_hash": "0x" + tx.hash.hex(), "status": "pending", "receipt": None}
    assert interval.call("get_receipt", {"hash": answer["tx_hash"]}) is None
    pending = interval.call("get_transaction", {"hash": answer["tx_hash"]})
    assert pending["status"] == "pending" and pending["transaction"]["value"] == 5
    assert interval.call("chain_info")["mining"] == {"block_time": 2.0}
    assert interval.call("chain_info")["pending"] == 1
    assert interval.call("get_next_nonce", {"address": format_address(DEV0.address)})["nonce"] == 1
    interval.call("devnet_mine")
    assert interval.call("get_receipt", {"hash": answer["tx_hash"]})["status"] == "ok"


def test_a_dropped_transaction() -> None:
    rpc = new_dispatcher(block_time=1.0)
    broken = signed(DEV0, 1, TxKind.CALL, to=bytes(20), method="x")
    submit(rpc, broken)
    submit(rpc, signed(DEV0, 0))
    rpc.call("devnet_mine")
    tx_hash = "0x" + broken.hash.hex()
    assert rpc.call("get_transaction", {"hash": tx_hash}) == {
        "tx_hash": tx_hash,
        "status": "dropped",
        "error": "no contract at 0x0000000000000000000000000000000000000000",
    }
    assert error_of(rpc, "get_receipt", {"hash": tx_hash}) == {
        "code": TX_REJECTED,
        "message": f"rejected: transaction {tx_hash} was dropped: no contract at 0x{'00' * 20}",
        "data": {"reason": "transaction_dropped"},
    }


def test_view_is_bounded_by_the_block_gas_limit(rpc: Dispatcher) -> None:
    token = deploy_token(rpc)
    limit = G.chain.block_gas_limit
    assert rpc.call("view", {"contract": token, "method": "total_supply", "gas": limit})["result"] == 1_000
    assert error_of(rpc, "view", {"contract": token, "method": "total_supply", "gas": limit + 1}) == {
        "code": INVALID_PARAMS,
        "message": f"invalid params: gas {limit + 1} is above the block gas limit {limit}",
        "data": {"reason": "invalid_params"},
    }


def test_view_args_as_json_or_hex(rpc: Dispatcher) -> None:
    token = deploy_token(rpc)
    owner = format_address(DEV0.address)
    by_json = rpc.call("view", {"contract": token, "method": "balance_of", "args": {"owner": owner}})
    by_hex = rpc.call(
        "view", {"contract": token, "method": "balance_of", "args_hex": "0x" + encode_args({"owner": owner}).hex()}
    )
    assert by_json == by_hex and by_json["result"] == 1_000 and by_json["status"] == "ok"
    assert error_of(rpc, "view", {"contract": token, "method": "total_supply", "args": {}, "args_hex": "0x80"}) == {
        "code": INVALID_PARAMS,
        "message": "invalid params: give args or args_hex, not both",
        "data": {"reason": "invalid_params"},
    }
    missing = rpc.call("view", {"contract": token, "method": "nope"})
    assert missing["status"] == "invalid" and "nope" in missing["error"]


def test_get_block_by_height_hash_or_latest(rpc: Dispatcher) -> None:
    rpc.call("devnet_mine", {"blocks": 2})
    first = rpc.call("get_block", {"block": 1})
    assert rpc.call("get_block", {"block": first["hash"]}) == first
    assert rpc.call("get_block", {"block": "latest"})["height"] == 2
    assert rpc.call("get_block", {"block": None})["height"] == 2
    assert rpc.call("get_block")["parent_hash"] == first["hash"]


def test_snapshot_and_revert_through_rpc(rpc: Dispatcher) -> None:
    assert rpc.call("devnet_snapshot") == {"id": 1, "height": 0}
    rpc.call("devnet_set_balance", {"address": OUTSIDER, "balance": 5})
    assert rpc.call("devnet_snapshot") == {"id": 2, "height": 1}
    assert rpc.call("devnet_revert", {"id": 1}) == {"reverted": True, "head": 0}
    assert rpc.call("get_balance", {"address": OUTSIDER})["balance"] == 0
    assert error_of(rpc, "devnet_revert", {"id": 2})["code"] == DEVNET_REFUSED


# -- simulate against the real thing -------------------------------------------------------------


def simulate_then_send(rpc: Dispatcher, params: dict[str, Any], tx: SignedTransaction) -> tuple[Any, Any]:
    simulated = rpc.call("simulate", {"gas": tx.tx.gas_limit, **params})
    receipt = submit(rpc, tx)["receipt"]
    return simulated, receipt


def test_simulate_matches_the_receipt_of_a_transfer_a_call_and_a_deploy(rpc: Dispatcher) -> None:
    dev0 = format_address(DEV0.address)
    deploy = signed(DEV0, 0, TxKind.DEPLOY, code=TOKEN_CODE, method="init", args=encode_args({"supply": 500}))
    simulated, receipt = simulate_then_send(
        rpc, {"from": dev0, "code": "0x" + TOKEN_CODE.hex(), "method": "init", "args": {"supply": 500}}, deploy
    )
    assert simulated["gas_used"] == receipt["gas_used"] and simulated["address"] == receipt["address"] == TOKEN
    assert simulated["events"] == receipt["events"] and simulated["status"] == receipt["status"] == "ok"
    assert simulated["block_height"] == 0

    call = signed(
        DEV0,
        1,
        TxKind.CALL,
        gas=3_000_000,
        to=bytes.fromhex(TOKEN[2:]),
        method="transfer",
        args=encode_args({"to": OUTSIDER, "amount": 7}),
    )
    simulated, receipt = simulate_then_send(
        rpc, {"from": dev0, "to": TOKEN, "method": "transfer", "args": {"to": OUTSIDER, "amount": 7}}, call
    )
    assert (simulated["gas_used"], simulated["events"]) == (receipt["gas_used"], receipt["events"])

    transfer = signed(DEV0, 2, gas=60_000, to=DEV1.address, value=10**20)
    simulated, receipt = simulate_then_send(
        rpc, {"from": dev0, "to": format_address(DEV1.address), "value": 10**20}, transfer
    )
    assert simulated["gas_used"] == receipt["gas_used"] and simulated["status"] == "ok"


def test_simulate_changes_nothing_and_needs_no_signature(rpc: Dispatcher) -> None:
    token = deploy_token(rpc)
    before = rpc.call("chain_info")
    # From DEV1, whose key the caller need not have; its nonce is the account's.
    result = rpc.call(
        "simulate",
        {
            "from": format_address(DEV1.address),
            "to": token,
            "method": "transfer",
            "args": {"to": OUTSIDER, "amount": 1},
        },
    )
    assert result["status"] == "abort" and result["error"] == "insufficient balance: have 0, need 1"
    assert rpc.call("chain_info") == before
    assert rpc.call("get_next_nonce", {"address": format_address(DEV1.address)})["nonce"] == 0


def test_simulate_says_invalid_where_the_transaction_would_be_refused(rpc: Dispatcher) -> None:
    poor = rpc.call("simulate", {"from": OUTSIDER, "to": format_address(DEV1.address), "value": 1})
    assert poor["status"] == "invalid" and poor["error"].startswith("balance 0 is below value plus maximum fee")
    too_much = rpc.call(
        "simulate", {"from": format_address(DEV0.address), "to": OUTSIDER, "gas": G.chain.block_gas_limit + 1}
    )
    assert too_much["status"] == "invalid" and "above the block gas limit" in too_much["error"]
    assert error_of(rpc, "simulate", {"from": OUTSIDER, "to": OUTSIDER, "code": "0x00"}) == {
        "code": INVALID_PARAMS,
        "message": "invalid params: a deploy (code) has no 'to'",
        "data": {"reason": "invalid_params"},
    }


def test_a_gas_estimate_for_nested_calls(rpc: Dispatcher) -> None:
    """A vault's withdraw calls the token: the estimate is tight, and a margin on it changes nothing."""
    dev0 = format_address(DEV0.address)
    token = deploy_token(rpc, supply=100)
    vault = format_address(contract_address(DEV0.address, 1))
    submit(rpc, signed(DEV0, 1, TxKind.DEPLOY, code=VAULT_CODE, method="init", args=encode_args({"token": token})))
    submit(
        rpc,
        signed(
            DEV0,
            2,
            TxKind.CALL,
            to=bytes.fromhex(token[2:]),
            method="transfer",
            args=encode_args({"to": vault, "amount": 50}),
        ),
    )
    params = {"from": dev0, "to": vault, "method": "withdraw", "args": {"to": OUTSIDER, "amount": 5}}
    estimate = rpc.call("simulate", params)
    assert estimate["status"] == "ok" and [event["name"] for event in estimate["events"]] == ["Transfer"]
    short = rpc.call("simulate", {**params, "gas": estimate["gas_used"] - 1})
    assert short["status"] != "ok"
    with_margin = rpc.call("simulate", {**params, "gas": estimate["gas_used"] * 11 // 10})
    assert (with_margin["status"], with_margin["gas_used"]) == ("ok", estimate["gas_used"])
    sent = signed(
        DEV0,
        3,
        TxKind.CALL,
        gas=estimate["gas_used"] * 11 // 10,
        to=bytes.fromhex(vault[2:]),
        method="withdraw",
        args=encode_args({"to": OUTSIDER, "amount": 5}),
    )
    receipt = submit(rpc, sent)["receipt"]
    assert (receipt["status"], receipt["gas_used"]) == ("ok", estimate["gas_used"])


# -- every reason the node answers -------------------------------------------------------------


def _reason_of(rpc: Dispatcher, method: str, params: Any, code: int, reason: str) -> None:
    error = error_of(rpc, method, params)
    assert (error["code"], error["data"]) == (code, {"reason": reason}), error


REJECTIONS = (
    "malformed_transaction",
    "bad_signature",
    "wrong_chain_id",
    "transaction_too_large",
    "gas_price_too_low",
    "gas_limit_too_high",
    "intrinsic_gas_too_low",
    "args_too_large",
    "invalid_module",
    "unknown_contract",
    "unknown_method",
    "invalid_args",
    "insufficient_funds",
    "nonce_too_low",
    "duplicate_transaction",
    "nonce_gap_too_large",
    "nonce_taken",
    "transaction_dropped",
)
"""Every reason of a refused transaction (-32000) the node answers, each provoked below; docs/rpc.md lists them."""


def test_each_refusal_of_a_transaction_answers_its_reason() -> None:
    """Every reason ``submit_transaction`` gives, each from the refusal that has it (never from the message)."""
    seen: list[str] = []

    def rejected(reason: str, tx: SignedTransaction, rpc: Dispatcher | None = None) -> None:
        target = rpc or new_dispatcher()
        _reason_of(target, "submit_transaction", {"tx": "0x" + tx.encoded.hex()}, TX_REJECTED, reason)
        seen.append(reason)

    stranger = KeyPair(bytes(range(32)))  # holds nothing
    _reason_of(new_dispatcher(), "submit_transaction", {"tx": "0x00"}, TX_REJECTED, "malformed_transaction")
    seen.append("malformed_transaction")
    forged = signed(DEV0, 0)
    rejected("bad_signature", SignedTransaction(forged.tx, bytes(64)))
    rejected(
        "wrong_chain_id",
        Transaction("elsewhere", 0, 10**8, 1, DEV0.public_key, TxKind.TRANSFER, to=DEV2.address).sign(DEV0),
    )
    rejected("transaction_too_large", signed(DEV0, 0, TxKind.DEPLOY, code=bytes(G.chain.max_tx_size + 1)))
    rejected(
        "gas_price_too_low",
        Transaction(G.chain_id, 0, 10**8, 0, DEV0.public_key, TxKind.TRANSFER, to=DEV2.address).sign(DEV0),
    )
    rejected("gas_limit_too_high", signed(DEV0, 0, gas=G.chain.block_gas_limit + 1))
    rejected("intrinsic_gas_too_low", signed(DEV0, 0, gas=1))
    big_args = encode_args({"x": "a" * G.vm.limits.max_input_size})
    rejected(
        "args_too_large",
        signed(DEV0, 0, TxKind.CALL, gas=G.chain.block_gas_limit, to=DEV1.address, method="m", args=big_args),
    )
    rejected("invalid_module", signed(DEV0, 0, TxKind.DEPLOY, code=b"not a module"))
    rejected("unknown_contract", signed(DEV0, 0, TxKind.CALL, to=bytes(20), method="get"))
    rpc = new_dispatcher()
    deploy_token(rpc)
    rejected("unknown_method", signed(DEV0, 1, TxKind.CALL, to=bytes.fromhex(TOKEN[2:]), method="nope"), rpc)
    ill_typed = encode_args({"to": "dev1", "amount": 1})  # the token declares transfer(to: address, amount: u64)
    rejected(
        "invalid_args",
        signed(DEV0, 1, TxKind.CALL, to=bytes.fromhex(TOKEN[2:]), method="transfer", args=ill_typed),
        rpc,
    )
    rejected("insufficient_funds", signed(stranger, 0, to=DEV1.address))
    rejected("nonce_too_low", signed(DEV0, 0, value=1), rpc)
    rejected(
        "duplicate_transaction",
        signed(DEV0, 0, TxKind.DEPLOY, code=TOKEN_CODE, method="init", args=encode_args({"supply": 1_000})),
        rpc,
    )
    gap = DEFAULT_MAX_NONCE_GAP + 1
    rejected("nonce_gap_too_large", signed(DEV0, 1 + gap), rpc)

    interval = new_dispatcher(block_time=1.0)
    submit(interval, signed(DEV0, 0))
    rejected("duplicate_transaction", signed(DEV0, 0), interval)
    rejected("nonce_taken", signed(DEV0, 0, value=1), interval)
    dropped = new_dispatcher(block_time=1.0)
    broken = signed(DEV0, 1, TxKind.CALL, to=bytes(20), method="x")
    submit(dropped, broken)
    submit(dropped, signed(DEV0, 0))
    dropped.call("devnet_mine")
    _reason_of(dropped, "get_receipt", {"hash": "0x" + broken.hash.hex()}, TX_REJECTED, "transaction_dropped")
    seen.append("transaction_dropped")
    assert sorted(set(seen)) == sorted(REJECTIONS)


def test_each_refusal_of_the_node_answers_its_reason(rpc: Dispatcher) -> None:
    _reason_of(rpc, "get_block", {"block": 9}, NOT_FOUND, "not_found")
    _reason_of(rpc, "devnet_revert", {"id": 9}, DEVNET_REFUSED, "devnet_refused")
    _reason_of(rpc, "no_such_method", None, METHOD_NOT_FOUND, "method_not_found")
    _reason_of(rpc, "get_balance", {}, INVALID_PARAMS, "invalid_params")
    follower = Dispatcher(rpc.node, follows="http://127.0.0.1:1")
    _reason_of(follower, "devnet_mine", None, FOLLOWER_REFUSED, "follower_refused")
    full = new_dispatcher(block_time=1.0, mempool=Mempool(capacity=1))
    submit(full, signed(DEV0, 0))
    _reason_of(full, "submit_transaction", {"tx": "0x" + signed(DEV1, 0).encoded.hex()}, MEMPOOL_FULL, "mempool_full")
    rpc.node.chain.kv.close()
    _reason_of(rpc, "get_balance", {"address": OUTSIDER}, STORE_ERROR, "storage_error")


def test_errors_of_the_envelope_answer_their_reason(rpc: Dispatcher) -> None:
    assert send(rpc, b"{")["error"]["data"] == {"reason": "parse_error"}
    assert send(rpc, [])["error"]["data"] == {"reason": "invalid_request"}
    assert send(rpc, {"jsonrpc": "2.0", "id": 1})["error"]["data"] == {"reason": "invalid_request"}


def test_call_raises_an_rpc_error_with_the_reason_and_the_client_reads_it(rpc: Dispatcher) -> None:
    with pytest.raises(RPCError) as caught:
        submit(rpc, SignedTransaction(signed(DEV0, 0).tx, bytes(64)))
    assert (caught.value.code, caught.value.reason) == (TX_REJECTED, "bad_signature")
    client = Client(LocalTransport(rpc))
    with pytest.raises(RPCClientError) as refused:
        client.call("devnet_revert", id=4)
    assert (refused.value.code, refused.value.reason) == (DEVNET_REFUSED, "devnet_refused")


def test_the_http_servers_own_errors_carry_a_reason_too() -> None:
    body = json.loads(_error_body(INVALID_REQUEST, "a POST needs a Content-Length header"))
    assert body == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": INVALID_REQUEST,
            "message": "a POST needs a Content-Length header",
            "data": {"reason": "invalid_request"},
        },
    }
