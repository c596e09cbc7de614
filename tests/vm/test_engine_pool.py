"""The engine's instance pool (vm/engine.py): slots come back at once, running out is the node's fault
(never a receipt), and genesis limits above the pool's slots are refused."""

from __future__ import annotations

import gc
import json

import pytest
import wasmtime

from tests.helpers import ALICE, GENESIS, Sandbox, contract_address, devnet_params
from tests.vm.test_runtime import CHAIN_LINK, KV
from wasmchain.vm import InvalidParams, Message, VMParams, abi
from wasmchain.vm.engine import POOL_INSTANCES, engine
from wasmchain.vm.errors import HostFault
from wasmchain.vm.params import (
    ENGINE_MAX_CALL_DEPTH,
    ENGINE_MAX_FUNCTIONS,
    ENGINE_MAX_GLOBALS,
    ENGINE_MAX_IMPORTS,
    ENGINE_MAX_INITIAL_MEMORY_PAGES,
    ENGINE_MAX_MEMORY_PAGES,
    ENGINE_MAX_TABLE_SIZE,
)

SMALL = wasmtime.wat2wasm('(module (memory 1) (func (export "f")))')


def test_every_frame_gives_its_slot_back_when_it_returns() -> None:
    sandbox = Sandbox(devnet_params(max_call_depth=ENGINE_MAX_CALL_DEPTH))
    address = sandbox.deploy(KV, contract_address(1))
    gc.disable()  # nothing may wait for the collector: each store is closed as its frame returns
    try:
        for index in range(POOL_INSTANCES + 50):  # twice that many instances: Sandbox runs each call twice
            assert sandbox.call(address, "put", index.to_bytes(4, "little")).ok
    finally:
        gc.enable()


def test_an_exhausted_pool_is_a_fault_of_the_node_not_a_receipt() -> None:
    sandbox = Sandbox()
    address = sandbox.deploy(KV, contract_address(1))
    module = wasmtime.Module(engine(), SMALL)
    held = []
    try:
        with pytest.raises(wasmtime.WasmtimeError, match="maximum concurrent limit"):
            while True:
                store = wasmtime.Store(engine())
                held.append((store, wasmtime.Instance(store, module, [])))
        assert len(held) <= POOL_INSTANCES
        with pytest.raises(HostFault, match="instance pool is exhausted"):
            sandbox.runtime.execute(sandbox.host, sandbox.env, _put(address))
        assert sandbox.storage(address) == {}
    finally:
        held.clear()
    assert sandbox.call(address, "put", b"after").ok


def _put(address: bytes) -> Message:
    return Message(caller=ALICE, contract=address, method="put", input=b"x", gas_limit=10**9)


def test_a_call_tree_as_deep_as_the_ceiling_fits_in_the_pool() -> None:
    # Stack units: 1,024 per nested call (CROSS_CALL_STACK_UNITS), more than the devnet allows 64 of.
    sandbox = Sandbox(devnet_params(max_call_depth=ENGINE_MAX_CALL_DEPTH, max_stack_units=1 << 20))
    links = [sandbox.deploy(CHAIN_LINK, contract_address(100 + i)) for i in range(ENGINE_MAX_CALL_DEPTH)]
    deepest = sandbox.call(links[0], "next", b"".join(links[1:]), gas=10**12)
    assert deepest.status == "ok", deepest.error
    assert int.from_bytes(deepest.return_data, "little") == abi.CALL_OK


@pytest.mark.parametrize(
    "name, ceiling",
    [
        ("max_memory_pages", ENGINE_MAX_MEMORY_PAGES),
        ("max_initial_memory_pages", ENGINE_MAX_INITIAL_MEMORY_PAGES),
        ("max_table_size", ENGINE_MAX_TABLE_SIZE),
        ("max_functions", ENGINE_MAX_FUNCTIONS),
        ("max_globals", ENGINE_MAX_GLOBALS),
        ("max_imports", ENGINE_MAX_IMPORTS),
        ("max_call_depth", ENGINE_MAX_CALL_DEPTH),
    ],
)
def test_genesis_limits_above_the_pool_slots_are_refused(name: str, ceiling: int) -> None:
    section = json.loads(GENESIS.read_text())["vm"]
    section["limits"][name] = ceiling
    assert getattr(VMParams.from_dict(section).limits, name) == ceiling
    section["limits"][name] = ceiling + 1
    with pytest.raises(
        InvalidParams, match=f"vm.limits.{name}: at most {ceiling} .the engine's instance pool., found {ceiling + 1}"
    ):
        VMParams.from_dict(section)


def test_a_memory_grows_to_the_genesis_cap_inside_its_slot() -> None:
    grow = wasmtime.wat2wasm(f"""(module
      (import "wasmchain" "return_set" (func $return_set (param i32 i32)))
      (memory (export "memory") 1)
      (func (export "grow")
        (i32.store (i32.const 0) (memory.grow (i32.const {ENGINE_MAX_MEMORY_PAGES - 1})))
        (i32.store (i32.const 4) (memory.grow (i32.const 1)))
        (call $return_set (i32.const 0) (i32.const 8))))""")
    sandbox = Sandbox(devnet_params(max_memory_pages=ENGINE_MAX_MEMORY_PAGES))
    address = sandbox.deploy(grow, contract_address(2))
    outcome = sandbox.call(address, "grow")
    assert outcome.ok, outcome.error
    assert outcome.return_data == (1).to_bytes(4, "little") + (-1).to_bytes(4, "little", signed=True)


def test_a_module_at_the_function_and_global_ceilings_fits_an_instance_slot() -> None:
    count = ENGINE_MAX_FUNCTIONS - 2  # and the one method and the stack instrumentation's own
    functions = "".join(f"(func $f{index})" for index in range(count))
    names = " ".join(f"$f{index}" for index in range(count))
    globals_ = "".join(f"(global i64 (i64.const {index}))" for index in range(ENGINE_MAX_GLOBALS - 1))
    code = wasmtime.wat2wasm(f"""(module
      (memory (export "memory") 1)
      (table {count} funcref) (elem (i32.const 0) {names})
      {globals_} {functions}
      (func (export "run")))""")
    sandbox = Sandbox(
        devnet_params(
            max_functions=ENGINE_MAX_FUNCTIONS,
            max_globals=ENGINE_MAX_GLOBALS,
            max_table_size=count,
            max_code_size=4 << 20,
        )
    )
    address = sandbox.deploy(code, contract_address(3))
    outcome = sandbox.call(address, "run")
    assert outcome.ok, outcome.error
