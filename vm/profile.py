"""Gas profiles: every unit of a call's gas attributed to the wasm function that spent it.

A ``Tracer(profile=True)`` gives each frame of its call tree a
``FrameProfile``: the profiling frame (``vm.profiling``) reports every
function transition of the contract (entry, return to a caller), and gas
between two transitions goes to the wasm call stack of the time, a node of a
tree of stacks.  Host functions' charges go to the function that called
them; a nested contract call's gas goes to the child frame, whose profile
starts under the caller's current stack (``caller_stack``); instantiation
and the attached value go to the empty stack ``()``; what is left when the
frame ends (a trap, running out of gas) goes to the stack on top.  So per
frame the stacks add up to the trace frame's ``gas_self`` exactly, and over
all frames to the root's ``gas_used`` (``tests/vm/test_profile.py``).

``profile_to_json`` is the ``"profile"`` object of docs/rpc.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trace import TraceFrame, Tracer

Stack = tuple[int, ...]
"""Function indices of a wasm call stack (the module's own numbering), outermost first."""


class _Node:
    """One call stack: its function, its caller's node and the gas spent with it on top."""

    __slots__ = ("function", "parent", "children", "gas")

    def __init__(self, function: int, parent: _Node | None) -> None:
        self.function = function
        self.parent = parent
        self.children: dict[int, _Node] = {}
        self.gas = 0


class FrameProfile:
    """The profile of one contract frame, filled in while it runs.

    ``charge(used)`` attributes the frame's own gas up to ``used`` (its gas
    so far minus its children's) to the current stack; ``enter``, ``leave``,
    ``mark`` and ``restore`` move the stack.
    """

    def __init__(self, caller_stack: Stack = ()) -> None:
        self.caller_stack = caller_stack
        """The caller frame's wasm stack when it made the call (``()`` at the top)."""
        self.code_hash = b""
        self.names: Mapping[int, str] = MappingProxyType({})
        """Function names from the module's own ``name`` section."""
        self.root = _Node(-1, None)
        self._active = [self.root]
        self._marks: list[int] = []
        self.calls: dict[int, int] = {}
        """Times each function was entered."""
        self.attributed = 0
        """Gas attributed so far."""
        self.children_gas = 0
        """Gas of the nested frames that have returned (charged to this frame by ``call``)."""
        self.gas_self = 0
        """The frame's own gas (set when it ends): the sum of ``stacks()``."""

    # -- while the frame runs ------------------------------------------------------

    def charge(self, used: int) -> None:
        """The frame's own gas is now ``used``: the difference goes to the current stack."""
        if used > self.attributed:
            self._active[-1].gas += used - self.attributed
            self.attributed = used

    def enter(self, function: int) -> None:
        top = self._active[-1]
        node = top.children.get(function)
        if node is None:
            node = top.children[function] = _Node(function, top)
        self._active.append(node)
        self.calls[function] = self.calls.get(function, 0) + 1

    def leave(self) -> None:
        if len(self._active) > 1:
            self._active.pop()

    def mark(self) -> None:
        self._marks.append(len(self._active))

    def restore(self) -> None:
        if self._marks:
            del self._active[self._marks.pop() :]

    def stack(self) -> Stack:
        """The current wasm stack."""
        return tuple(node.function for node in self._active[1:])

    def finish(self, gas_self: int) -> None:
        """The frame ended having used ``gas_self`` itself: the rest goes to the stack on top."""
        self.charge(gas_self)
        self.gas_self = gas_self

    # -- results ---------------------------------------------------------------------

    def stacks(self) -> list[tuple[Stack, int]]:
        """Every stack that spent gas, with its gas, depth first in first-entry order."""
        found: list[tuple[Stack, int]] = []

        def visit(node: _Node, stack: Stack) -> None:
            if node.gas:
                found.append((stack, node.gas))
            for child in node.children.values():
                visit(child, (*stack, child.function))

        visit(self.root, ())
        return found

    def functions(self) -> list[FunctionGas]:
        """Per function: its own gas, its gas with its callees', and its calls; most self gas first."""
        own: dict[int, int] = {}
        total: dict[int, int] = {}
        for stack, gas in self.stacks():
            if stack:
                own[stack[-1]] = own.get(stack[-1], 0) + gas
            for function in set(stack):
                total[function] = total.get(function, 0) + gas
        rows = [
            FunctionGas(index, self.names.get(index), own.get(index, 0), total.get(index, 0), self.calls.get(index, 0))
            for index in set(total) | set(self.calls)
        ]
        rows.sort(key=lambda row: (-row.own, -row.total, row.index))
        return rows


@dataclass(frozen=True, slots=True)
class FunctionGas:
    """One function's line of a frame profile."""

    index: int
    name: str | None
    own: int
    """Gas spent with the function on top of the stack (its host calls included): "self" in JSON."""
    total: int
    """Gas spent with the function anywhere on the stack."""
    calls: int


@dataclass(frozen=True, slots=True)
class ProfiledFrame:
    """A frame of the call tree with its profile."""

    path: tuple[int, ...]
    """Indices in ``TraceFrame.calls`` from the root to this frame."""
    frame: TraceFrame
    profile: FrameProfile


@dataclass(frozen=True, slots=True)
class Profile:
    """The profile of one execution: every frame that ran, in call order."""

    gas: int
    """The root frame's ``gas_used``: the sum of every frame's stacks."""
    frames: tuple[ProfiledFrame, ...]


def collect(root: TraceFrame | None) -> Profile:
    """The profile of the call tree under ``root`` (``Tracer.profile``)."""
    if root is None:
        return Profile(0, ())
    return Profile(root.gas_used, tuple(_profiled_frames(root, ())))


def _profiled_frames(frame: TraceFrame, path: tuple[int, ...]) -> Iterator[ProfiledFrame]:
    if frame.profile is not None:
        yield ProfiledFrame(path, frame, frame.profile)
    for number, child in enumerate(frame.calls):
        yield from _profiled_frames(child, (*path, number))


def profile_to_json(tracer: Tracer | Profile, names: Mapping[bytes, Mapping[int, str]] | None = None) -> dict[str, Any]:
    """The ``"profile"`` object of docs/rpc.md, from a ``Tracer(profile=True)`` after its execution.

    Function names come from the module's own ``name`` section; ``names``
    (code hash -> {function index: name}, e.g. from the ``.names`` files
    contracts/build.sh writes) fills in the functions it does not name.
    """
    profile = tracer if isinstance(tracer, Profile) else tracer.profile
    if profile is None:
        raise ValueError("the tracer was not made with profile=True")
    frames = []
    for item in profile.frames:
        record, data = item.frame, item.profile
        extra = (names or {}).get(data.code_hash, {})
        functions = []
        for row in data.functions():
            name = row.name if row.name is not None else extra.get(row.index)
            functions.append(
                {"index": row.index, "name": name, "self": row.own, "total": row.total, "calls": row.calls}
            )
        frames.append(
            {
                "path": list(item.path),
                "contract": "0x" + record.contract.hex(),
                "method": record.method,
                "code_hash": "0x" + data.code_hash.hex(),
                "gas_self": data.gas_self,
                "caller_stack": list(data.caller_stack),
                "functions": functions,
                "stacks": [{"stack": list(stack), "gas": gas} for stack, gas in data.stacks()],
            }
        )
    return {"gas": profile.gas, "frames": frames}
