"""Deploy-time validation: every rule of docs/abi.md, in one pass.

``validate`` decodes the sections (module-level rules), then scans every
function body (body-level rules, stack heights) and checks each
function's stack cost against ``max_stack_units``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import policy as rules
from .body import BodyContext, FunctionInfo, scan_body
from .decode import decode_module
from .module import Module
from .policy import Policy, over_limit
from .stack import FRAME_OVERHEAD_UNITS


@dataclass(frozen=True, slots=True)
class ValidModule:
    """A module that passed every rule, with what instrumentation needs."""

    code: bytes
    """The original binary."""
    module: Module
    functions: tuple[FunctionInfo, ...]
    """One entry per defined function, in order."""

    @property
    def max_cost(self) -> int:
        """The largest stack cost of a defined function (0 if there are none)."""
        return max((info.cost for info in self.functions), default=0)

    def cost(self, index: int) -> int:
        """The stack cost of function ``index``; 0 for an imported one (it runs no wasm frame)."""
        imported = self.module.imported_functions
        return self.functions[index - imported].cost if index >= imported else 0


def validate(code: bytes, policy: Policy) -> ValidModule:
    """Check ``code`` against ``policy``; raise ``InvalidModule`` naming the first rule broken."""
    module = decode_module(code, policy)
    context = BodyContext.of(module, policy)
    limit = policy.limits.max_stack_units
    functions = []
    for number, body in enumerate(module.bodies):
        info = scan_body(context, module.imported_functions + number, body, code)
        if info.cost > limit:
            raise over_limit(
                rules.MAX_STACK_UNITS,
                f"function {info.index} needs {info.cost} stack units ({FRAME_OVERHEAD_UNITS} "
                f"per frame + {info.locals} parameters and locals + operand stack height "
                f"{info.max_height})",
                limit,
            )
        functions.append(info)
    return ValidModule(code, module, tuple(functions))
