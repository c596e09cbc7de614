"""The VM's parameters: deploy-time limits, runtime limits and the gas schedule.

They come from the ``vm`` section of ``genesis.json`` and are part of the
chain's rules: two nodes with different parameters compute different
results.  Every value is an integer (gas arithmetic never uses floats) and
every field must be present in genesis, so that a chain's rules are written
down in one file rather than partly hidden in code defaults.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from .errors import InvalidParams

# The ABI version and the engine are part of the VM version: a replay on a
# different one must be refused, never silently diverge.  A node runs every
# version in ``VM_VERSIONS``: they share the engine and differ only in which
# host functions a module may import (``abi.host_functions``), so a chain
# whose genesis names ABI 1 replays exactly as it did before ABI 1.1 existed.
# ABI 1.2 adds no host function: it checks a module's interface (its
# ``wasmchain:wit`` section, ``vm.wit``) at deploy, which 1 and 1.1 ignore.
# ABI 2 adds a second import module, ``wasmchain_v2`` (vm/abi.py): an ABI 1
# module runs under it exactly as under 1.2.
ABI_VERSION = "2"
WASMTIME_VERSION = "50.0.1"
VM_VERSION = f"wasmtime-{WASMTIME_VERSION}/abi-{ABI_VERSION}"
"""The newest VM version: what a new genesis names."""
VM_VERSION_ABI_1_2 = f"wasmtime-{WASMTIME_VERSION}/abi-1.2"
"""ABI 1.2: a deploy checks the module's WIT interface; no ``wasmchain_v2``."""
VM_VERSION_ABI_1 = f"wasmtime-{WASMTIME_VERSION}/abi-1"
"""The first VM version (ABI 1.0, no ``debug_log``)."""
VM_VERSION_ABI_1_1 = f"wasmtime-{WASMTIME_VERSION}/abi-1.1"
"""ABI 1.1: ``debug_log``; a ``wasmchain:wit`` section is ignored like any custom section."""
VM_VERSIONS = (VM_VERSION_ABI_1, VM_VERSION_ABI_1_1, VM_VERSION_ABI_1_2, VM_VERSION)
"""Every VM version this node runs, oldest first."""

# Ceilings the engine's instance pool imposes (vm/engine.py): a genesis may set
# its limits up to these, never above, so that a limit in genesis is always
# the limit a contract meets (a memory.grow past the pool's slot would return
# -1 below a larger max_memory_pages).
ENGINE_MAX_MEMORY_PAGES = 512
"""Pages (64 KiB) in each of the pool's memory slots: 32 MiB, CosmWasm's cap."""
ENGINE_MAX_INITIAL_MEMORY_PAGES = 128
"""Initial pages (8 MiB).  Data segments lie within the initial memory, and wasmtime lays them out from a
copy-on-write image (no fuel) unless the image is large and sparse, when it copies them and burns 1 fuel a
byte; "sparse" is judged in units of the host's page size, which differs between CPUs.  Images under
16 MiB are always mapped, so this cap keeps a module's gas the same on every machine."""
ENGINE_MAX_TABLE_SIZE = 65536
"""Elements in each of the pool's table slots."""
ENGINE_MAX_FUNCTIONS = 16384
ENGINE_MAX_GLOBALS = 16384
"""Functions and globals of a module: an instance's bookkeeping must fit the pool's 1 MiB per instance
(measured: 16,384 of each, every function in the table, fit; 32,768 functions did not)."""
ENGINE_MAX_IMPORTS = 1024
ENGINE_MAX_CALL_DEPTH = 64
"""Frames of one call tree: each holds one instance of the pool while it runs."""
_CEILINGS = {
    "max_memory_pages": ENGINE_MAX_MEMORY_PAGES,
    "max_initial_memory_pages": ENGINE_MAX_INITIAL_MEMORY_PAGES,
    "max_table_size": ENGINE_MAX_TABLE_SIZE,
    "max_functions": ENGINE_MAX_FUNCTIONS,
    "max_globals": ENGINE_MAX_GLOBALS,
    "max_imports": ENGINE_MAX_IMPORTS,
    "max_call_depth": ENGINE_MAX_CALL_DEPTH,
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits checked at deploy time (before compiling) and at run time."""

    max_code_size: int
    """Bytes of a module's binary.  Bounds compile time, which fuel does not meter."""
    max_functions: int
    """Functions defined by the module (imports not counted)."""
    max_function_body_size: int
    """Bytes of one function body.  Bounds compile time and fuel-check overshoot."""
    max_locals_per_function: int
    """Locals declared in one function, parameters included."""
    max_nesting_depth: int
    """Nested block/loop/if constructs in one function body."""
    max_types: int
    """Entries in the type section."""
    max_type_arity: int
    """Parameters plus results of one function type."""
    max_imports: int
    """Imported functions (all must come from the host ABI)."""
    max_exports: int
    """Exports of the module."""
    max_globals: int
    """Globals defined by the module."""
    max_table_size: int
    """Initial (and maximum) elements of the one table; also the runtime cap."""
    max_element_segments: int
    """Element segments."""
    max_data_segments: int
    """Data segments."""
    max_initial_memory_pages: int
    """Initial pages (64 KiB each) of the one memory."""
    max_memory_pages: int
    """Pages the memory may grow to at run time; ``memory.grow`` past it returns -1."""
    max_stack_units: int
    """Deterministic call-stack budget, in stack units (see docs/gas.md)."""
    max_call_depth: int
    """Contract frames on the cross-contract call stack, the outermost call included."""
    max_input_size: int
    """Bytes of a call's input (its arguments)."""
    max_return_size: int
    """Bytes of a call's return data."""
    max_key_size: int
    """Bytes of a storage key."""
    max_value_size: int
    """Bytes of a storage value."""
    max_event_name_size: int
    """Bytes of an event's name."""
    max_event_data_size: int
    """Bytes of an event's data."""
    max_events: int
    """Events emitted by one top-level call, nested calls included."""


@dataclass(frozen=True, slots=True)
class GasSchedule:
    """Gas costs.  One unit of gas is one unit of wasmtime fuel.

    Host functions charge before they do their work; the per-byte costs
    apply to the bytes the function reads from or writes to wasm memory and
    to the bytes it hashes or stores.  See docs/gas.md for the calibration.
    """

    host_call: int
    """Base cost of every host function call (a wasm to Python crossing)."""
    copy_byte: int
    """Per byte copied between wasm memory and the host (input, return data, call results)."""
    storage_read_base: int
    """Extra base cost of ``storage_read`` and ``storage_has``."""
    storage_read_byte: int
    """Per byte of key and value read from storage."""
    storage_write_base: int
    """Extra base cost of ``storage_write`` and ``storage_remove``."""
    storage_write_byte: int
    """Per byte of key and value written to storage."""
    event_base: int
    """Extra base cost of emitting an event."""
    event_byte: int
    """Per byte of event name and data."""
    sha256_base: int
    """Extra base cost of ``sha256``."""
    sha256_byte: int
    """Per byte hashed."""
    ed25519_verify_base: int
    """Extra base cost of ``ed25519_verify``."""
    ed25519_verify_byte: int
    """Per byte of the verified message."""
    instantiate: int
    """Cost of every contract frame: a fresh store and instance (top-level and nested calls)."""
    call_base: int
    """Extra base cost of a cross-contract ``call`` (before the callee's own costs)."""
    call_reserve: int
    """Gas a caller always keeps from a nested call's budget: the callee gets at most
    ``left - max(left // 64, call_reserve)``, so the caller can still read the callee's
    failure and abort with a message (see docs/gas.md, "Nested calls")."""
    transfer_base: int
    """Extra base cost of a native ``transfer`` from a contract."""
    compile_byte: int
    """Per byte of code at deploy: compilation is not metered by fuel."""
    tx_base: int
    """Intrinsic cost of every transaction (charged by the chain)."""
    tx_byte: int
    """Intrinsic cost per byte of the encoded transaction (charged by the chain)."""


@dataclass(frozen=True, slots=True)
class VMParams:
    """Everything that decides what a module may be and what it costs to run."""

    version: str
    """The VM version these parameters were written for (``VM_VERSION``)."""
    allow_floats: bool
    """When false, any floating-point instruction is rejected at deploy."""
    limits: Limits
    gas: GasSchedule

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VMParams:
        """Build parameters from the ``vm`` section of genesis, strictly."""
        if not isinstance(data, Mapping):
            raise InvalidParams(f"vm: expected an object, found {type(data).__name__}")
        _check_keys("vm", data, {"version", "allow_floats", "limits", "gas"})
        version = data["version"]
        if version not in VM_VERSIONS:
            runs = " or ".join(repr(known) for known in VM_VERSIONS)
            raise InvalidParams(f"vm.version: this node runs {runs}, genesis asks for {version!r}")
        allow_floats = data["allow_floats"]
        if not isinstance(allow_floats, bool):
            raise InvalidParams(f"vm.allow_floats: expected true or false, found {allow_floats!r}")
        limits = _int_record(Limits, "vm.limits", data["limits"])
        for name, ceiling in _CEILINGS.items():
            if getattr(limits, name) > ceiling:
                raise InvalidParams(
                    f"vm.limits.{name}: at most {ceiling} (the engine's instance pool), found {getattr(limits, name)}"
                )
        return cls(
            version=version,
            allow_floats=allow_floats,
            limits=limits,
            gas=_int_record(GasSchedule, "vm.gas", data["gas"]),
        )

    @property
    def abi_version(self) -> str:
        """The host ABI of this version: "1", "1.1", "1.2" or "2" (the text after ``/abi-``)."""
        return self.version.rpartition("/abi-")[2]

    def to_dict(self) -> dict[str, Any]:
        """The inverse of ``from_dict``."""
        return {
            "version": self.version,
            "allow_floats": self.allow_floats,
            "limits": dataclasses.asdict(self.limits),
            "gas": dataclasses.asdict(self.gas),
        }

    def fingerprint(self) -> bytes:
        """A hash of these parameters (canonical JSON: sorted keys, no spaces)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).digest()


R = TypeVar("R", Limits, GasSchedule)


def _check_keys(where: str, data: Mapping[str, Any], expected: set[str]) -> None:
    missing = sorted(expected - data.keys())
    unknown = sorted(set(data.keys()) - expected)
    if missing:
        raise InvalidParams(f"{where}: missing {', '.join(missing)}")
    if unknown:
        raise InvalidParams(f"{where}: unknown {', '.join(map(str, unknown))}")


def _int_record(cls: type[R], where: str, data: Any) -> R:
    if not isinstance(data, Mapping):
        raise InvalidParams(f"{where}: expected an object, found {type(data).__name__}")
    names = [f.name for f in fields(cls)]
    _check_keys(where, data, set(names))
    for name in names:
        value = data[name]
        # bool is an int subclass: refuse it explicitly.
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidParams(f"{where}.{name}: expected a non-negative integer, found {value!r}")
    return cls(**{name: data[name] for name in names})
