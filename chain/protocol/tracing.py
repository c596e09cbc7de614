"""Transaction traces: what one transaction did, frame by frame, and its JSON (docs/rpc.md, "Traces").

``trace_transaction`` runs a transaction exactly as ``apply_transaction``
(or, for a call that is not mined, as ``simulate_transaction``) does, with
a ``vm.trace.Tracer`` on its execution and its state wrapped in a
``RecordingJournal`` that notes the first old value of every key written.
The result, a ``TransactionTrace``, holds the receipt, the call tree, the
intrinsic gas, the debug logs and the state diff of the whole transaction
(fee, nonce, value, code, storage).  Tracing changes no result: the same
functions run on the same state, and the recorders only read.

``trace_to_json`` is the answer of ``debug_trace_transaction`` and
``debug_trace_call``.  Bytes are shown as a "bytes view": their hex, their
strict msgpack decoding when the whole buffer is one msgpack value, and
their text when they are printable UTF-8.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from wasmchain.protocol.blocks import Receipt
from wasmchain.protocol.errors import InvalidEncoding, InvalidTransaction
from wasmchain.protocol.keys import ADDRESS_SIZE, format_address
from wasmchain.protocol.state import ACCOUNT, CODE, STORAGE, Account, State, StateJournal
from wasmchain.protocol.transactions import SignedTransaction, TxKind
from wasmchain.protocol.transition import Context, execute_transaction, validate_transaction, validate_unsigned
from wasmchain.vm import abi
from wasmchain.vm.host import Hash32
from wasmchain.vm.messages import LogLine
from wasmchain.vm.profile import profile_to_json
from wasmchain.vm.trace import (
    CallStep,
    EventStep,
    LogStep,
    Step,
    StorageRead,
    StorageRemove,
    StorageWrite,
    TraceFrame,
    Tracer,
    TransferStep,
)

STATUS_NAMES: Final[dict[int, str]] = {
    abi.CALL_OK: "ok",
    abi.CALL_ABORTED: "aborted",
    abi.CALL_OUT_OF_GAS: "out_of_gas",
    abi.CALL_TRAPPED: "trapped",
    abi.CALL_NOT_FOUND: "not_found",
    abi.CALL_REENTRANCY: "reentrancy",
    abi.CALL_TOO_DEEP: "too_deep",
    abi.CALL_INSUFFICIENT_BALANCE: "insufficient_balance",
}
"""The name of each status code the ``call`` host function returns (docs/abi.md)."""

MAX_VIEW_DEPTH: Final = 64
"""A msgpack value nested deeper than this is shown as hex only."""

Report = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StateChange:
    """One state key the transaction changed: its value before and after (``None``: absent)."""

    key: bytes
    old: bytes | None
    new: bytes | None


@dataclass(frozen=True, slots=True)
class Location:
    """Where a mined transaction is: its block's height and hash, and its index in the block."""

    height: int
    block_hash: Hash32
    index: int


@dataclass(frozen=True, slots=True)
class TransactionTrace:
    """What one transaction did."""

    signed: SignedTransaction
    receipt: Receipt
    """The receipt the traced execution gave (for a mined transaction, compared with the stored one)."""
    intrinsic_gas: int
    """Gas charged before execution (its bytes, compiling a deploy's code); 0 for an invalid transaction."""
    frame: TraceFrame | None
    """The top-level contract frame; ``None`` when no contract code ran (a native transfer, a deploy
    without init, an invalid transaction)."""
    logs: tuple[LogLine, ...]
    """``debug_log`` messages of every frame, failed ones included, in order."""
    state_diff: tuple[StateChange, ...]
    """Every state key the transaction changed, sorted by key."""
    verbose: bool
    """Whether the frames hold every host call (``TraceFrame.host_calls``)."""
    profile: Any = None
    """The gas profile's JSON, when one was asked for and the VM made one."""
    location: Location | None = None
    """Set for a mined transaction."""
    matches_receipt: bool | None = None
    """For a mined transaction: whether the re-execution gave the stored receipt (a difference is an error)."""

    @property
    def fee(self) -> int:
        return self.receipt.gas_used * self.signed.tx.gas_price

    @property
    def refund(self) -> int:
        """The fee given back for unused gas (0 for an invalid transaction, which was never charged)."""
        if self.receipt.status == "invalid":
            return 0
        return (self.signed.tx.gas_limit - self.receipt.gas_used) * self.signed.tx.gas_price


class RecordingJournal:
    """A ``StateJournal`` over another that notes the value each key had before its first write."""

    def __init__(self, inner: StateJournal) -> None:
        self.inner = inner
        self.old: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        if key not in self.old:
            self.old[key] = self.inner.get(key)
        self.inner.set(key, value)

    def delete(self, key: bytes) -> None:
        if key not in self.old:
            self.old[key] = self.inner.get(key)
        self.inner.delete(key)

    def checkpoint(self) -> None:
        self.inner.checkpoint()

    def commit(self) -> None:
        self.inner.commit()

    def revert(self) -> None:
        self.inner.revert()

    def flush(self) -> dict[bytes, bytes | None]:
        return self.inner.flush()

    def changes(self) -> tuple[StateChange, ...]:
        """Each key written whose value now differs from before the first write, sorted by key."""
        found = []
        for key in sorted(self.old):
            old, new = self.old[key], self.inner.get(key)
            if old != new:
                found.append(StateChange(key, old, new))
        return tuple(found)


def trace_transaction(
    state: State,
    signed: SignedTransaction,
    context: Context,
    *,
    block_gas_left: int | None = None,
    verbose: bool = False,
    profile: bool = False,
) -> TransactionTrace:
    """Run a transaction on ``state`` with tracing, as a block (``block_gas_left`` given: every check of
    ``apply_transaction``, the signature included) or as a simulation (``None``: ``validate_unsigned``).

    The changes stay in ``state`` as ``apply_transaction``'s would.
    """
    recording = RecordingJournal(state.journal)
    traced = State(recording)
    tracer = _new_tracer(verbose, profile)
    try:
        if block_gas_left is None:
            intrinsic = validate_unsigned(traced, signed, context)
        else:
            intrinsic = validate_transaction(traced, signed, context, block_gas_left)
    except InvalidTransaction as error:
        receipt = Receipt(signed.hash, "invalid", 0, error=str(error))
        return TransactionTrace(signed, receipt, 0, None, (), (), verbose)
    receipt = execute_transaction(traced, signed, context, intrinsic, tracer=tracer)
    root = tracer.root
    return TransactionTrace(
        signed,
        receipt,
        intrinsic,
        root,
        tuple(_logs(root)) if root is not None else (),
        recording.changes(),
        verbose,
        _profile_of(tracer) if profile and root is not None else None,
    )


def _new_tracer(verbose: bool, profile: bool) -> Tracer:
    return Tracer(verbose=verbose, profile=profile)


def _profile_of(tracer: Tracer) -> Any:
    """The profile's JSON (``vm.profile.profile_to_json``)."""
    return profile_to_json(tracer)


def _logs(frame: TraceFrame) -> Iterator[LogLine]:
    """The frame's ``debug_log`` messages and its nested frames', in the order they were written."""
    for step in frame.steps:
        if isinstance(step, LogStep):
            yield LogLine(frame.contract, step.message)
        elif isinstance(step, CallStep):
            yield from _logs(step.frame)


# -- JSON ----------------------------------------------------------------------------------------


def trace_to_json(trace: TransactionTrace) -> Report:
    """The trace object of docs/rpc.md ("Traces")."""
    signed, receipt = trace.signed, trace.receipt
    tx = signed.tx
    location = trace.location
    report: Report = {
        "tx_hash": "0x" + signed.hash.hex(),
        "block": (
            None
            if location is None
            else {"height": location.height, "hash": "0x" + location.block_hash.hex(), "index": location.index}
        ),
        "kind": tx.kind.name.lower(),
        "sender": format_address(tx.sender),
        "to": format_address(tx.to) if tx.kind is not TxKind.DEPLOY else None,
        "method": tx.method or None,
        "value": tx.value,
        "gas_limit": tx.gas_limit,
        "gas_price": tx.gas_price,
        "intrinsic_gas": trace.intrinsic_gas,
        "gas_used": receipt.gas_used,
        "fee": trace.fee,
        "refund": trace.refund,
        "status": receipt.status,
        "error": receipt.error or None,
        "return": bytes_view(receipt.return_data),
        "events": [
            {"contract": format_address(event.contract), "name": event.name, "data": bytes_view(event.data)}
            for event in receipt.events
        ],
        "logs": [{"contract": format_address(line.contract), "message": line.message} for line in trace.logs],
        "contract_address": format_address(receipt.contract_address) if receipt.contract_address else None,
        "frame": None if trace.frame is None else frame_to_json(trace.frame, verbose=trace.verbose),
        "state_diff": [state_change_to_json(change) for change in trace.state_diff],
        "verbose": trace.verbose,
        "matches_receipt": trace.matches_receipt,
    }
    if trace.profile is not None:
        report["profile"] = trace.profile
    return report


def frame_to_json(frame: TraceFrame, *, verbose: bool = False) -> Report:
    """One frame and, in its steps, its nested frames."""
    report: Report = {
        "contract": format_address(frame.contract),
        "method": frame.method,
        "caller": format_address(frame.caller),
        "value": frame.value,
        "depth": frame.depth,
        "gas_limit": frame.gas_limit,
        "gas_used": frame.gas_used,
        "gas_self": frame.gas_self,
        "status": frame.status,
        "error": frame.error,
        "status_code": frame.status_code,
        "status_name": None if frame.status_code is None else STATUS_NAMES.get(frame.status_code),
        "ran": frame.ran,
        "input": bytes_view(frame.input),
        "return": bytes_view(frame.return_data),
        "steps": [_step_to_json(step, verbose) for step in frame.steps],
    }
    if verbose:
        report["host_calls"] = [{"name": c.name, "gas": c.gas, "gas_own": c.gas_own} for c in frame.host_calls]
    return report


def _step_to_json(step: Step, verbose: bool) -> Report:
    if isinstance(step, StorageRead):
        if step.op == "storage_has":
            return {"op": "storage_has", "key": bytes_view(step.key), "present": step.value is not None}
        return {"op": "storage_read", "key": bytes_view(step.key), "value": _maybe_view(step.value)}
    if isinstance(step, StorageWrite):
        return {
            "op": "storage_write",
            "key": bytes_view(step.key),
            "old": _maybe_view(step.old),
            "new": bytes_view(step.new),
        }
    if isinstance(step, StorageRemove):
        return {"op": "storage_remove", "key": bytes_view(step.key), "old": _maybe_view(step.old)}
    if isinstance(step, EventStep):
        return {"op": "event", "name": step.name, "data": bytes_view(step.data)}
    if isinstance(step, LogStep):
        return {"op": "log", "message": step.message}
    if isinstance(step, TransferStep):
        return {"op": "transfer", "to": format_address(step.recipient), "amount": step.amount, "ok": step.ok}
    return {"op": "call", "frame": frame_to_json(step.frame, verbose=verbose)}


def state_change_to_json(change: StateChange) -> Report:
    """One entry of ``state_diff``: the key, what it is, and its old and new values decoded."""
    key = change.key
    report: Report = {"key": "0x" + key.hex()}
    prefix = key[:1]
    if prefix == ACCOUNT:
        report.update(kind="account", address=format_address(key[1:]))
        report.update(old=_account_json(change.old), new=_account_json(change.new))
    elif prefix == CODE:
        report.update(kind="code", code_hash="0x" + key[1:].hex())
        report.update(
            old=None if change.old is None else {"size": len(change.old)},
            new=None if change.new is None else {"size": len(change.new)},
        )
    else:
        assert prefix == STORAGE, f"unknown state key 0x{key.hex()}"
        report.update(kind="storage", address=format_address(key[1 : 1 + ADDRESS_SIZE]))
        report.update(storage_key=bytes_view(key[1 + ADDRESS_SIZE :]))
        report.update(old=_maybe_view(change.old), new=_maybe_view(change.new))
    return report


def _account_json(data: bytes | None) -> Report | None:
    if data is None:
        return None
    account = Account.decode(data)
    return {
        "balance": account.balance,
        "nonce": account.nonce,
        "code_hash": "0x" + account.code_hash.hex() if account.code_hash else None,
    }


def bytes_view(data: bytes) -> Report:
    """``{"hex": "0x.."}``, plus ``"msgpack"``: the decoding when the whole buffer is exactly one msgpack
    value, and ``"text"`` when the bytes are printable UTF-8."""
    view: Report = {"hex": "0x" + data.hex()}
    if data:
        try:
            view["msgpack"] = _msgpack_json(msgpack.unpackb(data, raw=False, strict_map_key=False), 0)
        except (ValueError, TypeError, InvalidEncoding, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            pass
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if text.isprintable():
                view["text"] = text
    return view


def _maybe_view(data: bytes | None) -> Report | None:
    return None if data is None else bytes_view(data)


def _msgpack_json(value: Any, depth: int) -> Any:
    """A decoded msgpack value as JSON: bytes (addresses too) as ``0x`` hex, maps' keys as strings,
    extension types as ``{"ext": code, "data": "0x.."}``."""
    if depth > MAX_VIEW_DEPTH:
        raise InvalidEncoding(f"nested deeper than {MAX_VIEW_DEPTH}")
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEncoding("not a finite number")
    if isinstance(value, list):
        return [_msgpack_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_map_key(key, depth): _msgpack_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, msgpack.ExtType):
        return {"ext": value.code, "data": "0x" + value.data.hex()}
    if isinstance(value, msgpack.Timestamp):
        return {"ext": -1, "data": "0x" + value.to_bytes().hex()}
    return value


def _map_key(key: Any, depth: int) -> str:
    shown = _msgpack_json(key, depth + 1)
    return shown if isinstance(shown, str) else str(shown)
