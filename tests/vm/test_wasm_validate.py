"""Deploy-time validation (vm.wasm): every rule, every disabled proposal, every allowed feature."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmchain.vm import abi
from wasmchain.vm.errors import InvalidModule
from wasmchain.vm.wasm import (
    RESERVED_EXPORT_PREFIX,
    RULES,
    STACK_GLOBAL_EXPORT,
    FuncSig,
    PreparedModule,
    prepare,
)
from wasmchain.vm.wasm.opcodes import PREFIX_FC, SINGLE, Imm

from .conftest import (
    MAGIC_VERSION,
    MEMORY_SECTION,
    body_module,
    genesis_limits,
    leb,
    memory_export,
    name,
    section,
    vec,
)

MEMORY = '(memory (export "memory") 1)'


def wat(fields: str, memory: str = MEMORY) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {fields} {memory})"))


def run(
    code: bytes,
    *,
    allow_floats: bool = False,
    imports: dict[str, FuncSig] | None = None,
    **limit_overrides: int,
) -> PreparedModule:
    return prepare(
        code,
        limits=dataclasses.replace(genesis_limits(), **limit_overrides),
        allow_floats=allow_floats,
        allowed_imports=abi.HOST_FUNCTIONS if imports is None else imports,
    )


def refused(code: bytes, rule: str, *fragments: str, **kwargs: Any) -> InvalidModule:
    with pytest.raises(InvalidModule) as info:
        run(code, **kwargs)
    error = info.value
    assert error.rule == rule, str(error)
    assert error.rule in RULES
    for fragment in fragments:
        assert fragment in error.detail, error.detail
    return error


# A valid module and what prepare reports about it.

COUNTER = """
  (import "wasmchain" "input_read" (func $input (param i32 i32) (result i32)))
  (import "wasmchain" "return_set" (func $ret (param i32 i32)))
  (global $n (mut i32) (i32.const 0))
  (func $bump (param $by i32) (result i32)
    global.get $n  local.get $by  i32.add  global.set $n  global.get $n)
  (func (export "increment") (drop (call $bump (i32.const 1))))
  (func (export "get") (i32.store (i32.const 0) (global.get $n)) (call $ret (i32.const 0) (i32.const 4)))
  (func (export "add") (param i32) (result i32) (call $bump (local.get 0)))
"""


def test_a_valid_module_is_prepared() -> None:
    prepared = run(wat(COUNTER))
    assert list(prepared.exports) == ["add", "get", "increment"]
    assert prepared.exports["add"] == FuncSig(("i32",), ("i32",))
    assert prepared.methods == ("get", "increment")
    # Costs counted by hand: 8 per frame + params/locals + the highest operand stack.
    # add: 1 param, stack 1 (the argument, then $bump's result);  get: i32.const, global.get
    # -> 2;  increment: 1;  $bump (not exported): 1 param, stack 2 -> the max.
    assert dict(prepared.entry_costs) == {
        "add": 8 + 1 + 1,
        "get": 8 + 0 + 2,
        "increment": 8 + 0 + 1,
    }
    assert list(prepared.entry_costs) == ["add", "get", "increment"]
    assert prepared.max_cost == 8 + 1 + 2
    with pytest.raises(TypeError):
        prepared.exports["x"] = FuncSig((), ())  # type: ignore[index]


def test_preparing_is_deterministic() -> None:
    code = wat(COUNTER)
    assert run(code) == run(code)


def test_constants_agree_with_the_abi() -> None:
    assert STACK_GLOBAL_EXPORT == abi.STACK_GLOBAL_EXPORT
    assert RESERVED_EXPORT_PREFIX == abi.RESERVED_EXPORT_PREFIX


# malformed


def _type_section_then(extra: bytes) -> bytes:
    return MAGIC_VERSION + section(1, vec([b"\x60\x00\x00"])) + extra


MALFORMED = {
    "empty": b"",
    "bad magic": b"\x00asn\x01\x00\x00\x00",
    "bad version": b"\x00asm\x02\x00\x00\x00",
    "truncated header": b"\x00asm\x01\x00",
    "section out of order": MAGIC_VERSION + section(3, vec([])) + section(1, vec([])),
    "duplicate section": MAGIC_VERSION + section(1, vec([])) + section(1, vec([])),
    "unknown section id": MAGIC_VERSION + section(14, b""),
    "truncated section size": MAGIC_VERSION + b"\x01\x80",
    "section runs past the end": MAGIC_VERSION + b"\x01\x05\x00",
    "section longer than its content": MAGIC_VERSION + section(1, b"\x00\x00"),
    "section shorter than its content": MAGIC_VERSION + b"\x01\x01\x01\x60\x00\x00",
    "bad utf-8 custom name": MAGIC_VERSION + section(0, b"\x02\xc3\x28"),
    "bad utf-8 export name": MAGIC_VERSION + MEMORY_SECTION + section(7, vec([b"\x01\xff\x02\x00"])),
    "bad utf-8 import name": _type_section_then(section(2, vec([name("wasmchain") + b"\x02\xc0\xaf" + b"\x00\x00"]))),
    "unknown value type": MAGIC_VERSION + section(1, vec([b"\x60\x01\x55\x00"])),
    "unknown type form": MAGIC_VERSION + section(1, vec([b"\x61\x00\x00"])),
    "function type index out of range": _type_section_then(section(3, vec([b"\x01"]))),
    "function without a body": _type_section_then(section(3, vec([b"\x00"])) + MEMORY_SECTION + memory_export()),
    "body without a function": _type_section_then(
        MEMORY_SECTION + memory_export() + section(10, vec([b"\x02\x00\x0b"]))
    ),
    "body count differs": _type_section_then(
        section(3, vec([b"\x00", b"\x00"])) + MEMORY_SECTION + memory_export() + section(10, vec([b"\x02\x00\x0b"]))
    ),
    "unknown opcode": body_module(b"\x27\x0b"),
    "unknown 0xfc opcode": body_module(b"\xfc\x17\x0b"),
    "body without end": body_module(b"\x01"),
    "bytes after the final end": body_module(b"\x0b\x01"),
    "else without if": body_module(b"\x05\x0b"),
    "second else": body_module(b"\x41\x00\x04\x40\x05\x05\x0b\x0b"),
    "call to a missing function": body_module(b"\x10\x05\x0b"),
    "call_indirect with a missing type": body_module(b"\x41\x00\x11\x07\x00\x0b"),
    "call_indirect without a table": body_module(b"\x41\x00\x11\x00\x00\x0b"),
    "block type out of range": body_module(b"\x02\x09\x0b\x0b"),
    "negative block type": body_module(b"\x02\xff\x7f\x0b\x0b"),
    "local out of range": body_module(b"\x20\x00\x1a\x0b"),
    "global out of range": body_module(b"\x23\x00\x1a\x0b"),
    "branch out of range": body_module(b"\x0c\x01\x0b"),
    "br_table label out of range": body_module(b"\x41\x00\x0e\x01\x00\x02\x0b"),
    "ref.func out of range": body_module(b"\xd2\x03\x1a\x0b"),
    "memory.init without a data count section": body_module(b"\x41\x00\x41\x00\x41\x00\xfc\x08\x00\x00\x0b"),
    "elem.drop out of range": body_module(b"\xfc\x0d\x00\x0b"),
    "over-long u32": body_module(b"\x20\x80\x80\x80\x80\x80\x00\x0b"),
    "u32 too large": body_module(b"\x20\x80\x80\x80\x80\x10\x0b"),
    "over-long i32 constant": body_module(b"\x41\x80\x80\x80\x80\x80\x00\x1a\x0b"),
    "i32 constant out of range": body_module(b"\x41\x80\x80\x80\x80\x08\x1a\x0b"),
    "truncated i64 constant": body_module(b"\x42\x80"),
    "truncated f64 constant": body_module(b"\x44\x00\x00"),
    "truncated memarg": body_module(b"\x41\x00\x28\x02"),
    "non-zero memory.size reserved byte encoded long": body_module(b"\x3f\x80\x00\x1a\x0b"),
    "duplicate export": wat('(func (export "a")) (func (export "a"))'),
    "global.get in a constant expression": wat("(global i32 (i32.const 1)) (global i32 (global.get 0))"),
    "export of a missing function": MAGIC_VERSION + MEMORY_SECTION + section(7, vec([name("f") + b"\x00\x00"])),
    "bad data segment flags": MAGIC_VERSION + MEMORY_SECTION + memory_export() + section(11, vec([b"\x03"])),
    "data count mismatch": MAGIC_VERSION
    + MEMORY_SECTION
    + memory_export()
    + section(12, b"\x02")
    + section(11, vec([b"\x01\x00"])),
    "locals declared in a body too small for them": body_module(b"\x0b", local_decls=b"\x05"),
}


@pytest.mark.parametrize("code", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_modules_are_refused(code: bytes) -> None:
    refused(code, "malformed", allow_floats=True)


def test_malformed_messages_say_what_was_expected_and_found() -> None:
    error = refused(MALFORMED["bad magic"], "malformed", "expected the wasm magic", "found 00 61 73 6e")
    assert str(error).startswith("malformed: ")
    refused(MALFORMED["call to a missing function"], "malformed", "call to function 5", "1 functions")
    refused(MALFORMED["unknown opcode"], "malformed", "unknown opcode 0x27", "function 0")


# Limits: each checked before the thing it bounds is decoded.


LIMITS = {
    "max_code_size": (wat(COUNTER), {"max_code_size": 64}, "bytes"),
    "max_functions": (wat("(func) (func) (func)"), {"max_functions": 2}, "3 defined functions"),
    "max_function_body_size": (
        wat("(func (drop (i32.const 1)))"),
        {"max_function_body_size": 4},
        "function 0 has a 5-byte body",
    ),
    "max_locals_per_function": (
        wat("(func (param i32) (local i32 i32))"),
        {"max_locals_per_function": 2},
        "function 0",
    ),
    "max_nesting_depth": (
        wat("(func (block (loop (if (i32.const 0) (then)))))"),
        {"max_nesting_depth": 2},
        "3 deep",
    ),
    "max_types": (
        wat("(type (func)) (type (func (param i32))) (type (func (param i64)))"),
        {"max_types": 2},
        "3 types",
    ),
    "max_type_arity": (
        wat("(type (func (param i32 i32) (result i32)))"),
        {"max_type_arity": 2},
        "type 0",
    ),
    "max_imports": (wat(COUNTER), {"max_imports": 1}, "2 imports"),
    "max_exports": (wat(COUNTER), {"max_exports": 3}, "4 exports"),
    "max_globals": (
        wat("(global i32 (i32.const 0)) (global i64 (i64.const 0))"),
        {"max_globals": 1},
        "2 globals",
    ),
    "max_table_size": (wat("(table 11 funcref)"), {"max_table_size": 10}, "11 initial elements"),
    "max_element_segments": (
        wat("(table 1 funcref) (func $f) (elem (i32.const 0) $f) (elem func $f)"),
        {"max_element_segments": 1},
        "2 element segments",
    ),
    "max_data_segments": (
        wat('(data (i32.const 0) "a") (data "b")'),
        {"max_data_segments": 1},
        "data segments",
    ),
    "max_initial_memory_pages": (
        wat("", memory='(memory (export "memory") 3)'),
        {"max_initial_memory_pages": 2},
        "3 initial pages",
    ),
    "max_stack_units": (
        wat("(func (local i32 i32 i32 i32))"),
        {"max_stack_units": 11},
        "function 0 needs 12 stack units",
    ),
}


@pytest.mark.parametrize("rule", LIMITS.keys())
def test_each_limit_is_enforced(rule: str) -> None:
    code, overrides, fragment = LIMITS[rule]
    refused(code, rule, fragment, f"the limit is {overrides[rule]}", **overrides)
    # At the limit, the same module is accepted.
    at_limit = len(code) if rule == "max_code_size" else overrides[rule] + 1
    prepare(
        code,
        limits=dataclasses.replace(genesis_limits(), **{rule: at_limit}),
        allow_floats=False,
        allowed_imports=abi.HOST_FUNCTIONS,
    )


def test_a_data_count_over_the_limit_is_refused() -> None:
    code = wat('(data "a") (data "b") (func (data.drop 1))')
    refused(code, "max_data_segments", "2 data segments", max_data_segments=1)


def test_the_code_size_limit_is_checked_before_anything_is_parsed() -> None:
    refused(b"\x00" * 1000, "max_code_size", "module is 1000 bytes", max_code_size=999)


def test_a_locals_declaration_of_four_billion_is_refused_without_allocating() -> None:
    huge = body_module(b"\x0b", local_decls=b"\x02" + b"\xff\xff\xff\xff\x0f\x7f" + b"\xff\xff\xff\xff\x0f\x7e")
    start = time.perf_counter()
    refused(huge, "max_locals_per_function", "at least 4294967295 locals")
    assert time.perf_counter() - start < 0.1


def test_the_nesting_limit_counts_block_loop_and_if() -> None:
    nested = "(block " * 256 + ")" * 256
    run(wat(f"(func {nested})"))
    refused(wat(f"(func (block {nested}))"), "max_nesting_depth", "257 deep")


def test_a_hundred_thousand_functions_are_refused_in_well_under_a_second() -> None:
    count = 100_000
    bodies = section(10, leb(count) + b"\x02\x00\x0b" * count)
    code = _type_section_then(section(3, leb(count) + b"\x00" * count) + MEMORY_SECTION + memory_export() + bodies)
    start = time.perf_counter()
    refused(code, "max_functions", "100000 defined functions", "the limit is 4096")
    assert time.perf_counter() - start < 0.05


def test_a_huge_body_is_refused_before_it_is_read() -> None:
    body = b"\x00" + b"\x01" * (4 << 20) + b"\x0b"
    code = _type_section_then(
        section(3, vec([b"\x00"])) + MEMORY_SECTION + memory_export() + section(10, vec([leb(len(body)) + body]))
    )
    start = time.perf_counter()
    refused(code, "max_function_body_size", "function 0", "the limit is 65536", max_code_size=8 << 20)
    assert time.perf_counter() - start < 0.05


# memory, table, import, start, export


@pytest.mark.parametrize(
    "code, fragment",
    [
        (wat("(func)", memory=""), "found none"),
        (wat("", memory="(memory 1)"), "no such export"),
        (wat('(func (export "memory"))', memory="(memory 1)"), "found a function"),
        (
            wat("", memory='(import "wasmchain" "memory" (memory 1)) (export "memory" (memory 0))'),
            "found import wasmchain.memory",
        ),
        (
            MAGIC_VERSION + b"\x05\x04\x01\x01\x02\x01" + memory_export(),
            "at least its initial 2 pages, found 1",
        ),
    ],
    ids=["none", "not exported", "export is a function", "imported", "maximum below initial"],
)
def test_exactly_one_defined_memory_exported_as_memory(code: bytes, fragment: str) -> None:
    refused(code, "memory", fragment)


def test_a_memory_maximum_above_the_runtime_cap_is_accepted() -> None:
    run(wat("", memory='(memory (export "memory") 1 65536)'))


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ("(table 1 funcref) (table 1 funcref)", "at most one table, found 2"),
        ("(table 1 externref)", "found a table of externref"),
        ("(table 2 1 funcref)", "at least its initial size 2, found 1"),
        ('(import "wasmchain" "t" (table 1 funcref))', "found table import wasmchain.t"),
    ],
)
def test_at_most_one_funcref_table(fields: str, fragment: str) -> None:
    refused(wat(fields), "import" if "import" in fields else "table", fragment)


@pytest.mark.parametrize(
    "fields, fragment",
    [
        (
            '(import "env" "input_read" (func (param i32 i32) (result i32)))',
            'module "wasmchain" only, found env.input_read',
        ),
        (
            '(import "wasmchain" "clock" (func (result i64)))',
            "wasmchain.clock is not a host function",
        ),
        (
            '(import "wasmchain" "input_read" (func (param i32) (result i32)))',
            "must have type (i32, i32) -> (i32), found (i32) -> (i32)",
        ),
        (
            '(import "wasmchain" "abort" (func (param i32 i32))) (import "wasmchain" "abort" (func (param i32 i32)))',
            "appears more than once",
        ),
        ('(import "wasmchain" "g" (global i32))', "found global import wasmchain.g"),
    ],
    ids=["other module", "unknown name", "wrong signature", "duplicate", "global"],
)
def test_imports_are_host_functions_with_their_exact_types(fields: str, fragment: str) -> None:
    refused(wat(fields), "import", fragment)


def test_every_host_function_may_be_imported() -> None:
    imports = " ".join(
        f'(import "wasmchain" "{fn}" (func (param {" ".join(sig.params)}) (result {" ".join(sig.results)})))'
        for fn, sig in abi.HOST_FUNCTIONS.items()
    )
    assert run(wat(imports)).exports == {}


def test_a_start_function_is_refused() -> None:
    refused(wat("(func $init) (start $init)"), "start", "found a start section")


def test_reserved_export_names_are_refused() -> None:
    refused(wat('(func (export "__wasmchain_stack"))'), "export", '"__wasmchain_stack"', "reserved")
    refused(wat('(global (export "__wasmchain") i32 (i32.const 0))'), "export", "reserved")


# Floats


FLOAT_MODULES = {
    "f32.add": "(func (drop (f32.add (f32.const 1) (f32.const 2))))",
    "f64.load": "(func (drop (f64.load (i32.const 0))))",
    "f32.store": "(func (f32.store (i32.const 0) (f32.const 0)))",
    "i32.trunc_sat_f32_s": "(func (param i32) (drop (i32.trunc_sat_f32_s (f32.reinterpret_i32 (local.get 0)))))",
    "i64.trunc_sat_f64_u": "(func (param i64) (drop (i64.trunc_sat_f64_u (f64.reinterpret_i64 (local.get 0)))))",
    "i32.reinterpret_f32": "(func (result i32) (i32.reinterpret_f32 (unreachable)))",
    "f64.promote_f32": "(func (drop (f64.promote_f32 (unreachable))))",
    "f32.demote_f64": "(func (drop (f32.demote_f64 (unreachable))))",
    "i32.trunc_f64_s": "(func (drop (i32.trunc_f64_s (unreachable))))",
    "f32.convert_i32_u": "(func (drop (f32.convert_i32_u (i32.const 0))))",
    "f64.lt": "(func (drop (f64.lt (unreachable))))",
    "param f32": "(func (param f32))",
    "result f64": "(func (result f64) unreachable)",
    "local f64": "(func (local f64))",
    "global f32": "(global f32 (f32.const 0))",
    "global init f64.const": "(global i32 (f64.const 0))",
    "block type f32": "(func (block (result f32) unreachable))",
    "select type f64": "(func (drop (select (result f64) (unreachable))))",
    "call_indirect type": (
        "(type $t (func (param f32))) (table 1 funcref) (func (call_indirect (type $t) (unreachable)))"
    ),
    "block with float params": "(type $t (func (param f64))) (func (block (type $t) unreachable))",
    "import type": '(import "wasmchain" "fx" (func (param f64)))',
}


@pytest.mark.parametrize("fields", FLOAT_MODULES.values(), ids=FLOAT_MODULES.keys())
def test_floats_are_refused_when_disabled(fields: str) -> None:
    imports = {"fx": FuncSig(("f64",), ())}
    refused(wat(fields), "float_instruction", "allow_floats is false", imports=imports)
    run(wat(fields), allow_floats=True, imports=imports)


def test_a_float_refusal_names_the_function_offset_and_instruction() -> None:
    code = wat("(func) (func (drop (i32.const 1)) (drop (f32.add (f32.const 1) (f32.const 2))))")
    error = refused(code, "float_instruction", "f32.const in function 1 at byte offset ")
    offset = int(error.detail.rsplit(" ", 1)[1])
    assert code[offset] == 0x43
    error = refused(
        wat("(func (param i32) (drop (i32.trunc_sat_f32_s (f32.reinterpret_i32 (local.get 0)))))"),
        "float_instruction",
    )
    assert "f32.reinterpret_i32 in function 0" in error.detail


def test_an_unused_float_type_is_not_a_use_of_floats() -> None:
    run(wat("(type (func (param f32))) (func)"))


# Disabled proposals: each refused with its name and the instruction or type found.


DISABLED = {
    "simd type": (wat("(func (param v128))"), "SIMD", "v128"),
    "simd instruction": (
        wat("(func (drop (i32x4.splat (i32.const 1))))"),
        "SIMD",
        "instruction 0xfd 17",
    ),
    "relaxed simd": (wat("(func (drop (i32x4.relaxed_laneselect (unreachable))))"), "SIMD", "0xfd"),
    "atomics": (wat("(func (drop (i32.atomic.load (i32.const 0))))"), "threads", "0xfe 16"),
    "atomic fence": (wat("(func atomic.fence)"), "threads", "0xfe 3"),
    "shared memory": (
        wat("", memory='(memory (export "memory") 1 1 shared)'),
        "threads",
        "a shared memory",
    ),
    "legacy try": (wat("(func try catch_all end)"), "exception handling", "try in function 0"),
    "try_table": (wat("(func (block (try_table)))"), "exception handling", "try_table"),
    "throw": (wat("(tag $e) (func (throw $e))"), "exception handling", "tag section"),
    "throw opcode": (body_module(b"\x08\x00\x0b"), "exception handling", "throw in function 0"),
    "throw_ref": (wat("(func (throw_ref (unreachable)))"), "exception handling", "throw_ref"),
    "exnref": (wat("(func (param exnref))"), "exception handling", "exnref"),
    "return_call": (wat("(func $f (return_call $f))"), "tail calls", "return_call in function 0"),
    "return_call_indirect": (
        wat("(type $t (func)) (table 1 funcref) (func (return_call_indirect (type $t) (i32.const 0)))"),
        "tail calls",
        "return_call_indirect",
    ),
    "typed reference type": (
        wat("(type $t (func)) (func (param (ref $t)))"),
        "typed function references",
        "(ref ...)",
    ),
    "nullable typed reference": (
        wat("(type $t (func)) (func (param (ref null $t)))"),
        "typed function references",
        "(ref null ...)",
    ),
    "call_ref": (
        wat("(type $t (func)) (func (call_ref $t (unreachable)))"),
        "typed function references",
        "call_ref",
    ),
    "return_call_ref": (
        wat("(type $t (func)) (func (return_call_ref $t (unreachable)))"),
        "typed function references",
        "return_call_ref",
    ),
    "ref.as_non_null": (
        wat("(func (drop (ref.as_non_null (ref.null func))))"),
        "typed function references",
        "ref.as_non_null",
    ),
    "br_on_null": (
        wat("(func (drop (block (result funcref) (br_on_null 0 (ref.null func)))))"),
        "typed function references",
        "br_on_null",
    ),
    "br_on_non_null": (
        wat("(func (block (br_on_non_null 0 (ref.null func))))"),
        "typed function references",
        "br_on_non_null",
    ),
    "ref.null of a type index": (
        wat("(type $t (func)) (func (drop (ref.null $t)))"),
        "typed function references",
        "concrete heap type",
    ),
    "table with an initializer": (
        wat("(table 1 funcref (ref.null func))"),
        "typed function references",
        "initializer",
    ),
    "struct type": (wat("(type (struct))"), "GC", "struct"),
    "array type": (wat("(type (array i8))"), "GC", "array"),
    "rec group": (wat("(rec (type (func)))"), "GC", "rec"),
    "subtype": (wat("(type $a (sub (func))) (type (sub $a (func)))"), "GC", "sub"),
    "anyref": (wat("(func (param anyref))"), "GC", "anyref"),
    "ref.eq": (wat("(func (drop (ref.eq (unreachable))))"), "GC", "ref.eq"),
    "ref.i31": (wat("(func (drop (ref.i31 (i32.const 0))))"), "GC", "0xfb 28"),
    "ref.null any": (wat("(func (drop (ref.null any)))"), "GC", "heap type any"),
    "memory64": (wat("", memory='(memory (export "memory") i64 1)'), "memory64", "a 64-bit memory"),
    "table64": (wat("(table i64 1 funcref)"), "memory64", "a 64-bit table"),
    "two memories": (wat("(memory 1)"), "multi-memory", "2 memories"),
    "memarg memory index": (
        body_module(b"\x41\x00\x28\x42\x01\x00\x1a\x0b"),
        "multi-memory",
        "access to memory 1",
    ),
    "memory.size index": (body_module(b"\x3f\x01\x1a\x0b"), "multi-memory", "memory index 1"),
    "memory.copy index": (
        body_module(b"\x41\x00\x41\x00\x41\x00\xfc\x0a\x00\x01\x0b"),
        "multi-memory",
        "memory index 1",
    ),
    "data for memory 1": (
        MAGIC_VERSION + MEMORY_SECTION + memory_export() + section(11, vec([b"\x02\x01\x41\x00\x0b\x00"])),
        "multi-memory",
        "data segment 0 for memory 1",
    ),
    "wide arithmetic": (
        wat(
            "(func (param i64 i64 i64 i64)"
            " (drop (drop (i64.add128 (local.get 0) (local.get 1) (local.get 2) (local.get 3)))))"
        ),
        "wide arithmetic",
        "i64.add128",
    ),
    "mul_wide": (
        wat("(func (param i64 i64) (drop (drop (i64.mul_wide_u (local.get 0) (local.get 1)))))"),
        "wide arithmetic",
        "i64.mul_wide_u",
    ),
    "continuation type": (wat("(type $f (func)) (type $c (cont $f))"), "stack switching", "cont"),
    "suspend": (body_module(b"\xe2\x00\x0b"), "stack switching", "suspend"),
    "resume": (body_module(b"\xe3\x00\x00\x0b"), "stack switching", "resume"),
    "contref": (wat("(func (param contref))"), "stack switching", "contref"),
    "extended const": (
        wat("(global i32 (i32.add (i32.const 1) (i32.const 2)))"),
        "extended constant expressions",
        "i32.add",
    ),
    "externref": (wat("(func (param externref))"), "reference types beyond funcref", "externref"),
    "ref.null extern": (
        wat("(func (drop (ref.null extern)))"),
        "reference types beyond funcref",
        "heap type extern",
    ),
    "externref elements": (
        wat("(elem externref (ref.null extern))"),
        "reference types beyond funcref",
        "externref",
    ),
    "custom page size": (
        wat("", memory='(memory (export "memory") 1 (pagesize 1))'),
        "custom page sizes",
        "page size",
    ),
    "memory.discard": (
        wat("(func (memory.discard (i32.const 0) (i32.const 0)))"),
        "memory control",
        "memory.discard",
    ),
}


@pytest.mark.parametrize("code, proposal, found", DISABLED.values(), ids=DISABLED.keys())
def test_disabled_proposals_are_refused(code: bytes, proposal: str, found: str) -> None:
    error = refused(code, "disabled_proposal", proposal, found)
    assert "is not allowed" in error.detail


def test_a_tag_section_is_refused_as_exceptions() -> None:
    code = MAGIC_VERSION + section(1, vec([b"\x60\x00\x00"])) + section(13, vec([b"\x00\x00"]))
    refused(code, "disabled_proposal", "exception handling", "tag section")


# Bytes that are malformed under every proposal a chain could enable are `malformed`, not a proposal.


def _import(kind_and_payload: bytes) -> bytes:
    return _type_section_then(section(2, vec([name("wasmchain") + name("x") + kind_and_payload])))


MALFORMED_NOT_A_PROPOSAL = {
    # The core test suite's "integer too large": a shared memory needs a maximum.
    "memory limits flags 0x02": (MAGIC_VERSION + section(5, b"\x01\x02\x01") + memory_export(), "found 0x02"),
    "table limits flags 0x02": (
        MAGIC_VERSION + section(4, b"\x01\x70\x02\x01") + MEMORY_SECTION + memory_export(),
        "a shared table",
    ),
    "table limits flags 0x03": (
        MAGIC_VERSION + section(4, b"\x01\x70\x03\x01\x01") + MEMORY_SECTION + memory_export(),
        "a shared table",
    ),
    # The core test suite's "malformed import kind": 0x04 then a dummy byte is not even a tag import.
    "import kind 0x04 cut short": (_import(b"\x04\x00"), "the type of tag import wasmchain.x"),
    "import kind 0x04 with a bad attribute": (_import(b"\x04\x01\x00"), "expected attribute 0x00"),
    "import kind 0x04 of a missing type": (_import(b"\x04\x00\x05"), "has type 5"),
    "global mutability 0x02": (
        MAGIC_VERSION + MEMORY_SECTION + section(6, vec([b"\x7f\x02\x41\x00\x0b"])) + memory_export(),
        "expected mutability 0 or 1, found 2",
    ),
    "export of a tag": (
        MAGIC_VERSION + MEMORY_SECTION + section(7, vec([name("memory") + b"\x02\x00", name("t") + b"\x04\x00"])),
        "refers to tag 0, but the module has no tags",
    ),
    "memory access flags 0x80": (body_module(b"\x41\x00\x28\x80\x01\x00\x1a\x0b"), "found 0x80"),
    "memory access flags 0xc2": (body_module(b"\x41\x00\x36\xc2\x01\x00\x0b"), "found 0xc2"),
}


@pytest.mark.parametrize("code, found", MALFORMED_NOT_A_PROPOSAL.values(), ids=MALFORMED_NOT_A_PROPOSAL.keys())
def test_malformed_bytes_are_not_reported_as_a_proposal(
    code: bytes, found: str, strict_engine: wasmtime.Engine
) -> None:
    refused(code, "malformed", found)
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Module.validate(strict_engine, code)


def test_a_well_formed_tag_import_is_still_exceptions() -> None:
    refused(_import(b"\x04\x00\x00"), "disabled_proposal", "exception handling", "tag import wasmchain.x")


# Active segments must fit their memory or table: one that does not traps at every instantiation.


def _instance_traps(strict_engine: wasmtime.Engine, code: bytes) -> bool:
    store = wasmtime.Store(strict_engine)
    store.set_fuel(10**9)
    try:
        wasmtime.Instance(store, wasmtime.Module(strict_engine, code), [])
    except wasmtime.Trap:
        return True
    return False


SEGMENTS_OUT_OF_BOUNDS = {
    "data past the initial memory": (
        '(data (i32.const 65535) "ab")',
        MEMORY,
        "data_segment_out_of_bounds",
        "data segment 0 (2 bytes at offset 65535)",
    ),
    "data at a negative offset": (
        '(data (i32.const -1) "a")',
        MEMORY,
        "data_segment_out_of_bounds",
        "at offset 4294967295",
    ),
    "empty data past the end": (
        '(data (i32.const 65537) "")',
        MEMORY,
        "data_segment_out_of_bounds",
        "0 bytes at offset 65537",
    ),
    "data for a memory of no pages": (
        '(data (i32.const 0) "a")',
        '(memory (export "memory") 0 1)',
        "data_segment_out_of_bounds",
        "initial 0 pages",
    ),
    "the second data segment": (
        '(data (i32.const 0) "ok") (data (i32.const 131070) "abc")',
        '(memory (export "memory") 2)',
        "data_segment_out_of_bounds",
        "data segment 1 (3 bytes at offset 131070)",
    ),
    "elements past the table": (
        "(table 2 funcref) (elem (i32.const 1) $f $f) (func $f)",
        MEMORY,
        "element_segment_out_of_bounds",
        "element segment 0 (2 elements at offset 1)",
    ),
    "elements of a table that may grow": (
        "(table 1 10 funcref) (elem (i32.const 0) func $f $f) (func $f)",
        MEMORY,
        "element_segment_out_of_bounds",
        "initial 1 elements",
    ),
    "element expressions past the table": (
        "(table 1 funcref) (elem (table 0) (i32.const 2) funcref (ref.null func))",
        MEMORY,
        "element_segment_out_of_bounds",
        "ending at element 3",
    ),
}


@pytest.mark.parametrize(
    "fields, memory, rule, found", SEGMENTS_OUT_OF_BOUNDS.values(), ids=SEGMENTS_OUT_OF_BOUNDS.keys()
)
def test_a_segment_outside_its_memory_or_table_is_refused(
    fields: str, memory: str, rule: str, found: str, strict_engine: wasmtime.Engine
) -> None:
    code = wat(fields, memory)
    error = refused(code, rule, found, "would trap")
    assert rule in RULES
    assert str(error).startswith(f"{rule}: ")
    # What the rule saves a caller from: wasmtime accepts the module, and every instance traps.
    assert _instance_traps(strict_engine, code)


def test_a_segment_offset_is_always_a_constant_known_at_deploy() -> None:
    # global.get could only read an imported global in an offset, and a contract imports functions only.
    for fields in (
        '(global i32 (i32.const 0)) (data (global.get 0) "a")',
        "(table 1 funcref) (global i32 (i32.const 0)) (elem (global.get 0) func)",
    ):
        refused(wat(fields), "malformed", "global.get")
    refused(_import(b"\x03\x7f\x00"), "import", "expected only function imports, found global import wasmchain.x")


SEGMENTS_IN_BOUNDS = {
    "data ending at the last byte": ('(data (i32.const 65534) "ab")', MEMORY),
    "empty data at the end": ('(data (i32.const 65536) "")', MEMORY),
    "passive data anywhere": ('(data "far")', '(memory (export "memory") 0 1)'),
    "elements filling the table": ("(table 2 funcref) (elem (i32.const 0) $f $f) (func $f)", MEMORY),
    "passive and declared elements": ("(table 0 funcref) (elem func $f $f) (elem declare func $f) (func $f)", MEMORY),
}


@pytest.mark.parametrize("fields, memory", SEGMENTS_IN_BOUNDS.values(), ids=SEGMENTS_IN_BOUNDS.keys())
def test_a_segment_inside_its_memory_or_table_is_accepted(
    fields: str, memory: str, strict_engine: wasmtime.Engine
) -> None:
    code = wat(fields, memory)
    run(code)
    assert not _instance_traps(strict_engine, code)


# Allowed features: accepted, and they compile under the strict engine.


ALLOWED = {
    "bulk memory": """
        (data $d "hello") (table 2 funcref) (elem $e func $f) (func $f)
        (func (memory.init $d (i32.const 0) (i32.const 0) (i32.const 5)) (data.drop $d)
              (memory.copy (i32.const 8) (i32.const 0) (i32.const 5))
              (memory.fill (i32.const 0) (i32.const 0) (i32.const 4))
              (table.init $e (i32.const 0) (i32.const 0) (i32.const 1)) (elem.drop $e)
              (table.copy (i32.const 1) (i32.const 0) (i32.const 1))
              (drop (table.grow (ref.null func) (i32.const 1))) (drop (table.size))
              (table.fill (i32.const 0) (ref.func $f) (i32.const 1)))""",
    "sign extension": """(func (param i32 i64) (result i64)
              (drop (i32.extend8_s (local.get 0))) (drop (i32.extend16_s (local.get 0)))
              (drop (i64.extend8_s (local.get 1))) (drop (i64.extend16_s (local.get 1)))
              (i64.extend32_s (local.get 1)))""",
    "multi-value": """(type $pair (func (param i32) (result i32 i32)))
        (func $two (result i32 i64) (i32.const 1) (i64.const 2))
        (func (export "mv") (result i32)
          (call $two) (drop) (drop)
          (i32.const 3)
          (block (type $pair) (i32.const 4))
          (i32.add)
          (block (param i32) (result i32) (i32.const 1) (i32.add)))""",
    "funcref table and call_indirect": """(type $t (func (param i32) (result i32)))
        (table 2 funcref) (elem (i32.const 0) $id $id) (func $id (type $t) (local.get 0))
        (func (export "f") (result i32) (call_indirect (type $t) (i32.const 7) (i32.const 1)))""",
    "reference types on table 0": """(table $t 1 funcref) (elem declare func $f) (func $f)
        (func (result i32) (table.set (i32.const 0) (ref.func $f)) (drop (table.get (i32.const 0)))
              (select (result funcref) (ref.null func) (ref.func $f) (i32.const 1)) (ref.is_null))""",
    "mutable globals exported": '(global (export "g") (mut i64) (i64.const 5)) (func (global.set 0 (i64.const 1)))',
    "i64 and i32 arithmetic": (
        "(func (param i64) (result i64) (i64.rotl (i64.mul (local.get 0) (i64.const -7)) (i64.const 3)))"
    ),
    "br_table and loops": """(func (param i32) (result i32) (block (block (loop (br_table 0 1 2 (local.get 0)))))
        (if (result i32) (local.get 0) (then (i32.const 1)) (else (return (i32.const 2)))))""",
    "passive and active data with a data count": '(data (i32.const 0) "a") (data "b") (func (data.drop 1))',
}


@pytest.mark.parametrize("fields", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed_features_are_accepted(fields: str, strict_engine: wasmtime.Engine) -> None:
    code = wat(fields)
    wasmtime.Module(strict_engine, code)
    prepared = run(code)
    wasmtime.Module(strict_engine, prepared.code)


def test_saturating_truncation_is_accepted_when_floats_are_allowed(
    strict_engine: wasmtime.Engine,
) -> None:
    code = wat(
        "(func (param f32 f64) (result i64)"
        " (drop (i32.trunc_sat_f32_u (local.get 0))) (i64.trunc_sat_f64_s (local.get 1)))"
    )
    wasmtime.Module(strict_engine, run(code, allow_floats=True).code)


def test_custom_name_and_data_count_sections_are_accepted() -> None:
    code = wat('(func $named (local $x i32)) (data "x")') + section(0, name("producers") + b"\x00")
    assert run(code).code.endswith(section(0, name("producers") + b"\x00"))


def _call_indirect_module(table_index: bytes) -> bytes:
    body = b"\x41\x00\x11\x00" + table_index + b"\x0b"
    code = b"\x00" + body
    return (
        MAGIC_VERSION
        + section(1, vec([b"\x60\x00\x00"]))
        + section(3, vec([b"\x00"]))
        + section(4, vec([b"\x70\x00\x01"]))
        + MEMORY_SECTION
        + memory_export()
        + section(10, vec([leb(len(code)) + code]))
    )


def test_non_minimal_leb128_is_accepted_everywhere(strict_engine: wasmtime.Engine) -> None:
    # Rust 1.63+ writes call_indirect's table index as a padded 5-byte LEB128.
    padded = _call_indirect_module(b"\x80\x80\x80\x80\x00")
    wasmtime.Module(strict_engine, padded)
    wasmtime.Module(strict_engine, run(padded).code)
    # Padded local, function and type indices, section sizes and counts.
    run(body_module(b"\x20\x80\x80\x80\x80\x00\x1a\x0b", local_decls=b"\x01\x01\x7f"))
    run(body_module(b"\x10\x80\x00\x0b"))
    run(body_module(b"\x02\x80\x00\x0b\x0b"))
    padded_sections = (
        MAGIC_VERSION
        + b"\x01\x84\x80\x80\x80\x00\x01\x60\x00\x00"
        + b"\x03\x03\x81\x00\x00"
        + MEMORY_SECTION
        + memory_export()
        + b"\x0a\x04\x01\x02\x00\x0b"
    )
    wasmtime.Module(strict_engine, padded_sections)
    run(padded_sections)
    refused(_call_indirect_module(b"\x80\x80\x80\x80\x80\x00"), "malformed", "at most 5 bytes")


# The opcode table agrees with wat2wasm.


def _encodings() -> list[tuple[str, bytes]]:
    out = [(op.name, bytes([code])) for code, op in SINGLE.items() if op.imm in (Imm.NONE,) and op.name != "select"]
    out += [(op.name, b"\xfc" + leb(code)) for code, op in PREFIX_FC.items() if op.imm == Imm.NONE]
    return out


@pytest.mark.parametrize("name_, encoding", _encodings(), ids=[n for n, _ in _encodings()])
def test_opcode_table_matches_wat2wasm(name_: str, encoding: bytes) -> None:
    code = wasmtime.wat2wasm(f"(module (func {name_}))")
    assert b"\x00" + encoding + b"\x0b" in code


# Fuzzing: bad bytes only ever raise InvalidModule, quickly.


FUZZ_BASE = wat(
    COUNTER
    + ALLOWED["bulk memory"]
    + ALLOWED["multi-value"]
    + '(global (export "g") (mut i64) (i64.const 5)) (data "tail")'
)


def _prepare_or_refuse(code: bytes) -> PreparedModule | None:
    try:
        return run(code, allow_floats=True)
    except InvalidModule as error:
        assert error.rule in RULES
        return None


@settings(
    max_examples=400,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(st.tuples(st.integers(0, len(FUZZ_BASE) - 1), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(8, len(FUZZ_BASE)),
)
def test_mutated_modules_only_raise_invalid_module(edits: list[tuple[int, int]], cut: int) -> None:
    code = bytearray(FUZZ_BASE)
    for index, value in edits:
        code[index] = value
    _prepare_or_refuse(bytes(code))
    _prepare_or_refuse(bytes(code[:cut]))


@settings(max_examples=300, deadline=2000, derandomize=True, database=None)
@given(st.binary(max_size=300), st.integers(0, 2000))
def test_garbage_only_raises_invalid_module(tail: bytes, at: int) -> None:
    _prepare_or_refuse(MAGIC_VERSION + tail)
    spliced = FUZZ_BASE[:at] + tail + FUZZ_BASE[at + len(tail) :]
    _prepare_or_refuse(spliced)


INSTRUMENTED_AT_LEAST = 10
"""Distinct mutants that both the validator and wasmtime accept, whose instrumented code must compile.

Most mutants are refused before there is anything to instrument; the fuzz below counts the ones that
get through, so that it cannot pass by refusing everything (it reaches about 20 with these settings).
"""


def test_instrumenting_never_breaks_a_module_wasmtime_accepts(strict_engine: wasmtime.Engine) -> None:
    instrumented: set[bytes] = set()

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(edits=st.lists(st.tuples(st.integers(8, len(FUZZ_BASE) - 1), st.integers(0, 255)), min_size=1, max_size=2))
    def mutant_compiles_instrumented(edits: list[tuple[int, int]]) -> None:
        code = bytearray(FUZZ_BASE)
        for index, value in edits:
            code[index] = value
        prepared = _prepare_or_refuse(bytes(code))
        if prepared is None:
            return
        try:
            wasmtime.Module(strict_engine, bytes(code))
        except wasmtime.WasmtimeError:
            return
        wasmtime.Module(strict_engine, prepared.code)
        instrumented.add(bytes(code))

    mutant_compiles_instrumented()
    assert len(instrumented - {FUZZ_BASE}) >= INSTRUMENTED_AT_LEAST, len(instrumented)
