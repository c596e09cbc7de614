"""Typed contracts over JSON-RPC: get_interface, arguments checked against the declared types, typed reports.

The token (contracts/token) carries its WIT world; the same module with the
section cut out is the untyped twin that must run exactly as before, and the
same module with a broken section stands for a contract deployed on a chain
whose VM version did not check interfaces.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chain.test_rpc import TOKEN, TOKEN_CODE, G, error_of, new_dispatcher, send, signed, submit
from tests.helpers import CONTRACTS, ROOT
from wasmchain.node import node as node_module
from wasmchain.node.jsonrpc import INVALID_PARAMS, NOT_FOUND, TX_REJECTED
from wasmchain.node.node import INTERFACE_CACHE, Node
from wasmchain.node.reports import event_report, outcome_report, receipt_report
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.args import encode_args
from wasmchain.protocol.keys import contract_address, dev_key, format_address
from wasmchain.protocol.state import State
from wasmchain.protocol.transactions import TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV
from wasmchain.vm import Event, Outcome
from wasmchain.vm.wit.section import SECTION_NAME
from wasmchain.vm.wit.syntax import parse_wit

DEV0, DEV1 = dev_key(0), dev_key(1)
TOKEN_WIT = (CONTRACTS / "token" / "token.wit").read_text()
OLD_VM = "wasmtime-50.0.1/abi-1.1"


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _sections(code: bytes) -> list[tuple[int, bytes]]:
    """A module's sections as (id, payload)."""
    found, at = [], 8
    while at < len(code):
        section_id, at = code[at], at + 1
        size = shift = 0
        while True:
            byte, at = code[at], at + 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        found.append((section_id, code[at : at + size]))
        at += size
    return found


def _custom_name(payload: bytes) -> bytes:
    return payload[1 : 1 + payload[0]]  # names here are shorter than 128 bytes


def with_interface(code: bytes, text: str | None) -> bytes:
    """``code`` with its ``wasmchain:wit`` section replaced by ``text`` (``None``: removed)."""
    name = SECTION_NAME.encode()
    out = bytearray(code[:8])
    for section_id, payload in _sections(code):
        if section_id == 0 and _custom_name(payload) == name:
            continue
        out += bytes([section_id]) + _leb(len(payload)) + payload
    if text is not None:
        payload = _leb(len(name)) + name + text.encode()
        out += b"\0" + _leb(len(payload)) + payload
    return bytes(out)


UNTYPED_TOKEN = with_interface(TOKEN_CODE, None)


def deploy(rpc: Dispatcher, code: bytes, nonce: int = 0, supply: int = 1_000) -> str:
    answer = submit(
        rpc, signed(DEV0, nonce, TxKind.DEPLOY, code=code, method="init", args=encode_args({"supply": supply}))
    )
    assert answer["receipt"]["status"] == "ok", answer
    return str(answer["receipt"]["address"])


@pytest.fixture
def rpc() -> Dispatcher:
    rpc = new_dispatcher()
    assert deploy(rpc, TOKEN_CODE) == TOKEN
    return rpc


def head(rpc: Dispatcher) -> int:
    return int(rpc.call("chain_info")["head"]["height"])


# -- get_interface ------------------------------------------------------------------------------


def test_get_interface_answers_the_deployed_world_as_text_and_json(rpc: Dispatcher) -> None:
    answer = rpc.call("get_interface", {"address": TOKEN})
    code = rpc.call("get_code", {"address": TOKEN})
    assert answer == {"address": TOKEN, "code_hash": code["code_hash"], "interface": parse_wit(TOKEN_WIT).to_json()}
    interface = answer["interface"]
    assert interface["wit"] == TOKEN_WIT and interface["section"] == "wasmchain:wit"
    methods = {method["export"]: method for method in interface["methods"]}
    assert methods["balance_of"]["signature"] == "balance-of(owner: address) -> u64"
    assert methods["balance_of"]["readonly"] and not methods["transfer"]["readonly"]
    assert [(e["event"], [f["key"] for f in e["fields"]]) for e in interface["events"]] == [
        ("Transfer", ["from", "to", "amount"])
    ]
    json.dumps(answer)  # all of it is JSON


def test_an_untyped_contract_has_a_null_interface_and_runs_as_before() -> None:
    rpc = new_dispatcher()
    address = deploy(rpc, UNTYPED_TOKEN)
    assert rpc.call("get_interface", {"address": address})["interface"] is None
    answer = submit(rpc, signed(DEV0, 1, TxKind.CALL, to=bytes.fromhex(address[2:]), method="transfer", args=b"\x80"))
    receipt = answer["receipt"]
    assert (receipt["status"], receipt["error"]) == ("abort", 'missing argument "to"')  # mined: nothing checks it
    good = {"to": format_address(DEV1.address), "amount": 5}
    receipt = rpc.call(
        "simulate", {"from": format_address(DEV0.address), "to": address, "method": "transfer", "args": good}
    )
    assert receipt["events"][0]["data_type"] is None and receipt["events"][0]["data"] == {
        "from": format_address(DEV0.address),
        **good,
    }


def test_get_interface_of_no_contract_is_not_found(rpc: Dispatcher) -> None:
    for address in (format_address(DEV0.address), "0x" + "11" * 20):
        error = error_of(rpc, "get_interface", {"address": address})
        assert (error["code"], error["data"]) == (NOT_FOUND, {"reason": "not_found"}), error
        assert address in error["message"]


def test_an_unreadable_interface_on_an_old_chain_is_invalid_interface_and_decodes_generically() -> None:
    old = dataclasses.replace(G, vm=dataclasses.replace(G.vm, version=OLD_VM))
    rpc = Dispatcher(Node(Chain.create(MemoryKV(), old), clock=None))
    # The token as an ABI 1 module: an abi-1.1 chain refuses ABI 2's imports.
    abi1_token = (ROOT / "tests" / "fixtures" / "abi1" / "token.wasm").read_bytes()
    broken = with_interface(abi1_token, "package a:broken;\nworld w { export f: func(x: f64); }\n")
    address = deploy(rpc, broken)  # the old VM version ignores the section, as any custom section
    error = error_of(rpc, "get_interface", {"address": address})
    assert (error["code"], error["data"]) == (INVALID_PARAMS, {"reason": "invalid_interface"}), error
    assert "f64" in error["message"]
    args = {"to": "0x" + "22" * 20, "amount": 1}
    answer = submit(
        rpc, signed(DEV0, 1, TxKind.CALL, to=bytes.fromhex(address[2:]), method="transfer", args=encode_args(args))
    )
    event = answer["receipt"]["events"][0]
    assert event["data_type"] is None and event["data"]["amount"] == 1


def test_interfaces_are_parsed_once_per_code_hash_and_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    real = node_module.interface_of

    def counting(code: bytes) -> Any:
        parsed.append(len(code))
        return real(code)

    monkeypatch.setattr(node_module, "interface_of", counting)
    rpc = new_dispatcher()
    deploy(rpc, TOKEN_CODE)
    second = deploy(rpc, TOKEN_CODE, nonce=1)  # the same code: one parse for both
    before = len(parsed)
    for address in (TOKEN, second, TOKEN):
        assert rpc.call("get_interface", {"address": address})["interface"]["world"] == "token"
    assert len(parsed) == before <= 1
    monkeypatch.setattr(State, "code", lambda self, code_hash: UNTYPED_TOKEN)  # any hash: some code
    for n in range(INTERFACE_CACHE + 10):
        rpc.node._interface_of(n.to_bytes(32, "big"))
    assert len(rpc.node._interfaces) == INTERFACE_CACHE


# -- arguments checked against the declared types ---------------------------------------------------


def _invalid_args(rpc: Dispatcher, method: str, params: dict[str, Any], code: int = INVALID_PARAMS) -> str:
    error = error_of(rpc, method, params)
    assert (error["code"], error["data"]) == (code, {"reason": "invalid_args"}), error
    return str(error["message"])


def test_view_encodes_json_args_with_the_types_and_refuses_a_misfit_naming_it(rpc: Dispatcher) -> None:
    owner = format_address(DEV0.address)
    answer = rpc.call("view", {"contract": TOKEN, "method": "balance_of", "args": {"owner": owner}})
    assert (answer["result"], answer["result_type"]) == (1_000, "u64")
    message = _invalid_args(rpc, "view", {"contract": TOKEN, "method": "balance_of", "args": {"owner": "dev1"}})
    assert "owner" in message and "address" in message and "balance-of(owner: address) -> u64" in message
    message = _invalid_args(rpc, "view", {"contract": TOKEN, "method": "balance_of"})
    assert "owner" in message
    extra = {"owner": owner, "spender": owner}
    assert "spender" in _invalid_args(rpc, "view", {"contract": TOKEN, "method": "balance_of", "args": extra})
    raw = "0x" + msgpack.packb({"owner": "not bytes"}).hex()
    assert "owner" in _invalid_args(rpc, "view", {"contract": TOKEN, "method": "balance_of", "args_hex": raw})


def test_simulate_and_traces_refuse_ill_typed_args(rpc: Dispatcher) -> None:
    call = {"from": format_address(DEV0.address), "to": TOKEN, "method": "transfer"}
    for method in ("simulate", "debug_trace_call", "debug_profile_call"):
        message = _invalid_args(rpc, method, {**call, "args": {"to": format_address(DEV1.address), "amount": "ten"}})
        assert "amount" in message and "u64" in message, message
    deploy_params = {"from": format_address(DEV0.address), "code": "0x" + TOKEN_CODE.hex(), "method": "init"}
    assert "supply" in _invalid_args(rpc, "simulate", {**deploy_params, "args": {"supply": -1}})
    ok = rpc.call("simulate", {**deploy_params, "args": {"supply": 7}})
    assert ok["status"] == "ok" and ok["events"][0]["data_type"] == "transfer"


def test_submit_refuses_a_badly_typed_call_and_mines_nothing(rpc: Dispatcher) -> None:
    height, nonce = head(rpc), rpc.call("get_next_nonce", {"address": format_address(DEV0.address)})["nonce"]
    for args in ({"to": "dev1", "amount": 1}, {"to": format_address(DEV1.address)}, {"to": DEV1.address, "amount": -1}):
        tx = signed(DEV0, nonce, TxKind.CALL, to=bytes.fromhex(TOKEN[2:]), method="transfer", args=encode_args(args))
        error = error_of(rpc, "submit_transaction", {"tx": "0x" + tx.encoded.hex()})
        assert (error["code"], error["data"]) == (TX_REJECTED, {"reason": "invalid_args"}), error
        assert error["message"].startswith("rejected: ") and "transfer(to: address, amount: u64)" in error["message"]
    bad_init = signed(DEV0, nonce, TxKind.DEPLOY, code=TOKEN_CODE, method="init", args=encode_args({"supply": "x"}))
    assert (
        error_of(rpc, "submit_transaction", {"tx": "0x" + bad_init.encoded.hex()})["data"]["reason"] == "invalid_args"
    )
    assert head(rpc) == height
    assert rpc.call("get_next_nonce", {"address": format_address(DEV0.address)})["nonce"] == nonce


def test_a_node_that_does_not_check_mines_the_call_and_the_contract_refuses_it() -> None:
    rpc = Dispatcher(Node(Chain.create(MemoryKV(), G), clock=None, check_args=False))
    deploy(rpc, TOKEN_CODE)
    tx = signed(DEV0, 1, TxKind.CALL, to=bytes.fromhex(TOKEN[2:]), method="transfer", args=encode_args({"amount": 1}))
    receipt = submit(rpc, tx)["receipt"]
    assert (receipt["status"], receipt["error"]) == ("abort", 'missing argument "to"')


# -- typed reports ------------------------------------------------------------------------------------


def test_receipts_events_and_transactions_say_which_types_decoded_them(rpc: Dispatcher) -> None:
    args = {"to": format_address(DEV1.address), "amount": 25}
    tx = signed(DEV0, 1, TxKind.CALL, to=bytes.fromhex(TOKEN[2:]), method="transfer", args=encode_args(args))
    receipt = submit(rpc, tx)["receipt"]
    assert receipt["return_type"] is None  # transfer declares no result
    (event,) = receipt["events"]
    assert event["data_type"] == "transfer"
    assert event["data"] == {"from": format_address(DEV0.address), **args}
    found = rpc.call("get_transaction", {"hash": "0x" + tx.hash.hex()})
    assert found["transaction"]["signature"] == "transfer(to: address, amount: u64)"
    assert found["transaction"]["args"] == args
    events = rpc.call("get_events", {"contract": TOKEN})["events"]
    assert [e["data_type"] for e in events] == ["transfer", "transfer"]
    deployed = rpc.call("get_transaction", {"hash": events[0]["tx_hash"]})
    assert deployed["transaction"]["signature"] == "init(supply: u64)" and deployed["return_type"] is None


def test_data_that_does_not_fit_its_declared_type_falls_back_to_plain_msgpack() -> None:
    interface = parse_wit(TOKEN_WIT)
    address = contract_address(DEV0.address, 0)
    typed = {"from": bytes(20), "to": bytes(20), "amount": 5}
    lies = {"from": "me", "to": bytes(20), "amount": 5}
    fits = event_report(Event(address, "Transfer", msgpack.packb(typed)), lambda a: interface)
    assert fits["data_type"] == "transfer" and fits["data"]["from"] == "0x" + "00" * 20
    unfit = event_report(Event(address, "Transfer", msgpack.packb(lies)), lambda a: interface)
    assert unfit["data_type"] is None and unfit["data"] == {"from": "me", "to": "0x" + "00" * 20, "amount": 5}
    undeclared = event_report(Event(address, "Minted", msgpack.packb(typed)), lambda a: interface)
    assert undeclared["data_type"] is None
    outcome = Outcome("ok", 10, return_data=msgpack.packb("not a u64"))
    report = outcome_report(outcome, lambda a: interface, (address, "balance_of"))
    assert (report["result"], report["result_type"]) == ("not a u64", None)
    report = outcome_report(
        Outcome("ok", 10, return_data=msgpack.packb(7)), lambda a: interface, (address, "balance_of")
    )
    assert (report["result"], report["result_type"]) == (7, "u64")
    assert receipt_report.__defaults__ is not None  # the interfaces are optional: untyped by default


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amount=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
        st.lists(st.integers(0, 3), max_size=2),
        st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_any_json_amount_either_runs_or_is_refused_as_invalid_args(rpc: Dispatcher, amount: Any) -> None:
    """Whatever JSON a client sends for a typed argument: a u64 runs (as the contract decodes it), anything else is
    invalid_args naming the argument, never another error and never a run with an argument-decoding failure."""
    params = {
        "from": format_address(DEV0.address),
        "to": TOKEN,
        "method": "transfer",
        "args": {"to": format_address(DEV1.address), "amount": amount},
    }
    answer = send(rpc, {"jsonrpc": "2.0", "id": 1, "method": "simulate", "params": params})
    fits = isinstance(amount, int) and not isinstance(amount, bool) and 0 <= amount < 2**64
    if fits:
        assert answer["result"]["status"] in ("ok", "abort"), answer
        assert "argument" not in (answer["result"]["error"] or "")
    else:
        assert answer["error"]["data"] == {"reason": "invalid_args"}, answer
        assert "amount" in answer["error"]["message"]


def test_traces_carry_typed_values_beside_the_bytes(rpc: Dispatcher) -> None:
    args = {"to": format_address(DEV1.address), "amount": 3}
    call = {"from": format_address(DEV0.address), "to": TOKEN, "method": "transfer", "args": args}
    trace = rpc.call("debug_trace_call", call)
    frame = trace["frame"]
    assert frame["input"]["typed"] == {"type": "transfer(to: address, amount: u64)", "value": args}
    assert "typed" not in frame["return"]  # transfer returns nothing
    (event,) = [step for step in frame["steps"] if step["op"] == "event"]
    assert event["data"]["typed"] == {"type": "transfer", "value": {"from": format_address(DEV0.address), **args}}
    assert trace["events"][0]["data"]["typed"]["type"] == "transfer"
    view = rpc.call("debug_trace_call", {**call, "method": "balance_of", "args": {"owner": TOKEN}})
    assert view["frame"]["return"]["typed"] == {"type": "u64", "value": 0}
    assert view["return"]["typed"] == {"type": "u64", "value": 0}
    deploying = {
        "from": format_address(DEV1.address),
        "code": "0x" + TOKEN_CODE.hex(),
        "method": "init",
        "args": {"supply": 9},
    }
    traced = rpc.call("debug_trace_call", deploying)  # the new contract's interface is the deployed code's
    assert traced["frame"]["input"]["typed"]["value"] == {"supply": 9}
    untyped = new_dispatcher()
    plain = untyped.call("debug_trace_call", {**call, "to": deploy(untyped, UNTYPED_TOKEN)})
    assert "typed" not in plain["frame"]["input"] and plain["frame"]["input"]["msgpack"] == args
