"""What a module may contain: the policy and the rules' identifiers.

Each rule is a short stable string, used as ``InvalidModule.rule``.  The
limit rules are named after the ``Limits`` field they enforce.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from ..errors import InvalidModule
from ..params import Limits
from .proposals import DISABLED_PROPOSAL
from .reader import MALFORMED
from .types import FuncSig

MEMORY: Final = "memory"
TABLE: Final = "table"
IMPORT: Final = "import"
START: Final = "start"
EXPORT: Final = "export"
FLOAT_INSTRUCTION: Final = "float_instruction"
DATA_SEGMENT_OUT_OF_BOUNDS: Final = "data_segment_out_of_bounds"
ELEMENT_SEGMENT_OUT_OF_BOUNDS: Final = "element_segment_out_of_bounds"
INTERFACE: Final = "interface"
"""The module's ``wasmchain:wit`` interface is refused (ABI 1.2 on; ``vm.wit.section.deploy_check``)."""

MAX_CODE_SIZE: Final = "max_code_size"
MAX_FUNCTIONS: Final = "max_functions"
MAX_FUNCTION_BODY_SIZE: Final = "max_function_body_size"
MAX_LOCALS_PER_FUNCTION: Final = "max_locals_per_function"
MAX_NESTING_DEPTH: Final = "max_nesting_depth"
MAX_TYPES: Final = "max_types"
MAX_TYPE_ARITY: Final = "max_type_arity"
MAX_IMPORTS: Final = "max_imports"
MAX_EXPORTS: Final = "max_exports"
MAX_GLOBALS: Final = "max_globals"
MAX_TABLE_SIZE: Final = "max_table_size"
MAX_ELEMENT_SEGMENTS: Final = "max_element_segments"
MAX_DATA_SEGMENTS: Final = "max_data_segments"
MAX_INITIAL_MEMORY_PAGES: Final = "max_initial_memory_pages"
MAX_STACK_UNITS: Final = "max_stack_units"

RULES: Final = frozenset(
    {
        MALFORMED,
        MEMORY,
        TABLE,
        IMPORT,
        START,
        EXPORT,
        FLOAT_INSTRUCTION,
        DATA_SEGMENT_OUT_OF_BOUNDS,
        ELEMENT_SEGMENT_OUT_OF_BOUNDS,
        INTERFACE,
        DISABLED_PROPOSAL,
        MAX_CODE_SIZE,
        MAX_FUNCTIONS,
        MAX_FUNCTION_BODY_SIZE,
        MAX_LOCALS_PER_FUNCTION,
        MAX_NESTING_DEPTH,
        MAX_TYPES,
        MAX_TYPE_ARITY,
        MAX_IMPORTS,
        MAX_EXPORTS,
        MAX_GLOBALS,
        MAX_TABLE_SIZE,
        MAX_ELEMENT_SEGMENTS,
        MAX_DATA_SEGMENTS,
        MAX_INITIAL_MEMORY_PAGES,
        MAX_STACK_UNITS,
    }
)
"""Every rule a module can break."""

RESERVED_EXPORT_PREFIX: Final = "__wasmchain"
"""Export names the engine keeps for itself (``vm.abi.RESERVED_EXPORT_PREFIX``)."""

MEMORY_EXPORT: Final = "memory"
"""The name the one memory must be exported under."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything deploy-time validation checks a module against."""

    limits: Limits
    allow_floats: bool
    """When false, any f32/f64 instruction or type is refused."""
    allowed_imports: Mapping[str, FuncSig]
    """The host functions a module may import, by name, with their exact types."""
    import_module: str = "wasmchain"
    """The module name imports come from (ABI 1)."""
    other_modules: Mapping[str, Mapping[str, FuncSig]] = field(default_factory=dict)
    """Further import modules and their functions (``wasmchain_v2`` on an ABI 2 chain): a module imports from
    one of them or from ``import_module``, never from two."""


def float_refused(found: str) -> InvalidModule:
    """The error for a float instruction or type while floats are disabled."""
    return InvalidModule(
        FLOAT_INSTRUCTION,
        f"floats are disabled on this chain (allow_floats is false); found {found}",
    )


def over_limit(rule: str, found: str, limit: int) -> InvalidModule:
    """The error for a count or size over its limit."""
    return InvalidModule(rule, f"{found}; the limit is {limit}")
