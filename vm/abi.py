"""The host ABI, versions 1 (1.1, 1.2) and 2: the functions a contract may import.

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

ABI 2 is a second import module, ``wasmchain_v2``, beside ``wasmchain``: a
module's ABI is the module it imports from (``module_abi``), so an ABI 1
contract runs on an ABI 2 chain exactly as on an ABI 1.2 one.  It has every
function of 1.2 plus ``apply_effects`` (writes, events and the return data
in one crossing), and it fills the module's io area (the ``wasmchain_io``
export) with the environment record and the input before a method runs, so
that neither costs a crossing.  docs/abi.md, "ABI 2".
"""

from __future__ import annotations

from typing import Final

from .wasm.types import FuncSig

IMPORT_MODULE: Final = "wasmchain"
"""The import module of ABI 1 (1.0, 1.1, 1.2)."""
IMPORT_MODULE_V2: Final = "wasmchain_v2"
"""The import module of ABI 2: a module importing from it is an ABI 2 module."""

ADDRESS_SIZE: Final = 20
AMOUNT_SIZE: Final = 16
ENV_SIZE: Final = 112
MAX_ABORT_MESSAGE: Final = 1024
MAX_METHOD_NAME: Final = 256

STACK_GLOBAL_EXPORT: Final = "__wasmchain_stack"
IO_EXPORT: Final = "wasmchain_io"
"""ABI 2: the exported i32 global holding the address of the module's io area."""
IO_AREA_SIZE: Final = 4096
"""ABI 2: the io area's size: the environment record, the input's length, the input."""
IO_INPUT_OFFSET: Final = ENV_SIZE + 4
"""ABI 2: where the input starts in the io area (after the record and the u32 length)."""
IO_INPUT_CAPACITY: Final = IO_AREA_SIZE - IO_INPUT_OFFSET
"""ABI 2: the longest input written into the io area (3980 bytes); a longer one is read with ``input_read``."""

# Tags of the records of ``apply_effects`` (ABI 2).
EFFECT_WRITE: Final = 1
EFFECT_EVENT: Final = 2
EFFECT_RETURN: Final = 3
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
"""Every host function of ABI 1.2, under the import module ``wasmchain``."""

HOST_FUNCTIONS_V2: Final[dict[str, FuncSig]] = {**HOST_FUNCTIONS, "apply_effects": _sig("i32 i32")}
"""Every host function of ABI 2, under the import module ``wasmchain_v2``: 1.2's and ``apply_effects``."""

ABI_1_0_FUNCTIONS: Final = frozenset(HOST_FUNCTIONS) - {"debug_log"}
"""The functions of ABI 1.0, the first: all but ``debug_log``."""


def host_functions(abi_version: str) -> dict[str, FuncSig]:
    """The host functions a module may import from ``wasmchain`` under ``abi_version`` (1.2 and 2 have 1.1's)."""
    if abi_version == "1":
        return {name: sig for name, sig in HOST_FUNCTIONS.items() if name in ABI_1_0_FUNCTIONS}
    return dict(HOST_FUNCTIONS)


def import_modules(abi_version: str) -> dict[str, dict[str, FuncSig]]:
    """The import modules a chain of ``abi_version`` accepts, each with its functions:
    ``wasmchain`` always, ``wasmchain_v2`` from ABI 2 on."""
    modules = {IMPORT_MODULE: host_functions(abi_version)}
    if abi_version not in ABIS_BEFORE_2:
        modules[IMPORT_MODULE_V2] = dict(HOST_FUNCTIONS_V2)
    return modules


ABIS_BEFORE_2: Final = frozenset({"1", "1.1", "1.2"})
"""The chain ABIs without ``wasmchain_v2``."""


def module_abi(import_module_names: set[str]) -> int:
    """A module's ABI from the modules it imports from: 2 for ``wasmchain_v2``, else 1 (no imports included)."""
    return 2 if IMPORT_MODULE_V2 in import_module_names else 1


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
