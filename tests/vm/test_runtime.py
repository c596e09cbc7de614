"""The runtime against contracts written by hand in WAT: host functions, gas, halts, nested calls."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.helpers import ALICE, BOB, Sandbox, contract_address, devnet_params, wat
from wasmchain.vm import abi
from wasmchain.vm import engine as engine_module

IMPORTS = """
  (import "wasmchain" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "wasmchain" "return_set" (func $return_set (param i32 i32)))
  (import "wasmchain" "abort" (func $abort (param i32 i32)))
  (import "wasmchain" "storage_read" (func $storage_read (param i32 i32 i32 i32) (result i64)))
  (import "wasmchain" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "wasmchain" "storage_remove" (func $storage_remove (param i32 i32) (result i32)))
  (import "wasmchain" "storage_has" (func $storage_has (param i32 i32) (result i32)))
  (import "wasmchain" "event_emit" (func $event_emit (param i32 i32 i32 i32)))
  (import "wasmchain" "env_read" (func $env_read (param i32)))
  (import "wasmchain" "sha256" (func $sha256 (param i32 i32 i32)))
  (import "wasmchain" "ed25519_verify" (func $ed25519_verify (param i32 i32 i32 i32) (result i32)))
  (import "wasmchain" "call" (func $call (param i32 i32 i32 i32 i32 i32 i64) (result i32)))
  (import "wasmchain" "call_result_read" (func $call_result_read (param i32 i32) (result i32)))
  (import "wasmchain" "transfer" (func $transfer (param i32 i32) (result i32)))
  (memory (export "memory") 1)
"""


def module(body: str) -> bytes:
    return wat(f"(module {IMPORTS} {body})")


# A key-value contract: `put` stores its input under key "k" and echoes it,
# `get` returns the value, `put_then_loop` writes and then never ends,
# `put_then_trap` writes, works, then divides by zero, `put_then_abort`
# writes and aborts with a message.
KV = module("""
  (data (i32.const 0) "k")
  (data (i32.const 16) "nope: refused")
  (func $put (export "put")
    (local $n i32)
    (local.set $n (call $input_read (i32.const 1024) (i32.const 4096)))
    (call $storage_write (i32.const 0) (i32.const 1) (i32.const 1024) (local.get $n))
    (call $event_emit (i32.const 0) (i32.const 1) (i32.const 1024) (local.get $n))
    (call $return_set (i32.const 1024) (local.get $n)))
  (func (export "get")
    (local $n i64)
    (local.set $n (call $storage_read (i32.const 0) (i32.const 1) (i32.const 1024) (i32.const 4096)))
    (if (i64.ge_s (local.get $n) (i64.const 0))
      (then (call $return_set (i32.const 1024) (i32.wrap_i64 (local.get $n))))))
  (func (export "put_then_loop") (call $put) (loop $l (br $l)))
  (func (export "put_then_trap") (local $i i32)
    (call $put)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
             (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
    (drop (i32.div_u (i32.const 1) (i32.const 0))))
  (func (export "put_then_abort") (call $put) (call $abort (i32.const 16) (i32.const 13)))
  (func (export "work") (local $i i32) (local $n i32)
    (local.set $n (i32.load (i32.const 1024)))
    (drop (call $input_read (i32.const 1024) (i32.const 8)))
    (local.set $n (i32.load (i32.const 1024)))
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
             (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
""")

KV_ADDRESS = contract_address(1)


@pytest.fixture
def kv() -> Sandbox:
    sandbox = Sandbox()
    sandbox.deploy(KV, KV_ADDRESS)
    return sandbox


def test_a_call_writes_storage_returns_data_and_emits_events(kv: Sandbox) -> None:
    outcome = kv.call(KV_ADDRESS, "put", b"hello")
    assert outcome.status == "ok", outcome.error
    assert outcome.return_data == b"hello"
    assert kv.storage(KV_ADDRESS) == {b"k": b"hello"}
    assert [(e.contract, e.name, e.data) for e in outcome.events] == [(KV_ADDRESS, "k", b"hello")]
    assert kv.call(KV_ADDRESS, "get").return_data == b"hello"


def test_gas_is_exact_and_repeatable(kv: Sandbox) -> None:
    first = kv.call(KV_ADDRESS, "put", b"hello")
    again = Sandbox()
    again.deploy(KV, KV_ADDRESS)
    second = again.call(KV_ADDRESS, "put", b"hello")
    assert first == second
    gas = kv.params.gas
    # put makes four host calls; their listed costs are part of what it uses.
    host_costs = (
        4 * gas.host_call
        + gas.copy_byte * 5  # input copied in
        + gas.storage_write_base
        + gas.storage_write_byte * 6
        + gas.event_base
        + gas.event_byte * 6
        + gas.copy_byte * 5  # return data copied out
    )
    assert first.gas_used > gas.instantiate + host_costs
    assert first.gas_used < gas.instantiate + host_costs + 200  # plus a few dozen wasm instructions


def test_infinite_loop_runs_out_of_gas_charges_exactly_the_limit_and_reverts(kv: Sandbox) -> None:
    outcome = kv.call(KV_ADDRESS, "put_then_loop", b"x", gas=2_000_000)
    assert outcome.status == "out_of_gas"
    assert outcome.gas_used == 2_000_000
    assert outcome.events == ()
    assert kv.storage(KV_ADDRESS) == {}


def test_a_trap_charges_the_whole_limit_and_reverts(kv: Sandbox) -> None:
    outcome = kv.call(KV_ADDRESS, "put_then_trap", b"x", gas=5_000_000)
    assert outcome.status == "trap"
    assert "integer divide by zero" in (outcome.error or "")
    assert outcome.gas_used == 5_000_000
    assert kv.storage(KV_ADDRESS) == {}


def test_an_abort_reports_its_message_charges_gas_used_and_reverts(kv: Sandbox) -> None:
    outcome = kv.call(KV_ADDRESS, "put_then_abort", b"x", gas=5_000_000)
    assert outcome.status == "abort"
    assert outcome.error == "nope: refused"
    put_gas = Sandbox()
    put_gas.deploy(KV, KV_ADDRESS)
    assert put_gas.call(KV_ADDRESS, "put", b"x").gas_used < outcome.gas_used < 5_000_000
    assert kv.storage(KV_ADDRESS) == {}


def test_host_function_charges_before_it_writes(kv: Sandbox) -> None:
    gas = kv.params.gas
    # Enough for instantiation and input_read but not for storage_write.
    limit = gas.instantiate + gas.host_call + gas.copy_byte * 5 + 50
    outcome = kv.call(KV_ADDRESS, "put", b"hello", gas=limit)
    assert outcome.status == "out_of_gas"
    assert outcome.gas_used == limit
    assert kv.storage(KV_ADDRESS) == {}


def test_gas_limit_below_instantiation_cost_is_out_of_gas(kv: Sandbox) -> None:
    outcome = kv.call(KV_ADDRESS, "get", gas=10)
    assert (outcome.status, outcome.gas_used) == ("out_of_gas", 10)


def test_unknown_method_and_unknown_contract_are_invalid_and_free(kv: Sandbox) -> None:
    missing = kv.call(KV_ADDRESS, "nope")
    assert (missing.status, missing.gas_used) == ("invalid", 0)
    assert 'no method "nope"' in (missing.error or "") and "put" in (missing.error or "")
    nowhere = kv.call(contract_address(99), "get")
    assert nowhere.status == "invalid" and "no contract" in (nowhere.error or "")


STRAIGHT_LINE = module('(func (export "run") ' + " ".join(["(drop (i32.add (i32.const 1) (i32.const 2)))"] * 300) + ")")


def test_straight_line_code_that_overshoots_the_limit_is_out_of_gas() -> None:
    # Fuel is only checked at function entry and loop heads, so wasmtime lets
    # this body finish; the runtime must still call it out of gas.
    sandbox = Sandbox()
    address = sandbox.deploy(STRAIGHT_LINE, contract_address(2))
    full = sandbox.call(address, "run")
    assert full.status == "ok"
    for limit in (full.gas_used - 1, full.gas_used - 100, sandbox.params.gas.instantiate + 5):
        outcome = sandbox.call(address, "run", gas=limit)
        assert (outcome.status, outcome.gas_used) == ("out_of_gas", limit)
    exact = sandbox.call(address, "run", gas=full.gas_used)
    assert (exact.status, exact.gas_used) == ("ok", full.gas_used)


GROW = module("""
  (func (export "grow") (local $r i32)
    (i32.store (i32.const 0) (memory.grow (i32.load (i32.const 8))))
    (drop (call $input_read (i32.const 8) (i32.const 4)))
    (i32.store (i32.const 0) (memory.grow (i32.load (i32.const 8))))
    (call $return_set (i32.const 0) (i32.const 4)))
""")


@pytest.mark.parametrize(("pages", "expected"), [(1, 1), (63, 1), (64, -1), (1000, -1), (-1, -1)])
def test_memory_grow_past_the_cap_returns_minus_one(pages: int, expected: int) -> None:
    sandbox = Sandbox(devnet_params(max_memory_pages=64))
    address = sandbox.deploy(GROW, contract_address(3))
    outcome = sandbox.call(address, "grow", pages.to_bytes(4, "little", signed=True))
    assert outcome.status == "ok", outcome.error
    assert int.from_bytes(outcome.return_data, "little", signed=True) == expected


BAD_POINTERS = module("""
  (func (export "write_past_end")
    (call $storage_write (i32.const 0) (i32.const 1) (i32.const 65530) (i32.const 100)))
  (func (export "huge_length")
    (call $storage_write (i32.const 0) (i32.const 1) (i32.const 0) (i32.const -1)))
  (func (export "negative_pointer")
    (drop (call $input_read (i32.const -16) (i32.const 64))))
  (func (export "return_too_big")
    (call $return_set (i32.const 0) (i32.const 0x7fffffff)))
  (func (export "env_at_end") (call $env_read (i32.const 65500)))
  (func (export "hash_to_nowhere") (call $sha256 (i32.const 0) (i32.const 4) (i32.const 70000)))
  (func (export "long_method_name")
    (drop (call $call (i32.const 0) (i32.const 0) (i32.const 300) (i32.const 0) (i32.const 0)
                      (i32.const 0) (i64.const 0))))
  (func (export "negative_call_gas")
    (drop (call $call (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 0)
                      (i32.const 0) (i64.const -5))))
  (func (export "bad_event_name")
    (i32.store (i32.const 0) (i32.const 0xfffefdfc))
    (call $event_emit (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0)))
""")


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("write_past_end", "bad pointer: storage value range [65530, 65630)"),
        ("huge_length", "storage value of 4294967295 bytes is over max_value_size"),
        ("negative_pointer", "bad pointer: input_read buffer"),
        ("return_too_big", "return data of 2147483647 bytes is over max_return_size"),
        ("env_at_end", "bad pointer: env_read buffer"),
        ("hash_to_nowhere", "bad pointer: sha256 output"),
        ("long_method_name", "call method name of 300 bytes is over 256"),
        ("negative_call_gas", "call gas must be non-negative, found -5"),
        ("bad_event_name", "event name is not UTF-8"),
    ],
)
def test_bad_pointers_trap_with_a_clear_error(method: str, expected: str) -> None:
    sandbox = Sandbox()
    address = sandbox.deploy(BAD_POINTERS, contract_address(4))
    outcome = sandbox.call(address, method, b"x" * 32, gas=3_000_000)
    assert outcome.status == "trap"
    assert expected in (outcome.error or "")
    assert outcome.gas_used == 3_000_000


ENV_AND_CRYPTO = module("""
  (func (export "env") (call $env_read (i32.const 0)) (call $return_set (i32.const 0) (i32.const 112)))
  (func (export "hash") (local $n i32)
    (local.set $n (call $input_read (i32.const 1024) (i32.const 4096)))
    (call $sha256 (i32.const 1024) (local.get $n) (i32.const 0))
    (call $return_set (i32.const 0) (i32.const 32)))
  ;; input: signature (64) | public key (32) | message
  (func (export "verify") (local $n i32)
    (local.set $n (call $input_read (i32.const 1024) (i32.const 4096)))
    (i32.store (i32.const 0)
      (call $ed25519_verify (i32.const 1024) (i32.const 1088) (i32.const 1120) (i32.sub (local.get $n) (i32.const 96))))
    (call $return_set (i32.const 0) (i32.const 4)))
""")


def test_env_record_layout() -> None:
    sandbox = Sandbox()
    address = sandbox.deploy(ENV_AND_CRYPTO, contract_address(5))
    sandbox.host.balances[ALICE] = 1000
    outcome = sandbox.call(address, "env", value=250, origin=BOB)
    assert outcome.status == "ok", outcome.error
    record = outcome.return_data
    assert len(record) == abi.ENV_SIZE
    assert record[0:20] == ALICE
    assert record[20:40] == address
    assert record[40:60] == BOB
    assert record[60:64] == bytes(4)
    assert int.from_bytes(record[64:72], "little") == 7
    assert int.from_bytes(record[72:80], "little") == 1_700_000_000
    assert int.from_bytes(record[80:96], "little") == 250
    assert int.from_bytes(record[96:112], "little") == 250
    assert sandbox.host.balances[ALICE] == 750


def test_sha256_and_ed25519_verify_match_python() -> None:
    sandbox = Sandbox()
    address = sandbox.deploy(ENV_AND_CRYPTO, contract_address(5))
    assert sandbox.call(address, "hash", b"abc").return_data == hashlib.sha256(b"abc").digest()
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = key.public_key().public_bytes_raw()
    signature = key.sign(b"message")
    good = sandbox.call(address, "verify", signature + public + b"message")
    bad = sandbox.call(address, "verify", signature + public + b"messagE")
    not_a_key = sandbox.call(address, "verify", signature + b"\xff" * 32 + b"message")
    assert [int.from_bytes(o.return_data, "little") for o in (good, bad, not_a_key)] == [1, 0, 0]


FLOATS = """
(module (memory (export "memory") 1)
  (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0)))
  (func (export "nan64") (result f64) (f64.div (f64.const 0) (f64.const 0)))
  (func (export "nan_bits") (result i32) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
  (func (export "snan") (result f32) (f32.const nan:0x200000))
  (func (export "pair") (result i32 f64) (i32.const -1) (f64.const 1.5)))
"""


def test_float_results_are_canonical_nan_bit_patterns() -> None:
    params = devnet_params(allow_floats=True)
    sandbox = Sandbox(params)
    compiled = sandbox.runtime.compile(wat(FLOATS))
    results = {
        name: sandbox.runtime.invoke_plain(compiled, name, 10**6)[1]
        for name in ("nan", "nan64", "nan_bits", "snan", "pair")
    }
    assert results["nan"] == [{"type": "f32", "bits": "0x7fc00000"}]
    assert results["nan64"] == [{"type": "f64", "bits": "0x7ff8000000000000"}]
    assert results["nan_bits"] == [{"type": "i32", "bits": "0x7fc00000"}]
    # A constant is not an arithmetic result: its signalling payload survives, bit for bit.
    assert results["snan"] == [{"type": "f32", "bits": "0x7fa00000"}]
    assert results["pair"] == [{"type": "i32", "bits": "0xffffffff"}, {"type": "f64", "bits": "0x3ff8000000000000"}]


# -- nested calls ----------------------------------------------------------------

# The caller reads its input: target address (20) | gas (8) | value (16) |
# method name (rest); calls it with input "arg"; returns status (4) | result.
CALLER = module("""
  (data (i32.const 200) "arg")
  (data (i32.const 300) "before")
  (func (export "relay") (local $n i32) (local $status i32) (local $len i32)
    (local.set $n (call $input_read (i32.const 0) (i32.const 200)))
    (call $storage_write (i32.const 300) (i32.const 6) (i32.const 300) (i32.const 6))
    (local.set $status
      (call $call (i32.const 0) (i32.const 44) (i32.sub (local.get $n) (i32.const 44))
                  (i32.const 200) (i32.const 3) (i32.const 28) (i64.load (i32.const 20))))
    (i32.store (i32.const 1020) (local.get $status))
    (local.set $len (call $call_result_read (i32.const 1024) (i32.const 4096)))
    (call $return_set (i32.const 1020) (i32.add (local.get $len) (i32.const 4))))
""")

CALLER_ADDRESS = contract_address(10)


def relay_input(target: bytes, method: str, gas: int = 0, value: int = 0) -> bytes:
    return target + gas.to_bytes(8, "little") + value.to_bytes(16, "little") + method.encode()


def status_and_result(data: bytes) -> tuple[int, bytes]:
    return int.from_bytes(data[:4], "little"), data[4:]


@pytest.fixture
def nested() -> Sandbox:
    sandbox = Sandbox()
    sandbox.deploy(CALLER, CALLER_ADDRESS)
    sandbox.deploy(KV, KV_ADDRESS)
    return sandbox


def test_nested_call_success_keeps_callee_changes_and_events(nested: Sandbox) -> None:
    outcome = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put"))
    assert outcome.status == "ok", outcome.error
    assert status_and_result(outcome.return_data) == (abi.CALL_OK, b"arg")
    assert nested.storage(KV_ADDRESS) == {b"k": b"arg"}
    assert [(e.contract, e.data) for e in outcome.events] == [(KV_ADDRESS, b"arg")]


def test_nested_abort_rolls_back_the_callee_only(nested: Sandbox) -> None:
    outcome = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put_then_abort"))
    assert outcome.status == "ok", outcome.error
    assert status_and_result(outcome.return_data) == (abi.CALL_ABORTED, b"nope: refused")
    assert nested.storage(KV_ADDRESS) == {}
    assert nested.storage(CALLER_ADDRESS) == {b"before": b"before"}
    assert outcome.events == ()


def test_nested_out_of_gas_charges_the_carved_budget_and_the_caller_goes_on(nested: Sandbox) -> None:
    outcome = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put_then_loop", gas=500_000))
    assert outcome.status == "ok", outcome.error
    code, message = status_and_result(outcome.return_data)
    assert code == abi.CALL_OUT_OF_GAS and b"out of gas" in message
    assert nested.storage(KV_ADDRESS) == {}
    # The caller paid the callee's whole budget, and not everything it had.
    assert 500_000 < outcome.gas_used < 1_500_000


def test_a_callee_given_all_the_gas_leaves_the_caller_a_64th(nested: Sandbox) -> None:
    limit = 6_400_000
    outcome = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put_then_loop", gas=0), gas=limit)
    assert outcome.status == "ok", outcome.error
    assert status_and_result(outcome.return_data)[0] == abi.CALL_OUT_OF_GAS
    # The callee burnt 63/64 of what was left; the caller finished on the rest.
    assert limit * 63 // 64 - 300_000 < outcome.gas_used < limit


def test_nested_trap_and_missing_targets(nested: Sandbox) -> None:
    trap = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put_then_trap", gas=800_000))
    assert status_and_result(trap.return_data)[0] == abi.CALL_TRAPPED
    no_method = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "missing"))
    assert status_and_result(no_method.return_data)[0] == abi.CALL_NOT_FOUND
    no_contract = nested.call(CALLER_ADDRESS, "relay", relay_input(contract_address(77), "put"))
    assert status_and_result(no_contract.return_data)[0] == abi.CALL_NOT_FOUND


def test_reentry_is_refused(nested: Sandbox) -> None:
    # The caller calls itself: the contract is on the stack already.
    outcome = nested.call(CALLER_ADDRESS, "relay", relay_input(CALLER_ADDRESS, "relay"))
    code, message = status_and_result(outcome.return_data)
    assert code == abi.CALL_REENTRANCY and b"re-entry is refused" in message


def test_attached_value_moves_and_comes_back_when_the_callee_fails(nested: Sandbox) -> None:
    nested.host.balances[CALLER_ADDRESS] = 100
    ok = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put", value=30))
    assert status_and_result(ok.return_data)[0] == abi.CALL_OK
    assert (nested.host.balance(CALLER_ADDRESS), nested.host.balance(KV_ADDRESS)) == (70, 30)
    failed = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put_then_abort", value=30))
    assert status_and_result(failed.return_data)[0] == abi.CALL_ABORTED
    assert (nested.host.balance(CALLER_ADDRESS), nested.host.balance(KV_ADDRESS)) == (70, 30)
    short = nested.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "put", value=71))
    assert status_and_result(short.return_data)[0] == abi.CALL_INSUFFICIENT_BALANCE
    assert (nested.host.balance(CALLER_ADDRESS), nested.host.balance(KV_ADDRESS)) == (70, 30)


# A chain of relays: each forwards to the next address in its input.
CHAIN_LINK = module("""
  (func (export "next") (local $n i32)
    (local.set $n (call $input_read (i32.const 0) (i32.const 4096)))
    (if (i32.lt_u (local.get $n) (i32.const 20)) (then (return)))
    (i32.store (i32.const 8000)
      (call $call (i32.const 0) (i32.const 7000) (i32.const 4) (i32.const 20)
                  (i32.sub (local.get $n) (i32.const 20)) (i32.const 7100) (i64.const 0)))
    (if (i32.ne (i32.load (i32.const 8000)) (i32.const 0))
      (then (call $return_set (i32.const 8000) (i32.const 4)) (return)))
    (drop (call $call_result_read (i32.const 8000) (i32.const 4)))
    (call $return_set (i32.const 8000) (i32.const 4)))
  (data (i32.const 7000) "next")
""")


def test_call_depth_limit() -> None:
    sandbox = Sandbox(devnet_params(max_call_depth=4))
    links = [sandbox.deploy(CHAIN_LINK, contract_address(100 + i)) for i in range(6)]
    within = sandbox.call(links[0], "next", b"".join(links[1:4]))
    assert within.status == "ok"
    assert int.from_bytes(within.return_data, "little") == abi.CALL_OK
    too_deep = sandbox.call(links[0], "next", b"".join(links[1:5]))
    assert too_deep.status == "ok"
    assert int.from_bytes(too_deep.return_data, "little") == abi.CALL_TOO_DEEP


# -- the deterministic stack limit --------------------------------------------------

RECURSE = module("""
  (func $down (param $n i32)
    (if (local.get $n) (then (call $down (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "deep")
    (drop (call $input_read (i32.const 0) (i32.const 4)))
    (call $down (i32.load (i32.const 0))))
""")


def _deepest(max_wasm_stack: int) -> tuple[int, tuple[str, int, str]]:
    """The deepest recursion that succeeds, and the outcome one level deeper."""
    original = engine_module.MAX_WASM_STACK
    engine_module.MAX_WASM_STACK = max_wasm_stack
    engine_module.engine.cache_clear()
    try:
        sandbox = Sandbox()
        address = sandbox.deploy(RECURSE, contract_address(20))

        def run(depth: int) -> tuple[str, int, str]:
            outcome = sandbox.call(address, "deep", depth.to_bytes(4, "little"), gas=10**10)
            return outcome.status, outcome.gas_used, outcome.error or ""

        low, high = 0, 1 << 20
        assert run(high)[0] == "trap"
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if run(middle)[0] == "ok" else (low, middle)
        return low, run(high)
    finally:
        engine_module.MAX_WASM_STACK = original
        engine_module.engine.cache_clear()


def test_deep_recursion_stops_at_the_same_depth_whatever_the_native_stack() -> None:
    results = {size: _deepest(size) for size in (512 * 1024, 1 << 20, 2 << 20)}
    assert len(set(results.values())) == 1, results
    depth, (status, gas_used, error) = results[1 << 20]
    assert status == "trap" and gas_used == 10**10
    assert "call stack exhausted" in error
    # The limit is in stack units, far below what the native stack allows.
    assert 100 < depth < devnet_params().limits.max_stack_units
