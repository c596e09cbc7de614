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

from .errors import InvalidParams
from .params import VM_VERSION, WASMTIME_VERSION

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
    # No virtual-memory reservation or guard pages: bounds checks are then
    # explicit, memories can be created cheaply (Store + instantiate drops
    # from ~227 us to ~136 us) and the memory cap from Store.set_limits is
    # the only limit on growth.
    config.memory_reservation = 0
    config.memory_guard_size = 0
    config.max_wasm_stack = MAX_WASM_STACK
    # Compilation output must not depend on the machine's load or core count.
    config.parallel_compilation = False
    config.cranelift_opt_level = "speed"
    return config


ENGINE_SETTINGS = (
    f"{VM_VERSION};consume_fuel;nan_canonicalization;reference_types;bulk_memory;"
    f"multi_value;no_threads_simd_memory64_multimemory_gc_exceptions_tailcall;"
    f"memory_reservation=0;guard=0;max_wasm_stack={MAX_WASM_STACK};opt=speed"
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
