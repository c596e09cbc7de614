"""The runtime: validates and compiles modules, and runs contract calls.

``Runtime.execute`` is the one place where a call is snapshotted, run, and
then committed or rolled back (``_run_frame``); nested calls go through
the same function.  A call never raises for anything a contract does: the
result is an ``Outcome`` with a status.  Only a fault of the host itself
(a database error, a bug) escapes as an exception, because turning it into
a receipt would record something that depends on the node, not the chain.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import itertools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import wasmtime
import wasmtime._func as wasmtime_func
from wasmtime import _ffi as ffi
from wasmtime._func import enter_wasm

from . import abi
from .engine import ENGINE_FINGERPRINT, POOL_EXHAUSTED, engine
from .errors import ExecutionHalted, HostError, HostFault, InvalidModule, OutOfGas, StackExhausted, Trap, quote
from .frame import Execution, Frame, PlainFrame
from .host import Address, Hash32, Host, MemoryHost
from .messages import BlockEnv, Message, Outcome
from .params import VMParams
from .profiling import ProfilingFrame, call_profiled
from .trace import Tracer, TracingFrame
from .wasm import PreparedModule, prepare
from .wasm.hooks import HOOK_MODULE, HOOK_NAME, HookedModule, add_hooks
from .wasm.types import FuncSig
from .wit.section import deploy_check

CROSS_CALL_STACK_UNITS: Final = 1024
"""Stack units a nested contract call costs on top of its callee's frames.

Stack units are counted across the whole call tree: a callee starts at its
caller's count plus this.  It stands for the native stack that the Python
host functions between the two frames use (about 5 KiB measured), so that
nested calls cannot add up to more native stack than one call may use.
"""

MAX_GAS_LIMIT: Final = 1 << 63
"""Gas limits must fit wasmtime's fuel counter (a u64 that must not wrap)."""

CACHE_ENTRIES: Final = 512
"""Validated and compiled modules kept in memory (oldest dropped first)."""

STACK_SENTINEL: Final = 0xFFFFFFFF
"""Value the instrumentation leaves in the stack global when the limit is hit."""

_TRAP_DESCRIPTIONS: Final = {
    wasmtime.TrapCode.STACK_OVERFLOW: "native stack overflow",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "out of bounds memory access",
    wasmtime.TrapCode.HEAP_MISALIGNED: "misaligned memory access",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "undefined element: out of bounds table access",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "uninitialized element: indirect call to null",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call type mismatch",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer divide by zero",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid conversion to integer",
    wasmtime.TrapCode.UNREACHABLE: "unreachable instruction executed",
    wasmtime.TrapCode.INTERRUPT: "interrupted",
}


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """A validated, instrumented and compiled module, ready to instantiate."""

    code_hash: Hash32
    """SHA-256 of the module as deployed (before instrumentation)."""
    prepared: PreparedModule
    module: wasmtime.Module
    instance_pre: wasmtime.InstancePre
    hooks: HookedModule | None = None
    """Set on the profiling variant only (``vm.profiling``), never on the consensus path."""
    io_address: int | None = None
    """Where calls write the io area: the value of an ABI 2 module's ``wasmchain_io`` global (``None``: no
    io area).  Known at deploy: the global's initializer is one ``i32.const``, and nothing runs before a
    method that could change it (there is no start function)."""


class Runtime:
    """Runs contracts under one set of VM parameters.

    One runtime per chain (or per runner invocation).  It owns the linker
    with the host functions and the compiled-module cache; all runtimes of
    the process share the one Engine.

    ``fast_paths=False`` runs every call through wasmtime-py's public API
    instead of its C functions (host functions through ``Linker.define_func``,
    exports through ``Instance.exports``, ``PlainFrame``): slower, and the
    same in every result, which tests check.
    """

    def __init__(self, params: VMParams, *, cache_dir: Path | None = None, fast_paths: bool = True) -> None:
        self.params = params
        self.fast_paths = fast_paths
        self._frame_class = Frame if fast_paths else PlainFrame
        self.limits = params.limits
        self.gas = params.gas
        self.cache_dir = cache_dir
        self._prepared: dict[Hash32, PreparedModule] = {}
        self._compiled: dict[Hash32, CompiledContract] = {}
        self._import_modules = abi.import_modules(params.abi_version)
        self._frames: list[Frame] = []
        self._linker = self._make_linker()
        self._profiled: dict[Hash32, CompiledContract] = {}
        self._profile_linker: wasmtime.Linker | None = None
        # Compiled code depends on the engine and on the parameters (the
        # stack limit is baked into the instrumented code).
        self._cache_tag = f"{ENGINE_FINGERPRINT}-{params.fingerprint().hex()[:16]}"

    # -- modules ----------------------------------------------------------

    def validate(self, code: bytes) -> PreparedModule:
        """Check code against every deploy rule and instrument it (cheap: no compiling).

        Raises ``InvalidModule`` naming the rule broken.  Under ABI 1.2 and later a module's
        ``wasmchain:wit`` interface is checked too (rule ``interface``, ``vm.wit.section.deploy_check``).
        """
        code_hash = hashlib.sha256(code).digest()
        prepared = self._prepared.get(code_hash)
        if prepared is None:
            prepared = prepare(
                code,
                limits=self.limits,
                allow_floats=self.params.allow_floats,
                allowed_imports=self._import_modules[abi.IMPORT_MODULE],
                import_module=abi.IMPORT_MODULE,
                other_modules={m: f for m, f in self._import_modules.items() if m != abi.IMPORT_MODULE},
            )
            _check_io_export(prepared)
            # The cheap pass checks structure and limits, not operand types:
            # wasmtime's validator (no compiling) checks the rest, so a module
            # that would fail to compile is never accepted.
            try:
                wasmtime.Module.validate(engine(), prepared.code)
            except wasmtime.WasmtimeError as error:
                detail = str(error).strip().splitlines()[0] if str(error).strip() else "invalid"
                raise InvalidModule("wasm_validation", f"the module does not validate: {detail}") from None
            if abi.checks_interfaces(self.params.abi_version):
                deploy_check(code, prepared.exports)
            _remember(self._prepared, code_hash, prepared)
        return prepared

    def deploy_gas(self, compiled_size: int) -> int:
        """Gas a deploy costs before any init call, since compiling is not metered by fuel.

        Charged on the size of the instrumented module, which is what Cranelift compiles.
        """
        return self.gas.compile_byte * compiled_size

    def compile(self, code: bytes) -> CompiledContract:
        """Validate, instrument and compile code, or return it from the cache."""
        code_hash = hashlib.sha256(code).digest()
        compiled = self._compiled.get(code_hash)
        if compiled is None:
            prepared = self.validate(code)
            module = self._load_module(code_hash, prepared.code)
            compiled = CompiledContract(
                code_hash, prepared, module, self._linker.instantiate_pre(module), io_address=_io_address(prepared)
            )
            _remember(self._compiled, code_hash, compiled)
        return compiled

    def compile_stored(self, code_hash: Hash32, code: Callable[[], bytes]) -> CompiledContract:
        """``compile(code())`` for code stored under its hash: neither read nor hashed when cached."""
        compiled = self._compiled.get(code_hash)
        return compiled if compiled is not None else self.compile(code())

    def _profiling_variant(self, compiled: CompiledContract) -> CompiledContract:
        """The profiling variant of ``compiled`` (``vm.wasm.hooks``), compiled once per code hash, kept apart
        from the consensus cache and linked with the profiling hook as well."""
        variant = self._profiled.get(compiled.code_hash)
        if variant is None:
            if self._profile_linker is None:
                self._profile_linker = self._make_linker(profile=True)
            hooks = add_hooks(compiled.prepared.code)
            module = wasmtime.Module(engine(), hooks.code)
            pre = self._profile_linker.instantiate_pre(module)
            variant = CompiledContract(compiled.code_hash, compiled.prepared, module, pre, hooks, compiled.io_address)
            _remember(self._profiled, compiled.code_hash, variant)
        return variant

    def _load_module(self, code_hash: Hash32, instrumented: bytes) -> wasmtime.Module:
        if self.cache_dir is None:
            return wasmtime.Module(engine(), instrumented)
        path = self.cache_dir / f"{code_hash.hex()}-{self._cache_tag}.cwasm"
        if path.exists():
            try:
                return wasmtime.Module.deserialize_file(engine(), str(path))
            except wasmtime.WasmtimeError:
                # A torn or foreign artifact (another CPU, a crash): compile afresh.
                path.unlink(missing_ok=True)
        module = wasmtime.Module(engine(), instrumented)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Write, sync, then rename, so a crash never leaves a torn artifact behind.
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(module.serialize())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        return module

    # -- calls ----------------------------------------------------------------

    def execute(self, host: Host, env: BlockEnv, message: Message, *, tracer: Tracer | None = None) -> Outcome:
        """Run one top-level call; its state changes are kept only if it succeeds.

        With a ``tracer``, the call tree is recorded into it (``vm.trace``); the outcome is the same.
        The outcome's ``logs`` are the ``debug_log`` messages of every frame.
        """
        execution = Execution(
            host=host,
            env=env,
            origin=message.origin or message.caller,
            limits=self.limits,
            gas=self.gas,
            tracer=tracer,
        )
        if not 0 <= message.gas_limit < MAX_GAS_LIMIT:
            return _invalid(f"gas limit {message.gas_limit} is outside 0..2**63-1")
        if len(message.input) > self.limits.max_input_size:
            return _invalid(
                f"input of {len(message.input)} bytes is over max_input_size ({self.limits.max_input_size})"
            )
        try:
            compiled = self._lookup(host, message.contract, message.method)
        except LookupError as missing:
            return _invalid(str(missing))
        except InvalidModule as bad:
            return _invalid(f"stored code fails validation: {bad}")
        if message.value and host.balance(message.caller) < message.value:
            return _invalid(
                f"caller balance {host.balance(message.caller)} is lower than the attached value {message.value}"
            )
        outcome = self._run_frame(
            execution,
            compiled,
            caller=message.caller,
            contract=message.contract,
            method=message.method,
            input=message.input,
            value=message.value,
            budget=message.gas_limit,
            stack_base=0,
        )
        if execution.logs:
            outcome = dataclasses.replace(outcome, logs=tuple(execution.logs))
        return outcome

    def _lookup(self, host: Host, contract: Address, method: str) -> CompiledContract:
        code_hash = host.code_hash(contract)
        if code_hash is None:
            raise LookupError(f"no contract at 0x{contract.hex()}")
        compiled = self._compiled.get(code_hash)
        if compiled is None:
            try:
                compiled = self.compile(host.code(code_hash))
            except wasmtime.WasmtimeError as error:
                raise InvalidModule("compile", f"stored code 0x{code_hash.hex()} does not compile: {error}") from None
        if method not in compiled.prepared.methods:
            raise LookupError(
                f"contract 0x{contract.hex()} has no method {quote(method)}"
                f" (methods: {', '.join(compiled.prepared.methods) or 'none'})"
            )
        return compiled

    def _nested_call(
        self, parent: Frame, contract: Address, method: str, args: bytes, value: int, budget: int
    ) -> tuple[int, Outcome]:
        execution = parent.execution
        host = execution.host
        if len(execution.call_stack) >= self.limits.max_call_depth:
            return abi.CALL_TOO_DEEP, _invalid(
                f"call stack is already max_call_depth ({self.limits.max_call_depth}) frames deep"
            )
        if contract in execution.call_stack:
            return abi.CALL_REENTRANCY, _invalid(
                f"contract 0x{contract.hex()} is already on the call stack; re-entry is refused"
            )
        try:
            compiled = self._lookup(host, contract, method)
        except (LookupError, InvalidModule) as missing:
            return abi.CALL_NOT_FOUND, _invalid(str(missing))
        if host.balance(parent.contract) < value:
            return abi.CALL_INSUFFICIENT_BALANCE, _invalid(
                f"balance {host.balance(parent.contract)} is lower than the attached value {value}"
            )
        assert parent.stack_global is not None
        stack_base = (parent.stack_global.value(parent.store) & STACK_SENTINEL) + CROSS_CALL_STACK_UNITS
        outcome = self._run_frame(
            execution,
            compiled,
            caller=parent.contract,
            contract=contract,
            method=method,
            input=args,
            value=value,
            budget=budget,
            stack_base=stack_base,
        )
        return _STATUS_CODES[outcome.status], outcome

    def _run_frame(
        self,
        execution: Execution,
        compiled: CompiledContract,
        *,
        caller: Address,
        contract: Address,
        method: str,
        input: bytes,
        value: int,
        budget: int,
        stack_base: int,
        raw_results: list[dict[str, str]] | None = None,
    ) -> Outcome:
        """Snapshot, run one contract frame, then commit or roll back: the one place."""
        tracer = execution.tracer
        record = None
        if tracer is not None:
            record = tracer.enter(
                caller=caller, contract=contract, method=method, input=input, value=value, budget=budget
            )
            if tracer.profiling:
                compiled = self._profiling_variant(compiled)
        host = execution.host
        store = wasmtime.Store(engine())
        store.set_limits(
            memory_size=self.limits.max_memory_pages * 65536,
            table_elements=self.limits.max_table_size,
            instances=1,
            tables=1,
            memories=1,
        )
        frame = (self._frame_class if record is None else TracingFrame if compiled.hooks is None else ProfilingFrame)(
            execution,
            store,
            caller=caller,
            contract=contract,
            input=input,
            value=value,
            budget=budget,
            nested_call=self._nested_call,
        )
        if record is not None:
            assert isinstance(frame, TracingFrame) and execution.tracer is not None
            frame.record, frame.tracer = record, execution.tracer
            if isinstance(frame, ProfilingFrame):
                assert compiled.hooks is not None
                frame.attach(compiled.hooks, compiled.code_hash)
        host.checkpoint()
        execution.call_stack.append(contract)
        self._frames.append(frame)
        try:
            if value:
                if not host.transfer(caller, contract, value):  # the caller's balance was checked before
                    raise HostError("the attached value would take the contract's balance past 2**128 - 1")
            self._invoke(frame, compiled, method, stack_base, raw_results)
            used = frame.gas_used()
            if used > budget:
                raise OutOfGas(f"out of gas: used more than the limit of {budget}")
        except ExecutionHalted as halt:
            host.revert()
            used = budget if halt.burns_all_gas else min(frame.gas_used(), budget)
            outcome = Outcome(status=halt.status, gas_used=used, error=str(halt))  # type: ignore[arg-type]
            if tracer is not None:
                tracer.exit(record, outcome)  # type: ignore[arg-type]
            return outcome
        finally:
            self._frames.pop()
            execution.call_stack.pop()
            # Give the instance's slot back to the engine's pool now, not whenever the store is collected.
            store.close()
        host.commit()
        outcome = Outcome(status="ok", gas_used=used, return_data=frame.return_data, events=tuple(frame.events))
        if tracer is not None:
            tracer.exit(record, outcome)  # type: ignore[arg-type]
        return outcome

    def _invoke(
        self,
        frame: Frame,
        compiled: CompiledContract,
        method: str,
        stack_base: int,
        raw_results: list[dict[str, str]] | None,
    ) -> None:
        """Instantiate and call; with raw_results, a plain function whose results are kept as bits."""
        io_address = compiled.io_address
        frame.charge(self.gas.instantiate if io_address is None else self.gas.instantiate + frame.io_area_cost())
        stack_start = stack_base + compiled.prepared.entry_costs[method]
        if stack_start > self.limits.max_stack_units:
            raise StackExhausted(
                f"call stack exhausted: the call needs {stack_start} stack units,"
                f" over max_stack_units ({self.limits.max_stack_units})"
            )
        try:
            if compiled.hooks is not None:
                assert isinstance(frame, ProfilingFrame) and raw_results is None
                call_profiled(frame, compiled.instance_pre, method, stack_start, compiled.io_address)
            elif self.fast_paths:
                self._call_fast(frame, compiled, method, stack_start, raw_results)
            else:
                self._call_plain(frame, compiled, method, stack_start, raw_results)
        except wasmtime.Trap as trap:
            raise self._classify_trap(frame, trap) from None
        except wasmtime.WasmtimeError as error:
            if str(error).startswith(POOL_EXHAUSTED):  # the node's resources, not the contract: no receipt
                raise HostFault(f"the engine's instance pool is exhausted: {error}") from None
            raise Trap(f"wasm error: {error}") from None

    @staticmethod
    def _call_fast(
        frame: Frame,
        compiled: CompiledContract,
        method: str,
        stack_start: int,
        raw_results: list[dict[str, str]] | None,
    ) -> None:
        """Instantiate, set the stack counter and call, through wasmtime's C API.

        The three exports are looked up by name, and the global set and the
        method called through the C API directly: ``Instance.exports`` would
        wrap all of the instance's exports, and ``Global.set_value`` and
        ``Func.__call__`` fetch their types from wasmtime on every use to
        convert values, where the types here are fixed (validation
        guarantees the memory, the i32 stack global and the ``() -> ()``
        method).  Errors and traps surface exactly as through the wrappers.
        """
        store = frame.store
        instance = compiled.instance_pre.instantiate(store)
        context = store._context()
        memory = wasmtime.Memory._from_raw(_export(context, instance, b"memory", ffi.WASMTIME_EXTERN_MEMORY).memory)
        stack_global = wasmtime.Global._from_raw(
            _export(context, instance, _STACK_GLOBAL_NAME, ffi.WASMTIME_EXTERN_GLOBAL).global_
        )
        function = wasmtime.Func._from_raw(_export(context, instance, method.encode(), ffi.WASMTIME_EXTERN_FUNC).func)
        frame.memory = memory
        frame.stack_global = stack_global
        start = ffi.wasmtime_val_t(kind=ffi.WASMTIME_I32.value)
        start.of.i32 = stack_start
        error = ffi.wasmtime_global_set(context, ctypes.byref(stack_global._global), ctypes.byref(start))
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
        if compiled.io_address is not None:
            frame.fill_io_area(compiled.io_address)
        if raw_results is None:
            with enter_wasm(store) as trap:
                error = ffi.wasmtime_func_call(context, ctypes.byref(function._func), None, 0, None, 0, trap)
                if error:
                    raise wasmtime.WasmtimeError._from_ptr(error)
        else:
            raw_results.extend(_call_raw(store, function, compiled.prepared.exports[method]))

    @staticmethod
    def _call_plain(
        frame: Frame,
        compiled: CompiledContract,
        method: str,
        stack_start: int,
        raw_results: list[dict[str, str]] | None,
    ) -> None:
        """``_call_fast`` through wasmtime-py's public API."""
        store = frame.store
        exports = compiled.instance_pre.instantiate(store).exports(store)
        memory, stack_global, function = exports["memory"], exports[abi.STACK_GLOBAL_EXPORT], exports[method]
        assert isinstance(memory, wasmtime.Memory) and isinstance(stack_global, wasmtime.Global)
        assert isinstance(function, wasmtime.Func)
        frame.memory = memory
        frame.stack_global = stack_global
        stack_global.set_value(store, wasmtime.Val.i32(stack_start))
        if compiled.io_address is not None:
            io = exports[abi.IO_EXPORT]
            assert isinstance(io, wasmtime.Global) and io.value(store) & 0xFFFFFFFF == compiled.io_address
            frame.fill_io_area(compiled.io_address)
        if raw_results is None:
            function(store)
        else:
            raw_results.extend(_call_raw(store, function, compiled.prepared.exports[method]))

    def _classify_trap(self, frame: Frame, trap: wasmtime.Trap) -> ExecutionHalted:
        code = trap.trap_code
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return OutOfGas(f"out of gas: used all {frame.budget}")
        if frame.stack_global is not None:
            depth = frame.stack_global.value(frame.store) & STACK_SENTINEL
            if depth == STACK_SENTINEL:
                return StackExhausted(
                    f"call stack exhausted: more than max_stack_units ({self.limits.max_stack_units}) stack units"
                )
        description = (
            _TRAP_DESCRIPTIONS.get(code, "trap") if code is not None else trap.message.splitlines()[-1].strip()
        )
        frames = trap.frames
        if frames:
            top = frames[0]
            where, offset = top.func_name or f"function {top.func_index}", top.module_offset
            if isinstance(frame, ProfilingFrame):
                where, offset = frame.trap_site(top)
            return Trap(f"wasm trap: {description} in {where} at offset 0x{offset:x}")
        return Trap(f"wasm trap: {description}")

    # -- plain functions (for the standalone runner) ------------------------------

    def invoke_plain(
        self, compiled: CompiledContract, name: str, gas_limit: int
    ) -> tuple[Outcome, list[dict[str, str]]]:
        """Call an exported function that takes no parameters, against an empty host.

        Returns the outcome and each result as its type and bit pattern,
        read straight from wasmtime's value union so that NaN payloads are
        reported exactly, not through a Python float.
        """
        signature = compiled.prepared.exports.get(name)
        if signature is None or signature.params:
            return _invalid(f"no exported function {name!r} without parameters"), []
        nobody = bytes(abi.ADDRESS_SIZE)
        execution = Execution(MemoryHost(), BlockEnv(0, 0), nobody, self.limits, self.gas)
        results: list[dict[str, str]] = []
        outcome = self._run_frame(
            execution,
            compiled,
            caller=nobody,
            contract=nobody,
            method=name,
            input=b"",
            value=0,
            budget=gas_limit,
            stack_base=0,
            raw_results=results,
        )
        if execution.logs:
            outcome = dataclasses.replace(outcome, logs=tuple(execution.logs))
        return outcome, results if outcome.ok else []

    # -- the linker ----------------------------------------------------------------

    def _make_linker(self, *, profile: bool = False) -> wasmtime.Linker:
        """Every host function (the newest ABI's; validation refuses imports the chain's ABI lacks), each running
        on the top of this runtime's frame stack; with ``profile``, also the profiling variant's hook
        (``vm.profiling``)."""
        linker = wasmtime.Linker(engine())
        functions = [(abi.IMPORT_MODULE, name, name, signature) for name, signature in abi.HOST_FUNCTIONS.items()]
        functions += [
            (abi.IMPORT_MODULE_V2, name, name, signature) for name, signature in abi.HOST_FUNCTIONS_V2.items()
        ]
        if profile:
            functions.append((HOOK_MODULE, HOOK_NAME, _PROFILE_HOOK, _PROFILE_HOOK_SIG))
        if not self.fast_paths:
            for module_name, name, attribute, signature in functions:
                linker.define_func(
                    module_name, name, _functype(signature), _plain_host_function(self._frames, attribute)
                )
            return linker
        for module_name, name, attribute, signature in functions:
            module = module_name.encode()
            # Each definition gets its own key; wasmtime calls the finalizer
            # with it once nothing (linker, InstancePre) can call the function.
            key = next(_frame_stack_keys)
            _FRAME_STACKS[key] = self._frames
            encoded = name.encode()
            functype = _functype(signature)
            error = ffi.wasmtime_linker_define_func_unchecked(
                linker.ptr(),
                module,
                len(module),
                encoded,
                len(encoded),
                functype.ptr(),
                _HOST_CALLBACKS[attribute],
                key,
                _forget_frame_stack,
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)
        return linker


_STATUS_CODES: Final = {
    "ok": abi.CALL_OK,
    "abort": abi.CALL_ABORTED,
    "out_of_gas": abi.CALL_OUT_OF_GAS,
    "trap": abi.CALL_TRAPPED,
    "invalid": abi.CALL_NOT_FOUND,
}


# -- the crossing from wasm into the host ---------------------------------------------
#
# wasmtime-py's ``Linker.define_func`` runs every host call through a generic
# trampoline: a ``Caller`` object, a slab look-up, a ``Val`` per parameter and,
# for the result, type comparisons that each make ``ValType``s through the C
# API.  Measured: ~14 µs a call, against ~1 µs for the callbacks below, which
# wasmtime calls with the raw value array (``define_func_unchecked``); a token
# transfer makes 8 host calls.  The values are the same: a raw value's ``i32``
# and ``i64`` fields are the signed C types ``Val`` reads, and a result goes
# through the same truncating ``i32``/``i64`` field.
#
# Like ``_call_raw`` below, this uses two internals of the pinned wasmtime-py:
# its ``_ffi`` bindings, and ``_func.LAST_EXCEPTION``, where a Python exception
# raised in a host function waits while the trap it became unwinds the wasm
# stack, to be raised again by ``enter_wasm`` at the call site.  That is how
# ``ExecutionHalted`` and ``HostFault`` reach ``_run_frame``, as before.

_FRAME_STACKS: dict[int, list[Frame]] = {}
"""Each runtime's frame stack, under the keys its host functions were defined with."""

_frame_stack_keys = itertools.count(1)  # a key of 0 would reach the callback as a NULL pointer


def _host_callback(name: str, signature: FuncSig) -> Any:
    """The C callback for one host function: ``Frame.host_<name>`` on the innermost frame.

    Defined once per process per host function (never freed, so no instance
    can outlive its callback); the runtime it serves is found by the key.
    """
    attribute = f"host_{name}"
    params = tuple(enumerate(signature.params))  # "i32"/"i64" are also the raw value's field names
    result = signature.results[0] if signature.results else None

    def callback(key: int, caller: Any, raw: Any, count: int) -> int:
        try:
            args = [getattr(raw[index], kind) for index, kind in params]
            frame = _FRAME_STACKS[key][-1]
            frame.begin_host_call()
            try:
                value = getattr(frame, attribute)(*args)
            except (ExecutionHalted, HostFault):
                raise
            except Exception as fault:
                raise HostFault(f"host function {attribute} failed: {fault!r}") from fault
            finally:
                frame.end_host_call()
            if result is not None:
                setattr(raw[0], result, value)  # results overwrite the parameters
            return 0
        except BaseException as error:
            wasmtime_func.LAST_EXCEPTION = error  # type: ignore[assignment]  # as its own trampoline does
            trap = wasmtime.Trap("python exception")._consume()
            address: int = ctypes.cast(trap, ctypes.c_void_p).value or 0
            return address

    return ffi.wasmtime_func_unchecked_callback_t(callback)


_PROFILE_HOOK: Final = "profile_hook"
_PROFILE_HOOK_SIG: Final = FuncSig(("i32", "i32"), ())
"""``ProfilingFrame.host_profile_hook``: the profiling variant's one extra import."""

_HOST_CALLBACKS: Final = {
    name: _host_callback(name, signature)
    for name, signature in (*abi.HOST_FUNCTIONS_V2.items(), (_PROFILE_HOOK, _PROFILE_HOOK_SIG))
}


def _plain_host_function(frames: list[Frame], name: str) -> Callable[..., Any]:
    """For ``Linker.define_func``: ``Frame.host_<name>`` on the innermost frame (the plain path)."""
    attribute = f"host_{name}"

    def call(*args: int) -> Any:
        try:
            return getattr(frames[-1], attribute)(*args)
        except (ExecutionHalted, HostFault):
            raise
        except Exception as fault:
            raise HostFault(f"host function {attribute} failed: {fault!r}") from fault

    return call


def _forget(key: int | None) -> None:
    _FRAME_STACKS.pop(key or 0, None)


_forget_frame_stack: Final = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_forget)
"""The finalizer wasmtime calls with a host function's key when it drops the function."""


_STACK_GLOBAL_NAME: Final = abi.STACK_GLOBAL_EXPORT.encode()


def _io_address(prepared: PreparedModule) -> int | None:
    """The io area's address of an ABI 2 module exporting ``wasmchain_io`` (docs/abi.md), else ``None``."""
    if prepared.import_module != abi.IMPORT_MODULE_V2:
        return None
    exported = prepared.exported_globals.get(abi.IO_EXPORT)
    return None if exported is None else exported[1]


def _check_io_export(prepared: PreparedModule) -> None:
    """An ABI 2 module's ``wasmchain_io`` export, if it has one, must be an i32 global (rule ``export``)."""
    if prepared.import_module != abi.IMPORT_MODULE_V2:
        return
    name = abi.IO_EXPORT
    exported = prepared.exported_globals.get(name)
    if exported is not None:
        found = None if exported[0] == "i32" else exported[0]
    elif name in prepared.exports:
        found = "a function"
    else:
        found = "a memory or table" if name in prepared.exported_others else None
    if found is not None:
        raise InvalidModule(
            "export", f"export {quote(name)} must be an i32 global (the io area's address), found {found}"
        )


def _export(context: Any, instance: wasmtime.Instance, name: bytes, kind: Any) -> Any:
    """One export of an instance, by name, as wasmtime's extern union (checked to be of ``kind``)."""
    item = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_instance_export_get(
        context, ctypes.byref(instance._instance), name, len(name), ctypes.byref(item)
    )
    assert found and item.kind == kind.value, f"no export {name!r} of kind {kind.value}: validation should have refused"
    return item.of


_VALTYPES: Final = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def _functype(signature: FuncSig) -> wasmtime.FuncType:
    return wasmtime.FuncType([_VALTYPES[t]() for t in signature.params], [_VALTYPES[t]() for t in signature.results])


def _remember(cache: dict[Hash32, Any], key: Hash32, value: Any) -> None:
    """Insert into a bounded cache, dropping the oldest entry when full (a cache only:
    what it holds never changes a result)."""
    if len(cache) >= CACHE_ENTRIES:
        del cache[next(iter(cache))]
    cache[key] = value


def _invalid(message: str) -> Outcome:
    return Outcome(status="invalid", gas_used=0, error=message)


_RESULT_WIDTHS: Final = {"i32": 4, "f32": 4, "i64": 8, "f64": 8}


def _call_raw(store: wasmtime.Store, function: wasmtime.Func, signature: FuncSig) -> list[dict[str, str]]:
    """Call a () -> (values) function and read its results as raw bits."""
    for kind in signature.results:
        if kind not in _RESULT_WIDTHS:
            raise Trap(f"cannot report a result of type {kind}")
    count = len(signature.results)
    raw = (ffi.wasmtime_val_t * max(count, 1))()
    with enter_wasm(store) as trap:
        error = ffi.wasmtime_func_call(store._context(), ctypes.byref(function._func), None, 0, raw, count, trap)
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
    results = []
    for index, kind in enumerate(signature.results):
        width = _RESULT_WIDTHS[kind]
        bits = int.from_bytes(ctypes.string_at(ctypes.addressof(raw[index].of), width), "little")
        results.append({"type": kind, "bits": f"0x{bits:0{width * 2}x}"})
    return results
