"""Gas profiles (vm/profile.py, vm/profiling.py): the profiled run is the plain run, and its gas adds up exactly."""

from __future__ import annotations

import copy
import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import ALICE, BOB, CONTRACTS, Sandbox, contract_address, wat
from wasmchain.vm import Message, Outcome, Runtime, abi
from wasmchain.vm.profile import Profile, profile_to_json
from wasmchain.vm.trace import Tracer

TOKEN = contract_address(1)
VAULT = contract_address(2)
TRAPS = contract_address(3)
CAROL = bytes.fromhex("ca" * 20)

# A contract with a name section: `work` calls a helper in a loop, `boom` divides by zero in a named function.
NAMED = wat("""
(module
  (import "wasmchain" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func $divide (param i32) (result i32) (i32.div_u (i32.const 100) (local.get 0)))
  (func $work (export "work") (local $i i32) (local $sum i32)
    (loop $more
      (local.set $sum (i32.add (local.get $sum) (call $square (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 50))))
    (i32.store (i32.const 0) (local.get $sum))
    (call $storage_write (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4)))
  (func $boom (export "boom") (drop (call $divide (i32.const 0))))
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "fill") (memory.fill (i32.const 0) (i32.const 1) (i32.const 60000)))
)
""")


def args(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)


@pytest.fixture(scope="module")
def chain() -> Sandbox:
    sandbox = Sandbox()
    sandbox.deploy((CONTRACTS / "token" / "token.wasm").read_bytes(), TOKEN)
    sandbox.deploy((CONTRACTS / "vault" / "vault.wasm").read_bytes(), VAULT)
    sandbox.deploy(NAMED, TRAPS)
    assert sandbox.call(TOKEN, "init", args(supply=1_000_000), caller=ALICE).ok
    assert sandbox.call(VAULT, "init", args(token=TOKEN), caller=ALICE).ok
    assert sandbox.call(TOKEN, "transfer", args(to=VAULT, amount=100), caller=ALICE).ok
    return sandbox


def profiled(
    chain: Sandbox, contract: bytes, method: str, input: bytes = b"", gas: int = 10**9, caller: bytes = ALICE
) -> tuple[Outcome, Tracer]:
    """Run the call plain and profiled, on both runtimes, against copies of the state: same outcome, same state.

    Returns the outcome and the fast runtime's profiling tracer, checked to add up.
    """
    message = Message(caller=caller, contract=contract, method=method, input=input, gas_limit=gas)
    found = []
    for runtime in (chain.runtime, chain.plain):
        plain_host, profiled_host = copy.deepcopy(chain.host), copy.deepcopy(chain.host)
        plain = runtime.execute(plain_host, chain.env, message)
        tracer = Tracer(profile=True)
        outcome = runtime.execute(profiled_host, chain.env, message, tracer=tracer)
        assert outcome == plain, f"profiling changed the outcome: {outcome} against {plain}"
        assert (profiled_host.storage, profiled_host.balances) == (plain_host.storage, plain_host.balances)
        check_adds_up(tracer)
        found.append(tracer)
    assert profile_to_json(found[0]) == profile_to_json(found[1])
    return outcome, found[0]


def check_adds_up(tracer: Tracer) -> None:
    profile = tracer.profile
    assert isinstance(profile, Profile)
    root = tracer.root
    assert profile.gas == (root.gas_used if root is not None else 0)
    ran = [frame for frame in root.walk() if frame.ran] if root is not None else []
    assert [item.frame for item in profile.frames] == ran
    for item in profile.frames:
        stacks = item.profile.stacks()
        assert sum(gas for _, gas in stacks) == item.frame.gas_self == item.profile.gas_self
        assert all(gas > 0 for _, gas in stacks)
    assert sum(item.profile.gas_self for item in profile.frames) == profile.gas


def test_a_token_transfer_profile_adds_up_and_names_the_frame(chain: Sandbox) -> None:
    outcome, tracer = profiled(chain, TOKEN, "transfer", args(to=BOB, amount=7))
    assert outcome.ok and outcome.events
    answer = profile_to_json(tracer)
    json.dumps(answer)
    assert answer["gas"] == outcome.gas_used
    (frame,) = answer["frames"]
    assert (frame["path"], frame["method"], frame["caller_stack"]) == ([], "transfer", [])
    assert frame["code_hash"] == "0x" + chain.host.contracts[TOKEN].hex()
    assert (
        sum(row["self"] for row in frame["functions"])
        + sum(item["gas"] for item in frame["stacks"] if not item["stack"])
        == frame["gas_self"]
    )
    gas = chain.params.gas  # instantiate, and the ABI 2 io area (charged with it): the record, the length, the input
    io_area = gas.host_call + gas.copy_byte * (abi.IO_INPUT_OFFSET + len(args(to=BOB, amount=7)))
    assert [item["gas"] for item in frame["stacks"] if item["stack"] == []] == [gas.instantiate + io_area]
    assert all(row["name"] is None for row in frame["functions"])  # the example is stripped


def test_a_failing_transfer_profile_adds_up(chain: Sandbox) -> None:
    outcome, _ = profiled(chain, TOKEN, "transfer", args(to=ALICE, amount=8), caller=CAROL)
    assert outcome.status == "abort"


def test_a_nested_call_profiles_under_the_callers_stack(chain: Sandbox) -> None:
    outcome, tracer = profiled(chain, VAULT, "withdraw", args(to=BOB, amount=5))
    assert outcome.ok
    vault, token = profile_to_json(tracer)["frames"]
    assert (vault["path"], token["path"], token["method"]) == ([], [0], "transfer")
    assert token["caller_stack"] and token["caller_stack"][0] == vault["stacks"][1]["stack"][0]
    assert vault["gas_self"] + token["gas_self"] == outcome.gas_used


@pytest.mark.parametrize("method", ["boom", "spin", "fill"])
def test_traps_and_running_out_are_the_same_halts(chain: Sandbox, method: str) -> None:
    outcome, tracer = profiled(chain, TRAPS, method, gas=150_000)
    assert outcome.status == ("trap" if method == "boom" else "out_of_gas")
    if method == "boom":
        assert "in divide at offset" in (outcome.error or "")
        (frame,) = profile_to_json(tracer)["frames"]
        assert frame["functions"][0]["name"] == "divide"  # what was left went to the function on top


def test_names_come_from_the_name_section(chain: Sandbox) -> None:
    _, tracer = profiled(chain, TRAPS, "work")
    (frame,) = profile_to_json(tracer)["frames"]
    rows = {row["name"]: row for row in frame["functions"]}
    assert rows["square"]["calls"] == 50 and rows["work"]["calls"] == 1
    assert rows["work"]["total"] == frame["gas_self"] - 100_000


def test_every_gas_limit_near_the_edges_gives_the_plain_outcome(chain: Sandbox) -> None:
    # Around instantiation, function entries and the loop's checks, fuel runs out at every possible place.
    for gas in range(100_000, 100_400):
        profiled(chain, TRAPS, "work", gas=gas)
    for gas in range(100_000, 100_200, 3):
        profiled(chain, TOKEN, "transfer", args(to=BOB, amount=1), gas=gas)
    for gas in range(160_010, 160_030):
        profiled(chain, TRAPS, "fill", gas=gas)


def test_a_refused_call_has_an_empty_profile(chain: Sandbox) -> None:
    outcome, tracer = profiled(chain, TOKEN, "no_such_method")
    assert outcome.status == "invalid"
    assert profile_to_json(tracer) == {"gas": 0, "frames": []}


def test_without_profile_the_tracer_has_none(chain: Sandbox) -> None:
    tracer = Tracer()
    chain.runtime.execute(copy.deepcopy(chain.host), chain.env, Message(ALICE, TOKEN, "total_supply", b"", 10**7))
    assert tracer.profile is None
    with pytest.raises(ValueError, match="profile=True"):
        profile_to_json(tracer)


def test_the_profiling_variant_is_cached_apart_from_the_consensus_cache(chain: Sandbox) -> None:
    runtime = Runtime(chain.params)
    compiled = runtime.compile((CONTRACTS / "token" / "token.wasm").read_bytes())
    variant = runtime._profiling_variant(compiled)
    assert variant is runtime._profiling_variant(compiled) and variant.hooks is not None
    assert runtime.compile((CONTRACTS / "token" / "token.wasm").read_bytes()) is compiled and compiled.hooks is None


CALLS = st.one_of(
    st.tuples(
        st.just(TOKEN),
        st.just("transfer"),
        st.fixed_dictionaries({"to": st.sampled_from([BOB, CAROL, VAULT]), "amount": st.integers(0, 2_000_000)}),
    ),
    st.tuples(st.just(TOKEN), st.just("balance_of"), st.fixed_dictionaries({"owner": st.sampled_from([ALICE, BOB])})),
    st.tuples(
        st.just(VAULT),
        st.sampled_from(["withdraw", "balance"]),
        st.fixed_dictionaries({"to": st.sampled_from([BOB, CAROL]), "amount": st.integers(0, 300)}),
    ),
    st.tuples(st.just(TRAPS), st.sampled_from(["work", "boom", "spin", "fill"]), st.just({})),
)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(call=CALLS, gas=st.one_of(st.integers(1, 600_000), st.just(10**8)), caller=st.sampled_from([ALICE, BOB]))
def test_any_call_profiles_to_its_own_gas(
    chain: Sandbox, call: tuple[bytes, str, dict], gas: int, caller: bytes
) -> None:
    contract, method, values = call
    profiled(chain, contract, method, args(**values) if values else b"", gas=gas, caller=caller)
