"""The host ABI, version 1 (and 1.1, 1.2): the functions a contract may import.

docs/abi.md is the reference; this table is what validation and the
runtime use, so the two cannot drift apart silently (a test compares them).

ABI 1.1 adds one function, ``debug_log``, which changes no state and no
receipt.  A chain keeps the ABI its genesis names (``vm.version``): a module
importing ``debug_log`` is refused at deploy on an ABI 1.0 chain, exactly as
before the function existed (``host_functions``).

ABI 1.2 has the functions of 1.1 and checks a module's interface at deploy:
the WIT world in its ``wasmchain:wit`` section, if it has one
(``checks_interfaces``; ``vm.wit``).  Under 1 and 1.1 that section is
ignored as any custom section is, so their chains replay unchanged.
"""

from __future__ import annotations

from typing import Final

from .wasm.types import FuncSig

IMPORT_MODULE: Final = "wasmchain"

ADDRESS_SIZE: Final = 20
AMOUNT_SIZE: Final = 16
ENV_SIZE: Final = 112
MAX_ABORT_MESSAGE: Final = 1024
MAX_METHOD_NAME: Final = 256

STACK_GLOBAL_EXPORT: Final = "__wasmchain_stack"
RESERVED_EXPORT_PREFIX: Final = "__wasmchain"

I32, I64 = "i32", "i64"


def _sig(params: str, results: str = "") -> FuncSig:
    return FuncSig(tuple(params.split()), tuple(results.split()))


HOST_FUNCTIONS: Final[dict[str, FuncSig]] = {
    "input_read": _sig("i32 i32", "i32"),
    "return_set": _sig("i32 i32"),
    "abort": _sig("i32 i32"),
    "storage_read": _sig("i32 i32 i32 i32", "i64"),
    "storage_write": _sig("i32 i32 i32 i32"),
    "storage_remove": _sig("i32 i32", "i32"),
    "storage_has": _sig("i32 i32", "i32"),
    "event_emit": _sig("i32 i32 i32 i32"),
    "env_read": _sig("i32"),
    "sha256": _sig("i32 i32 i32"),
    "ed25519_verify": _sig("i32 i32 i32 i32", "i32"),
    "call": _sig("i32 i32 i32 i32 i32 i32 i64", "i32"),
    "call_result_read": _sig("i32 i32", "i32"),
    "transfer": _sig("i32 i32", "i32"),
    "debug_log": _sig("i32 i32"),
}
"""Every host function the runtime defines (the newest ABI's)."""

ABI_1_0_FUNCTIONS: Final = frozenset(HOST_FUNCTIONS) - {"debug_log"}
"""The functions of ABI 1.0, the first: all but ``debug_log``."""


def host_functions(abi_version: str) -> dict[str, FuncSig]:
    """The host functions a module may import under ``abi_version`` ("1", "1.1" or "1.2": 1.2 has 1.1's)."""
    if abi_version == "1":
        return {name: sig for name, sig in HOST_FUNCTIONS.items() if name in ABI_1_0_FUNCTIONS}
    return dict(HOST_FUNCTIONS)


ABIS_WITHOUT_INTERFACES: Final = frozenset({"1", "1.1"})
"""The ABIs that ignore a module's ``wasmchain:wit`` section, as they did before it existed."""


def checks_interfaces(abi_version: str) -> bool:
    """Whether a deploy under ``abi_version`` checks the module's interface (ABI 1.2 and later)."""
    return abi_version not in ABIS_WITHOUT_INTERFACES


# Status codes returned by the ``call`` host function.
CALL_OK: Final = 0
CALL_ABORTED: Final = 1
CALL_OUT_OF_GAS: Final = 2
CALL_TRAPPED: Final = 3
CALL_NOT_FOUND: Final = 4
CALL_REENTRANCY: Final = 5
CALL_TOO_DEEP: Final = 6
CALL_INSUFFICIENT_BALANCE: Final = 7
