"""The one wasmtime Engine of the process, configured once, here.

Every setting that can change what a contract computes, or how much fuel
it burns, is made on purpose in ``_deterministic_config`` with the reason
beside it.  Nothing else in the code base creates an ``Engine`` or a
``Config``; a test checks that.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.metadata import version

import wasmtime
from wasmtime import _ffi as ffi

from .errors import InvalidParams
from .params import ENGINE_MAX_MEMORY_PAGES, ENGINE_MAX_TABLE_SIZE, VM_VERSION, WASMTIME_VERSION

MAX_WASM_STACK = 1 << 20
"""Native stack wasmtime allows one store's wasm frames (1 MiB).

It is a backstop that a correct contract never reaches: the deterministic
limit is ``Limits.max_stack_units``, counted by instrumentation, whose worst
case is a few hundred KiB (docs/gas.md).  Above 2 MiB (the async stack
size) wasmtime-py 50 aborts the process when the Engine is created.
"""


def _deterministic_config() -> wasmtime.Config:
    config = wasmtime.Config()
    # Gas: every wasm operator burns fuel, checked at function entry and loop
    # back-edges.  The runtime adds host costs to the same counter.
    config.consume_fuel = True
    # Floats: NaN bit patterns are the one non-deterministic part of IEEE
    # arithmetic in wasm; canonicalize them so every machine gives the same
    # bits.  (Deploy validation can still refuse floats altogether.)
    config.cranelift_nan_canonicalization = True
    # Proposals that are off: each is either non-deterministic (threads,
    # relaxed SIMD), unmetered in ways fuel does not see (GC allocation,
    # memory64's huge memories), or simply not needed by contracts and so a
    # risk with no benefit.  Deploy validation rejects them too, with a
    # clearer message than the compiler would give.
    config.wasm_threads = False
    config.shared_memory = False
    config.wasm_simd = False
    config.wasm_relaxed_simd = False
    config.wasm_memory64 = False
    config.wasm_multi_memory = False
    config.wasm_gc = False
    config.gc_support = False
    config.wasm_exceptions = False
    config.wasm_tail_call = False
    config.wasm_function_references = False
    config.wasm_stack_switching = False
    config.wasm_wide_arithmetic = False
    config.wasm_custom_page_sizes = False
    config.wasm_component_model = False
    # Reference types stay ON: turning them off aborts the process at
    # Engine() in wasmtime-py 50, and Rust's toolchains emit the
    # reference-types encoding of call_indirect.  Validation limits their use
    # to one funcref table.
    config.wasm_reference_types = True
    # Bulk memory and multi-value are in every toolchain's default output and
    # are deterministic; memory.fill/copy are metered per byte by wasmtime.
    config.wasm_bulk_memory = True
    config.wasm_multi_value = True
    # Memories, tables and instances come from a pool of slots reserved once
    # (wasmtime's pooling allocator) rather than from mmap/munmap per call:
    # every contract call creates and drops an instance, and the default
    # allocator spent ~40 us of system time per call mapping and unmapping
    # its memory.  A slot's first MiB stays resident and is reset with memset
    # when the slot is freed, so a call touches no fresh page (bench: a token
    # transfer's Runtime.execute, median 240 -> 150 us, same gas).  No guard
    # pages: bounds checks stay explicit.  The Store's limits (set per call
    # from genesis) still cap each memory below the slot's size; genesis
    # limits above the slots are refused (vm/params.py, ENGINE_MAX_*).
    config.memory_reservation = ENGINE_MAX_MEMORY_PAGES * PAGE
    config.memory_guard_size = 0
    _pooling(config)
    # Data segments are laid out from a copy-on-write image of the module
    # rather than copied at instantiation.  Pinned on, because it is not only
    # faster: wasmtime 50 burns fuel (1 per byte, like memory.init) when it
    # initializes data segments eagerly, so turning it off changes gas
    # (measured: the token's transfer costs 2,314 more).
    config.memory_init_cow = True
    config.max_wasm_stack = MAX_WASM_STACK
    # Compilation output must not depend on the machine's load or core count.
    config.parallel_compilation = False
    config.cranelift_opt_level = "speed"
    return config


PAGE = 65536

POOL_INSTANCES = 512
"""Instances (and memories and tables) alive at once in the process: ``ENGINE_MAX_CALL_DEPTH`` (64) frames of
eight call trees.  Every frame's store is closed as soon as it returns (``Runtime._run_frame``), so one
execution holds at most its call depth; running out is a fault of the node, never a receipt."""

POOL_KEEP_RESIDENT = 1 << 20
"""Bytes at the start of a memory (and of a table) kept resident and reset with memset when a slot is freed."""


def _pooling(config: wasmtime.Config) -> None:
    pool = ffi.wasmtime_pooling_allocation_config_new()
    ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pool, POOL_INSTANCES)
    ffi.wasmtime_pooling_allocation_config_total_memories_set(pool, POOL_INSTANCES)
    ffi.wasmtime_pooling_allocation_config_total_tables_set(pool, POOL_INSTANCES)
    ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pool, ENGINE_MAX_MEMORY_PAGES * PAGE)
    ffi.wasmtime_pooling_allocation_config_table_elements_set(pool, ENGINE_MAX_TABLE_SIZE)
    ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pool, POOL_KEEP_RESIDENT)
    ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, POOL_KEEP_RESIDENT)
    ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)  # the config copies it
    ffi.wasmtime_pooling_allocation_config_delete(pool)


POOL_EXHAUSTED = "maximum concurrent limit of"
"""How wasmtime begins the error of an instantiation that found no free slot in the pool."""

ENGINE_SETTINGS = (
    f"{VM_VERSION};consume_fuel;nan_canonicalization;reference_types;bulk_memory;"
    f"multi_value;no_threads_simd_memory64_multimemory_gc_exceptions_tailcall;"
    f"pooling={POOL_INSTANCES}x{ENGINE_MAX_MEMORY_PAGES}p,tables={ENGINE_MAX_TABLE_SIZE},resident={POOL_KEEP_RESIDENT};"
    f"memory_init_cow;guard=0;max_wasm_stack={MAX_WASM_STACK};opt=speed"
)
"""A text naming every setting above; its hash keys the compiled-module cache."""

ENGINE_FINGERPRINT = hashlib.sha256(ENGINE_SETTINGS.encode()).hexdigest()[:16]


@functools.cache
def engine() -> wasmtime.Engine:
    """The process's Engine, created on first use."""
    return wasmtime.Engine(_deterministic_config())


def wasmtime_version() -> str:
    """The installed wasmtime-py version, for the pin check."""
    return version("wasmtime")


def check_wasmtime_version() -> None:
    """Refuse to run on a wasmtime other than the pinned one."""
    found = wasmtime_version()
    if found != WASMTIME_VERSION:
        raise InvalidParams(
            f"wasmtime {found} is installed but this VM is pinned to {WASMTIME_VERSION}; "
            "fuel and code generation can differ between releases"
        )
