"""Cold start: a fresh instance plus one ``counter.increment``, engine versus raw wasmtime.

The engine path is ``Runtime.execute`` as the chain uses it: a fresh store
with limits, instantiation from the cached ``InstancePre``, the stack
counter set, fuel metering of host calls, a checkpoint of the host state,
and the outcome.  The raw path is the floor: the same Engine configuration,
the same (uninstrumented) module, a linker with the least host functions
that can run ``increment`` against a dict, and no checks at all.

Prints a table and, last, one JSON line with the figures.
Usage: ``python bench/cold_start.py [--iterations N]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import wasmtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmchain.store.genesis_file import load_vm_params  # noqa: E402
from wasmchain.vm import BlockEnv, MemoryHost, Message, Runtime  # noqa: E402
from wasmchain.vm.abi import (  # noqa: E402
    EFFECT_RETURN,
    EFFECT_WRITE,
    ENV_SIZE,
    HOST_FUNCTIONS_V2,
    IMPORT_MODULE,
    IMPORT_MODULE_V2,
    IO_EXPORT,
)
from wasmchain.vm.engine import engine  # noqa: E402

COUNTER = ROOT / "contracts" / "counter" / "counter.wasm"
CONTRACT = bytes.fromhex("c0" * 20)
CALLER = bytes.fromhex("a1" * 20)


def engine_path() -> tuple[Callable[[], None], Runtime]:
    params = load_vm_params(ROOT / "genesis.json")
    runtime = Runtime(params)
    code = COUNTER.read_bytes()
    compiled = runtime.compile(code)
    host = MemoryHost()
    host.contracts[CONTRACT] = compiled.code_hash
    host.codes[compiled.code_hash] = code
    env = BlockEnv(1, 0)
    message = Message(caller=CALLER, contract=CONTRACT, method="increment", input=b"\x80", gas_limit=10**9)

    def once() -> None:
        outcome = runtime.execute(host, env, message)
        assert outcome.ok, outcome.error

    return once, runtime


def raw_path() -> tuple[Callable[[], None], dict[str, int]]:
    """Raw wasmtime-py with minimal host functions: the floor."""
    module = wasmtime.Module(engine(), COUNTER.read_bytes())
    linker = wasmtime.Linker(engine())
    storage: dict[bytes, bytes] = {}
    crossings: dict[str, int] = {}
    current: dict[str, object] = {}
    args = b"\x80"  # msgpack {}

    def memory() -> tuple[wasmtime.Memory, wasmtime.Store]:
        return current["memory"], current["store"]  # type: ignore[return-value]

    def count(name: str) -> None:
        crossings[name] = crossings.get(name, 0) + 1

    def input_read(ptr: int, cap: int) -> int:
        count("input_read")
        mem, store = memory()
        if len(args) <= cap:
            mem.write(store, args, ptr)
        return len(args)

    def storage_read(kp: int, kl: int, op: int, oc: int) -> int:
        count("storage_read")
        mem, store = memory()
        value = storage.get(bytes(mem.read(store, kp, kp + kl)))
        if value is None:
            return -1
        if len(value) <= oc:
            mem.write(store, value, op)
        return len(value)

    def storage_write(kp: int, kl: int, vp: int, vl: int) -> None:
        count("storage_write")
        mem, store = memory()
        storage[bytes(mem.read(store, kp, kp + kl))] = bytes(mem.read(store, vp, vp + vl))

    def return_set(ptr: int, length: int) -> None:
        count("return_set")
        mem, store = memory()
        current["return"] = bytes(mem.read(store, ptr, ptr + length))

    def apply_effects(ptr: int, length: int) -> None:
        # ABI 2: the records of docs/abi.md, with no checks.
        count("apply_effects")
        mem, store = memory()
        buffer, at = bytes(mem.read(store, ptr, ptr + length)), 0
        while at < length:
            tag = buffer[at]
            if tag == EFFECT_RETURN:
                size = int.from_bytes(buffer[at + 1 : at + 5], "little")
                current["return"], at = buffer[at + 5 : at + 5 + size], at + 5 + size
                continue
            first = int.from_bytes(buffer[at + 1 : at + 5], "little")
            second = int.from_bytes(buffer[at + 5 : at + 9], "little")
            start = at + 9
            if tag == EFFECT_WRITE:
                storage[buffer[start : start + first]] = buffer[start + first : start + first + second]
            at = start + first + second

    minimal = {
        "input_read": input_read,
        "storage_read": storage_read,
        "storage_write": storage_write,
        "return_set": return_set,
        "apply_effects": apply_effects,
    }
    (module_name,) = {import_.module for import_ in module.imports}
    assert module_name in (IMPORT_MODULE, IMPORT_MODULE_V2)
    for import_ in module.imports:
        name = import_.name
        assert name in HOST_FUNCTIONS_V2
        if name in minimal:
            linker.define_func(module_name, name, import_.type, minimal[name])  # type: ignore[arg-type]
        else:

            def unexpected(*_: int, _name: str = name) -> None:
                raise RuntimeError(f"counter.increment called {_name}")

            linker.define_func(module_name, name, import_.type, unexpected)  # type: ignore[arg-type]
    pre = linker.instantiate_pre(module)
    has_io = module_name == IMPORT_MODULE_V2 and any(export.name == IO_EXPORT for export in module.exports)
    io_record = bytes(ENV_SIZE) + len(args).to_bytes(4, "little") + args  # the floor: no real environment

    def once() -> None:
        store = wasmtime.Store(engine())
        store.set_fuel(10**9)
        instance = pre.instantiate(store)
        exports = instance.exports(store)
        current["store"], current["memory"] = store, exports["memory"]
        if has_io:  # ABI 2: the input where the contract reads it
            address = exports[IO_EXPORT].value(store)  # type: ignore[union-attr]
            exports["memory"].write(store, io_record, address)  # type: ignore[union-attr]
        exports["increment"](store)  # type: ignore[operator]

    return once, crossings


def measure(once: Callable[[], None], iterations: int) -> list[float]:
    for _ in range(min(200, iterations)):
        once()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        once()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def p99(samples: list[float]) -> float:
    return sorted(samples)[min(len(samples) - 1, (len(samples) * 99) // 100)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="1,000 iterations (make bench)")
    options = parser.parse_args()
    if options.quick:
        options.iterations = min(options.iterations, 1000)

    engine_once, _ = engine_path()
    raw_once, crossings = raw_path()
    # Interleave the two in blocks so drift in machine load hits both alike.
    engine_samples: list[float] = []
    raw_samples: list[float] = []
    block = max(options.iterations // 10, 1)
    for _ in range(10):
        raw_samples += measure(raw_once, block)
        engine_samples += measure(engine_once, block)
    crossings.clear()
    raw_once()
    per_call = dict(crossings)

    engine_median, raw_median = statistics.median(engine_samples), statistics.median(raw_samples)
    print(f"cold start: fresh instance + counter.increment, {len(engine_samples)} runs each")
    print(
        f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}, "
        f"wasmtime-py {version('wasmtime')}"
    )
    shown = ", ".join(f"{kind} {count}" for kind, count in sorted(per_call.items()))
    print(f"host calls per increment: {sum(per_call.values())} ({shown})")
    print(f"{'path':<8}{'median us':>12}{'p99 us':>12}")
    print(f"{'engine':<8}{engine_median:>12.1f}{p99(engine_samples):>12.1f}")
    print(f"{'raw':<8}{raw_median:>12.1f}{p99(raw_samples):>12.1f}")
    print(f"ratio engine/raw (median): {engine_median / raw_median:.2f}")
    print(
        json.dumps(
            {
                "engine_us_median": round(engine_median, 1),
                "engine_us_p99": round(p99(engine_samples), 1),
                "raw_us_median": round(raw_median, 1),
                "raw_us_p99": round(p99(raw_samples), 1),
                "ratio": round(engine_median / raw_median, 2),
                "host_calls_per_increment": sum(per_call.values()),
                "iterations": len(engine_samples),
            }
        )
    )


if __name__ == "__main__":
    main()
