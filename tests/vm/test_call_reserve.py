"""The caller's reserve in a nested call (``call_reserve``, docs/gas.md "Nested calls").

A caller keeps ``max(left // 64, call_reserve)`` of the gas it has left
after paying for ``call``; with no more than ``call_reserve`` left the
callee is not run.  The guarantee: a caller whose callee burns its whole
budget can still read the callee's error and abort with its own message.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest

from tests.helpers import Sandbox, contract_address, devnet_params, wat
from wasmchain.vm import Outcome, abi

GAS = devnet_params().gas
RESERVE = GAS.call_reserve

# `guarded` reads its input: callee address (20) | gas (8, i64) | least message length (4, u32); calls the
# callee's `spin` with that gas and no value, reads the callee's result, and aborts with
# "guarded: <status digit>: <result>", padded with NULs to the least length if shorter.
CALLER = wat("""(module
  (import "wasmchain" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "wasmchain" "abort" (func $abort (param i32 i32)))
  (import "wasmchain" "call" (func $call (param i32 i32 i32 i32 i32 i32 i64) (result i32)))
  (import "wasmchain" "call_result_read" (func $call_result_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "spin")
  (data (i32.const 200) "guarded: ?: ")
  (func (export "guarded") (local $status i32) (local $len i32)
    (drop (call $input_read (i32.const 0) (i32.const 32)))
    (local.set $status
      (call $call (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 0)
                  (i32.const 64) (i64.load (i32.const 20))))
    (i32.store8 (i32.const 209) (i32.add (i32.const 48) (local.get $status)))
    (local.set $len (i32.add (i32.const 12) (call $call_result_read (i32.const 212) (i32.const 8192))))
    (if (i32.gt_u (i32.load (i32.const 28)) (local.get $len))
      (then (local.set $len (i32.load (i32.const 28)))))
    (call $abort (i32.const 200) (local.get $len))))
""")

# `spin` never ends.
CALLEE = wat("""(module
  (memory (export "memory") 1)
  (func (export "spin") (loop $l (br $l))))
""")

CALLER_ADDRESS = contract_address(30)
CALLEE_ADDRESS = contract_address(31)

PRE_CALL_FEES = (
    GAS.instantiate
    + GAS.host_call
    + GAS.copy_byte * 32  # the frame, input_read of 32 bytes
    + GAS.host_call
    + GAS.call_base
    + GAS.copy_byte * len("spin")
)  # call "spin" with no arguments
"""What the caller pays in host costs before its callee runs (its wasm instructions come on top)."""

OWN_MESSAGE = re.compile(r"guarded: 2: out of gas: (.*?)\x00*", re.DOTALL)


def guarded_input(gas: int = 0, least_message: int = 0) -> bytes:
    return CALLEE_ADDRESS + gas.to_bytes(8, "little") + least_message.to_bytes(4, "little")


def sandbox_with(call_reserve: int = RESERVE) -> Sandbox:
    params = devnet_params()
    sandbox = Sandbox(dataclasses.replace(params, gas=dataclasses.replace(params.gas, call_reserve=call_reserve)))
    sandbox.deploy(CALLER, CALLER_ADDRESS)
    sandbox.deploy(CALLEE, CALLEE_ADDRESS)
    return sandbox


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return sandbox_with()


def guarded(sandbox: Sandbox, limit: int, gas: int = 0, least_message: int = 0) -> Outcome:
    return sandbox.call(CALLER_ADDRESS, "guarded", guarded_input(gas, least_message), gas=limit)


def callee_error(outcome: Outcome) -> str:
    """The callee's error, out of the caller's own abort message (which it must be)."""
    assert outcome.status == "abort", (outcome.status, outcome.error)
    match = OWN_MESSAGE.fullmatch(outcome.error or "")
    assert match is not None, outcome.error
    return match.group(1)


def lowest(predicate_holds: Callable[[int], bool], low: int, high: int) -> int:
    """The lowest limit in (low, high] where a monotone predicate holds (it must not hold at low, and hold at high)."""
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if predicate_holds(middle) else (middle, high)
    return high


def test_the_reserve_is_a_field_of_the_devnet_schedule() -> None:
    # Enough for what the caller needs after its callee burnt its budget (docs/gas.md has the measurement).
    assert RESERVE >= 2 * GAS.host_call + 2 * GAS.copy_byte * abi.MAX_ABORT_MESSAGE


def test_the_caller_always_aborts_with_its_own_message_whatever_the_limit(sandbox: Sandbox) -> None:
    # The lowest limit at which the caller gets to abort with its own message, whatever gas it asks for.
    minimum = lowest(lambda limit: guarded(sandbox, limit).status == "abort", 0, 10 * RESERVE)
    # It needs its own costs and no more: the fees before the call, reading the callee's error and the abort
    # (here the "not run" message), and a few wasm instructions.
    message = guarded(sandbox, minimum).error or ""
    assert "not run" in message
    own_costs = (
        PRE_CALL_FEES
        + GAS.host_call
        + GAS.copy_byte * (len(message) - 12)
        + GAS.host_call
        + GAS.copy_byte * len(message)
    )
    assert own_costs <= minimum < own_costs + 100
    assert guarded(sandbox, minimum - 1).status == "out_of_gas"

    # (A spinning callee burns its whole budget, so the limits stay below ~10**7: 10 ms of wasm each.)
    limits = sorted(
        {
            *range(minimum, minimum + 300),
            *range(minimum, 3 * RESERVE, 997),
            *(minimum + RESERVE + d for d in range(-50, 50)),  # where the callee starts to run
            *(PRE_CALL_FEES + 64 * RESERVE + d for d in range(-64, 64)),  # where the 64th takes over
            *(minimum * 3**k for k in range(1, 4)),
            10**7,
        }
    )
    for gas in (0, 1, 99_999, 100_000, 1_000_000, 2**63 - 1):
        for limit in limits:
            outcome = guarded(sandbox, limit, gas)
            error = callee_error(outcome)
            assert error.startswith(("not run: ", "needed ", "used all ", "used more than the limit of ")), error
            assert outcome.gas_used <= limit


def test_the_reserve_pays_for_a_message_of_the_most_an_abort_keeps(sandbox: Sandbox) -> None:
    least = abi.MAX_ABORT_MESSAGE
    minimum = lowest(lambda limit: guarded(sandbox, limit, 0, least).status == "abort", 0, 10 * RESERVE)
    for limit in (minimum, minimum + RESERVE, minimum + RESERVE + 1, minimum + 2 * RESERVE, 10**8):
        outcome = guarded(sandbox, limit, 0, least)
        callee_error(outcome)
        assert len(outcome.error or "") == least


def test_the_floor_boundary(sandbox: Sandbox) -> None:
    # The lowest limit at which the callee runs at all (its error is no longer "not run").
    def runs(limit: int) -> bool:
        return not callee_error(guarded(sandbox, limit)).startswith("not run: ")

    first_run = lowest(runs, PRE_CALL_FEES + RESERVE // 2, 10 * RESERVE)
    # There the caller had call_reserve + 1 left: the callee got a budget of 1, not enough to instantiate.
    assert callee_error(guarded(sandbox, first_run)) == f"needed {GAS.instantiate} more, 1 left of 1"
    # One less, and it had exactly call_reserve: not run, charged nothing.
    assert callee_error(guarded(sandbox, first_run - 1)) == (
        f"not run: the caller has {RESERVE} gas left, no more than the call_reserve of {RESERVE} it keeps"
    )
    pre_call = first_run - RESERVE - 1
    """What the caller used up to and including the call's fee: its host costs and a few instructions."""
    assert PRE_CALL_FEES <= pre_call < PRE_CALL_FEES + 50

    # Not run costs nothing beyond the fees: the caller's charge does not depend on what it had left.
    not_run = [guarded(sandbox, first_run - d) for d in (1, 2, 5000, RESERVE // 2)]
    assert len({len(outcome.error or "") for outcome in not_run}) == 1
    assert len({outcome.gas_used for outcome in not_run}) == 1
    # The same call given one more gas runs the callee with a budget of 1, charged on top of the messages' bytes.
    ran, refused = guarded(sandbox, first_run), not_run[0]
    longer = len(ran.error or "") - len(refused.error or "")
    assert ran.gas_used == refused.gas_used + 1 + 2 * GAS.copy_byte * longer

    # The budget: left - max(left // 64, call_reserve), and min(gas, that) when the caller asks for gas.
    crossover = 64 * RESERVE
    for left in (
        RESERVE + 2,
        RESERVE + 100_000,
        2 * RESERVE,
        crossover - 64,
        crossover - 1,
        crossover,
        crossover + 63,
        crossover + 64,
        crossover + 1_000_000,
    ):
        cap = left - max(left // 64, RESERVE)
        for gas, budget in ((0, cap), (1, 1), (cap - 1, cap - 1), (cap, cap), (cap + 1, cap), (2**63 - 1, cap)):
            error = callee_error(guarded(sandbox, pre_call + left, gas))
            expected = (
                ("needed", f"{budget} left of {budget}") if budget < GAS.instantiate else ("used all", str(budget))
            )
            assert error.startswith(expected[0]) and error.endswith(expected[1]), (left, gas, error)


def test_without_a_floor_the_caller_of_a_spinning_callee_runs_out_of_gas_itself() -> None:
    # call_reserve = 0 is EIP-150's 64th alone: below 64 host calls' worth of gas left, the caller keeps less
    # than one host call and never gets to report the failure.
    sandbox = sandbox_with(call_reserve=0)
    for limit in (PRE_CALL_FEES + 1000, PRE_CALL_FEES + 100_000, PRE_CALL_FEES + 600_000):
        assert guarded(sandbox, limit).status == "out_of_gas"
    # Above 64 host calls' worth, the 64th is enough.
    outcome = guarded(sandbox, 10**8)
    assert callee_error(outcome).startswith("used all ")
