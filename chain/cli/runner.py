"""The standalone runner: validate a module or run one call, with no chain.

Like NEAR's ``near-vm-runner-standalone``, for contract authors: the same
validation, engine configuration and gas schedule as the chain, applied to
one contract whose storage lives in a JSON file.  The same inputs always
give byte-identical output (no timings, no addresses of the moment).

The CLI (``wasmchain vm ...``, in ``main.py``) parses arguments and prints
(``render.py``); the functions here do the work and return plain dicts.

Typed contracts: when the module carries an interface (its ``wasmchain:wit``
section), a declared method's arguments are checked against its types before
it runs (``main.py``, as ``wasmchain call`` does), and its return data and
events are decoded with the declared types, as the node's reports decode them
(``node.reports``: ``return_type`` and each event's ``data_type`` name the
type used, ``null`` where plain msgpack was).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

from wasmchain.node.reports import code_interface, outcome_report
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.hexstr import from_hex
from wasmchain.vm.errors import InvalidModule
from wasmchain.vm.host import MemoryHost
from wasmchain.vm.messages import BlockEnv, Message, Outcome
from wasmchain.vm.params import VMParams
from wasmchain.vm.runtime import Runtime
from wasmchain.vm.wit.section import interface_of
from wasmchain.vm.wit.types import Interface, WitError

RUNNER_CONTRACT = bytes.fromhex("c0" * 20)
"""The address the runner gives the contract it runs."""
RUNNER_CALLER = bytes.fromhex("a1" * 20)
"""The default caller (and origin) of a runner call."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


class RunnerError(ChainError):
    """Bad input to the runner (a file, a state file, an argument)."""

    reason = "runner"


def load_module(path: Path) -> bytes:
    """Read a ``.wasm`` file, or a ``.wat`` file translated to binary."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RunnerError(f"cannot read {path}: {error.strerror}") from None
    if data.startswith(b"\0asm"):
        return data
    try:
        return bytes(wasmtime.wat2wasm(data.decode("utf-8")))
    except (UnicodeDecodeError, wasmtime.WasmtimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunnerError(f"{path} is neither a wasm binary nor valid WAT: {first_line}") from None


def validate(params: VMParams, code: bytes) -> tuple[int, dict[str, Any]]:
    """Apply the deploy rules; the report lists the module's methods and exports."""
    try:
        prepared = Runtime(params).validate(code)
    except InvalidModule as bad:
        return EXIT_INVALID, {"valid": False, "rule": bad.rule, "error": str(bad)}
    report: dict[str, Any] = {
        "valid": True,
        "rule": None,
        "error": None,
        "code_size": len(code),
        "methods": list(prepared.methods),
        "exports": {name: str(sig) for name, sig in sorted(prepared.exports.items())},
        "max_stack_cost": prepared.max_cost,
        "interface": None,
        "interface_error": None,
    }
    # Under a VM version before abi-1.2 the section is not checked at deploy, so a module may carry a bad one.
    try:
        interface = interface_of(code)
    except WitError as error:
        report["interface_error"] = str(error)
    else:
        report["interface"] = None if interface is None else interface.to_json()
    return EXIT_OK, report


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One runner call."""

    code: bytes
    method: str
    input: bytes
    gas: int
    state_path: Path | None
    caller: bytes = RUNNER_CALLER
    height: int = 1
    timestamp: int = 0


def run(params: VMParams, request: RunRequest) -> tuple[int, dict[str, Any]]:
    """Run one method (or a plain exported function) and report the outcome."""
    runtime = Runtime(params)
    try:
        compiled = runtime.compile(request.code)
    except InvalidModule as bad:
        return EXIT_INVALID, _report(Outcome("invalid", 0, error=str(bad)), None, request.method)
    prepared = compiled.prepared
    interface = code_interface(request.code)
    if request.method not in prepared.methods and request.method in prepared.exports:
        signature = prepared.exports[request.method]
        if not signature.params and signature.results:
            outcome, results = runtime.invoke_plain(compiled, request.method, request.gas)
            return _exit_code(outcome), _report(outcome, interface, request.method, results)
    host = MemoryHost()
    host.contracts[RUNNER_CONTRACT] = compiled.code_hash
    host.codes[compiled.code_hash] = request.code
    storage = _read_state(request.state_path)
    for key, value in storage.items():
        host.storage[(RUNNER_CONTRACT, key)] = value
    message = Message(
        caller=request.caller,
        contract=RUNNER_CONTRACT,
        method=request.method,
        input=request.input,
        gas_limit=request.gas,
    )
    outcome = runtime.execute(host, BlockEnv(request.height, request.timestamp), message)
    if outcome.ok and request.state_path is not None:
        after = {key: value for (contract, key), value in host.storage.items() if contract == RUNNER_CONTRACT}
        _write_state(request.state_path, after)
    return _exit_code(outcome), _report(outcome, interface, request.method)


def _exit_code(outcome: Outcome) -> int:
    if outcome.ok:
        return EXIT_OK
    return EXIT_INVALID if outcome.status == "invalid" else EXIT_FAILED


def _report(
    outcome: Outcome, interface: Interface | None, method: str, results: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The outcome, its return data and events decoded as the node's reports decode them (``interface`` is the
    module's own, ``method`` the export that ran): with the declared types where they fit, else as plain msgpack."""

    def interfaces(address: bytes) -> Interface | None:
        return interface if address == RUNNER_CONTRACT else None

    typed = outcome_report(outcome, interfaces, (RUNNER_CONTRACT, method))
    report: dict[str, Any] = {
        "status": outcome.status,
        "gas_used": outcome.gas_used,
        "return_hex": outcome.return_data.hex(),
        "return": typed["result"],
        "return_type": typed["result_type"],
        "error": outcome.error,
        "events": typed["events"],
        # debug_log lines of every frame, failed ones included, in order (never part of a receipt).
        "logs": [{"contract": "0x" + line.contract.hex(), "message": line.message} for line in outcome.logs],
    }
    if results is not None:
        report["results"] = results
    return report


def _read_state(path: Path | None) -> dict[bytes, bytes]:
    """Storage from a state file: ``{"storage": {"0x<key>": "0x<value>"}}``; empty if absent."""
    if path is None or not path.exists():
        return {}
    try:
        document = json.loads(path.read_text())
        entries = document["storage"]
        if not isinstance(entries, dict):
            raise TypeError("storage is not an object")
        return {_hex(key): _hex(value) for key, value in entries.items()}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunnerError(
            f'state file {path} is not of the form {{"storage": {{"0x<key>": "0x<value>"}}}}: {error}'
        ) from None


def _hex(text: Any) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"expected a 0x-prefixed hex string, found {text!r}")
    return from_hex(text[2:])


def _write_state(path: Path, storage: dict[bytes, bytes]) -> None:
    document = {"storage": {"0x" + key.hex(): "0x" + value.hex() for key, value in sorted(storage.items())}}
    text = json.dumps(document, indent=2) + "\n"
    # Write then rename: an interrupted run leaves the old state, never half a file.
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
