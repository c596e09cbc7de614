"""Deploy-time processing of contract modules, in pure Python.

``prepare`` is the only thing between a deployer's bytes and Cranelift,
whose compilation is not metered: it checks every rule of "What a module
may contain" (docs/abi.md) in one cheap linear pass, refusing anything else
with ``InvalidModule(rule, message)``, and then rewrites the module to
count its call stack in deterministic units (``instrument``).

Layout: ``reader``/``encode`` (the binary format), ``opcodes``/``valtypes``/
``proposals`` (what exists and what is refused, as data), ``decode``
(sections and module-level rules), ``body`` (function bodies), ``stack``
(the cost formula), ``validate``, ``instrument``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import InvalidModule
from ..params import Limits
from .decode import decode_module
from .instrument import STACK_EXHAUSTED, STACK_GLOBAL_EXPORT, instrument
from .module import ExternKind, Module
from .policy import RESERVED_EXPORT_PREFIX, RULES, Policy
from .stack import FRAME_OVERHEAD_UNITS, function_cost
from .types import FuncSig
from .validate import ValidModule, validate

__all__ = [
    "FRAME_OVERHEAD_UNITS",
    "MAX_INSTRUMENTED_GROWTH",
    "RESERVED_EXPORT_PREFIX",
    "RULES",
    "STACK_EXHAUSTED",
    "STACK_GLOBAL_EXPORT",
    "FuncSig",
    "Module",
    "Policy",
    "PreparedModule",
    "ValidModule",
    "decode_module",
    "function_cost",
    "instrument",
    "prepare",
    "validate",
]

MAX_INSTRUMENTED_GROWTH = 2
"""An instrumented module may be at most this many times ``max_code_size``."""

METHOD_SIG = FuncSig((), ())
"""The type of a method: ``() -> ()``."""


@dataclass(frozen=True, slots=True)
class PreparedModule:
    """A validated and instrumented module, ready to compile and store."""

    code: bytes
    """The instrumented module binary, ready for ``wasmtime.Module``."""
    exports: Mapping[str, FuncSig]
    """Exported functions and their types, in name order (read-only)."""
    methods: tuple[str, ...]
    """Exported functions of type ``() -> ()``, sorted: the contract's methods."""
    entry_costs: Mapping[str, int]
    """Stack cost of each exported function, in name order (0 for a re-exported import)."""
    max_cost: int
    """The largest stack cost of a defined function (the cost of ``call_indirect``)."""
    import_module: str | None = None
    """The module its imports come from (one at most: ``wasmchain`` or ``wasmchain_v2``); ``None`` without imports."""
    exported_globals: Mapping[str, tuple[str, int | None]] = field(default_factory=lambda: MappingProxyType({}))
    """Exported globals by export name: each one's value type, and its initial value if it is an ``i32``."""
    exported_others: frozenset[str] = frozenset()
    """The names of exported memories and tables."""


def prepare(
    code: bytes,
    *,
    limits: Limits,
    allow_floats: bool,
    allowed_imports: Mapping[str, FuncSig],
    import_module: str = "wasmchain",
    other_modules: Mapping[str, Mapping[str, FuncSig]] | None = None,
) -> PreparedModule:
    """Validate ``code`` and instrument it; raise ``InvalidModule`` if it breaks a rule."""
    if not isinstance(code, bytes):
        code = bytes(code)  # a bytearray (as wat2wasm returns) must not change under us
    valid = validate(code, Policy(limits, allow_floats, allowed_imports, import_module, dict(other_modules or {})))
    module = valid.module
    functions = sorted((export.name, export.index) for export in module.exports if export.kind == ExternKind.FUNC)
    exports = {name: module.func_sig(index) for name, index in functions}
    instrumented = instrument(valid, limits.max_stack_units)
    if len(instrumented) > MAX_INSTRUMENTED_GROWTH * limits.max_code_size:
        # Each instrumented call site adds ~30 bytes, so call-dense code can
        # grow 16-fold, and compiling is not metered by fuel.
        raise InvalidModule(
            "max_code_size",
            f"module grows to {len(instrumented)} bytes when its calls are instrumented; "
            f"the limit is {MAX_INSTRUMENTED_GROWTH} x max_code_size = "
            f"{MAX_INSTRUMENTED_GROWTH * limits.max_code_size} (too many call sites)",
        )
    return PreparedModule(
        code=instrumented,
        exports=MappingProxyType(exports),
        methods=tuple(
            name for name, sig in exports.items() if sig == METHOD_SIG and not name.startswith(RESERVED_EXPORT_PREFIX)
        ),
        entry_costs=MappingProxyType({name: valid.cost(index) for name, index in functions}),
        max_cost=valid.max_cost,
        import_module=module.imports[0].module if module.imports else None,
        exported_globals=MappingProxyType(
            {
                e.name: (module.global_types[e.index], module.global_values[e.index])
                for e in module.exports
                if e.kind == ExternKind.GLOBAL
            }
        ),
        exported_others=frozenset(e.name for e in module.exports if e.kind in (ExternKind.MEMORY, ExternKind.TABLE)),
    )
