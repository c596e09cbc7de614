"""Call traces (vm/trace.py): what they record, and that recording changes nothing."""

from __future__ import annotations

import copy
import dataclasses
import functools

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import ALICE, BOB, CONTRACTS, Sandbox, contract_address, devnet_params, wat
from wasmchain.vm import VM_VERSION, BlockEnv, Message, Outcome, abi
from wasmchain.vm.trace import (
    CallStep,
    EventStep,
    LogStep,
    StorageRead,
    StorageRemove,
    StorageWrite,
    TraceFrame,
    Tracer,
    TransferStep,
)

TOKEN = contract_address(1)
VAULT = contract_address(2)
PROBE = contract_address(3)
NOWHERE = bytes.fromhex("ee" * 20)

# `probe` reads "k", writes "k" = "v2", removes "gone", logs, emits, pays BOB 5 native units, then calls a
# contract that does not exist (refused before running: status 4) and finally one method of the token that
# aborts (caught: status 1); it ends ok.


def wat_bytes(data: bytes) -> str:
    """Bytes as a WAT string literal's escapes."""
    return "".join(f"\\{byte:02x}" for byte in data)


PROBE_CODE = wat(f"""(module
  (import "wasmchain" "storage_read" (func $storage_read (param i32 i32 i32 i32) (result i64)))
  (import "wasmchain" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "wasmchain" "storage_remove" (func $storage_remove (param i32 i32) (result i32)))
  (import "wasmchain" "event_emit" (func $event_emit (param i32 i32 i32 i32)))
  (import "wasmchain" "debug_log" (func $debug_log (param i32 i32)))
  (import "wasmchain" "transfer" (func $transfer (param i32 i32) (result i32)))
  (import "wasmchain" "call" (func $call (param i32 i32 i32 i32 i32 i32 i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "k")
  (data (i32.const 8) "v2")
  (data (i32.const 16) "gone")
  (data (i32.const 32) "hello from probe")
  (data (i32.const 64) "Poked")
  (data (i32.const 100) "{wat_bytes(NOWHERE)}")
  (data (i32.const 140) "{wat_bytes(TOKEN)}")
  (data (i32.const 180) "{wat_bytes(BOB)}")
  (data (i32.const 200) "\\05")
  (data (i32.const 240) "nope")
  (data (i32.const 250) "transfer")
  (func (export "probe")
    (drop (call $storage_read (i32.const 0) (i32.const 1) (i32.const 1024) (i32.const 64)))
    (call $storage_write (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 2))
    (drop (call $storage_remove (i32.const 16) (i32.const 4)))
    (call $debug_log (i32.const 32) (i32.const 16))
    (call $event_emit (i32.const 64) (i32.const 5) (i32.const 8) (i32.const 2))
    (drop (call $transfer (i32.const 180) (i32.const 200)))
    (drop (call $call (i32.const 100) (i32.const 240) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 220)
                      (i64.const 0)))
    (drop (call $call (i32.const 140) (i32.const 250) (i32.const 8) (i32.const 0) (i32.const 0) (i32.const 220)
                      (i64.const 0)))))
""")


def args(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)


@functools.cache
def _deployed() -> Sandbox:
    box = Sandbox(dataclasses.replace(devnet_params(), version=VM_VERSION))  # ABI 1.1: debug_log
    box.deploy((CONTRACTS / "token" / "token.wasm").read_bytes(), TOKEN)
    box.deploy((CONTRACTS / "vault" / "vault.wasm").read_bytes(), VAULT)
    box.deploy(PROBE_CODE, PROBE)
    assert box.call(TOKEN, "init", args(supply=1_000_000), caller=ALICE).ok
    assert box.call(VAULT, "init", args(token=TOKEN), caller=ALICE).ok
    assert box.call(TOKEN, "transfer", args(to=VAULT, amount=100), caller=ALICE).ok
    box.host.storage[(PROBE, b"k")] = b"v1"
    box.host.storage[(PROBE, b"gone")] = b"old"
    box.host.balances[PROBE] = 50
    return box


def sandbox() -> Sandbox:
    """The deployed contracts on a fresh copy of their state (compiled once per session)."""
    box = copy.copy(_deployed())
    box.host = copy.deepcopy(_deployed().host)
    return box


def traced(box: Sandbox, message: Message, *, verbose: bool = False) -> tuple[Outcome, TraceFrame, Sandbox]:
    """Run ``message`` traced on ``box`` and untraced on a copy; both must agree in outcome and state."""
    twin = copy.deepcopy(box.host)
    tracer = Tracer(verbose=verbose)
    outcome = box.runtime.execute(box.host, BlockEnv(1, 1), message, tracer=tracer)
    plain = box.runtime.execute(twin, BlockEnv(1, 1), message)
    assert outcome == plain
    assert (box.host.storage, box.host.balances) == (twin.storage, twin.balances)
    assert tracer.root is not None
    return outcome, tracer.root, box


def withdraw(amount: int) -> Message:
    return Message(ALICE, VAULT, "withdraw", args(to=BOB, amount=amount), gas_limit=10_000_000)


def check_gas(frame: TraceFrame) -> None:
    assert frame.gas_self + sum(child.gas_used for child in frame.calls) == frame.gas_used
    assert frame.gas_self >= 0
    for child in frame.calls:
        assert child.depth == frame.depth + 1
        check_gas(child)


def test_a_nested_call_is_a_child_frame_with_its_storage_and_the_status_code_its_caller_saw() -> None:
    box = sandbox()
    vault_key = b"b" + VAULT
    before = box.host.storage[(TOKEN, vault_key)]
    outcome, root, _ = traced(box, withdraw(30))
    assert outcome.ok and root.gas_used == outcome.gas_used
    assert (root.contract, root.method, root.caller, root.status, root.status_code) == (
        VAULT,
        "withdraw",
        ALICE,
        "ok",
        None,
    )
    [child] = root.calls
    assert (child.contract, child.method, child.caller, child.status, child.status_code) == (
        TOKEN,
        "transfer",
        VAULT,
        "ok",
        abi.CALL_OK,
    )
    assert msgpack.unpackb(child.input) == {"to": BOB, "amount": 30}
    writes = {step.key: (step.old, step.new) for step in child.steps if isinstance(step, StorageWrite)}
    assert writes[vault_key] == (before, (100 - 30).to_bytes(8, "little"))
    assert writes[b"b" + BOB] == (None, (30).to_bytes(8, "little"))
    [event] = [step for step in child.steps if isinstance(step, EventStep)]
    assert (event.name, msgpack.unpackb(event.data)) == ("Transfer", {"from": VAULT, "to": BOB, "amount": 30})
    check_gas(root)


def test_a_failing_nested_call_is_recorded_with_its_error_and_the_whole_call_fails() -> None:
    outcome, root, _ = traced(sandbox(), withdraw(500))
    assert outcome.status == "abort" and root.status == "abort"
    [child] = root.calls
    assert (child.status, child.status_code, child.error) == (
        "abort",
        abi.CALL_ABORTED,
        "insufficient balance: have 100, need 500",
    )
    assert not any(isinstance(step, StorageWrite) for step in child.steps)
    assert root.gas_used == outcome.gas_used
    check_gas(root)


def test_every_kind_of_step_in_order_with_refused_and_caught_calls() -> None:
    box = sandbox()
    message = Message(BOB, PROBE, "probe", b"", gas_limit=50_000_000)
    outcome, root, _ = traced(box, message)
    assert outcome.ok, outcome.error
    steps = root.steps
    assert steps[:6] == [
        StorageRead(b"k", b"v1"),
        StorageWrite(b"k", b"v1", b"v2"),
        StorageRemove(b"gone", b"old"),
        LogStep("hello from probe"),
        EventStep("Poked", b"v2"),
        TransferStep(BOB, 5, True),
    ]
    refused, caught = (step.frame for step in steps[6:] if isinstance(step, CallStep))
    assert (refused.contract, refused.method, refused.ran, refused.status_code, refused.gas_used) == (
        NOWHERE,
        "nope",
        False,
        abi.CALL_NOT_FOUND,
        0,
    )
    assert refused.status == "invalid" and "no contract" in (refused.error or "")
    assert (caught.contract, caught.ran, caught.status_code, caught.status) == (TOKEN, True, abi.CALL_ABORTED, "abort")
    assert len(steps) == 8
    assert [line.message for line in outcome.logs] == ["hello from probe"]
    check_gas(root)


def test_verbose_traces_list_every_host_call_with_its_gas() -> None:
    _, quiet, _ = traced(sandbox(), withdraw(30))
    _, loud, _ = traced(sandbox(), withdraw(30), verbose=True)
    assert quiet.host_calls == [] and quiet.calls[0].host_calls == []
    names = [call.name for call in loud.host_calls]
    assert names[0] == "io_area" and "call" in names  # ABI 2: the input is in the io area before the method runs
    [call] = [host_call for host_call in loud.host_calls if host_call.name == "call"]
    child = loud.calls[0]
    assert call.gas - call.gas_own == child.gas_used
    # Host calls are part of the frame's own gas: their own costs never exceed it.
    assert sum(host_call.gas_own for host_call in loud.host_calls) < loud.gas_self
    assert all(host_call.gas_own > 0 for host_call in loud.host_calls + child.host_calls)


def test_a_call_refused_before_any_frame_has_no_root() -> None:
    box = sandbox()
    tracer = Tracer()
    outcome = box.runtime.execute(box.host, BlockEnv(1, 1), Message(ALICE, NOWHERE, "x", b"", 1000), tracer=tracer)
    assert outcome.status == "invalid" and tracer.root is None


@settings(max_examples=25, deadline=None)
@given(amount=st.integers(0, 200), gas=st.integers(50_000, 3_000_000), verbose=st.booleans())
def test_tracing_never_changes_the_outcome_or_the_state(amount: int, gas: int, verbose: bool) -> None:
    box = sandbox()
    message = Message(ALICE, VAULT, "withdraw", args(to=BOB, amount=amount), gas_limit=gas)
    outcome, root, _ = traced(box, message, verbose=verbose)
    assert root.gas_used == outcome.gas_used and root.status == outcome.status
    check_gas(root)
