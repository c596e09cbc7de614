"""The JSON reports of blocks, transactions, receipts, accounts and events.

One shape everywhere: the JSON-RPC results are these reports, and the CLI
prints them (as JSON with ``--json``, else a line per field), so the
embedded CLI and the CLI through a node print the same thing.
"""

from __future__ import annotations

from typing import Any

from wasmchain.protocol.args import decode_value
from wasmchain.protocol.blocks import Block, Receipt
from wasmchain.protocol.keys import format_address
from wasmchain.protocol.state import Account
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.vm import Event, Outcome
from wasmchain.vm.host import Address

Report = dict[str, Any]


def account_report(address: Address, account: Account) -> Report:
    return {
        "address": format_address(address),
        "balance": account.balance,
        "nonce": account.nonce,
        "code_hash": "0x" + account.code_hash.hex() if account.code_hash else None,
    }


def outcome_report(outcome: Outcome | Receipt) -> Report:
    """What an execution did, for ``view`` and ``simulate``."""
    return {
        "status": outcome.status,
        "result": decode_value(outcome.return_data),
        "return_hex": outcome.return_data.hex(),
        "gas_used": outcome.gas_used,
        "events": [event_report(event) for event in outcome.events],
        "error": outcome.error or None,
    }


def event_report(event: Event) -> Report:
    return {
        "contract": format_address(event.contract),
        "name": event.name,
        "data": decode_value(event.data),
        "data_hex": event.data.hex(),
    }


def receipt_report(block: Block, index: int, receipt: Receipt) -> Report:
    report: Report = {
        "tx_hash": "0x" + receipt.tx_hash.hex(),
        "block_height": block.height,
        "block_hash": "0x" + block.hash.hex(),
        "index": index,
        "status": receipt.status,
        "gas_used": receipt.gas_used,
        "return": decode_value(receipt.return_data),
        "return_hex": receipt.return_data.hex(),
        "events": [event_report(event) for event in receipt.events],
        "error": receipt.error or None,
    }
    if receipt.contract_address:
        report["address"] = format_address(receipt.contract_address)
    return report


def transaction_report(signed: SignedTransaction) -> Report:
    tx = signed.tx
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
        "args": decode_value(tx.args),
        "code_size": len(tx.code) if tx.code else None,
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
