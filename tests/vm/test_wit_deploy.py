"""The deploy check of ABI 1.2: a module's ``wasmchain:wit`` interface must parse and name only its exports.

Modules are written in WAT and get their custom section appended by hand
(a custom section may stand anywhere in a module).  Every refusal is rule
``interface`` under ``wasmtime-50.0.1/abi-1.2``, and the same module deploys
under ``abi-1.1`` and ``abi-1``, which ignore the section as any custom one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
import wasmtime

from tests.chain.test_archive import Signer
from tests.helpers import GENESIS, devnet_params
from wasmchain.protocol.errors import InvalidDeployModule
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.protocol.keys import contract_address, dev_key
from wasmchain.protocol.transactions import TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV
from wasmchain.vm import VM_VERSION, VM_VERSIONS, Runtime, abi
from wasmchain.vm.errors import InvalidModule
from wasmchain.vm.params import VM_VERSION_ABI_1, VM_VERSION_ABI_1_1, VM_VERSION_ABI_1_2
from wasmchain.vm.wasm import policy
from wasmchain.vm.wasm.decode import decode_module
from wasmchain.vm.wasm.encode import encode_name, encode_section
from wasmchain.vm.wasm.policy import Policy
from wasmchain.vm.wit.section import (
    MAX_WIT_BYTES,
    SECTION_NAME,
    check_exports,
    deploy_check,
    interface_of,
    wit_sections,
)
from wasmchain.vm.wit.types import WitError

TOKEN_WIT = """\
/// A fungible token.
package wasmchain:token;

interface types {
    /// A 20-byte account or contract address.
    type address = list<u8>;
}

/// Read-only methods.
interface view {
    use types.{address};
    /// The balance of `owner`.
    balance-of: func(owner: address) -> u64;
    total-supply: func() -> u64;
}

interface events {
    use types.{address};
    /// Tokens moved.
    record transfer { %from: address, to: address, amount: u64 }
}

world token {
    use types.{address};
    export init: func(supply: u64);
    export transfer: func(to: address, amount: u64);
    export view;
}
"""

EXPORTS = ("init", "transfer", "balance_of", "total_supply")


def wat_module(exports: tuple[str, ...] = EXPORTS, extra: str = "") -> bytes:
    """A module exporting a ``() -> ()`` function under each name (and whatever ``extra`` adds)."""
    funcs = "\n".join(f'(func (export "{name}"))' for name in exports)
    return bytes(wasmtime.wat2wasm(f'(module (memory (export "memory") 1) {funcs} {extra})'))


def with_wit(code: bytes, text: str | bytes) -> bytes:
    """``code`` with a ``wasmchain:wit`` section holding ``text`` appended."""
    raw = text.encode() if isinstance(text, str) else text
    return code + encode_section(0, encode_name(SECTION_NAME) + raw)


def runtime(version: str = VM_VERSION) -> Runtime:
    return Runtime(dataclasses.replace(devnet_params(), version=version))


def refusal(code: bytes) -> str:
    """The message of the deploy refusal under abi-1.2 (its rule must be ``interface``)."""
    with pytest.raises(InvalidModule) as refused:
        runtime().validate(code)
    assert refused.value.rule == policy.INTERFACE == "interface"
    prefix = f"the {SECTION_NAME} section: "
    assert str(refused.value) == f"interface: {refused.value.detail}"
    assert refused.value.detail.startswith(prefix)
    return refused.value.detail.removeprefix(prefix)


def accepted_by_older_versions(code: bytes) -> None:
    for version in (VM_VERSION_ABI_1, VM_VERSION_ABI_1_1):
        assert runtime(version).validate(code).methods


def test_the_versions_and_which_check_interfaces() -> None:
    assert VM_VERSION == "wasmtime-50.0.1/abi-2"
    assert VM_VERSIONS == (VM_VERSION_ABI_1, VM_VERSION_ABI_1_1, VM_VERSION_ABI_1_2, VM_VERSION)
    checks = [abi.checks_interfaces(version.rpartition("/abi-")[2]) for version in VM_VERSIONS]
    assert checks == [False, False, True, True]
    # ABI 1.2 adds no host function, and ABI 2 keeps 1.2's under "wasmchain".
    assert abi.host_functions("1.2") == abi.host_functions("1.1") == abi.host_functions("2") == abi.HOST_FUNCTIONS
    assert json.loads(GENESIS.read_text())["vm"]["version"] == VM_VERSION


def test_a_module_with_a_good_world_deploys_and_keeps_its_interface() -> None:
    code = with_wit(wat_module(), TOKEN_WIT)
    prepared = runtime().validate(code)
    assert prepared.methods == tuple(sorted(EXPORTS))
    interface = interface_of(code)
    assert interface is not None
    assert [m.export for m in interface.methods] == list(EXPORTS)
    assert deploy_check(code, prepared.exports) == interface


def test_a_module_without_an_interface_deploys_as_before() -> None:
    code = wat_module(("anything",))
    assert interface_of(code) is None
    assert wit_sections(code) == []
    assert runtime().validate(code).methods == ("anything",)


def test_exports_the_world_does_not_name_are_allowed() -> None:
    code = with_wit(wat_module((*EXPORTS, "untyped_extra")), TOKEN_WIT)
    assert "untyped_extra" in runtime().validate(code).methods


def test_a_world_that_does_not_parse_is_refused() -> None:
    code = with_wit(wat_module(), TOKEN_WIT.replace("amount: u64);", "amount: u64)"))
    message = refusal(code)
    assert message.startswith("line 27, column 5: expected `;` after the function `transfer`")
    accepted_by_older_versions(code)


def test_a_type_outside_the_subset_is_refused() -> None:
    code = with_wit(wat_module(), TOKEN_WIT.replace("amount: u64);", "amount: f64);"))
    message = refusal(code)
    assert "line 26, column 48: the type `f64` is not in the subset: contracts take no floats" in message
    accepted_by_older_versions(code)


def test_a_missing_export_is_refused() -> None:
    code = with_wit(wat_module(("init", "transfer", "total_supply")), TOKEN_WIT)
    message = refusal(code)
    assert message == (
        "method balance-of(owner: address) -> u64 is the export `balance_of`, which the module does not export; "
        "export a function `balance_of` of type () -> (), or remove the method from the world"
    )
    accepted_by_older_versions(code)


def test_a_wrong_signature_is_refused() -> None:
    code = with_wit(
        wat_module(("init", "balance_of", "total_supply"), '(func (export "transfer") (param i32))'), TOKEN_WIT
    )
    message = refusal(code)
    assert message.startswith(
        "method transfer(to: address, amount: u64) is the export `transfer`, a function of type (i32) -> (); "
        "a method's type must be () -> ()"
    )
    # Under the older ABIs the export is simply not a method.
    for version in (VM_VERSION_ABI_1, VM_VERSION_ABI_1_1):
        assert "transfer" not in runtime(version).validate(code).methods


def test_two_sections_are_refused() -> None:
    code = with_wit(with_wit(wat_module(), TOKEN_WIT), TOKEN_WIT)
    assert refusal(code) == f"the module has 2 {SECTION_NAME} sections; a module carries at most one"
    accepted_by_older_versions(code)


def test_a_section_that_is_not_utf8_is_refused() -> None:
    code = with_wit(wat_module(), TOKEN_WIT.encode()[:40] + b"\xff" + TOKEN_WIT.encode()[40:])
    assert refusal(code) == "the interface is not UTF-8 text (byte offset 40 of the section)"
    accepted_by_older_versions(code)


def test_a_section_over_the_limit_is_refused() -> None:
    code = with_wit(wat_module(), TOKEN_WIT + "//" + "x" * MAX_WIT_BYTES + "\n")
    assert refusal(code) == f"the interface is {len(TOKEN_WIT) + MAX_WIT_BYTES + 3} bytes; the limit is {MAX_WIT_BYTES}"
    accepted_by_older_versions(code)


def test_a_method_that_is_not_a_function_export_is_refused() -> None:
    # check_exports reads the decoded module's exports, whatever their kind; the deploy check, which
    # sees exported functions only, refuses it as missing.
    code = wat_module(("init", "transfer", "total_supply"), '(global (export "balance_of") i32 (i32.const 0))')
    interface = interface_of(with_wit(code, TOKEN_WIT))
    assert interface is not None
    params = devnet_params()
    decoded = decode_module(code, Policy(params.limits, params.allow_floats, abi.host_functions("1.2")))
    with pytest.raises(WitError, match="is the export `balance_of`, which is a global, not a function"):
        check_exports(decoded, interface)
    assert "which the module does not export" in refusal(with_wit(code, TOKEN_WIT))


def test_the_instrumented_module_keeps_the_section_and_deploy_gas_counts_it() -> None:
    """Instrumentation copies custom sections byte for byte, so the interface is compiled bytes and is paid for."""
    plain = wat_module()
    code = with_wit(plain, TOKEN_WIT)
    rt = runtime()
    section = encode_section(0, encode_name(SECTION_NAME) + TOKEN_WIT.encode())
    instrumented, instrumented_plain = rt.validate(code).code, rt.validate(plain).code
    assert section in instrumented
    assert len(instrumented) == len(instrumented_plain) + len(section)
    assert rt.deploy_gas(len(instrumented)) - rt.deploy_gas(len(instrumented_plain)) == (
        rt.gas.compile_byte * len(section)
    )


def _document(version: str) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(json.loads(GENESIS.read_text()))
    document["vm"]["version"] = version
    return document


def test_on_a_chain_the_deploy_is_refused_before_mining_under_abi_1_2_only() -> None:
    code = with_wit(wat_module(("init", "transfer", "total_supply")), TOKEN_WIT)
    genesis = genesis_from_document(_document(VM_VERSION))
    chain = Chain.create(MemoryKV(), genesis)
    deploy = Signer(genesis, dev_key(0))(TxKind.DEPLOY, 10**8, code=code)
    with pytest.raises(InvalidDeployModule, match="interface: the wasmchain:wit section: method balance-of"):
        chain.check_tx(deploy)
    for version in (VM_VERSION_ABI_1, VM_VERSION_ABI_1_1):
        genesis = genesis_from_document(_document(version))
        chain = Chain.create(MemoryKV(), genesis)
        signer = Signer(genesis, dev_key(0))
        chain.commit(chain.finalize([signer(TxKind.DEPLOY, 10**8, code=code)], chain.head.timestamp + 1))
        assert chain.account(contract_address(signer.key.address, 0)).is_contract
