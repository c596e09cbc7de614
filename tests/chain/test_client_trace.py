"""The client's traces (chain/client/results.py: Trace, TraceFrame; client.py: trace_transaction, trace_call,
profile_transaction, TxResult.trace, simulate(trace=True)) and the trace in ``TransactionFailed``'s message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from wasmchain.client.client import Account, Client, Contract
from wasmchain.client.results import (
    CallStep,
    EventStep,
    StorageRead,
    StorageWrite,
    Trace,
    TraceFrame,
    TransactionFailed,
    trace_tree_lines,
)
from wasmchain.client.transport import ClientError, RPCClientError
from wasmchain.node.jsonrpc import METHOD_NOT_FOUND, STATE_UNAVAILABLE

from .test_client import TOKEN, VAULT


@pytest.fixture
def alice(wasmchain: Client) -> Account:
    return wasmchain.dev_account(0)


@pytest.fixture
def bob(wasmchain: Client) -> Account:
    return wasmchain.dev_account(1)


@pytest.fixture
def token(alice: Account) -> Contract:
    return alice.deploy(TOKEN, init="init", args={"supply": 1_000})


@pytest.fixture
def vault(alice: Account, token: Contract) -> Contract:
    """A vault over ``token`` holding 100 of it, owned by alice."""
    vault = alice.deploy(VAULT, init="init", args={"token": token})
    token.call("transfer", {"to": vault, "amount": 100}, sender=alice)
    return vault


def check_gas(trace: Trace, gas_used: int) -> None:
    """The spec's invariants: frames plus intrinsic gas is the receipt's; each frame's own gas plus its
    children's is its total; fee and refund follow from the price."""
    assert trace.gas_used == gas_used
    if trace.frame is not None:
        assert trace.frame.gas_used + trace.intrinsic_gas == gas_used
    for frame in trace.frames():
        assert frame.gas_self + sum(child.gas_used for child in frame.calls) == frame.gas_used
    assert trace.fee == gas_used * trace.gas_price
    assert trace.refund == (trace.gas_limit - gas_used) * trace.gas_price


def test_a_receipt_traces_its_transaction(token: Contract, alice: Account, bob: Account) -> None:
    receipt = token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
    trace = receipt.trace()
    assert (trace.tx_hash, trace.block_height, trace.block_hash) == (
        receipt.tx_hash,
        receipt.block_height,
        receipt.block_hash,
    )
    assert (trace.kind, trace.sender, trace.to, trace.method, trace.status) == (
        "call",
        alice.address,
        token.address,
        "transfer",
        "ok",
    )
    assert trace.matches_receipt is True
    check_gas(trace, receipt.gas_used)
    frame = trace.frame
    assert frame is not None
    assert (frame.contract, frame.method, frame.caller, frame.depth, frame.ok) == (
        token.address,
        "transfer",
        alice.address,
        0,
        True,
    )
    assert frame.args == {"to": bob.address, "amount": 5}
    assert [event.name for event in frame.events] == ["Transfer"]
    assert frame.events[0].data.decoded == {"from": alice.address, "to": bob.address, "amount": 5}
    assert [(event.name, event.data) for event in trace.events] == [(e.name, e.data) for e in receipt.events]
    writes = [step for step in frame.steps if isinstance(step, StorageWrite)]
    assert [int.from_bytes(step.new.raw, "little") for step in writes] == [995, 5]
    assert writes[0].old is not None and int.from_bytes(writes[0].old.raw, "little") == 1_000
    assert writes[1].old is None  # bob had no balance
    assert any(isinstance(step, StorageRead) and step.op == "storage_has" and step.present for step in frame.steps)
    assert {change.kind for change in trace.state_diff} == {"account", "storage"}
    assert trace.failed_frame() is None and trace.failing_path() == []
    assert frame.host_calls == ()  # only verbose traces have them
    assert trace.report == token.client.call("debug_trace_transaction", hash=receipt.tx_hash, verbose=False)


def test_a_verbose_trace_has_every_host_call(token: Contract, alice: Account, bob: Account) -> None:
    receipt = token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
    trace = receipt.trace(verbose=True)
    assert trace.verbose
    frame = trace.frame
    assert frame is not None
    names = [call.name for call in frame.host_calls]
    # ABI 2: the input and environment in the io area, the two writes and the event in one apply_effects.
    assert names == ["io_area", "storage_has", "storage_read", "storage_read", "apply_effects"]
    assert sum(call.gas for call in frame.host_calls) < frame.gas_self
    assert any(line.lstrip(" │├└─").startswith("host apply_effects [") for line in trace_tree_lines(frame))


def test_a_nested_failure_names_the_frame_it_started_in(vault: Contract, token: Contract, alice: Account) -> None:
    with pytest.raises(TransactionFailed, match="token transfer failed: insufficient balance") as failure:
        vault.call("withdraw", {"to": alice, "amount": 500}, sender=alice, gas=2_000_000)
    error = failure.value
    lines = str(error).splitlines()
    assert lines[0] == "abort: token transfer failed: insufficient balance: have 100, need 500"  # as before traces
    assert lines[1] == f"failed in {token.address}::transfer (depth 1): abort: insufficient balance: have 100, need 500"
    assert lines[2] == "trace of the failing path:"
    assert lines[3].startswith(f"  [{error.result.gas_used - error.trace.intrinsic_gas}] {vault.address}::withdraw(")
    assert lines[3].endswith(" ✗")
    nested = next(line for line in lines if f"{token.address}::transfer(" in line)
    assert nested.startswith("    ├─ [") and nested.endswith(" ✗")
    assert "    │   └─ ← abort: insufficient balance: have 100, need 500 (the caller got 1 aborted)" in lines
    assert lines[-1] == "    └─ ← abort: token transfer failed: insufficient balance: have 100, need 500"

    trace = error.trace
    assert trace is not None and trace.matches_receipt is True
    check_gas(trace, error.result.gas_used)
    assert [(frame.contract, frame.method) for frame in trace.failing_path()] == [
        (vault.address, "withdraw"),
        (token.address, "transfer"),
    ]
    failed = trace.failed_frame()
    assert failed is not None
    assert (failed.depth, failed.status, failed.status_code, failed.status_name) == (1, "abort", 1, "aborted")
    assert failed.error == "insufficient balance: have 100, need 500"
    assert failed.caller == vault.address and failed.args == {"to": alice.address, "amount": 500}
    assert trace.events == () and not [step for step in failed.steps if isinstance(step, StorageWrite)]


def test_a_successful_nested_call_is_a_frame_under_its_caller(
    vault: Contract, token: Contract, alice: Account, bob: Account
) -> None:
    trace = vault.call("withdraw", {"to": bob, "amount": 30}, sender=alice).trace()
    frame = trace.frame
    assert frame is not None and [child.method for child in frame.calls] == ["transfer"]
    child = frame.calls[0]
    assert (child.contract, child.caller, child.depth, child.status_code, child.status_name) == (
        token.address,
        vault.address,
        1,
        0,
        "ok",
    )
    assert [step.op for step in frame.steps if isinstance(step, CallStep)] == ["call"]
    assert [event.name for event in child.events] == ["Transfer"] and frame.events == []
    assert [frame.method for frame in trace.frames()] == ["withdraw", "transfer"]


def test_simulate_with_trace_returns_the_simulation_and_its_trace(
    vault: Contract, token: Contract, alice: Account
) -> None:
    plain = vault.simulate("withdraw", {"to": alice, "amount": 500}, sender=alice)
    assert plain.trace is None
    traced = vault.simulate("withdraw", {"to": alice, "amount": 500}, sender=alice, trace=True)
    assert traced == plain  # the same simulation; the trace is beside it
    trace = traced.trace
    assert trace is not None
    assert (trace.block_height, trace.matches_receipt, trace.status, trace.gas_used) == (
        None,
        None,
        plain.status,
        plain.gas_used,
    )
    failed = trace.failed_frame()
    assert failed is not None and (failed.contract, failed.method) == (token.address, "transfer")
    again = token.client.trace_call(alice, to=vault, method="withdraw", args={"to": alice, "amount": 500}, verbose=True)
    assert again.gas_used == trace.gas_used and again.verbose and again.frame and again.frame.host_calls


def test_a_profile_is_the_trace_with_gas_per_function(token: Contract, alice: Account, bob: Account) -> None:
    receipt = token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
    profiled = token.client.profile_transaction(receipt.tx_hash)
    assert profiled.profile is not None and profiled.frame is not None
    assert profiled.profile["gas"] == profiled.frame.gas_used
    transfer = alice.transfer(bob, 5)
    with pytest.raises(RPCClientError, match="native transfer") as refused:
        token.client.profile_transaction(transfer.tx_hash)
    assert refused.value.reason == "no_wasm"


def test_an_unknown_transaction_is_not_found(wasmchain: Client) -> None:
    with pytest.raises(RPCClientError) as missing:
        wasmchain.trace_transaction("0x" + "ab" * 32)
    assert missing.value.reason == "not_found"


class RefusingTransport:
    """A node whose debug methods fail as ``error`` says (an old node: method not found)."""

    def __init__(self, inner: Any, error: RPCClientError) -> None:
        self.inner = inner
        self.error = error
        self.mines_while_waiting = inner.mines_while_waiting

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if method.startswith("debug_"):
            raise self.error
        return self.inner.call(method, params)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        return [self.call(method, params) for method, params in calls]


@pytest.mark.parametrize(
    ("error", "note"),
    [
        (RPCClientError(METHOD_NOT_FOUND, "method not found: debug_trace_transaction"), None),
        (
            RPCClientError(STATE_UNAVAILABLE, "the state before block 3 is not kept"),
            "(no trace: the state before block 3 is not kept)",
        ),
    ],
)
def test_without_a_trace_the_message_is_as_before(
    wasmchain: Client, token: Contract, bob: Account, error: RPCClientError, note: str | None
) -> None:
    old = Client(RefusingTransport(wasmchain.transport, error))
    with pytest.raises(TransactionFailed) as failure:
        old.contract(token.address).call("transfer", {"to": bob, "amount": 1}, sender=old.dev_account(1))
    expected = ["abort: insufficient balance: have 0, need 1"] + ([note] if note else [])
    assert str(failure.value).splitlines() == expected
    assert failure.value.trace is None


def test_a_receipt_without_a_client_cannot_trace(token: Contract, alice: Account, bob: Account) -> None:
    receipt = token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
    orphan = copy.copy(receipt)
    object.__setattr__(orphan, "source", None)
    with pytest.raises(ClientError, match="use client.trace_transaction"):
        orphan.trace()


# -- the failing path, on hand-made frames -----------------------------------------------------------


def frame(method: str, status: str = "ok", calls: tuple[dict[str, Any], ...] = (), depth: int = 0) -> dict[str, Any]:
    """A trace frame as the node reports it, with only calls as steps."""
    empty = {"hex": "0x"}
    used = 100 + sum(call["gas_used"] for call in calls)
    return {
        "contract": "0x" + "aa" * 20,
        "method": method,
        "caller": "0x" + "bb" * 20,
        "value": "0",
        "depth": depth,
        "gas_limit": 10_000,
        "gas_used": used,
        "gas_self": 100,
        "status": status,
        "error": None if status == "ok" else f"{method} failed",
        "status_code": None if depth == 0 else (0 if status == "ok" else 1),
        "status_name": None if depth == 0 else ("ok" if status == "ok" else "aborted"),
        "ran": True,
        "input": empty,
        "return": empty,
        "steps": [{"op": "call", "frame": call} for call in calls],
    }


def test_a_failure_handled_by_the_caller_is_not_on_the_failing_path() -> None:
    handled = frame("top", "abort", (frame("first", "abort", depth=1), frame("second", depth=1)))
    assert [item.method for item in TraceFrame.from_report(handled).failing_path()] == ["top"]
    given_up = frame("top", "abort", (frame("first", depth=1), frame("second", "trap", depth=1)))
    assert [item.method for item in TraceFrame.from_report(given_up).failing_path()] == ["top", "second"]
    deep = frame("top", "abort", (frame("middle", "abort", (frame("leaf", "out_of_gas", depth=2),), depth=1),))
    assert [item.method for item in TraceFrame.from_report(deep).failing_path()] == ["top", "middle", "leaf"]
    assert TraceFrame.from_report(frame("top")).failing_path() == []


def test_the_failing_path_shows_other_frames_on_one_line() -> None:
    top = TraceFrame.from_report(frame("top", "abort", (frame("first", depth=1), frame("second", "trap", depth=1))))
    lines = trace_tree_lines(top, path=top.failing_path())
    assert lines == [
        "  [300] 0x" + "aa" * 20 + "::top() ✗",
        "    ├─ [100] 0x" + "aa" * 20 + "::first() ← return",
        "    ├─ [100] 0x" + "aa" * 20 + "::second() ✗",
        "    │   └─ ← trap: second failed (the caller got 1 aborted)",
        "    └─ ← abort: top failed",
    ]
    assert not any("\x1b" in line for line in lines)
    assert any("\x1b[31m" in line for line in trace_tree_lines(top, colour=True))


def test_a_malformed_trace_is_a_client_error() -> None:
    with pytest.raises(ClientError, match="the node's trace is malformed"):
        Trace.from_report({"tx_hash": "0x00"})
    bad_step = frame("top")
    bad_step["steps"] = [{"op": "teleport"}]
    with pytest.raises(ValueError, match="teleport"):
        TraceFrame.from_report(bad_step)


def test_event_steps_decode_their_data() -> None:
    data = {"hex": "0x81a16101", "msgpack": {"a": 1}}
    step = frame("top")
    step["steps"] = [{"op": "event", "name": "Ping", "data": data}]
    parsed = TraceFrame.from_report(step)
    assert parsed.events == [EventStep("Ping", parsed.events[0].data)]
    assert parsed.events[0].data.decoded == {"a": 1} and parsed.events[0].data.raw == bytes.fromhex("81a16101")
    assert "    ├─ emit Ping(a: 1)" in trace_tree_lines(parsed)
