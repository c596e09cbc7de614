"""Transaction traces (protocol/tracing.py, Chain.trace_transaction and trace_call, the debug_* RPC methods)
and the devnet console's debug logs.

One chain, mined once per module: a token, a vault funded with tokens, a probe (WAT) that logs and calls
the token in a way that fails and is caught, then a vault -> token withdrawal, a failing token transfer,
a native transfer, a withdrawal whose nested call fails, and a block of two transactions.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgpack
import pytest

from tests.helpers import CONTRACTS, GENESIS, wat
from wasmchain.node.jsonrpc import INVALID_PARAMS, NOT_FOUND, STATE_UNAVAILABLE, TRACE_MISMATCH, Limits, RPCError
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.blocks import encode_receipts
from wasmchain.protocol.errors import NotFound
from wasmchain.protocol.genesis import Genesis, genesis_from_document
from wasmchain.protocol.keys import contract_address, dev_key, format_address
from wasmchain.protocol.state import account_key, storage_key
from wasmchain.protocol.tracing import TransactionTrace, bytes_view, trace_to_json
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store import schema
from wasmchain.store.chain import Chain, StateUnavailable, TraceMismatch
from wasmchain.store.genesis_file import load_genesis_document
from wasmchain.store.kv import MemoryKV
from wasmchain.vm import VM_VERSION

DEV0, DEV1, DEV2, DEV3 = (dev_key(i) for i in range(4))
TOKEN = contract_address(DEV0.address, 0)
VAULT = contract_address(DEV0.address, 1)
PROBE = contract_address(DEV0.address, 2)


def wat_bytes(data: bytes) -> str:
    return "".join(f"\\{byte:02x}" for byte in data)


# `probe` logs, calls the token's `transfer` with no arguments (the token aborts: the call returns 1, which
# the probe ignores), writes "k" = "v" and ends ok.
PROBE_CODE = bytes(
    wat(f"""(module
  (import "wasmchain" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "wasmchain" "debug_log" (func $debug_log (param i32 i32)))
  (import "wasmchain" "call" (func $call (param i32 i32 i32 i32 i32 i32 i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "k")
  (data (i32.const 8) "v")
  (data (i32.const 32) "hello from probe")
  (data (i32.const 100) "{wat_bytes(TOKEN)}")
  (data (i32.const 250) "transfer")
  (func (export "probe")
    (call $debug_log (i32.const 32) (i32.const 16))
    (drop (call $call (i32.const 100) (i32.const 250) (i32.const 8) (i32.const 0) (i32.const 0) (i32.const 220)
                      (i64.const 0)))
    (call $storage_write (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 1))))
""")
)


def packed(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)  # type: ignore[no-any-return]


def abi_1_1_genesis() -> Genesis:
    """genesis.json under the VM version that allows ``debug_log``."""
    document = load_genesis_document(GENESIS)
    document["vm"]["version"] = VM_VERSION
    for contract in document.get("contracts", []):
        if not contract["code"].startswith("0x"):
            contract["code"] = "0x" + (GENESIS.parent / contract["code"]).read_bytes().hex()
    return genesis_from_document(document)


@dataclasses.dataclass
class Mined:
    chain: Chain
    txs: dict[str, SignedTransaction]


def mine() -> Mined:
    genesis = abi_1_1_genesis()
    chain = Chain.create(MemoryKV(), genesis)
    nonces: dict[bytes, int] = {}

    def tx(key: Any, kind: TxKind, **fields: Any) -> SignedTransaction:
        nonce = nonces.get(key.address, 0)
        nonces[key.address] = nonce + 1
        return Transaction(genesis.chain_id, nonce, 10**8, 1, key.public_key, kind, **fields).sign(key)

    token = (CONTRACTS / "token" / "token.wasm").read_bytes()
    vault = (CONTRACTS / "vault" / "vault.wasm").read_bytes()
    blocks = [
        {"deploy_token": tx(DEV0, TxKind.DEPLOY, code=token, method="init", args=packed(supply=10**6))},
        {"deploy_vault": tx(DEV0, TxKind.DEPLOY, code=vault, method="init", args=packed(token=TOKEN))},
        {"deploy_probe": tx(DEV0, TxKind.DEPLOY, code=PROBE_CODE)},
        {"fund_vault": tx(DEV0, TxKind.CALL, to=TOKEN, method="transfer", args=packed(to=VAULT, amount=1000))},
        {"withdraw": tx(DEV0, TxKind.CALL, to=VAULT, method="withdraw", args=packed(to=DEV1.address, amount=300))},
        {"failing": tx(DEV1, TxKind.CALL, to=TOKEN, method="transfer", args=packed(to=DEV2.address, amount=5000))},
        {"probe": tx(DEV0, TxKind.CALL, to=PROBE, method="probe", args=packed())},
        {"native": tx(DEV2, TxKind.TRANSFER, to=DEV3.address, value=5)},
        {"overdraw": tx(DEV0, TxKind.CALL, to=VAULT, method="withdraw", args=packed(to=DEV1.address, amount=10**6))},
        {
            "first": tx(DEV0, TxKind.CALL, to=TOKEN, method="transfer", args=packed(to=DEV1.address, amount=1)),
            "second": tx(DEV0, TxKind.CALL, to=TOKEN, method="transfer", args=packed(to=DEV2.address, amount=2)),
        },
    ]
    txs: dict[str, SignedTransaction] = {}
    for block in blocks:
        _, receipts = chain.produce(list(block.values()), chain.head.timestamp + 1)
        assert all(receipt.status != "invalid" for receipt in receipts), receipts
        txs.update(block)
    return Mined(chain, txs)


@pytest.fixture(scope="module")
def mined() -> Mined:
    return mine()


def trace(mined: Mined, name: str, **options: bool) -> dict[str, Any]:
    return trace_to_json(mined.chain.trace_transaction(mined.txs[name].hash, **options))


def frames(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The frame and every nested frame, depth first."""
    found = [frame]
    for step in frame["steps"]:
        if step["op"] == "call":
            found.extend(frames(step["frame"]))
    return found


def nested(frame: dict[str, Any]) -> list[dict[str, Any]]:
    return [step["frame"] for step in frame["steps"] if step["op"] == "call"]


def check_invariants(report: dict[str, Any]) -> None:
    """The spec's invariants of a trace object."""
    price = int(report["gas_price"])
    assert int(report["fee"]) == report["gas_used"] * price
    if report["status"] != "invalid":
        assert int(report["refund"]) == (report["gas_limit"] - report["gas_used"]) * price
    frame = report["frame"]
    if frame is not None:
        assert frame["gas_used"] + report["intrinsic_gas"] == report["gas_used"]
        for each in frames(frame):
            assert each["gas_self"] + sum(child["gas_used"] for child in nested(each)) == each["gas_used"]
            assert each["gas_self"] >= 0
    assert [change["key"] for change in report["state_diff"]] == sorted(c["key"] for c in report["state_diff"])
    json.dumps(report, allow_nan=False)


def test_a_failing_token_transfer_shows_which_frame_failed_and_why(mined: Mined) -> None:
    report = trace(mined, "failing")
    check_invariants(report)
    assert report["status"] == "abort" and report["matches_receipt"] is True
    assert report["error"] == "insufficient balance: have 300, need 5000"
    frame = report["frame"]
    assert (frame["contract"], frame["method"], frame["status"]) == (format_address(TOKEN), "transfer", "abort")
    assert frame["error"] == report["error"] and frame["status_code"] is None and frame["depth"] == 0
    assert frame["input"]["msgpack"] == {"to": format_address(DEV2.address), "amount": 5000}
    read = [step for step in frame["steps"] if step["op"] == "storage_read"][-1]
    assert read["key"]["hex"] == "0x62" + DEV1.address.hex()
    assert not any(step["op"] == "storage_write" for step in frame["steps"])
    # Only the sender's account changed: the fee and the nonce.
    assert [change["kind"] for change in report["state_diff"]] == ["account"]
    change = report["state_diff"][0]
    assert change["address"] == format_address(DEV1.address)
    assert change["new"]["nonce"] == change["old"]["nonce"] + 1
    assert int(change["old"]["balance"]) - int(change["new"]["balance"]) == int(report["fee"])


def test_a_vault_withdrawal_shows_the_nested_token_frame_with_its_storage(mined: Mined) -> None:
    report = trace(mined, "withdraw")
    check_invariants(report)
    assert report["status"] == "ok"
    frame = report["frame"]
    assert (frame["contract"], frame["method"]) == (format_address(VAULT), "withdraw")
    [child] = nested(frame)
    assert (child["contract"], child["method"], child["caller"]) == (
        format_address(TOKEN),
        "transfer",
        format_address(VAULT),
    )
    assert (child["depth"], child["status"], child["status_code"], child["status_name"]) == (1, "ok", 0, "ok")
    assert child["input"]["msgpack"] == {"to": format_address(DEV1.address), "amount": 300}
    writes = {step["key"]["hex"] for step in child["steps"] if step["op"] == "storage_write"}
    assert writes == {"0x62" + VAULT.hex(), "0x62" + DEV1.address.hex()}
    assert [event["name"] for event in report["events"]] == ["Transfer"]
    assert report["events"][0]["contract"] == format_address(TOKEN)
    storage = {(c["address"], c["storage_key"]["hex"]) for c in report["state_diff"] if c["kind"] == "storage"}
    assert storage == {
        (format_address(TOKEN), "0x62" + VAULT.hex()),
        (format_address(TOKEN), "0x62" + DEV1.address.hex()),
    }


def test_a_nested_failure_the_vault_does_not_survive_is_marked_in_both_frames(mined: Mined) -> None:
    report = trace(mined, "overdraw")
    check_invariants(report)
    frame = report["frame"]
    [child] = nested(frame)
    assert (child["status"], child["status_code"], child["status_name"]) == ("abort", 1, "aborted")
    assert child["error"] == "insufficient balance: have 700, need 1000000"
    assert frame["status"] == "abort" and frame["error"].startswith("token transfer failed: insufficient balance")
    assert report["events"] == []


def test_a_caught_failing_call_and_a_debug_log(mined: Mined) -> None:
    report = trace(mined, "probe")
    check_invariants(report)
    assert report["status"] == "ok"
    frame = report["frame"]
    [child] = nested(frame)
    assert (child["method"], child["status"], child["status_code"], child["status_name"]) == (
        "transfer",
        "abort",
        1,
        "aborted",
    )
    assert child["ran"] is True and child["input"] == {"hex": "0x"}
    assert report["logs"] == [{"contract": format_address(PROBE), "message": "hello from probe"}]
    assert frame["steps"][0] == {"op": "log", "message": "hello from probe"}
    assert frame["steps"][-1] == {
        "op": "storage_write",
        "key": {"hex": "0x6b", "msgpack": 107, "text": "k"},
        "old": None,
        "new": {"hex": "0x76", "msgpack": 118, "text": "v"},
    }
    assert "host_calls" not in frame


def test_a_verbose_trace_lists_every_host_call_with_its_gas(mined: Mined) -> None:
    report = trace(mined, "probe", verbose=True)
    check_invariants(report)
    assert report["verbose"] is True
    frame = report["frame"]
    names = [call["name"] for call in frame["host_calls"]]
    assert names == ["debug_log", "call", "storage_write"]
    [child] = nested(frame)
    call = frame["host_calls"][1]
    assert call["gas"] - call["gas_own"] == child["gas_used"]
    assert all(host_call["gas"] > 0 for host_call in frame["host_calls"])
    assert "host_calls" in child
    # Verbose changes nothing else.
    plain = trace(mined, "probe")
    strip = {"verbose", "frame"}
    assert {k: v for k, v in report.items() if k not in strip} == {k: v for k, v in plain.items() if k not in strip}


def test_a_deploy_with_init(mined: Mined) -> None:
    report = trace(mined, "deploy_token")
    check_invariants(report)
    assert (report["kind"], report["to"], report["method"]) == ("deploy", None, "init")
    assert report["contract_address"] == format_address(TOKEN)
    assert report["frame"]["contract"] == format_address(TOKEN) and report["frame"]["method"] == "init"
    kinds = {change["kind"] for change in report["state_diff"]}
    assert kinds == {"account", "code", "storage"}
    [code] = [change for change in report["state_diff"] if change["kind"] == "code"]
    assert code["old"] is None and code["new"] == {"size": len((CONTRACTS / "token" / "token.wasm").read_bytes())}
    [account] = [c for c in report["state_diff"] if c["kind"] == "account" and c["address"] == format_address(TOKEN)]
    assert account["old"] is None and account["new"]["code_hash"] == code["code_hash"]


def test_a_deploy_without_init_and_a_native_transfer_have_no_frame(mined: Mined) -> None:
    probe = trace(mined, "deploy_probe")
    assert probe["frame"] is None and probe["method"] is None and probe["contract_address"] == format_address(PROBE)
    native = trace(mined, "native")
    check_invariants(native)
    assert (native["kind"], native["frame"], native["logs"], native["intrinsic_gas"]) == (
        "transfer",
        None,
        [],
        native["gas_used"],
    )
    assert {change["address"] for change in native["state_diff"]} == {
        format_address(DEV2.address),
        format_address(DEV3.address),
    }


def test_every_transaction_traces_to_its_receipt(mined: Mined) -> None:
    chain = mined.chain
    for signed in mined.txs.values():
        traced = chain.trace_transaction(signed.hash)
        _, _, stored = chain.transaction(signed.hash)
        assert traced.receipt == stored and traced.matches_receipt is True
        check_invariants(trace_to_json(traced))


def test_the_second_transaction_of_a_block_is_traced_after_the_first(mined: Mined) -> None:
    report = trace(mined, "second")
    assert report["block"]["index"] == 1 and report["block"]["height"] == mined.chain.head.height
    sender = [c for c in report["state_diff"] if c["kind"] == "account"][0]
    first = trace(mined, "first")
    assert sender["old"] == [c for c in first["state_diff"] if c["kind"] == "account"][0]["new"]


def test_the_state_diff_is_the_stored_blocks_state_changes(mined: Mined) -> None:
    chain = mined.chain
    for name, signed in mined.txs.items():
        if name in ("first", "second"):
            continue
        traced = chain.trace_transaction(signed.hash)
        assert traced.location is not None
        height = traced.location.height
        stored = chain.state_changes(height, height)[height]
        before = chain.state_at(height - 1)
        changed = {key: value for key, value in stored.items() if before.get(key) != value}
        assert {change.key: change.new for change in traced.state_diff} == changed, name
        assert all(change.old == before.get(change.key) for change in traced.state_diff), name


def test_tracing_changes_nothing(mined: Mined) -> None:
    chain = mined.chain
    kv = chain.kv
    everything = dict(kv.iterate())
    head = chain.head
    for signed in mined.txs.values():
        chain.trace_transaction(signed.hash, verbose=True)
    assert dict(kv.iterate()) == everything and chain.head == head


def tampered(mined: Mined, name: str, **fields: Any) -> Chain:
    """A copy of the chain whose stored receipt of ``name`` has ``fields`` replaced."""
    chain = mined.chain
    kv = MemoryKV(dict(chain.kv.iterate()))
    block, index, receipt = chain.transaction(mined.txs[name].hash)
    receipts = chain.receipts(block.height)
    receipts[index] = dataclasses.replace(receipt, **fields)
    kv.write({schema.receipts_key(block.height): encode_receipts(receipts)})
    return Chain(kv, chain.genesis)


@pytest.mark.parametrize(
    ("field", "value"),
    [("gas_used", 1), ("status", "trap"), ("return_data", b"\x01"), ("error", "no"), ("events", ())],
)
def test_a_tampered_receipt_is_a_trace_mismatch_naming_the_field(mined: Mined, field: str, value: Any) -> None:
    chain = tampered(mined, "withdraw", **{field: value})
    with pytest.raises(TraceMismatch) as raised:
        chain.trace_transaction(mined.txs["withdraw"].hash)
    assert raised.value.field == field and raised.value.reason == "trace_mismatch"
    assert f"{field} is " in str(raised.value)
    with pytest.raises(RPCError) as answered:
        Dispatcher(Node(chain, clock=None)).call(
            "debug_trace_transaction", {"hash": "0x" + mined.txs["withdraw"].hash.hex()}
        )
    assert (answered.value.code, answered.value.reason) == (TRACE_MISMATCH, "trace_mismatch")


def test_a_missing_undo_record_says_the_state_is_unavailable(mined: Mined) -> None:
    chain = mined.chain
    kv = MemoryKV(dict(chain.kv.iterate()))
    kv.write({schema.undo_key(chain.head.height): None})
    copy = Chain(kv, chain.genesis)
    with pytest.raises(StateUnavailable) as raised:
        copy.trace_transaction(mined.txs["probe"].hash)
    assert raised.value.reason == "state_unavailable"
    assert f"block {chain.head.height} has no undo record" in str(raised.value)
    assert "Trace it on a node that holds every block" in str(raised.value)
    with pytest.raises(RPCError) as answered:
        Dispatcher(Node(copy, clock=None)).call("debug_trace_transaction", ["0x" + mined.txs["probe"].hash.hex()])
    assert (answered.value.code, answered.value.reason) == (STATE_UNAVAILABLE, "state_unavailable")
    # The head block's own transactions need its undo record too; nothing older is affected by an older gap.
    kv.write({schema.undo_key(chain.head.height): chain.kv.get(schema.undo_key(chain.head.height))})
    kv.write({schema.undo_key(1): None})
    assert Chain(kv, chain.genesis).trace_transaction(mined.txs["probe"].hash).matches_receipt


def test_unknown_and_malformed_hashes(mined: Mined) -> None:
    with pytest.raises(NotFound):
        mined.chain.trace_transaction(bytes(32))
    rpc = Dispatcher(Node(mined.chain, clock=None))
    for method in ("debug_trace_transaction", "debug_profile_transaction"):
        with pytest.raises(RPCError) as unknown:
            rpc.call(method, {"hash": "0x" + "00" * 32})
        assert (unknown.value.code, unknown.value.reason) == (NOT_FOUND, "not_found")
        for bad in ("0x12", "12" * 32, 7, None):
            with pytest.raises(RPCError) as malformed:
                rpc.call(method, {"hash": bad})
            assert (malformed.value.code, malformed.value.reason) == (INVALID_PARAMS, "invalid_params")
            assert "hash must be 0x followed by 64 hex digits" in malformed.value.message
        with pytest.raises(RPCError) as verbose:
            rpc.call(method, {"hash": "0x" + mined.txs["probe"].hash.hex(), "verbose": "yes"})
        assert "verbose must be true or false" in verbose.value.message


def test_the_rpc_methods(mined: Mined) -> None:
    rpc = Dispatcher(Node(mined.chain, clock=None))
    probe = mined.txs["probe"]
    answer = rpc.call("debug_trace_transaction", {"hash": "0x" + probe.hash.hex(), "verbose": True})
    assert answer == json.loads(json.dumps(trace(mined, "probe", verbose=True)))
    # A call that is not mined: the failing transfer again, as debug_trace_call runs it.
    call = {
        "from": format_address(DEV1.address),
        "to": format_address(TOKEN),
        "method": "transfer",
        "args": {"to": format_address(DEV2.address), "amount": 5000},
    }
    traced = rpc.call("debug_trace_call", call)
    check_invariants(traced)
    simulated = rpc.call("simulate", call)
    assert (traced["status"], traced["gas_used"], traced["error"]) == (
        simulated["status"],
        simulated["gas_used"],
        simulated["error"],
    )
    assert traced["block"] is None and traced["matches_receipt"] is None
    assert traced["frame"]["status"] == "abort"
    # Invalid: a trace with no frame, and the reason.
    invalid = rpc.call("debug_trace_call", {**call, "from": format_address(bytes(20))})
    assert (invalid["status"], invalid["frame"], invalid["intrinsic_gas"], invalid["refund"]) == (
        "invalid",
        None,
        0,
        0,
    )
    assert invalid["error"].startswith("balance 0 is below")
    # Profiles: nothing to profile without wasm.
    for method, params in (
        ("debug_profile_transaction", {"hash": "0x" + mined.txs["native"].hash.hex()}),
        ("debug_profile_call", {"from": format_address(DEV0.address), "to": format_address(DEV3.address), "value": 1}),
    ):
        with pytest.raises(RPCError) as refused:
            rpc.call(method, params)
        assert (refused.value.code, refused.value.reason) == (INVALID_PARAMS, "no_wasm")
        assert "is a native transfer: no contract code ran, so there is nothing to profile" in refused.value.message
    profiled = rpc.call("debug_profile_transaction", {"hash": "0x" + probe.hash.hex()})
    if "profile" in profiled:  # once the VM profiles (vm/profile.py): its total is the trace's
        profile = profiled["profile"]
        assert profile["gas"] == profiled["frame"]["gas_used"]
        assert [frame["gas_self"] for frame in profile["frames"]] == [
            frame["gas_self"] for frame in frames(profiled["frame"]) if frame["ran"]
        ]
        assert sum(stack["gas"] for frame in profile["frames"] for stack in frame["stacks"]) == profile["gas"]
    assert {k: v for k, v in profiled.items() if k != "profile"} == trace(mined, "probe")
    profiled_call = rpc.call("debug_profile_call", call)
    assert {k: v for k, v in profiled_call.items() if k != "profile"} == traced


def test_debug_trace_call_draws_on_the_request_budget(mined: Mined) -> None:
    rpc = Dispatcher(Node(mined.chain, clock=None), limits=Limits(batch_gas=1_000_000))
    call = {"from": format_address(DEV0.address), "to": format_address(PROBE), "method": "probe"}
    for method in ("debug_trace_call", "debug_profile_call"):
        with pytest.raises(RPCError) as refused:
            rpc.call(method, {**call, "gas": 5_000_000})
        assert refused.value.reason == "gas_budget_exceeded" and method in refused.value.message
        assert rpc.call(method, {**call, "gas": 900_000})["status"] == "ok"


def test_bytes_views() -> None:
    assert bytes_view(b"") == {"hex": "0x"}
    assert bytes_view(b"supply") == {"hex": "0x737570706c79", "text": "supply"}
    assert bytes_view(b"b" + bytes(20)) == {"hex": "0x62" + "00" * 20}
    address = bytes(range(20))
    assert bytes_view(packed(to=address, amount=5)) == {
        "hex": "0x" + packed(to=address, amount=5).hex(),
        "msgpack": {"to": "0x" + address.hex(), "amount": 5},
    }
    assert "msgpack" not in bytes_view(packed(a=1) + b"\x00")  # the whole buffer, or nothing
    assert "msgpack" not in bytes_view(b"\x91" * 100 + b"\x00")  # too deep to show
    assert "msgpack" not in bytes_view(b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00")  # NaN is not JSON
    assert bytes_view(b"\xd4\x01\x02")["msgpack"] == {"ext": 1, "data": "0x02"}
    assert bytes_view(b"\x81\x01\xc4\x01\xff")["msgpack"] == {"1": "0xff"}


def test_the_devnet_console_prints_mined_debug_logs_only(mined: Mined) -> None:
    lines: list[str] = []
    chain = Chain(MemoryKV(dict(mined.chain.kv.iterate())), mined.chain.genesis)
    node = Node(chain, clock=None, console=lines.append)
    rpc = Dispatcher(node)
    call = {"from": format_address(DEV0.address), "to": format_address(PROBE), "method": "probe"}
    rpc.call("simulate", call)
    rpc.call("debug_trace_call", call)
    assert lines == []
    nonce = chain.account(DEV0.address).nonce
    signed = Transaction(
        chain.genesis.chain_id, nonce, 10**8, 1, DEV0.public_key, TxKind.CALL, to=PROBE, method="probe", args=packed()
    ).sign(DEV0)
    assert node.submit(signed).included
    assert lines == [
        f"debug_log  block {chain.head.height}  tx 0x{signed.hash.hex()}",
        f"  {format_address(PROBE)}: hello from probe",
    ]
    _, _, receipt = chain.transaction(signed.hash)
    assert b"hello" not in receipt.encode()
    # A node without a console collects nothing.
    quiet = Node(Chain(MemoryKV(dict(chain.kv.iterate())), chain.genesis), clock=None)
    again = Transaction(
        chain.genesis.chain_id,
        nonce + 1,
        10**8,
        1,
        DEV0.public_key,
        TxKind.CALL,
        to=PROBE,
        method="probe",
        args=packed(),
    ).sign(DEV0)
    assert quiet.submit(again).included


def test_trace_results_are_plain_data(mined: Mined) -> None:
    traced = mined.chain.trace_transaction(mined.txs["probe"].hash)
    assert isinstance(traced, TransactionTrace)
    assert traced.logs[0].contract == PROBE
    assert {change.key for change in traced.state_diff} >= {account_key(DEV0.address), storage_key(PROBE, b"k")}
