"""Shared test helpers: the devnet parameters and a tiny in-memory chain for WAT contracts."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import wasmtime

from wasmchain.vm import BlockEnv, MemoryHost, Message, Outcome, Runtime, VMParams

ROOT = Path(__file__).resolve().parents[2]
GENESIS = ROOT / "genesis.json"
CONTRACTS = ROOT / "contracts"

ALICE = bytes.fromhex("a1" * 20)
BOB = bytes.fromhex("b0" * 20)


def devnet_params(allow_floats: bool | None = None, **limits: int) -> VMParams:
    """The devnet genesis parameters, with some limits or the float policy replaced."""
    params = VMParams.from_dict(json.loads(GENESIS.read_text())["vm"])
    if limits:
        params = dataclasses.replace(params, limits=dataclasses.replace(params.limits, **limits))
    if allow_floats is not None:
        params = dataclasses.replace(params, allow_floats=allow_floats)
    return params


def wat(text: str) -> bytes:
    return wasmtime.wat2wasm(text)


def contract_address(n: int) -> bytes:
    return bytes([0xC0]) + n.to_bytes(19, "big")


class Sandbox:
    """A runtime and an in-memory host with contracts deployed at known addresses.

    Every ``call`` also runs on a copy of the host through the plain path
    (``Runtime(fast_paths=False)``: wasmtime-py's public API), and must give
    the same outcome and leave the same host state: so every vm test that
    calls a contract checks the fast path against the straightforward one.
    """

    def __init__(self, params: VMParams | None = None) -> None:
        self.params = params or devnet_params()
        self.runtime = Runtime(self.params)
        self.plain = Runtime(self.params, fast_paths=False)
        self.host = MemoryHost()
        self.env = BlockEnv(height=7, timestamp=1_700_000_000)

    def deploy(self, code: bytes, address: bytes) -> bytes:
        self.runtime.compile(code)
        code_hash = hashlib.sha256(code).digest()
        self.host.codes[code_hash] = code
        self.host.contracts[address] = code_hash
        return address

    def call(self, address: bytes, method: str, input: bytes = b"", gas: int = 10**9, **kw: Any) -> Outcome:
        message = Message(
            caller=kw.pop("caller", ALICE), contract=address, method=method, input=input, gas_limit=gas, **kw
        )
        twin = copy.deepcopy(self.host)
        outcome = self.runtime.execute(self.host, self.env, message)
        plain = self.plain.execute(twin, self.env, message)
        assert plain == outcome, f"the plain path differs: {plain} against {outcome}"
        assert (twin.storage, twin.balances) == (self.host.storage, self.host.balances), (
            "the plain path's state differs"
        )
        return outcome

    def storage(self, address: bytes) -> dict[bytes, bytes]:
        return {key: value for (contract, key), value in self.host.storage.items() if contract == address}


def reference_merkle_root(items: list[bytes]) -> bytes:
    """RFC 6962: leaves sha256(0x00 || item), nodes sha256(0x01 || left || right), split at the largest power
    of two below the length; sha256(b"") for none.  Slow and obviously right: the tests' reference for
    chain/blocks.py's definition, written out again without it."""
    if not items:
        return hashlib.sha256(b"").digest()

    def tree(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return hashlib.sha256(b"\x00" + leaves[0]).digest()
        split = 1
        while split * 2 < len(leaves):
            split *= 2
        return hashlib.sha256(b"\x01" + tree(leaves[:split]) + tree(leaves[split:])).digest()

    return tree(items)
