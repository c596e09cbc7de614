"""Value and function types of WebAssembly, as plain values."""

from __future__ import annotations

from dataclasses import dataclass

ValType = str
"""One of ``"i32"``, ``"i64"``, ``"f32"``, ``"f64"``, ``"v128"``, ``"funcref"``, ``"externref"``."""

FLOAT_TYPES = frozenset({"f32", "f64"})


@dataclass(frozen=True, slots=True)
class FuncSig:
    """A function type: parameter and result value types."""

    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"
