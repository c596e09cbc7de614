"""JSON-RPC 2.0 over a ``Node``: the methods of docs/rpc.md, with no transport.

``Dispatcher.handle(body)`` takes the bytes of a request (or a batch) and
returns the bytes of the response, or ``None`` when there is nothing to send
(notifications only).  ``Dispatcher.call(method, params)`` is the same for one
call, raising ``RPCError``: the in-process client of the test fixture uses
it, so the fixture and a real node answer alike.

Each method declares its parameters (``_Param``: a name, a converter and a
default); parameters may be given by name (an object) or by position (an
array, in the declared order).  A converter names the parameter in its
error, and every error reaches the caller as a JSON-RPC error object; an
unexpected exception becomes ``-32603`` with its type and message, and the
node goes on serving.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wasmchain.node.jsonrpc import (
    DEVNET_REFUSED,
    FOLLOWER_REFUSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    JSONRPC,
    MAX_BATCH,
    MAX_RAW_BLOCKS,
    MEMPOOL_FULL,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PARSE_ERROR,
    STORE_ERROR,
    TX_REJECTED,
    RPCError,
    changes_chain,
)
from wasmchain.node.mempool import MempoolFull
from wasmchain.node.node import DevnetError, FoundEvent, Node
from wasmchain.node.reports import (
    Report,
    account_report,
    block_report,
    event_report,
    outcome_report,
    receipt_report,
    transaction_report,
)
from wasmchain.protocol import smt
from wasmchain.protocol.args import ArgsError, encode_args
from wasmchain.protocol.blocks import encode_receipts
from wasmchain.protocol.errors import ChainError, InvalidTransaction, NotFound
from wasmchain.protocol.keys import ADDRESS_SIZE, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, format_address
from wasmchain.protocol.state import Account, account_key, storage_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store.kv import StoreError
from wasmchain.vm.host import Address

DEFAULT_GAS = 100_000_000


# -- parameters ------------------------------------------------------------------

_MISSING = object()


@dataclass(frozen=True)
class _Param:
    name: str
    convert: Callable[[Any, str], Any]
    default: Any = _MISSING


def _bad(name: str, expected: str, value: Any) -> RPCError:
    shown = json.dumps(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return RPCError(INVALID_PARAMS, f"invalid params: {name} must be {expected}, found {shown}")


def _uint(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(name, "a non-negative integer", value)
    return value


def _uint64(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise _bad(name, "an integer from 0 to 2**64-1", value)
    return value


def _gas(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 63:
        raise _bad(name, "an integer from 1 to 2**63-1", value)
    return value


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _bad(name, "a string", value)
    return value


def _hex(value: Any, name: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise _bad(name, "0x followed by an even number of hex digits", value)


def _fixed_hex(size: int) -> Callable[[Any, str], bytes]:
    def convert(value: Any, name: str) -> bytes:
        try:
            raw = _hex(value, name)
        except RPCError:  # say what is expected here: a fixed number of digits
            raw = None
        if raw is None or len(raw) != size:
            raise _bad(name, f"0x followed by {2 * size} hex digits", value)
        return raw

    return convert


_address = _fixed_hex(ADDRESS_SIZE)
_hash32 = _fixed_hex(32)


def _optional(convert: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    def optional(value: Any, name: str) -> Any:
        return None if value is None else convert(value, name)

    return optional


def _json_args(value: Any, name: str) -> bytes:
    """Contract arguments as a JSON value ("0x.." strings are bytes), encoded as msgpack."""
    try:
        return encode_args(value)
    except ArgsError as error:
        raise RPCError(INVALID_PARAMS, f"invalid params: {name}: {error}") from None
    except RecursionError:
        raise RPCError(INVALID_PARAMS, f"invalid params: {name} is nested too deeply") from None


def _block_ref(value: Any, name: str) -> int | bytes | None:
    """A block height, a block hash, or "latest"."""
    if value == "latest" or value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return _hash32(value, name)
    raise _bad(name, 'a height, a 0x block hash or "latest"', value)


def _bind(params: Any, spec: tuple[_Param, ...], method: str) -> dict[str, Any]:
    if params is None:
        params = {}
    if isinstance(params, list):
        if len(params) > len(spec):
            raise RPCError(
                INVALID_PARAMS, f"invalid params: {method} takes at most {len(spec)} parameters, found {len(params)}"
            )
        params = {param.name: value for param, value in zip(spec, params)}
    elif not isinstance(params, dict):
        raise RPCError(INVALID_PARAMS, "invalid params: params must be an object or an array")
    known = {param.name for param in spec}
    unknown = sorted(set(params) - known)
    if unknown:
        accepted = ", ".join(param.name for param in spec) or "none"
        raise RPCError(
            INVALID_PARAMS, f"invalid params: {method} has no parameter {unknown[0]!r} (it takes: {accepted})"
        )
    bound = {}
    for param in spec:
        if param.name in params:
            bound[param.name] = param.convert(params[param.name], param.name)
        elif param.default is _MISSING:
            raise RPCError(INVALID_PARAMS, f"invalid params: {method} needs {param.name!r}")
        else:
            bound[param.name] = param.default
    return bound


# -- the dispatcher --------------------------------------------------------------------

Handler = Callable[..., Any]


class Dispatcher:
    """The JSON-RPC methods of one node.

    ``follows`` is the URL of the node this one follows (``wasmchain
    follow``): its chain changes only by the blocks it takes from there, so
    ``submit_transaction`` and the devnet controls are refused
    (``FOLLOWER_REFUSED``), and ``chain_info`` says what it follows.
    """

    def __init__(self, node: Node, *, follows: str | None = None) -> None:
        self.node = node
        self.follows = follows
        self.methods: dict[str, tuple[Handler, tuple[_Param, ...]]] = {}
        for name, handler, spec in _methods(self):
            self.methods[name] = (handler, spec)

    def call(self, method: str, params: Any = None) -> Any:
        entry = self.methods.get(method)
        if entry is None:
            raise RPCError(METHOD_NOT_FOUND, f"method not found: {method!r} (see docs/rpc.md for the methods)")
        handler, spec = entry
        if self.follows is not None and changes_chain(method):
            raise RPCError(
                FOLLOWER_REFUSED,
                f"this node is a follower of {self.follows} and does not take {method}: send it to the node it follows",
            )
        arguments = _bind(params, spec, method)
        try:
            return handler(**arguments)
        except RPCError:
            raise
        except MempoolFull as error:
            raise RPCError(MEMPOOL_FULL, f"rejected: {error}") from None
        except InvalidTransaction as error:
            raise RPCError(TX_REJECTED, f"rejected: {error}") from None
        except NotFound as error:
            raise RPCError(NOT_FOUND, str(error)) from None
        except DevnetError as error:
            raise RPCError(DEVNET_REFUSED, str(error)) from None
        except StoreError as error:
            raise RPCError(STORE_ERROR, f"storage error: {error}") from None
        except (ChainError, ArgsError) as error:
            raise RPCError(INVALID_PARAMS, f"invalid params: {error}") from None

    def handle(self, body: bytes) -> bytes | None:
        """A whole HTTP body in, a whole response body out (``None``: nothing to send)."""
        try:
            request = json.loads(body, parse_constant=_no_constants)
        except (ValueError, RecursionError) as error:
            return _dump(_error(None, RPCError(PARSE_ERROR, f"parse error: the body is not JSON ({error})")))
        if isinstance(request, list):
            if not request:
                return _dump(_error(None, RPCError(INVALID_REQUEST, "invalid request: an empty batch")))
            if len(request) > MAX_BATCH:
                return _dump(
                    _error(
                        None,
                        RPCError(
                            INVALID_REQUEST,
                            f"invalid request: a batch holds at most {MAX_BATCH} calls, found {len(request)}",
                        ),
                    )
                )
            responses = [response for response in map(self._one, request) if response is not None]
            return _dump(responses) if responses else None
        response = self._one(request)
        return None if response is None else _dump(response)

    def _one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error(None, RPCError(INVALID_REQUEST, "invalid request: a call is a JSON object"))
        request_id = request.get("id")
        if not (request_id is None or isinstance(request_id, (str, int)) and not isinstance(request_id, bool)):
            return _error(None, RPCError(INVALID_REQUEST, "invalid request: id must be a string, an integer or null"))
        if request.get("jsonrpc") != JSONRPC:
            return _error(request_id, RPCError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"'))
        method = request.get("method")
        if not isinstance(method, str):
            return _error(request_id, RPCError(INVALID_REQUEST, "invalid request: method must be a string"))
        extra = sorted(set(request) - {"jsonrpc", "method", "params", "id"})
        if extra:
            return _error(request_id, RPCError(INVALID_REQUEST, f"invalid request: unknown member {extra[0]!r}"))
        notification = "id" not in request
        try:
            result = self.call(method, request.get("params"))
        except RPCError as error:
            return None if notification else _error(request_id, error)
        except Exception as error:  # a bug: say so, log it, keep serving
            traceback.print_exc(file=sys.stderr)
            failure = RPCError(INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}")
            return None if notification else _error(request_id, failure)
        return None if notification else {"jsonrpc": JSONRPC, "id": request_id, "result": result}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error(request_id: Any, error: RPCError) -> dict[str, Any]:
    return {"jsonrpc": JSONRPC, "id": request_id, "error": error.to_json()}


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# -- the methods -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimulatedTransaction(Transaction):
    """A transaction from an address, with no key: what ``simulate`` runs."""

    from_address: Address = b""

    @property
    def sender(self) -> Address:
        return self.from_address


def _methods(rpc: Dispatcher) -> list[tuple[str, Handler, tuple[_Param, ...]]]:
    node = rpc.node
    chain = node.chain

    def chain_info() -> Report:
        head = chain.head
        genesis = chain.genesis
        return {
            "chain_id": genesis.chain_id,
            "vm_version": genesis.vm.version,
            "genesis_hash": "0x" + chain.header(0).hash.hex(),
            "head": {
                "height": head.height,
                "hash": "0x" + head.hash.hex(),
                "timestamp": head.timestamp,
                "state_root": "0x" + head.state_root.hex(),
            },
            "min_gas_price": genesis.chain.min_gas_price,
            "block_gas_limit": genesis.chain.block_gas_limit,
            "max_tx_size": genesis.chain.max_tx_size,
            "mining": (
                {"follows": rpc.follows}
                if rpc.follows is not None
                else "instant"
                if node.instant
                else {"block_time": node.block_time}
            ),
            "pending": len(node.mempool),
        }

    def submit_transaction(tx: bytes) -> Report:
        try:
            signed = SignedTransaction.decode(tx)
        except InvalidTransaction as error:
            raise InvalidTransaction(f"the transaction does not decode: {error}") from None
        submitted = node.submit(signed)
        report: Report = {"tx_hash": "0x" + signed.hash.hex(), "status": "pending", "receipt": None}
        status = node.transaction_status(signed.hash)
        if isinstance(status, tuple):
            block, index, receipt = status
            report.update(status="included", receipt=receipt_report(block, index, receipt))
        elif status.startswith("dropped"):
            raise InvalidTransaction(f"the transaction failed at inclusion: {status.removeprefix('dropped: ')}")
        assert submitted.included == (report["status"] == "included")
        return report

    def get_transaction(hash: bytes) -> Report:
        status = node.transaction_status(hash)
        if isinstance(status, tuple):
            block, index, receipt = status
            report = receipt_report(block, index, receipt)
            report["transaction"] = transaction_report(block.transactions[index])
            return report
        if status == "pending":
            signed = node.mempool.get(hash)
            assert signed is not None
            return {"tx_hash": "0x" + hash.hex(), "status": "pending", "transaction": transaction_report(signed)}
        return {"tx_hash": "0x" + hash.hex(), "status": "dropped", "error": status.removeprefix("dropped: ")}

    def get_receipt(hash: bytes) -> Report | None:
        status = node.transaction_status(hash)
        if isinstance(status, tuple):
            return receipt_report(*status)
        if status == "pending":
            return None
        raise InvalidTransaction(f"transaction 0x{hash.hex()} was dropped: {status.removeprefix('dropped: ')}")

    def get_block(block: int | bytes | None) -> Report:
        if block is None:
            found = chain.block(chain.head.height)
        elif isinstance(block, int):
            if block >= 1 << 64:
                raise NotFound(f"no block at height {block}")
            found = chain.block(block)
        else:
            found = chain.block_by_hash(block)
        return block_report(found)

    def get_raw_blocks(from_height: int, count: int) -> Report:
        """Blocks with their receipts in their canonical encodings, for a follower or an archive."""
        if not 1 <= count <= MAX_RAW_BLOCKS:
            raise ChainError(f"count must be between 1 and {MAX_RAW_BLOCKS}, found {count}")
        last = min(chain.head.height, from_height + count - 1)
        blocks = [
            {
                "height": height,
                "block": "0x" + chain.block(height).encode().hex(),
                "receipts": "0x" + encode_receipts(chain.receipts(height)).hex(),
            }
            for height in range(from_height, last + 1)
        ]
        return {"head": chain.head.height, "blocks": blocks}

    def get_genesis() -> Report:
        """The genesis document the chain was created from, as stored (contract code inlined as hex)."""
        return {"genesis_hash": "0x" + chain.header(0).hash.hex(), "document": json.loads(chain.genesis.document)}

    def get_account(address: Address) -> Report:
        return account_report(address, chain.account(address))

    def get_balance(address: Address) -> Report:
        return {"address": format_address(address), "balance": chain.account(address).balance}

    def get_next_nonce(address: Address) -> Report:
        return {"address": format_address(address), "nonce": node.next_nonce(address)}

    def get_code(address: Address) -> Report:
        account = chain.account(address)
        if not account.is_contract:
            raise NotFound(f"no contract at {format_address(address)}")
        code = chain.state().code(account.code_hash)
        return {
            "address": format_address(address),
            "code_hash": "0x" + account.code_hash.hex(),
            "code_size": len(code),
            "code": "0x" + code.hex(),
        }

    def view(
        contract: Address, method: str, args: bytes | None, args_hex: bytes | None, gas: int, caller: Address
    ) -> Report:
        if gas > chain.genesis.chain.block_gas_limit:  # the node serves one call at a time: bound it
            raise ChainError(f"gas {gas} is above the block gas limit {chain.genesis.chain.block_gas_limit}")
        if not chain.account(contract).is_contract:
            raise NotFound(f"no contract at {format_address(contract)}")
        outcome = node.view(contract, method, _input(args, args_hex), gas, caller)
        return {"block_height": chain.head.height, **outcome_report(outcome)}

    def simulate(
        from_: Address,
        to: Address | None,
        method: str | None,
        args: bytes | None,
        args_hex: bytes | None,
        code: bytes | None,
        value: int,
        gas: int,
        gas_price: int | None,
    ) -> Report:
        to_field, code_field, method_field = b"", b"", ""
        if code is not None:
            if to is not None:
                raise ChainError("a deploy (code) has no 'to'")
            kind, code_field, method_field = TxKind.DEPLOY, code, method or ""
        elif to is not None and method is not None:
            kind, to_field, method_field = TxKind.CALL, to, method
        elif to is not None:
            kind, to_field = TxKind.TRANSFER, to
        else:
            raise ChainError(
                "say what to simulate: 'to' (a transfer), 'to' and 'method' (a call), or 'code' (a deploy)"
            )
        encoded = _input(args, args_hex) if (args is not None or args_hex is not None or kind is TxKind.CALL) else b""
        if kind is TxKind.DEPLOY and method and not encoded:
            encoded = encode_args({})
        tx = SimulatedTransaction(
            chain_id=chain.genesis.chain_id,
            nonce=chain.account(from_).nonce,
            gas_limit=gas,
            gas_price=chain.genesis.chain.min_gas_price if gas_price is None else gas_price,
            public_key=bytes(PUBLIC_KEY_SIZE),
            kind=kind,
            to=to_field,
            value=value,
            code=code_field,
            method=method_field,
            args=encoded,
            from_address=from_,
        )
        try:
            signed = SignedTransaction.from_canonical([tx.fields(), bytes(SIGNATURE_SIZE)])
        except InvalidTransaction as error:
            raise ChainError(str(error)) from None
        signed = SignedTransaction(tx, signed.signature)
        receipt = node.simulate(signed)
        report = {"block_height": chain.head.height, **outcome_report(receipt)}
        if receipt.contract_address:
            report["address"] = format_address(receipt.contract_address)
        return report

    def get_events(
        contract: Address | None, name: str | None, from_block: int, to_block: int | None, limit: int
    ) -> Report:
        found = node.events(contract, name, from_block, to_block, limit)
        return {"events": [_found_event_report(event) for event in found]}

    def get_proof(address: Address, key: str | None) -> Report:
        state_key = account_key(address) if key is None else storage_key(address, _storage_key(key))
        value, proof = chain.prove(state_key)
        root = chain.head.state_root
        report: Report = {
            "block_height": chain.head.height,
            "state_root": "0x" + root.hex(),
            "state_key": "0x" + state_key.hex(),
            "value": None if value is None else "0x" + value.hex(),
            "proof": proof.to_json(),
            "verified": smt.verify(root, state_key, value, proof),
        }
        if key is None and value is not None:
            report["account"] = account_report(address, Account.decode(value))
        return report

    def devnet_mine(blocks: int, timestamp: int | None) -> Report:
        mined = node.mine(blocks, timestamp)
        return {
            "blocks": [
                {"height": block.height, "hash": "0x" + block.hash.hex(), "transactions": len(block.transactions)}
                for block in mined
            ],
            "head": chain.head.height,
        }

    def devnet_snapshot() -> Report:
        return {"id": node.snapshot(), "height": chain.head.height}

    def devnet_revert(id: int) -> Report:
        return {"reverted": True, "head": node.revert(id)}

    def devnet_set_next_block_timestamp(timestamp: int) -> Report:
        node.set_next_block_timestamp(timestamp)
        return {"timestamp": timestamp}

    def devnet_increase_time(seconds: int) -> Report:
        return {"offset": node.increase_time(seconds)}

    def devnet_set_balance(address: Address, balance: int) -> Report:
        block = node.set_balance(address, balance)
        return {
            "address": format_address(address),
            "balance": chain.account(address).balance,
            "block_height": block.height,
        }

    gas = _Param("gas", _gas, DEFAULT_GAS)
    args = (_Param("args", _optional(_json_args), None), _Param("args_hex", _optional(_hex), None))
    return [
        ("chain_info", chain_info, ()),
        ("submit_transaction", submit_transaction, (_Param("tx", _hex),)),
        ("get_transaction", get_transaction, (_Param("hash", _hash32),)),
        ("get_receipt", get_receipt, (_Param("hash", _hash32),)),
        ("get_block", get_block, (_Param("block", _block_ref, None),)),
        ("get_raw_blocks", get_raw_blocks, (_Param("from_height", _uint), _Param("count", _uint, 100))),
        ("get_genesis", get_genesis, ()),
        ("get_account", get_account, (_Param("address", _address),)),
        ("get_balance", get_balance, (_Param("address", _address),)),
        ("get_next_nonce", get_next_nonce, (_Param("address", _address),)),
        ("get_code", get_code, (_Param("address", _address),)),
        (
            "view",
            view,
            (
                _Param("contract", _address),
                _Param("method", _string),
                *args,
                gas,
                _Param("caller", _address, bytes(ADDRESS_SIZE)),
            ),
        ),
        (
            "simulate",
            _rename(simulate, "from", "from_"),
            (
                _Param("from", _address),
                _Param("to", _optional(_address), None),
                _Param("method", _optional(_string), None),
                *args,
                _Param("code", _optional(_hex), None),
                _Param("value", _uint, 0),
                gas,
                _Param("gas_price", _optional(_uint64), None),
            ),
        ),
        (
            "get_events",
            get_events,
            (
                _Param("contract", _optional(_address), None),
                _Param("name", _optional(_string), None),
                _Param("from_block", _uint, 0),
                _Param("to_block", _optional(_uint), None),
                _Param("limit", _uint, 1_000),
            ),
        ),
        ("get_proof", get_proof, (_Param("address", _address), _Param("key", _optional(_string), None))),
        ("devnet_mine", devnet_mine, (_Param("blocks", _uint, 1), _Param("timestamp", _optional(_uint64), None))),
        ("devnet_snapshot", devnet_snapshot, ()),
        ("devnet_revert", devnet_revert, (_Param("id", _uint),)),
        ("devnet_set_next_block_timestamp", devnet_set_next_block_timestamp, (_Param("timestamp", _uint64),)),
        ("devnet_increase_time", devnet_increase_time, (_Param("seconds", _uint64),)),
        ("devnet_set_balance", devnet_set_balance, (_Param("address", _address), _Param("balance", _uint))),
    ]


def _rename(handler: Handler, public: str, python: str) -> Handler:
    """A parameter named like a Python keyword (``from``)."""

    def renamed(**arguments: Any) -> Any:
        arguments[python] = arguments.pop(public)
        return handler(**arguments)

    return renamed


def _input(args: bytes | None, args_hex: bytes | None) -> bytes:
    if args is not None and args_hex is not None:
        raise ChainError("give args or args_hex, not both")
    if args_hex is not None:
        return args_hex
    return args if args is not None else encode_args({})


def _storage_key(text: str) -> bytes:
    """A storage key as ``0x`` hex, or else as its UTF-8 text."""
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise ChainError(f"storage key {text!r} starts with 0x but is not hex") from None
    return text.encode()


def _found_event_report(found: FoundEvent) -> Report:
    return {
        "block_height": found.height,
        "tx_hash": "0x" + found.tx_hash.hex(),
        "tx_index": found.tx_index,
        "log_index": found.log_index,
        **event_report(found.event),
    }
