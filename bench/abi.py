"""ABI 1 against ABI 2: host crossings per call, the time of a call, and each host function's time against its gas.

Part 1 runs the example contracts built for each ABI (ABI 1: ``tests/fixtures/abi1/``, the builds before
issue 18; ABI 2: ``contracts/``) on one in-memory host per ABI: a token transfer, a counter increment and a
vault withdrawal (a nested call into the token).  It counts the host calls of every frame from a verbose
trace, checks that both ABIs end in the same storage, and times ``Runtime.execute`` for each, the two ABIs
alternated round by round, as medians.

Part 2 prices the host functions: small WAT modules make ``K`` calls of one kind (ABI 1) or hand ``K``
records to one ``apply_effects`` (ABI 2), and each figure is the time and gas of ``K`` of them less those
of none, divided by ``K``.  The gas schedule was calibrated at about one gas a nanosecond of node time
(docs/gas.md), so "gas per µs" should be 1,000 or more: a host function charged less than it costs would
let a contract keep a node busy for longer than its gas says.

Prints tables and, last, one JSON line with every figure.
Usage: ``python bench/abi.py [--rounds N] [--calls N] [--quick] [--json-only]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack
import wasmtime
from common import GENESIS, ROOT, say, set_quiet

from wasmchain.store.genesis_file import load_vm_params
from wasmchain.vm import BlockEnv, MemoryHost, Message, Outcome, Runtime, VMParams
from wasmchain.vm.abi import EFFECT_EVENT, EFFECT_WRITE
from wasmchain.vm.trace import IO_AREA_STEP, Tracer

ABI1 = ROOT / "tests" / "fixtures" / "abi1"
ABI2 = ROOT / "contracts"
OWNER = bytes.fromhex("a1" * 20)
BOB = bytes.fromhex("b0" * 20)
TOKEN = bytes.fromhex("c1" * 20)
COUNTER = bytes.fromhex("c2" * 20)
VAULT = bytes.fromhex("c3" * 20)
PROBE = bytes.fromhex("c4" * 20)
ENV = BlockEnv(height=5, timestamp=1_700_000_000)
GAS = 10**9


def deploy(runtime: Runtime, host: MemoryHost, address: bytes, code: bytes) -> None:
    compiled = runtime.compile(code)
    host.codes[compiled.code_hash] = code
    host.contracts[address] = compiled.code_hash


def run(
    runtime: Runtime,
    host: MemoryHost,
    contract: bytes,
    method: str,
    args: dict[str, Any],
    tracer: Tracer | None = None,
) -> Outcome:
    message = Message(OWNER, contract, method, msgpack.packb(args), GAS)
    outcome = runtime.execute(host, ENV, message, tracer=tracer)
    if not outcome.ok:
        raise RuntimeError(f"{method}: {outcome.status}: {outcome.error}")
    return outcome


def example_host(runtime: Runtime, folder: Any) -> MemoryHost:
    """Token, counter and vault of one ABI, initialized: the owner holds tokens, and so does the vault."""
    host = MemoryHost()
    for address, name in ((TOKEN, "token"), (COUNTER, "counter"), (VAULT, "vault")):
        path = folder / name / f"{name}.wasm" if folder == ABI2 else folder / f"{name}.wasm"
        deploy(runtime, host, address, path.read_bytes())
    run(runtime, host, TOKEN, "init", {"supply": 10**15})
    run(runtime, host, VAULT, "init", {"token": TOKEN})
    run(runtime, host, TOKEN, "transfer", {"to": VAULT, "amount": 10**12})
    return host


OPERATIONS: dict[str, tuple[bytes, str, dict[str, Any]]] = {
    "token transfer": (TOKEN, "transfer", {"to": BOB, "amount": 1}),
    "counter increment": (COUNTER, "increment", {}),
    "vault withdraw (calls the token)": (VAULT, "withdraw", {"to": BOB, "amount": 1}),
}


def crossings(runtime: Runtime, host: MemoryHost, contract: bytes, method: str, args: dict[str, Any]) -> int:
    tracer = Tracer(verbose=True)
    run(runtime, host, contract, method, args, tracer=tracer)
    assert tracer.root is not None
    return sum(1 for frame in tracer.root.walk() for call in frame.host_calls if call.name != IO_AREA_STEP)


def examples(params: VMParams, rounds: int, calls: int) -> dict[str, Any]:
    runtimes = {abi: Runtime(params) for abi in ("1", "2")}
    hosts = {abi: example_host(runtimes[abi], ABI1 if abi == "1" else ABI2) for abi in ("1", "2")}
    figures: dict[str, Any] = {}
    for name, (contract, method, args) in OPERATIONS.items():
        row: dict[str, Any] = {}
        for abi in ("1", "2"):
            row[f"crossings_abi{abi}"] = crossings(runtimes[abi], hosts[abi], contract, method, args)
            row[f"gas_abi{abi}"] = run(runtimes[abi], hosts[abi], contract, method, args).gas_used
        times: dict[str, list[float]] = {"1": [], "2": []}
        for _ in range(rounds):
            for abi in ("1", "2"):
                runtime, host = runtimes[abi], hosts[abi]
                message = Message(OWNER, contract, method, msgpack.packb(args), GAS)
                started = time.perf_counter()
                for _ in range(calls):
                    runtime.execute(host, ENV, message)
                times[abi].append((time.perf_counter() - started) / calls * 1e6)
        for abi in ("1", "2"):
            row[f"us_abi{abi}"] = round(statistics.median(times[abi]), 1)
        row["time_ratio"] = round(statistics.median(b / a for a, b in zip(times["1"], times["2"], strict=True)), 3)
        figures[name] = row
    same = [sorted(hosts[abi].storage.items()) for abi in ("1", "2")]
    if same[0] != same[1]:
        raise RuntimeError("ABI 1 and ABI 2 examples end in different storage")
    return figures


# -- part 2: host functions ----------------------------------------------------------------------------------


def _data(raw: bytes) -> str:
    return "".join(f"\\{byte:02x}" for byte in raw)


def v1_module(body: str) -> bytes:
    """An ABI 1 module whose method ``run`` does ``body`` K times (K from the input's first byte)."""
    return wasmtime.wat2wasm(
        f"""(module
          (import "wasmchain" "input_read" (func $input_read (param i32 i32) (result i32)))
          (import "wasmchain" "storage_write" (func $write (param i32 i32 i32 i32)))
          (import "wasmchain" "event_emit" (func $emit (param i32 i32 i32 i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "key-0001valu-001Transfer")
          (func (export "run") (local $k i32)
            (drop (call $input_read (i32.const 0) (i32.const 4)))
            (local.set $k (i32.load8_u (i32.const 0)))
            (block (loop (br_if 1 (i32.eqz (local.get $k)))
              {body}
              (local.set $k (i32.sub (local.get $k) (i32.const 1))) (br 0)))))"""
    )


def v2_module(records: bytes) -> bytes:
    """An ABI 2 module whose method ``run`` applies ``records`` in one call."""
    return wasmtime.wat2wasm(
        f"""(module
          (import "wasmchain_v2" "apply_effects" (func $apply (param i32 i32)))
          (memory (export "memory") 2)
          (global (export "wasmchain_io") i32 (i32.const 1024))
          (data (i32.const 8192) "{_data(records)}")
          (func (export "run") (call $apply (i32.const 8192) (i32.const {len(records)}))))"""
    )


def v2_bare(with_io: bool) -> bytes:
    io = '(global (export "wasmchain_io") i32 (i32.const 1024))' if with_io else ""
    return wasmtime.wat2wasm(
        f"""(module (import "wasmchain_v2" "apply_effects" (func (param i32 i32)))
          (memory (export "memory") 1) {io} (func (export "run")))"""
    )


def record(tag: int, first: bytes, second: bytes) -> bytes:
    return struct.pack("<BII", tag, len(first), len(second)) + first + second


def probe(params: VMParams, code: bytes, count_byte: int) -> tuple[Callable[[], Outcome], int]:
    """One call of ``run`` on a fresh memory host, ready to repeat, and its gas."""
    runtime = Runtime(params)
    host = MemoryHost()
    deploy(runtime, host, PROBE, code)
    message = Message(OWNER, PROBE, "run", bytes([count_byte]), GAS)

    def once() -> Outcome:
        return runtime.execute(host, ENV, message)

    outcome = once()
    if not outcome.ok:
        raise RuntimeError(f"probe: {outcome.status}: {outcome.error}")
    return once, outcome.gas_used


def difference(
    params: VMParams, more: tuple[bytes, int], fewer: tuple[bytes, int], rounds: int, calls: int
) -> tuple[float, int]:
    """µs and gas of one call of ``more`` less one of ``fewer``: the two alternated, the median of the rounds."""
    (run_more, gas_more), (run_fewer, gas_fewer) = probe(params, *more), probe(params, *fewer)
    differences = []
    for _ in range(rounds):
        times = []
        for once in (run_more, run_fewer):
            started = time.perf_counter()
            for _ in range(calls):
                once()
            times.append((time.perf_counter() - started) / calls * 1e6)
        differences.append(times[0] - times[1])
    return statistics.median(differences), gas_more - gas_fewer


def host_functions(params: VMParams, rounds: int, calls: int, k: int) -> dict[str, Any]:
    key, value, name, data = b"key-0001", b"valu-001", b"Transfer", b"x" * 60
    write_call = "(call $write (i32.const 64) (i32.const 8) (i32.const 72) (i32.const 8))"
    emit_call = "(call $emit (i32.const 80) (i32.const 8) (i32.const 64) (i32.const 16))"
    # Each case: the module and the input byte (K, read by ABI 1's loop) for n calls or records.
    cases: dict[str, Callable[[int], tuple[bytes, int]]] = {
        "ABI 1 crossing (input_read, no copy)": lambda n: (
            v1_module("(drop (call $input_read (i32.const 0) (i32.const 0)))"),
            n,
        ),
        "ABI 1 storage_write (8-byte key and value)": lambda n: (v1_module(write_call), n),
        "ABI 1 event_emit (8-byte name, 16-byte data)": lambda n: (v1_module(emit_call), n),
        "ABI 2 write record (8-byte key and value)": lambda n: (v2_module(record(EFFECT_WRITE, key, value) * n), 0),
        "ABI 2 event record (8-byte name, 60-byte data)": lambda n: (
            v2_module(record(EFFECT_EVENT, name, data) * n),
            0,
        ),
    }
    figures: dict[str, Any] = {}
    for label, make in cases.items():
        us, gas = difference(params, make(k), make(0), rounds, calls)
        figures[label] = _priced(us / k, gas / k)
    us, gas = difference(params, (v2_bare(True), 0), (v2_bare(False), 0), rounds, calls)
    figures["ABI 2 io area (empty input)"] = _priced(us, gas)
    return figures


def _priced(us: float, gas: float) -> dict[str, Any]:
    return {"us": round(us, 3), "gas": round(gas), "gas_per_us": round(gas / us) if us > 0 else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternated rounds; medians are reported")
    parser.add_argument("--calls", type=int, default=300, help="calls per round")
    parser.add_argument("--k", type=int, default=50, help="host calls or records per probe call (at most 255)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 100 calls")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    set_quiet(args.json_only)
    if args.quick:
        args.rounds, args.calls = 3, 100
    if min(args.rounds, args.calls, args.k) < 1 or args.k > 255:
        parser.error("--rounds and --calls must be at least 1, --k from 1 to 255")
    params = load_vm_params(GENESIS)

    ops = examples(params, args.rounds, args.calls)
    say(f"The examples, ABI 1 (tests/fixtures/abi1) against ABI 2 (contracts/): {args.rounds} rounds x {args.calls}")
    say(f"{'call':<34} {'crossings':>11} {'gas':>17} {'µs per Runtime.execute':>26} {'ratio':>7}")
    for label, row in ops.items():
        say(
            f"{label:<34} {row['crossings_abi1']:>5} -> {row['crossings_abi2']:<3} "
            f"{row['gas_abi1']:>8} -> {row['gas_abi2']:<7} {row['us_abi1']:>12} -> {row['us_abi2']:<10} "
            f"{row['time_ratio']:>7}"
        )
    say("")
    functions = host_functions(params, args.rounds, args.calls, args.k)
    say(f"Host functions: time and gas of one, from {args.k} against none (medians of {args.rounds} rounds)")
    say(f"{'what':<48} {'µs':>8} {'gas':>8} {'gas per µs':>11}")
    for label, row in functions.items():
        say(f"{label:<48} {row['us']:>8} {row['gas']:>8} {str(row['gas_per_us']):>11}")
    say("(the schedule's calibration: about 1,000 gas per µs of node time)")
    print(
        json.dumps(
            {
                "benchmark": "abi",
                "examples": ops,
                "host_functions": functions,
                "parameters": {"rounds": args.rounds, "calls": args.calls, "k": args.k},
                "machine": {"python": platform.python_version()},
            },
            sort_keys=True,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
