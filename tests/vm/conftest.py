"""Fixtures for the vm tests: the devnet limits and a strict wasmtime engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime

from wasmchain.vm.params import Limits, VMParams

GENESIS = Path(__file__).resolve().parents[2] / "genesis.json"

STRICT_CONFIG = {
    "consume_fuel": True,
    "cranelift_nan_canonicalization": True,
    "wasm_threads": False,
    "wasm_simd": False,
    "wasm_relaxed_simd": False,
    "wasm_memory64": False,
    "wasm_multi_memory": False,
    "wasm_gc": False,
    "wasm_exceptions": False,
    "wasm_tail_call": False,
    "wasm_function_references": False,
    "wasm_stack_switching": False,
    "wasm_component_model": False,
    "memory_reservation": 0,
    "memory_guard_size": 0,
    "max_wasm_stack": 1 << 20,
}
"""The deterministic configuration (never wasm_reference_types=False: it aborts the process)."""


def genesis_limits() -> Limits:
    """The ``vm.limits`` of the devnet genesis."""
    return VMParams.from_dict(json.loads(GENESIS.read_text())["vm"]).limits


@pytest.fixture
def limits() -> Limits:
    """The devnet genesis limits (tighten one with ``dataclasses.replace``)."""
    return genesis_limits()


@pytest.fixture(scope="session")
def strict_engine() -> wasmtime.Engine:
    """An engine with every disabled proposal off, as the node runs."""
    config = wasmtime.Config()
    for name, value in STRICT_CONFIG.items():
        setattr(config, name, value)
    return wasmtime.Engine(config)


# A tiny binary builder, independent of vm.wasm, for modules WAT cannot express
# (truncations, over-long encodings, unknown opcodes, raw bodies).

MAGIC_VERSION = b"\x00asm\x01\x00\x00\x00"
MEMORY_SECTION = b"\x05\x03\x01\x00\x01"
"""One memory of one page."""


def leb(value: int) -> bytes:
    """Minimal unsigned LEB128."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def name(text: str) -> bytes:
    raw = text.encode()
    return leb(len(raw)) + raw


def vec(items: list[bytes]) -> bytes:
    return leb(len(items)) + b"".join(items)


def section(sid: int, content: bytes) -> bytes:
    return bytes([sid]) + leb(len(content)) + content


def memory_export() -> bytes:
    return section(7, vec([name("memory") + b"\x02\x00"]))


def body_module(body: bytes, local_decls: bytes = b"\x00", func_type: bytes = b"\x60\x00\x00") -> bytes:
    """A module with one memory (exported) and one function with this raw body.

    ``body`` is the instruction bytes including the final ``end``;
    ``local_decls`` the encoded locals vector.
    """
    code = local_decls + body
    return (
        MAGIC_VERSION
        + section(1, vec([func_type]))
        + section(3, vec([b"\x00"]))
        + MEMORY_SECTION
        + memory_export()
        + section(10, vec([leb(len(code)) + code]))
    )
