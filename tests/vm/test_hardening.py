"""Regressions for faults a review found: each of these once crashed, leaked or varied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CONTRACTS, Sandbox, contract_address, wat
from tests.vm.test_runtime import CALLER, CALLER_ADDRESS, KV, KV_ADDRESS, module, relay_input, status_and_result
from wasmchain.vm import MemoryHost, Runtime, abi, errors
from wasmchain.vm.errors import ExecutionHalted, HostFault, InvalidModule, InvalidParams, VMError, quote


def test_a_module_with_a_type_error_is_refused_at_validation() -> None:
    # The structural pass does not type-check operands; wasmtime's validator must.
    bad = wat('(module (memory (export "memory") 1) (func (export "m") (drop (i32.add (i64.const 1) (i32.const 1)))))')
    with pytest.raises(InvalidModule) as refused:
        Sandbox().runtime.validate(bad)
    assert refused.value.rule == "wasm_validation" and "type mismatch" in str(refused.value)


def test_a_torn_compiled_artifact_is_recompiled(tmp_path: Path) -> None:
    code = (CONTRACTS / "counter" / "counter.wasm").read_bytes()
    first = Sandbox()
    first.runtime = Runtime(first.params, cache_dir=tmp_path)
    first.deploy(code, contract_address(1))
    (artifact,) = tmp_path.iterdir()
    artifact.write_bytes(b"torn")
    second = Sandbox()
    second.runtime = Runtime(second.params, cache_dir=tmp_path)
    second.deploy(code, contract_address(1))
    assert second.call(contract_address(1), "increment").ok
    assert artifact.read_bytes() != b"torn"


class FailingHost(MemoryHost):
    def storage_read(self, contract: bytes, key: bytes) -> bytes | None:
        raise OSError("disk on fire")


def test_a_host_fault_escapes_instead_of_becoming_a_receipt() -> None:
    sandbox = Sandbox()
    sandbox.host = FailingHost()
    sandbox.deploy(KV, KV_ADDRESS)
    sandbox.deploy(CALLER, CALLER_ADDRESS)
    with pytest.raises(HostFault, match="disk on fire"):
        sandbox.call(KV_ADDRESS, "get")
    # Also from inside a nested call, where it passes through the caller's host function.
    with pytest.raises(HostFault, match="disk on fire"):
        sandbox.call(CALLER_ADDRESS, "relay", relay_input(KV_ADDRESS, "get"))


def test_a_host_fault_is_a_vm_error_on_its_own_branch() -> None:
    # Under the root, but neither a halt (which becomes an outcome) nor a refusal of input.
    assert issubclass(HostFault, VMError)
    branches = (InvalidModule, InvalidParams, ExecutionHalted, HostFault)
    assert [branch for branch in branches if issubclass(HostFault, branch)] == [HostFault]
    # Every other error of the vm sits on exactly one branch.
    for error in vars(errors).values():
        if isinstance(error, type) and issubclass(error, VMError) and error is not VMError:
            assert sum(issubclass(error, branch) for branch in branches) == 1, error


def test_names_in_errors_are_quoted_the_same_on_every_python() -> None:
    assert quote("\U0001fae8") == '"\\ud83e\\udee8"'
    sandbox = Sandbox()
    sandbox.deploy(KV, KV_ADDRESS)
    outcome = sandbox.call(KV_ADDRESS, "\U0001fae8")
    assert '"\\ud83e\\udee8"' in (outcome.error or "")
    assert (outcome.error or "").isascii()


@pytest.mark.parametrize("gas", [-5, 1 << 63, 1 << 64])
def test_gas_limits_outside_the_fuel_range_are_invalid(gas: int) -> None:
    sandbox = Sandbox()
    sandbox.deploy(KV, KV_ADDRESS)
    outcome = sandbox.call(KV_ADDRESS, "get", gas=gas)
    assert (outcome.status, outcome.gas_used) == ("invalid", 0)


HAS = module("""
  (data (i32.const 0) "k")
  (func (export "has") (drop (call $storage_has (i32.const 0) (i32.const 1))))
  (func (export "remove") (drop (call $storage_remove (i32.const 0) (i32.const 1))))
""")


@pytest.mark.parametrize("method", ["has", "remove"])
def test_storage_has_and_remove_pay_for_the_value_they_read(method: str) -> None:
    used = {}
    for size in (1, 10_000):
        sandbox = Sandbox()
        address = sandbox.deploy(HAS, contract_address(7))
        sandbox.host.storage[(address, b"k")] = b"v" * size
        outcome = sandbox.call(address, method)
        assert outcome.ok, outcome.error
        used[size] = outcome.gas_used
    assert used[10_000] - used[1] == sandbox.params.gas.storage_read_byte * 9_999


def test_call_status_for_a_missing_contract_is_not_found() -> None:
    sandbox = Sandbox()
    sandbox.deploy(CALLER, CALLER_ADDRESS)
    outcome = sandbox.call(CALLER_ADDRESS, "relay", relay_input(contract_address(99), "get"))
    assert status_and_result(outcome.return_data)[0] == abi.CALL_NOT_FOUND
    assert outcome.ok, outcome.error


def test_host_functions_are_released_with_the_last_module_that_can_call_them() -> None:
    # The host functions are C callbacks that find their runtime's frame stack
    # by a key; wasmtime hands the key back to be forgotten once nothing (the
    # linker, an InstancePre of a compiled module) can call them any more.
    import gc

    from wasmchain.vm import runtime

    before = set(runtime._FRAME_STACKS)
    sandbox = Sandbox()
    ours = set(runtime._FRAME_STACKS) - before
    assert len(ours) == len(abi.HOST_FUNCTIONS) + len(abi.HOST_FUNCTIONS_V2)  # both import modules
    sandbox.deploy(KV, KV_ADDRESS)
    compiled = sandbox.runtime.compile(KV)
    assert sandbox.call(KV_ADDRESS, "put", b"v").ok
    del sandbox
    gc.collect()
    assert ours & set(runtime._FRAME_STACKS)  # the module can still be instantiated: its imports stay
    del compiled
    gc.collect()
    assert not ours & set(runtime._FRAME_STACKS)
