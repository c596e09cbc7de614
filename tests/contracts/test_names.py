"""chain/client/wasm_names.py: the .names files beside the example contracts, and Rust's legacy demangling."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import wat
from wasmchain.client import wasm_names as names

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


@pytest.mark.parametrize("contract", ["counter", "token", "vault"])
def test_each_example_has_a_names_file_for_its_module(contract: str) -> None:
    code = (CONTRACTS / contract / f"{contract}.wasm").read_bytes()
    document = json.loads((CONTRACTS / contract / f"{contract}.names").read_text())
    assert document["module"] == "0x" + hashlib.sha256(code).hexdigest()
    functions = document["functions"]
    assert functions and all(key.isdigit() for key in functions)
    assert not [name for name in functions.values() if name.startswith("_ZN") or "17h" in name]
    if contract == "token":
        assert "token::balance" in functions.values() and "transfer" in functions.values()


@pytest.mark.parametrize(
    ("mangled", "plain"),
    [
        ("_ZN5token8transfer17h0123456789abcdefE", "token::transfer"),
        ("_ZN13wasmchain_sdk7storage3get17hdeadbeefdeadbeefE", "wasmchain_sdk::storage::get"),
        ("_ZN4core3ptr28drop_in_place$LT$$RF$u64$GT$17h1d02b19a6a06a02bE.llvm.5115", "core::ptr::drop_in_place<&u64>"),
        (
            "_ZN71_$LT$wasmchain_sdk..storage..Key$u20$as$u20$core..ops..deref..Deref$GT$5deref17h0000000000000000E",
            "<wasmchain_sdk::storage::Key as core::ops::deref::Deref>::deref",
        ),
        ("memcpy", "memcpy"),
        ("_ZNnot_mangledE", "_ZNnot_mangledE"),
    ],
)
def test_demangle(mangled: str, plain: str) -> None:
    assert names.demangle(mangled) == plain


def test_strip_keeps_everything_but_custom_sections_and_the_names_are_read() -> None:
    code = wat('(module (memory (export "memory") 1) (func $alpha) (func $_ZN1a1b17h0123456789abcdefE))')
    stripped = names.strip(code)
    assert b"name" not in stripped and len(stripped) < len(code)
    assert names.function_names(code) == {0: "alpha", 1: "_ZN1a1b17h0123456789abcdefE"}
    document = json.loads(names.names_file(stripped, names.function_names(code)))
    assert document == {"functions": {"0": "alpha", "1": "a::b"}, "module": "0x" + hashlib.sha256(stripped).hexdigest()}


def _custom(name: bytes, content: bytes) -> bytes:
    body = bytes([len(name)]) + name + content
    assert len(name) < 0x80 and len(body) < 0x80
    return bytes([0, len(body)]) + body


def test_strip_keeps_the_interface_section_in_place() -> None:
    code = wat('(module (func $alpha) (func (export "run")))')
    wit = b"package a:b;\nworld w { export run: func(); }\n"
    built = code + _custom(b"wasmchain:wit", wit) + _custom(b"producers", b"\x00")
    stripped = names.strip(built)
    assert stripped == names.strip(code) + _custom(b"wasmchain:wit", wit)
    assert names.function_names(built) == {0: "alpha"}


@pytest.mark.parametrize("contract", ["counter", "token", "vault"])
def test_each_example_module_carries_its_wit_file(contract: str) -> None:
    code = (CONTRACTS / contract / f"{contract}.wasm").read_bytes()
    wit = (CONTRACTS / contract / f"{contract}.wit").read_bytes()
    customs = [(names.custom_name(code, pos), code[pos:end]) for sid, _, pos, end in names._sections(code) if sid == 0]
    assert [name for name, _ in customs] == [b"wasmchain:wit"]
    assert customs[0][1].endswith(wit) and len(customs[0][1]) == 1 + len(b"wasmchain:wit") + len(wit)
