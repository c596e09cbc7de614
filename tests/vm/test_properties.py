"""Properties of execution that must hold for any input: hypothesis against the runtime."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import Sandbox
from tests.vm.test_runtime import KV, KV_ADDRESS

METHODS = ("put", "get", "put_then_loop", "put_then_trap", "put_then_abort", "work")


def fresh() -> Sandbox:
    sandbox = Sandbox()
    sandbox.deploy(KV, KV_ADDRESS)
    sandbox.host.storage[(KV_ADDRESS, b"k")] = b"initial"
    return sandbox


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(METHODS), data=st.binary(max_size=64), gas=st.integers(1, 3_000_000))
def test_same_module_input_and_gas_give_the_identical_outcome(method: str, data: bytes, gas: int) -> None:
    first, second = fresh(), fresh()
    assert first.call(KV_ADDRESS, method, data, gas=gas) == second.call(KV_ADDRESS, method, data, gas=gas)
    assert first.host.storage == second.host.storage


@settings(max_examples=30, deadline=None)
@given(small=st.integers(1, 5_000), extra=st.integers(1, 5_000))
def test_gas_used_grows_with_loop_count(small: int, extra: int) -> None:
    sandbox = fresh()
    fewer = sandbox.call(KV_ADDRESS, "work", small.to_bytes(4, "little"))
    more = sandbox.call(KV_ADDRESS, "work", (small + extra).to_bytes(4, "little"))
    assert fewer.ok and more.ok
    assert more.gas_used > fewer.gas_used


BOTH_WAYS_AT_LEAST = 5
"""Examples of each kind the property below must meet: calls that ran out of gas and calls that finished.

A put needs about 165,000 gas, so the limits drawn fall on both sides of it; the test counts them, so
that it cannot pass by checking only one side (with these settings: 72 out of gas, 8 finished).
"""


def test_running_out_of_gas_at_any_limit_leaves_storage_unchanged() -> None:
    seen = {"out_of_gas": 0, "ok": 0}

    @settings(max_examples=80, deadline=None, derandomize=True, database=None)
    @given(gas=st.integers(1, 400_000), data=st.binary(min_size=1, max_size=32))
    def put_with_a_limit(gas: int, data: bytes) -> None:
        sandbox = fresh()
        before = dict(sandbox.host.storage)
        outcome = sandbox.call(KV_ADDRESS, "put", data, gas=gas)
        if outcome.status == "out_of_gas":
            assert outcome.gas_used == gas
            assert sandbox.host.storage == before
            assert outcome.events == () and outcome.return_data == b""
        else:
            assert outcome.status == "ok" and outcome.gas_used <= gas
            assert sandbox.storage(KV_ADDRESS) == {b"k": data}
        seen[outcome.status] += 1

    put_with_a_limit()
    assert min(seen.values()) >= BOTH_WAYS_AT_LEAST, seen
