"""vm/wasm/hooks.py: the profiling variant renumbers every function index and reports every transition."""

from __future__ import annotations

import wasmtime

from tests.helpers import wat
from wasmchain.vm.engine import engine
from wasmchain.vm.wasm.hooks import (
    BULK,
    ENTER,
    GROW,
    HOOK_FUEL,
    HOOK_MODULE,
    HOOK_NAME,
    KIND_BITS,
    KIND_MASK,
    LOOP,
    PRE_INDIRECT,
    RESUME,
    RESUME_INDIRECT,
    add_hooks,
)

# Two imports, a table filled by both element encodings (indices and ref.func expressions), a funcref
# global initialised with ref.func, a start function, call_indirect (to a defined function and to an
# import), ref.func in code, exports of functions, a loop, bulk memory and grows, and a name section.
RENUMBERED = """
(module
  (import "env" "log" (func $log (param i32)))
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (type $to_i32 (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 4 funcref)
  (global $g funcref (ref.func $double))
  (global $started (mut i32) (i32.const 0))
  (elem (i32.const 0) $double $twice)
  (elem (table $t) (i32.const 2) funcref (ref.func $inc) (ref.null func))
  (elem declare func $run)
  (start $start)
  (func $start (global.set $started (i32.const 5)))
  (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $run (export "run") (param i32) (result i32) (local $i i32)
    (call $log (local.get 0))
    (local.set 0 (call_indirect (type $to_i32) (local.get 0) (i32.const 0)))
    (local.set 0 (call_indirect (type $to_i32) (local.get 0) (i32.const 1)))
    (local.set 0 (call_indirect (type $to_i32) (local.get 0) (i32.const 2)))
    (drop (ref.func $run))
    (loop $again
      (local.set 0 (call $inc (local.get 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 3))))
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 16))
    (drop (memory.grow (i32.const 1)))
    (i32.add (local.get 0) (global.get $started)))
  (func (export "table_size") (result i32) (table.size $t))
  (func (export "indirect_import") (param i32) (result i32)
    (call_indirect (type $to_i32) (local.get 0) (i32.const 1)))
)
"""


def _instance(code: bytes, calls: list[tuple[int, int, int]]) -> tuple[wasmtime.Store, wasmtime.Instance]:
    store = wasmtime.Store(engine())
    store.set_fuel(10**9)
    linker = wasmtime.Linker(engine())
    i32 = wasmtime.ValType.i32()
    linker.define_func("env", "log", wasmtime.FuncType([i32], []), lambda value: None)
    linker.define_func("env", "twice", wasmtime.FuncType([i32], [i32]), lambda value: value * 2)

    def hook(code: int, arg: int) -> None:
        calls.append((code >> KIND_BITS, code & KIND_MASK, arg))

    linker.define_func(HOOK_MODULE, HOOK_NAME, wasmtime.FuncType([i32, i32], []), hook)
    module = wasmtime.Module(engine(), code)
    return store, linker.instantiate(store, module)


def test_the_variant_validates_and_computes_what_the_original_does() -> None:
    original = wat(RENUMBERED)
    hooked = add_hooks(original)
    wasmtime.Module.validate(engine(), hooked.code)
    assert hooked.hook_index == 2
    results = []
    for code in (original, hooked.code):
        store, instance = _instance(code, [])
        exports = instance.exports(store)
        results.append((exports["run"](store, 10), exports["table_size"](store), exports["indirect_import"](store, 4)))
    # run: 10 -> double 20 -> twice 40 -> inc 41 -> three incs 44, plus the start function's 5.
    assert results[0] == results[1] == (49, 4, 8)


def test_every_transition_is_reported_with_the_original_function_index() -> None:
    calls: list[tuple[int, int, int]] = []
    store, instance = _instance(add_hooks(wat(RENUMBERED)).code, calls)
    assert calls == [(2, ENTER, 0)]  # the start function ($start is function 2 of the original)
    calls.clear()
    instance.exports(store)["run"](store, 10)
    run, double, inc = 5, 3, 4
    assert calls == [
        (run, ENTER, 0),
        (run, PRE_INDIRECT, 0),
        (double, ENTER, 0),
        (run, RESUME_INDIRECT, 0),
        (run, PRE_INDIRECT, 0),  # $twice is an import: no ENTER
        (run, RESUME_INDIRECT, 0),
        (run, PRE_INDIRECT, 0),
        (inc, ENTER, 0),
        (run, RESUME_INDIRECT, 0),
        *[item for _ in range(3) for item in ((run, LOOP, 0), (inc, ENTER, 0), (run, RESUME, 0))],
        (run, BULK, 0),
        (run, GROW, 1),  # memory.grow returned the old size, 1 page
    ]


def test_names_are_read_and_renumbered() -> None:
    hooked = add_hooks(wat(RENUMBERED))
    assert hooked.names == {0: "log", 1: "twice", 2: "start", 3: "double", 4: "inc", 5: "run"}
    # The variant's own name section names the renumbered functions: wasmtime reports them in traps.
    module = wasmtime.Module(engine(), hooked.code)
    assert [(item.module, item.name) for item in module.imports][-1] == (HOOK_MODULE, HOOK_NAME)


def test_a_trap_maps_back_to_the_original_function_and_offset() -> None:
    source = """(module (memory (export "memory") 1)
      (func $helper (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
      (func (export "boom") (result i32) (call $helper (i32.const 0))))"""
    sites = []
    for code in (wat(source), add_hooks(wat(source)).code):
        store, instance = _instance(code, [])
        try:
            instance.exports(store)["boom"](store)
        except wasmtime.Trap as trap:
            sites.append((trap.frames[0].func_index, trap.frames[0].func_name, trap.frames[0].module_offset))
    hooked = add_hooks(wat(source))
    index, name, offset = sites[1]
    assert (hooked.original_index(index), name, hooked.original_offset(offset)) == sites[0]


def test_hook_sites_burn_the_fuel_the_profiler_gives_back() -> None:
    # The same function with and without its hook sites: the difference in fuel is HOOK_FUEL per site.
    source = """(module (memory (export "memory") 1) (table 1 funcref)
      (func $f)
      (func (export "go") (local i32)
        (call $f)
        (loop (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br_if 0 (i32.lt_u (local.get 0) (i32.const 2))))
        (memory.fill (i32.const 0) (i32.const 0) (i32.const 3))
        (drop (memory.grow (i32.const 0)))
        (drop (table.grow (ref.null func) (i32.const 0)))))"""
    used = []
    calls: list[tuple[int, int, int]] = []
    for code in (wat(source), add_hooks(wat(source)).code):
        store, instance = _instance(code, calls)
        store.set_fuel(10**6)
        instance.exports(store)["go"](store)
        used.append(10**6 - store.get_fuel())
    assert used[1] - used[0] == sum(HOOK_FUEL[kind] for _, kind, _ in calls)
    assert sorted({kind for _, kind, _ in calls}) == [ENTER, LOOP, RESUME, BULK, GROW]


def test_a_module_without_imports_or_types_gets_both() -> None:
    hooked = add_hooks(wat('(module (memory (export "memory") 1))'))
    module = wasmtime.Module(engine(), hooked.code)
    assert [(item.module, item.name) for item in module.imports] == [(HOOK_MODULE, HOOK_NAME)]
    assert hooked.hook_index == 0
