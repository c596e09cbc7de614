"""Stack instrumentation (vm.wasm): same behaviour, a deterministic call-depth limit."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
import wasmtime

from tests.helpers import devnet_params
from wasmchain.vm.abi import HOST_FUNCTIONS, STACK_GLOBAL_EXPORT
from wasmchain.vm.errors import InvalidModule
from wasmchain.vm.wasm import FRAME_OVERHEAD_UNITS, MAX_INSTRUMENTED_GROWTH, FuncSig, PreparedModule, prepare

from .conftest import MAGIC_VERSION, MEMORY_SECTION, genesis_limits, leb, name, section, vec

MEMORY = '(memory (export "memory") 1)'
PROBE = FuncSig((), ())
STACK_EXHAUSTED = -1
"""``$sp`` after a refused call: 0xFFFFFFFF, read back as a signed i32."""


def wat(fields: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {fields} {MEMORY})"))


def prep(code: bytes, **overrides: int) -> PreparedModule:
    return prepare(
        code,
        limits=dataclasses.replace(genesis_limits(), **overrides),
        allow_floats=False,
        allowed_imports={"probe": PROBE},
    )


class Instance:
    """An instance in the strict engine, with a ``probe`` import that records ``$sp``."""

    def __init__(self, engine: wasmtime.Engine, code: bytes) -> None:
        self.store = wasmtime.Store(engine)
        self.store.set_fuel(10**9)
        self.probes: list[int] = []
        linker = wasmtime.Linker(engine)
        linker.define_func("wasmchain", "probe", wasmtime.FuncType([], []), self._probe, access_caller=True)
        self.instance = linker.instantiate(self.store, wasmtime.Module(engine, code))

    def _probe(self, caller: wasmtime.Caller) -> None:
        stack = caller.get(STACK_GLOBAL_EXPORT)
        self.probes.append(stack.value(caller) if isinstance(stack, wasmtime.Global) else -2)

    def export(self, name_: str) -> Any:
        return self.instance.exports(self.store)[name_]

    def call(self, name_: str, *args: int) -> Any:
        return self.export(name_)(self.store, *args)

    @property
    def sp(self) -> int:
        value: int = self.export(STACK_GLOBAL_EXPORT).value(self.store)
        return value

    @sp.setter
    def sp(self, value: int) -> None:
        self.export(STACK_GLOBAL_EXPORT).set_value(self.store, wasmtime.Val.i32(value))


def enter(inst: Instance, prepared: PreparedModule, name_: str, *args: int) -> Any:
    """Call an export as the host does: ``$sp`` starts at the entry's cost."""
    inst.sp = prepared.entry_costs[name_]
    result = inst.call(name_, *args)
    assert inst.sp == prepared.entry_costs[name_], "the counter is back where it started"
    return result


# Recursion whose cost is counted by hand below.
RECURSIVE = """
  (func $rec (export "rec") (param $n i32) (result i32)
    local.get $n
    if (result i32)
      local.get $n
      i32.const 1
      i32.sub
      call $rec
      i32.const 1
      i32.add
    else
      i32.const 0
    end)
"""
# 1 parameter, no locals; operand stack at most 2 (local.get + i32.const before
# i32.sub, and $rec's result + i32.const before i32.add).
REC_COST = 8 + 1 + 0 + 2

PROGRAMS = (
    """
  (import "wasmchain" "probe" (func $probe))
  (type $binop (func (param i64 i64) (result i64)))
  (table 3 funcref)
  (elem (i32.const 0) $add $mul $fib64)
  (global $calls (mut i32) (i32.const 0))
  (func $add (type $binop) (i64.add (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i64.mul (local.get 0) (local.get 1)))
  (func $fib64 (type $binop)
    (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
      (then (local.get 0))
      (else (i64.add (call $fib64 (i64.sub (local.get 0) (i64.const 1)) (i64.const 0))
                     (call $fib64 (i64.sub (local.get 0) (i64.const 2)) (i64.const 0))))))
  (func (export "apply") (param $op i32) (param $a i64) (param $b i64) (result i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call_indirect (type $binop) (local.get $a) (local.get $b) (local.get $op)))
  (func $divmod (param i32 i32) (result i32 i32)
    (i32.div_u (local.get 0) (local.get 1)) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "divmod_sum") (param i32 i32) (result i32)
    (call $divmod (local.get 0) (local.get 1)) (i32.add))
  (func (export "fact") (param $n i64) (result i64) (local $acc i64)
    (local.set $acc (i64.const 1))
    (block $done (loop $again
      (br_if $done (i64.eqz (local.get $n)))
      (local.set $acc (call $mul (local.get $acc) (local.get $n)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br $again)))
    (local.get $acc))
  (func (export "calls") (result i32) (global.get $calls))
  (func (export "store_load") (param i32) (result i32)
    (i32.store8 (i32.const 100) (local.get 0))
    (i32.load8_s (i32.const 100)))
"""
    + RECURSIVE
)

CASES: list[tuple[str, tuple[int, ...]]] = [
    ("apply", (0, 20, 22)),
    ("apply", (1, -3, 7)),
    ("apply", (2, 20, 0)),
    ("divmod_sum", (17, 5)),
    ("fact", (20,)),
    ("store_load", (200,)),
    ("rec", (50,)),
    ("calls", ()),
]


def test_instrumented_module_compiles_and_exports_the_counter(
    strict_engine: wasmtime.Engine,
) -> None:
    prepared = prep(wat(PROGRAMS))
    exports = {e.name: e.type for e in wasmtime.Module(strict_engine, prepared.code).exports}
    counter = exports[STACK_GLOBAL_EXPORT]
    assert isinstance(counter, wasmtime.GlobalType)
    assert counter.mutable and str(counter.content) == "i32"
    assert STACK_GLOBAL_EXPORT not in prepared.exports


def test_instrumented_modules_behave_like_the_originals(strict_engine: wasmtime.Engine) -> None:
    code = wat(PROGRAMS)
    prepared = prep(code)
    original, instrumented = Instance(strict_engine, code), Instance(strict_engine, prepared.code)
    for export, args in CASES:
        assert enter(instrumented, prepared, export, *args) == original.call(export, *args), export
    assert instrumented.call("apply", 2, 25, 0) == 75025


def test_the_counter_holds_the_sum_of_the_frames_on_the_stack(
    strict_engine: wasmtime.Engine,
) -> None:
    code = wat(
        """(import "wasmchain" "probe" (func $probe))
        (type $v (func)) (table 1 funcref) (elem (i32.const 0) $leaf)
        (func $leaf (local i64 i64 i64) (call $probe))
        (func (export "direct") (call $probe) (call $leaf) (call $probe))
        (func (export "indirect") (call_indirect (type $v) (i32.const 0)))"""
    )
    prepared = prep(code)
    inst = Instance(strict_engine, prepared.code)
    leaf = 8 + 3 + 0
    direct = 8 + 0 + 0
    indirect = 8 + 0 + 1
    assert prepared.entry_costs == {"direct": direct, "indirect": indirect}
    assert prepared.max_cost == leaf
    enter(inst, prepared, "direct")
    # Calls to the host are not counted; the call of $leaf is.
    assert inst.probes == [direct, direct + leaf, direct]
    inst.probes.clear()
    enter(inst, prepared, "indirect")
    # call_indirect is charged the largest cost of any function.
    assert inst.probes == [indirect + prepared.max_cost]


@pytest.mark.parametrize("limit", [1000, 32768, REC_COST * 40, REC_COST * 40 - 1])
def test_recursion_traps_at_the_depth_the_limit_predicts(limit: int, strict_engine: wasmtime.Engine) -> None:
    prepared = prep(wat(RECURSIVE), max_stack_units=limit)
    assert prepared.entry_costs["rec"] == REC_COST
    # rec(n) has n + 1 frames on the stack at its deepest, each costing REC_COST.
    deepest = limit // REC_COST - 1
    inst = Instance(strict_engine, prepared.code)
    assert enter(inst, prepared, "rec", deepest) == deepest
    inst.sp = REC_COST
    with pytest.raises(wasmtime.Trap) as trap:
        inst.call("rec", deepest + 1)
    assert trap.value.trap_code == wasmtime.TrapCode.UNREACHABLE
    assert inst.sp == STACK_EXHAUSTED
    # The same module, called fresh, still reaches the same depth.
    assert enter(Instance(strict_engine, prepared.code), prepared, "rec", deepest) == deepest


def test_the_name_section_survives_and_names_trapping_frames(
    strict_engine: wasmtime.Engine,
) -> None:
    prepared = prep(wat(RECURSIVE), max_stack_units=100)
    inst = Instance(strict_engine, prepared.code)
    inst.sp = REC_COST
    with pytest.raises(wasmtime.Trap) as trap:
        inst.call("rec", 100)
    assert trap.value.frames and trap.value.frames[0].func_name == "rec"


def test_only_the_global_export_and_code_sections_change() -> None:
    custom = section(0, name("wasmchain.test") + b"\x01\x02\x03")
    code = wat('(func $f (call $f)) (data (i32.const 0) "kept")') + custom
    out = prep(code).code
    assert out.endswith(custom)
    assert b"kept" in out and b"\x04name" in out
    # type, function, memory sections are copied byte for byte ahead of the new ones.
    assert out[:8] == code[:8]


def test_a_module_without_globals_gets_a_global_section_in_order(
    strict_engine: wasmtime.Engine,
) -> None:
    code = wat("(func)")
    assert b"\x06" not in code[8:12]
    out = prep(code).code
    wasmtime.Module(strict_engine, out)
    sections = _section_ids(out)
    assert sections == [1, 3, 5, 6, 7, 10]


def test_existing_globals_keep_their_indices(strict_engine: wasmtime.Engine) -> None:
    code = wat(
        """(global $a (mut i32) (i32.const 5)) (global $b i64 (i64.const 7))
        (func $inc (global.set $a (i32.add (global.get $a) (i32.const 1))))
        (func (export "f") (result i64) (call $inc) (call $inc)
              (i64.add (i64.extend_i32_u (global.get $a)) (global.get $b)))"""
    )
    prepared = prep(code)
    inst = Instance(strict_engine, prepared.code)
    assert enter(inst, prepared, "f") == 14
    exports = [e.name for e in wasmtime.Module(strict_engine, prepared.code).exports]
    assert exports[-1] == STACK_GLOBAL_EXPORT


def test_calls_to_host_functions_are_left_alone() -> None:
    code = wat('(import "wasmchain" "probe" (func $probe)) (func (export "f") (call $probe) (call $probe))')
    body = b"\x06\x00\x10\x00\x10\x00\x0b"
    assert body in code
    assert body in prep(code).code


def test_calls_in_dead_code_and_many_calls_per_body_still_validate(
    strict_engine: wasmtime.Engine,
) -> None:
    many = "(call $f) " * 2000
    code = wat(f'(func $f) (func (export "g") {many} (return) (call $f) (unreachable) (call $f))')
    prepared = prep(code)
    module = wasmtime.Module(strict_engine, prepared.code)
    inst = Instance(strict_engine, prepared.code)
    enter(inst, prepared, "g")
    assert module is not None


def test_padded_call_indirect_is_kept_and_works(strict_engine: wasmtime.Engine) -> None:
    # As Rust 1.63+ emits it: the table index as a 5-byte LEB128.
    one = b"\x00\x41\x01\x0b"
    call = b"\x00\x41\x00\x11\x00\x80\x80\x80\x80\x00\x0b"
    padded = (
        MAGIC_VERSION
        + section(1, vec([b"\x60\x00\x01\x7f"]))
        + section(3, vec([b"\x00", b"\x00"]))
        + section(4, vec([b"\x70\x00\x01"]))
        + MEMORY_SECTION
        + section(7, vec([name("memory") + b"\x02\x00", name("f") + b"\x00\x01"]))
        + section(9, vec([b"\x00\x41\x00\x0b" + vec([b"\x00"])]))
        + section(10, vec([leb(len(one)) + one, leb(len(call)) + call]))
    )
    prepared = prep(padded)
    assert b"\x11\x00\x80\x80\x80\x80\x00" in prepared.code
    assert enter(Instance(strict_engine, prepared.code), prepared, "f") == 1


def test_dead_code_can_only_raise_the_cost() -> None:
    # After unreachable the height restarts at the block's base and pushes still count:
    # 2 constants are on the (polymorphic) stack at most.
    code = wat('(func (export "f") (unreachable) (i32.const 1) (i32.const 2) (drop) (drop))')
    assert prep(code).entry_costs["f"] == FRAME_OVERHEAD_UNITS + 2


def test_block_parameters_and_results_are_counted() -> None:
    code = wat(
        """(type $t (func (param i32 i32) (result i32 i32 i32)))
        (func (export "f") (result i32)
          (i32.const 1) (i32.const 2)
          (block (type $t) (i32.const 3))
          (drop) (drop))"""
    )
    # 1, 2 -> block keeps them as its params and pushes 3: 3 values; it yields 3 results.
    assert prep(code).entry_costs["f"] == 8 + 3


# Performance: one linear pass.


SYNTHETIC_BODY = """(local $i i32) (local $acc i64)
  (local.set $i (local.get 0))
  (block $out (loop $top
    (br_if $out (i32.eqz (local.get $i)))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load offset=8 (local.get $i)))))
    (i32.store offset=16 (local.get $i) (i32.xor (local.get $i) (i32.const 0x5bd1e995)))
    (if (i32.and (local.get $i) (i32.const 7)) (then (local.set $acc (i64.rotl (local.get $acc) (i64.const 13)))))
    (local.set $i (i32.sub (local.get $i) (i32.const 1)))
    (br $top)))"""


def synthetic_module(target_size: int) -> bytes:
    """A module of about ``target_size`` bytes: many mid-sized exported functions
    mixing locals, loads and stores, loops, branches and calls."""

    def build(count: int) -> bytes:
        functions = " ".join(
            f'(func $f{i} (export "f{i}") (param i32) (result i32) {SYNTHETIC_BODY} '
            f"{f'(drop (call $f{i - 1} (local.get 0)))' if i else ''} (i32.wrap_i64 (local.get $acc)))"
            for i in range(count)
        )
        return wat(functions)

    count = 10
    code = build(count)
    for _ in range(10):
        if target_size - 200 <= len(code) <= target_size:
            break
        per_function = (len(code) - len(build(0))) / count
        count = max(1, count + int((target_size - 100 - len(code)) / per_function))
        code = build(count)
    return code


@pytest.mark.parametrize("size", [50_000, 512 * 1024])
def test_preparing_is_fast(size: int) -> None:
    code = synthetic_module(size)
    assert size - 200 <= len(code) <= size
    limits = dataclasses.replace(genesis_limits(), max_exports=10_000, max_functions=10_000)
    start = time.perf_counter()
    prepare(code, limits=limits, allow_floats=False, allowed_imports={})
    elapsed = time.perf_counter() - start
    assert elapsed < 0.1 * size / 50_000 + 0.5, f"{len(code)} bytes took {elapsed:.3f}s"


def _section_ids(code: bytes) -> list[int]:
    ids, pos = [], 8
    while pos < len(code):
        ids.append(code[pos])
        size, shift, pos = 0, 0, pos + 1
        while True:
            byte = code[pos]
            size |= (byte & 0x7F) << shift
            shift += 7
            pos += 1
            if byte < 0x80:
                break
        pos += size
    return ids


def test_call_dense_code_that_instrumentation_would_inflate_is_refused() -> None:
    """Compiling is unmetered: a module may not grow past 2 x max_code_size when instrumented."""
    calls = " ".join(["(call $f)"] * 1500)
    code = wat(f'(func $f) (func (export "m") {calls})')
    limits = dataclasses.replace(devnet_params().limits, max_code_size=4096)
    assert len(code) < limits.max_code_size
    with pytest.raises(InvalidModule) as refused:
        prepare(code, limits=limits, allow_floats=False, allowed_imports=HOST_FUNCTIONS)
    assert refused.value.rule == "max_code_size"
    assert "too many call sites" in str(refused.value)
    roomy = dataclasses.replace(limits, max_code_size=len(code) * 16)
    grown = prepare(code, limits=roomy, allow_floats=False, allowed_imports=HOST_FUNCTIONS)
    assert MAX_INSTRUMENTED_GROWTH * 4096 < len(grown.code) <= MAX_INSTRUMENTED_GROWTH * roomy.max_code_size
