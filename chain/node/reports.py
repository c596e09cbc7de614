"""The JSON reports of blocks, transactions, receipts, accounts and events.

One shape everywhere: the JSON-RPC results are these reports, and the CLI
prints them (as JSON with ``--json``, else a line per field), so the
embedded CLI and the CLI through a node print the same thing.

Values a contract wrote (a call's return data, an event's data, a
transaction's arguments) are decoded with the types its interface declares
when it has one (``wasmchain.vm.wit``: addresses as ``0x`` strings, ``u128``
amounts as integers, records as objects with their field keys), and the
report says which type it used (``return_type``, ``result_type``,
``data_type``, ``signature``).  When the contract is untyped, the method or
event undeclared, or the bytes do not fit the declared type, they are
decoded as plain msgpack (``protocol.args.decode_value``) and the type is
``null``: a report never fails because a contract lied about itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmchain.protocol.args import decode_value
from wasmchain.protocol.blocks import Block, Receipt
from wasmchain.protocol.hexstr import from_0x
from wasmchain.protocol.keys import format_address, parse_address
from wasmchain.protocol.state import Account
from wasmchain.protocol.transactions import SignedTransaction, TxKind
from wasmchain.vm import Event, Outcome
from wasmchain.vm.host import Address
from wasmchain.vm.wit.section import interface_of
from wasmchain.vm.wit.types import Field, Interface, Method, Record, WitError, WitType, signature, wit_name
from wasmchain.vm.wit.values import decode_event, decode_result
from wasmchain.vm.wit.values import decode_value as decode_typed

Report = dict[str, Any]
Interfaces = Callable[[Address], Interface | None]
"""The interface of the contract at an address, or ``None`` (no contract, untyped, unreadable): what the
reports decode with.  The node's is ``Node.interface_or_none``."""


def untyped(address: Address) -> None:
    """The ``Interfaces`` that knows none: every value decoded as plain msgpack."""
    return None


def account_report(address: Address, account: Account) -> Report:
    return {
        "address": format_address(address),
        "balance": account.balance,
        "nonce": account.nonce,
        "code_hash": "0x" + account.code_hash.hex() if account.code_hash else None,
    }


def outcome_report(
    outcome: Outcome | Receipt, interfaces: Interfaces = untyped, called: tuple[Address, str] | None = None
) -> Report:
    """What an execution did, for ``view`` and ``simulate``; ``called`` is the contract and method it ran (its
    result is decoded with that method's result type)."""
    result, result_type = _result(outcome.return_data, interfaces, called)
    return {
        "status": outcome.status,
        "result": result,
        "return_hex": outcome.return_data.hex(),
        "gas_used": outcome.gas_used,
        "events": [event_report(event, interfaces) for event in outcome.events],
        "error": outcome.error or None,
        "result_type": result_type,
    }


def event_report(event: Event, interfaces: Interfaces = untyped) -> Report:
    data, data_type = _event_data(event, interfaces(event.contract))
    return {
        "contract": format_address(event.contract),
        "name": event.name,
        "data": data,
        "data_hex": event.data.hex(),
        "data_type": data_type,
    }


def receipt_report(block: Block, index: int, receipt: Receipt, interfaces: Interfaces = untyped) -> Report:
    tx = block.transactions[index].tx
    returned, return_type = _result(receipt.return_data, interfaces, called_by(tx.kind, tx.to, tx.method, receipt))
    report: Report = {
        "tx_hash": "0x" + receipt.tx_hash.hex(),
        "block_height": block.height,
        "block_hash": "0x" + block.hash.hex(),
        "index": index,
        "status": receipt.status,
        "gas_used": receipt.gas_used,
        "return": returned,
        "return_hex": receipt.return_data.hex(),
        "events": [event_report(event, interfaces) for event in receipt.events],
        "error": receipt.error or None,
        "return_type": return_type,
    }
    if receipt.contract_address:
        report["address"] = format_address(receipt.contract_address)
    return report


def called_by(kind: TxKind, to: Address, method: str, receipt: Receipt) -> tuple[Address, str] | None:
    """The contract and method a transaction ran: a call's, or a deploy's init on the new contract."""
    if kind is TxKind.CALL:
        return to, method
    if kind is TxKind.DEPLOY and method and receipt.contract_address:
        return receipt.contract_address, method
    return None


def transaction_report(signed: SignedTransaction, interface: Interface | None = None) -> Report:
    """A transaction; ``interface`` is its contract's (a call's target, a deploy's own code): its arguments are
    decoded with the method's parameter types, and ``signature`` names them."""
    tx = signed.tx
    args, method = decode_value(tx.args), declared(interface, tx.method)
    if method is not None:
        try:
            args = decode_typed(_params_record(method), tx.args)
        except ValueError:
            method = None
    return {
        "hash": "0x" + signed.hash.hex(),
        "kind": tx.kind.name.lower(),
        "from": format_address(tx.sender),
        "to": format_address(tx.to) if tx.to else None,
        "nonce": tx.nonce,
        "value": tx.value,
        "gas_limit": tx.gas_limit,
        "gas_price": tx.gas_price,
        "method": tx.method or None,
        "args": args,
        "code_size": len(tx.code) if tx.code else None,
        "signature": None if method is None else signature(method),
    }


def block_report(block: Block) -> Report:
    header = block.header
    report: Report = {
        "height": header.height,
        "hash": "0x" + block.hash.hex(),
        "parent_hash": "0x" + header.parent_hash.hex(),
        "timestamp": header.timestamp,
        "state_root": "0x" + header.state_root.hex(),
        "tx_root": "0x" + header.tx_root.hex(),
        "receipts_root": "0x" + header.receipts_root.hex(),
        "gas_used": header.gas_used,
        "transactions": ["0x" + tx.hash.hex() for tx in block.transactions],
    }
    if block.overrides:
        report["overrides"] = [
            {"address": format_address(address), "balance": balance} for address, balance in block.overrides
        ]
    return report


# -- typed decoding -----------------------------------------------------------------------------


def declared(interface: Interface | None, export: str) -> Method | None:
    """The method of ``interface`` whose wasm export is ``export``, if it declares one (never by its WIT name:
    a transaction names the export, and ``balance-of`` is no export)."""
    if interface is None or not export:
        return None
    method = interface.method(export)
    return method if method is not None and method.export == export else None


def code_interface(code: bytes) -> Interface | None:
    """The interface a module carries, or ``None`` when it has none or an unreadable one (then nothing is checked
    or decoded with it: a deploy refuses such a module under ``abi-1.2``)."""
    try:
        return interface_of(code)
    except WitError:
        return None


def _result(data: bytes, interfaces: Interfaces, called: tuple[Address, str] | None) -> tuple[Any, str | None]:
    """Return data and the WIT type it was decoded with (``None``: plain msgpack)."""
    method = None if called is None else declared(interfaces(called[0]), called[1])
    if method is not None and method.result is not None:
        try:
            return decode_result(method, data), wit_name(method.result)
        except ValueError:
            pass
    return decode_value(data), None


def _event_data(event: Event, interface: Interface | None) -> tuple[Any, str | None]:
    """Event data and the WIT record it was decoded with (``None``: plain msgpack)."""
    event_type = None if interface is None else interface.event(event.name)
    if interface is not None and event_type is not None:
        try:
            return decode_event(interface, event.name, event.data), wit_name(event_type.record)
        except (ValueError, LookupError):
            pass
    return decode_value(event.data), None


def _params_record(method: Method) -> Record:
    """A method's parameters as the record its arguments are (a msgpack map of the parameter keys)."""
    return Record(
        method.name, tuple(Field(param.name, param.key, param.type, "") for param in method.params), method.docs
    )


def typed_trace(report: Report, interfaces: Interfaces) -> Report:
    """A trace object (``protocol.tracing.trace_to_json``) with the values of typed contracts decoded: each frame's
    ``input`` (its method's parameters), ``return`` (its result type) and events, and the transaction's return
    and events, gain ``"typed": {"type": WIT type, "value": decoded}`` beside their ``hex`` and ``msgpack`` when the
    contract declares the method or event and the bytes fit.  Changed in place, and returned."""
    if report.get("frame") is not None:
        _typed_frame(report["frame"], interfaces)
    for event in report.get("events", []):
        _typed_event(event, event["contract"], interfaces)
    if report.get("kind") == "call" and report.get("to"):
        method = declared(interfaces(parse_address(report["to"])), report.get("method") or "")
        if method is not None and method.result is not None:
            _typed_view(report["return"], method.result, lambda data: decode_result(method, data))
    return report


def _typed_frame(frame: Report, interfaces: Interfaces) -> None:
    contract = frame["contract"]
    interface = interfaces(parse_address(contract))
    method = declared(interface, frame["method"])
    if method is not None:
        _typed_view(frame["input"], signature(method), lambda data: decode_typed(_params_record(method), data))
        if method.result is not None:
            _typed_view(frame["return"], method.result, lambda data: decode_result(method, data))
    for step in frame["steps"]:
        if step["op"] == "event":
            _typed_event(step, contract, interfaces)
        elif step["op"] == "call":
            _typed_frame(step["frame"], interfaces)


def _typed_event(event: Report, contract: str, interfaces: Interfaces) -> None:
    interface = interfaces(parse_address(contract))
    event_type = None if interface is None else interface.event(event["name"])
    if interface is not None and event_type is not None:
        _typed_view(event["data"], event_type.record, lambda data: decode_event(interface, event["name"], data))


def _typed_view(view: Report, typed: WitType | str, decode: Callable[[bytes], Any]) -> None:
    """Add ``typed`` to a bytes view (``{"hex": "0x.."}``) if ``decode`` takes its bytes."""
    try:
        value = decode(from_0x(view["hex"]))
    except (ValueError, LookupError):
        return
    view["typed"] = {"type": typed if isinstance(typed, str) else wit_name(typed), "value": value}
