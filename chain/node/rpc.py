"""JSON-RPC 2.0 over a ``Node``: the methods of docs/rpc.md, with no transport.

``Dispatcher.handle(body)`` takes the bytes of a request (or a batch) and
returns the bytes of the response, or ``None`` when there is nothing to send
(notifications only); ``Dispatcher.serve(body)`` is the same for a server's
event loop, giving the loop a turn between the calls of a batch (every few
milliseconds of work), so a health check is answered while a batch runs.
``Dispatcher.call(method, params)`` is the same for one call, raising
``RPCError``: the in-process client of the test fixture uses it, so the
fixture and a real node answer alike.  The dispatcher's ``Limits`` bound what
one request may cost (docs/rpc.md, "Limits"): ``view`` and ``simulate`` run
with at most the gas cap, draw on the request's ``GasBudget``, and
``get_raw_blocks`` sends fewer blocks rather than pass the answer limit.

Each method below is a function of the dispatcher and its parameters,
declared with them (``@METHODS.add(Param(...), ...)``: a name, a converter
and a default, in order; ``node.jsonrpc`` binds and converts them).  The
node's errors become error objects here (``rpc_error``): each its code, its
message, and its own ``reason``.

Typed contracts (``wasmchain.vm.wit``): ``get_interface`` answers a
contract's interface; the reports decode results and events with it
(``reports.py``); and a call's JSON ``args`` to a method the interface
declares are encoded with its parameter types (its ``args_hex`` checked
against them), a misfit refused as ``invalid_args`` naming the argument, the
type it must have and an example, before anything runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from wasmchain.node.errors import (
    DevnetError,
    FollowerRefused,
    InvalidInterface,
    MempoolFull,
    MethodNotFound,
    TransactionDropped,
)
from wasmchain.node.jsonrpc import (
    BATCH_GAS_FLAG,
    DEFAULT_LIMITS,
    DEVNET_REFUSED,
    FOLLOWER_REFUSED,
    INVALID_PARAMS,
    LIMIT_EXCEEDED,
    MAX_RAW_BLOCKS,
    MEMPOOL_FULL,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    STATE_UNAVAILABLE,
    STORE_ERROR,
    TRACE_MISMATCH,
    TX_REJECTED,
    Answering,
    Limits,
    Method,
    Methods,
    Param,
    RPCError,
    answer,
    answer_too_large,
    answering,
    bind,
    changes_chain,
    optional,
    to_address,
    to_block,
    to_bool,
    to_bytes,
    to_gas,
    to_hash,
    to_json_args,
    to_string,
    to_uint,
    to_uint64,
)
from wasmchain.node.node import FoundEvent, Node
from wasmchain.node.reports import (
    Interfaces,
    Report,
    account_report,
    block_report,
    called_by,
    code_interface,
    declared,
    event_report,
    outcome_report,
    receipt_report,
    transaction_report,
    typed_trace,
)
from wasmchain.protocol import smt
from wasmchain.protocol.args import encode_args
from wasmchain.protocol.blocks import Receipt, encode_receipts
from wasmchain.protocol.errors import ChainError, InvalidTransaction, MalformedTransaction, NotFound
from wasmchain.protocol.hexstr import from_hex
from wasmchain.protocol.keys import ADDRESS_SIZE, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, format_address
from wasmchain.protocol.state import Account, account_key, storage_key
from wasmchain.protocol.tracing import TransactionTrace, trace_to_json
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store.chain import Chain, StateUnavailable, TraceMismatch
from wasmchain.store.kv import StoreError
from wasmchain.vm.host import Address
from wasmchain.vm.wit.types import Interface, signature
from wasmchain.vm.wit.types import Method as WitMethod
from wasmchain.vm.wit.values import ArgumentError, check_args
from wasmchain.vm.wit.values import encode_args as encode_typed_args

DEFAULT_GAS = 100_000_000
TURN_AFTER = 0.005
"""Seconds of a batch's work after which ``Dispatcher.serve`` lets the event loop serve others."""
TURN = 0.001
"""How long it lets it: enough for the loop to answer what is waiting (a health check takes well under 1 ms)."""


class GasBudget:
    """The gas the ``view`` and ``simulate`` calls of one request (a call or a batch) may still execute.

    As a block's gas pool: a call reserves its gas limit before it runs (refused if it does not fit)
    and gets back what it did not use, so the calls of a batch execute at most ``Limits.batch_gas``.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total

    def reserve(self, method: str, gas: int) -> None:
        if gas > self.left:
            raise RPCError(
                LIMIT_EXCEEDED,
                f"{method} asks for {gas} gas, but this request has {self.left} of its {self.total} left "
                f"(the node's {BATCH_GAS_FLAG}): send less gas, or the call in another request",
                "gas_budget_exceeded",
            )
        self.left -= gas

    def refund(self, gas: int) -> None:
        self.left += gas


# -- the dispatcher ---------------------------------------------------------------------------------


class Dispatcher:
    """The JSON-RPC methods of one node.

    ``follows`` is the URL of the node this one follows (``wasmchain
    follow``): its chain changes only by the blocks it takes from there, so
    ``submit_transaction`` and the devnet controls are refused
    (``FOLLOWER_REFUSED``), and ``chain_info`` says what it follows.
    """

    def __init__(self, node: Node, *, follows: str | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self.node = node
        self.follows = follows
        self.limits = limits
        self.methods: dict[str, Method] = METHODS.table()
        """The methods by name: every one declared below (a test may replace one of its own dispatcher's)."""

    @property
    def chain(self) -> Chain:
        return self.node.chain

    def call(self, method: str, params: Any = None, budget: GasBudget | None = None) -> Any:
        """One call: its result, or ``RPCError``; an unexpected exception (a bug) is raised as it is.

        ``budget`` is the gas left to its request (a batch); by default the call is a request of its own.
        """
        try:
            return self._call(method, params, GasBudget(self.limits.batch_gas) if budget is None else budget)
        except RPCError:
            raise
        except ChainError as error:
            raise rpc_error(error) from None

    def _call(self, name: str, params: Any, budget: GasBudget) -> Any:
        method = self.methods.get(name)
        if method is None:
            raise MethodNotFound(f"method not found: {name!r} (see docs/rpc.md for the methods)")
        if self.follows is not None and changes_chain(name):
            raise FollowerRefused(
                f"this node is a follower of {self.follows} and does not take {name}: send it to the node it follows"
            )
        arguments = bind(params, method.params, name)
        if method.metered:
            arguments["budget"] = budget
        return method.handler(self, **arguments)

    def handle(self, body: bytes) -> bytes | None:
        """A whole HTTP body in, a whole response body out (``None``: nothing to send)."""
        budget = GasBudget(self.limits.batch_gas)
        return answer(body, lambda method, params: self.call(method, params, budget), self.limits)

    def steps(self, body: bytes) -> Answering:
        """``handle`` as steps: a generator pausing between the calls of a batch, whose value is the answer."""
        budget = GasBudget(self.limits.batch_gas)
        return answering(body, lambda method, params: self.call(method, params, budget), self.limits)

    async def serve(self, body: bytes) -> bytes | None:
        """``handle`` on an event loop: between the calls of a batch, once ``TURN_AFTER`` seconds of work
        have passed, the loop gets ``TURN`` to serve other connections (the calls still run on its thread)."""
        return await finish(self.steps(body))


def advance(steps: Answering, due: float) -> tuple[bool, bytes | None]:
    """Run ``steps`` until they end (``True`` and the answer) or ``time.monotonic()`` passes ``due`` between two
    calls (``False``: the rest is ``finish``'s).  A single call is never cut: it ends here."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return True, done.value
        if time.monotonic() >= due:
            return False, None


async def finish(steps: Answering) -> bytes | None:
    """The rest of ``steps``, giving the loop ``TURN`` after every ``TURN_AFTER`` seconds of work."""
    while True:
        done, response = advance(steps, time.monotonic() + TURN_AFTER)
        if done:
            return response
        await asyncio.sleep(TURN)


_ANSWERS: tuple[tuple[type[ChainError], int, str], ...] = (
    (MethodNotFound, METHOD_NOT_FOUND, ""),
    (FollowerRefused, FOLLOWER_REFUSED, ""),
    (MempoolFull, MEMPOOL_FULL, "rejected: "),
    (InvalidTransaction, TX_REJECTED, "rejected: "),
    (NotFound, NOT_FOUND, ""),
    (InvalidInterface, INVALID_PARAMS, ""),
    (DevnetError, DEVNET_REFUSED, ""),
    (StoreError, STORE_ERROR, "storage error: "),
    (StateUnavailable, STATE_UNAVAILABLE, ""),
    (TraceMismatch, TRACE_MISMATCH, ""),
)
"""How the node's errors answer: the first class that matches gives the code and the message's
prefix, and the error its own reason (``nonce_too_low``, ``mempool_full``, ``not_found`` ...)."""


def rpc_error(error: ChainError) -> RPCError:
    """The error object of a refusal; any other error is a value the method cannot take (``-32602``)."""
    for kind, code, prefix in _ANSWERS:
        if isinstance(error, kind):
            return RPCError(code, prefix + str(error), error.reason)
    return RPCError(INVALID_PARAMS, f"invalid params: {error}")


# -- the methods ------------------------------------------------------------------------------------

METHODS = Methods()
"""Every method of docs/rpc.md, in its order, each declared with its parameters."""

GAS = Param("gas", to_gas, DEFAULT_GAS)


@dataclass(frozen=True, slots=True)
class JsonArgs:
    """A call's ``args`` as given: JSON, encoded once the called method (and so its types, if declared) is known."""

    value: Any


def to_args(value: Any, name: str) -> JsonArgs:
    return JsonArgs(value)


ARGS = (Param("args", optional(to_args), None), Param("args_hex", optional(to_bytes), None))
"""A call's arguments: as JSON (encoded as msgpack here), or as msgpack in hex."""


@dataclass(frozen=True, slots=True)
class SimulatedTransaction(Transaction):
    """A transaction from an address, with no key: what ``simulate`` runs."""

    from_address: Address = b""

    @property
    def sender(self) -> Address:
        return self.from_address


# The chain.


@METHODS.add()
def chain_info(rpc: Dispatcher) -> Report:
    node, chain = rpc.node, rpc.chain
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


@METHODS.add(Param("block", to_block, None))
def get_block(rpc: Dispatcher, block: int | bytes | None) -> Report:
    chain = rpc.chain
    if block is None:
        found = chain.block(chain.head.height)
    elif isinstance(block, int):
        if block >= 1 << 64:
            raise NotFound(f"no block at height {block}")
        found = chain.block(block)
    else:
        found = chain.block_by_hash(block)
    return block_report(found)


@METHODS.add(Param("from_height", to_uint), Param("count", to_uint, 100))
def get_raw_blocks(rpc: Dispatcher, from_height: int, count: int) -> Report:
    """Blocks with their receipts in their canonical encodings, for a follower or an archive."""
    chain = rpc.chain
    if not 1 <= count <= MAX_RAW_BLOCKS:
        raise ChainError(f"count must be between 1 and {MAX_RAW_BLOCKS}, found {count}")
    last = min(chain.head.height, from_height + count - 1)
    limit = rpc.limits.max_answer_size
    blocks: list[Report] = []
    size = 200  # the envelope, the head and the list's brackets, generously
    for height in range(from_height, last + 1):
        block = "0x" + chain.block(height).encode().hex()
        receipts = "0x" + encode_receipts(chain.receipts(height)).hex()
        size += len(block) + len(receipts) + 64
        if size > limit:  # send fewer blocks (the caller asks again from the next), never none
            if not blocks:
                raise answer_too_large(f"get_raw_blocks (block {height})", size, limit)
            break
        blocks.append({"height": height, "block": block, "receipts": receipts})
    return {"head": chain.head.height, "blocks": blocks}


@METHODS.add()
def get_genesis(rpc: Dispatcher) -> Report:
    """The genesis document the chain was created from, as stored (contract code inlined as hex)."""
    chain = rpc.chain
    return {"genesis_hash": "0x" + chain.header(0).hash.hex(), "document": json.loads(chain.genesis.document)}


@METHODS.add(Param("address", to_address))
def get_account(rpc: Dispatcher, address: Address) -> Report:
    return account_report(address, rpc.chain.account(address))


@METHODS.add(Param("address", to_address))
def get_balance(rpc: Dispatcher, address: Address) -> Report:
    return {"address": format_address(address), "balance": rpc.chain.account(address).balance}


@METHODS.add(Param("address", to_address))
def get_next_nonce(rpc: Dispatcher, address: Address) -> Report:
    return {"address": format_address(address), "nonce": rpc.node.next_nonce(address)}


@METHODS.add(Param("address", to_address))
def get_code(rpc: Dispatcher, address: Address) -> Report:
    chain = rpc.chain
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


@METHODS.add(Param("address", to_address))
def get_interface(rpc: Dispatcher, address: Address) -> Report:
    """The contract's typed interface (its ``wasmchain:wit`` section) as WIT text and JSON; ``null`` if untyped."""
    code_hash, interface = rpc.node.interface(address)
    return {
        "address": format_address(address),
        "code_hash": "0x" + code_hash.hex(),
        "interface": None if interface is None else interface.to_json(),
    }


@METHODS.add(Param("address", to_address), Param("key", optional(to_string), None))
def get_proof(rpc: Dispatcher, address: Address, key: str | None) -> Report:
    chain = rpc.chain
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


MAX_STORAGE_PAGE = 1_000
"""Storage entries one ``get_storage`` answers at most."""


@METHODS.add(
    Param("address", to_address),
    Param("after", optional(to_string), None),
    Param("limit", to_uint, 100),
)
def get_storage(rpc: Dispatcher, address: Address, after: str | None, limit: int) -> Report:
    """A contract's storage at the head, a page at a time in key order (``next``: the ``after`` of the next page)."""
    if not 1 <= limit <= MAX_STORAGE_PAGE:
        raise ChainError(f"limit must be between 1 and {MAX_STORAGE_PAGE}, found {limit}")
    chain = rpc.chain
    entries, more = chain.storage(address, None if after is None else _storage_key(after), limit)
    return {
        "block_height": chain.head.height,
        "contract": format_address(address),
        "entries": [{"key": "0x" + key.hex(), "value": "0x" + value.hex()} for key, value in entries],
        "next": "0x" + entries[-1][0].hex() if more else None,
    }


# Transactions.


@METHODS.add(Param("tx", to_bytes))
def submit_transaction(rpc: Dispatcher, tx: bytes) -> Report:
    node = rpc.node
    try:
        signed = SignedTransaction.decode(tx)
    except MalformedTransaction as error:
        raise MalformedTransaction(f"the transaction does not decode: {error}") from None
    submitted = node.submit(signed)
    report: Report = {"tx_hash": "0x" + signed.hash.hex(), "status": "pending", "receipt": None}
    status = submitted.inclusion or node.transaction_status(signed.hash)
    if isinstance(status, tuple):
        block, index, receipt = status
        report.update(status="included", receipt=receipt_report(block, index, receipt, node.interface_or_none))
    elif status.startswith("dropped"):
        raise TransactionDropped(f"the transaction failed at inclusion: {status.removeprefix('dropped: ')}")
    assert submitted.included == (report["status"] == "included")
    return report


@METHODS.add(Param("hash", to_hash))
def get_transaction(rpc: Dispatcher, hash: bytes) -> Report:
    node = rpc.node
    status = node.transaction_status(hash)
    if isinstance(status, tuple):
        block, index, receipt = status
        report = receipt_report(block, index, receipt, node.interface_or_none)
        signed = block.transactions[index]
        report["transaction"] = transaction_report(signed, _tx_interface(rpc, signed))
        return report
    if status == "pending":
        pending = node.mempool.get(hash)
        assert pending is not None
        transaction = transaction_report(pending, _tx_interface(rpc, pending))
        return {"tx_hash": "0x" + hash.hex(), "status": "pending", "transaction": transaction}
    return {"tx_hash": "0x" + hash.hex(), "status": "dropped", "error": status.removeprefix("dropped: ")}


@METHODS.add(Param("hash", to_hash))
def get_receipt(rpc: Dispatcher, hash: bytes) -> Report | None:
    status = rpc.node.transaction_status(hash)
    if isinstance(status, tuple):
        return receipt_report(*status, rpc.node.interface_or_none)
    if status == "pending":
        return None
    raise TransactionDropped(f"transaction 0x{hash.hex()} was dropped: {status.removeprefix('dropped: ')}")


# Contracts.


@METHODS.add(
    Param("contract", to_address),
    Param("method", to_string),
    *ARGS,
    GAS,
    Param("caller", to_address, bytes(ADDRESS_SIZE)),
    metered=True,
)
def view(
    rpc: Dispatcher,
    contract: Address,
    method: str,
    args: JsonArgs | None,
    args_hex: bytes | None,
    gas: int,
    caller: Address,
    budget: GasBudget,
) -> Report:
    chain, node = rpc.chain, rpc.node
    if gas > chain.genesis.chain.block_gas_limit:  # the node serves one call at a time: bound it
        raise ChainError(f"gas {gas} is above the block gas limit {chain.genesis.chain.block_gas_limit}")
    encoded = _input(declared(node.interface_or_none(contract), method), args, args_hex)
    if not chain.account(contract).is_contract:
        raise NotFound(f"no contract at {format_address(contract)}")
    gas = min(gas, rpc.limits.gas_cap)
    budget.reserve("view", gas)
    outcome = node.view(contract, method, encoded, gas, caller)
    budget.refund(gas - outcome.gas_used)
    return {"block_height": chain.head.height, **outcome_report(outcome, node.interface_or_none, (contract, method))}


SIMULATION = (
    Param("from", to_address, keyword="from_"),
    Param("to", optional(to_address), None),
    Param("method", optional(to_string), None),
    *ARGS,
    Param("code", optional(to_bytes), None),
    Param("value", to_uint, 0),
    GAS,
    Param("gas_price", optional(to_uint64), None),
)
"""The parameters of a transaction that is not signed: ``simulate``'s, and ``debug_trace_call``'s."""


@METHODS.add(*SIMULATION, metered=True)
def simulate(rpc: Dispatcher, budget: GasBudget, **fields: Any) -> Report:
    chain = rpc.chain
    simulation = _simulation(rpc, **fields)
    budget.reserve("simulate", simulation.executed)
    receipt = rpc.node.simulate(simulation.signed)
    budget.refund(simulation.unused(receipt.gas_used))
    tx = simulation.signed.tx
    called = called_by(tx.kind, tx.to, tx.method, receipt)
    report = {"block_height": chain.head.height, **outcome_report(receipt, simulation.interfaces(receipt), called)}
    if receipt.contract_address:
        report["address"] = format_address(receipt.contract_address)
    return report


@dataclass(frozen=True, slots=True)
class Simulation:
    """A transaction to simulate, its gas limit clamped to the node's cap (``Limits.gas_cap``)."""

    signed: SignedTransaction
    intrinsic: int | None
    """Its intrinsic gas; ``None`` when it has none because it cannot run (its module is refused)."""
    executed: int
    """The gas it may execute beyond the intrinsic: what it reserves from the request's budget."""
    node: Node
    deployed: Interface | None = None
    """A deploy's interface (its code's), which the chain does not know yet."""

    def interfaces(self, receipt: Receipt) -> Interfaces:
        """What its report decodes with: the node's interfaces, and the deployed code's for the new contract."""
        known, deployed, address = self.node.interface_or_none, self.deployed, receipt.contract_address
        if deployed is None or not address:
            return known
        return lambda contract: deployed if contract == address else known(contract)

    def unused(self, gas_used: int) -> int:
        """What to give back to the budget once it used ``gas_used`` (intrinsic gas included)."""
        return self.executed - min(self.executed, max(0, gas_used - (self.intrinsic or 0)))


def _simulation(
    rpc: Dispatcher,
    from_: Address,
    to: Address | None,
    method: str | None,
    args: JsonArgs | None,
    args_hex: bytes | None,
    code: bytes | None,
    value: int,
    gas: int,
    gas_price: int | None,
) -> Simulation:
    """The transaction ``simulate``'s parameters describe, from ``from_``'s next nonce, with no key."""
    chain = rpc.chain
    to_field, code_field, method_field = b"", b"", ""
    interface: Interface | None = None
    if code is not None:
        if to is not None:
            raise ChainError("a deploy (code) has no 'to'")
        kind, code_field, method_field = TxKind.DEPLOY, code, method or ""
        interface = code_interface(code)
    elif to is not None and method is not None:
        kind, to_field, method_field = TxKind.CALL, to, method
        interface = rpc.node.interface_or_none(to)
    elif to is not None:
        kind, to_field = TxKind.TRANSFER, to
    else:
        raise ChainError("say what to simulate: 'to' (a transfer), 'to' and 'method' (a call), or 'code' (a deploy)")
    encoded = b""
    if args is not None or args_hex is not None or kind is TxKind.CALL or (kind is TxKind.DEPLOY and method):
        encoded = _input(declared(interface, method_field), args, args_hex)
    if kind is TxKind.DEPLOY and method and not encoded:
        encoded = encode_args({})

    def simulated(gas_limit: int) -> SignedTransaction:
        tx = SimulatedTransaction(
            chain_id=chain.genesis.chain_id,
            nonce=chain.account(from_).nonce,
            gas_limit=gas_limit,
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
        return SignedTransaction(tx, signed.signature)

    signed = simulated(gas)
    # The cap bounds the gas it executes; its intrinsic gas (its bytes, compiling a deploy) comes on
    # top, so a large deploy is estimated as well as a small one.  A transaction above the block gas
    # limit, or with no intrinsic gas (its module is refused), is left as it is: it will not run.
    intrinsic = rpc.node.intrinsic_gas(signed)
    executed = 0
    if intrinsic is not None and gas <= chain.genesis.chain.block_gas_limit:
        executed = max(0, min(gas - intrinsic, rpc.limits.gas_cap))
        if intrinsic + executed < gas:
            signed = simulated(intrinsic + executed)
    return Simulation(signed, intrinsic, executed, rpc.node, interface if kind is TxKind.DEPLOY else None)


@METHODS.add(
    Param("contract", optional(to_address), None),
    Param("name", optional(to_string), None),
    Param("from_block", to_uint, 0),
    Param("to_block", optional(to_uint), None),
    Param("limit", to_uint, 1_000),
)
def get_events(
    rpc: Dispatcher, contract: Address | None, name: str | None, from_block: int, to_block: int | None, limit: int
) -> Report:
    found = rpc.node.events(contract, name, from_block, to_block, limit)
    return {"events": [_found_event_report(event, rpc.node.interface_or_none) for event in found]}


# Traces and profiles.

VERBOSE = Param("verbose", to_bool, False)


@METHODS.add(Param("hash", to_hash), VERBOSE)
def debug_trace_transaction(rpc: Dispatcher, hash: bytes, verbose: bool) -> Report:
    return typed_trace(trace_to_json(rpc.chain.trace_transaction(hash, verbose=verbose)), rpc.node.interface_or_none)


@METHODS.add(*SIMULATION, VERBOSE, metered=True)
def debug_trace_call(rpc: Dispatcher, verbose: bool, budget: GasBudget, **fields: Any) -> Report:
    trace, interfaces = _trace_call(rpc, "debug_trace_call", budget, fields, verbose=verbose, profile=False)
    return typed_trace(trace_to_json(trace), interfaces)


@METHODS.add(Param("hash", to_hash), VERBOSE)
def debug_profile_transaction(rpc: Dispatcher, hash: bytes, verbose: bool) -> Report:
    trace = _profiled(rpc.chain.trace_transaction(hash, verbose=verbose, profile=True))
    return typed_trace(trace_to_json(trace), rpc.node.interface_or_none)


@METHODS.add(*SIMULATION, VERBOSE, metered=True)
def debug_profile_call(rpc: Dispatcher, verbose: bool, budget: GasBudget, **fields: Any) -> Report:
    trace, interfaces = _trace_call(rpc, "debug_profile_call", budget, fields, verbose=verbose, profile=True)
    return typed_trace(trace_to_json(_profiled(trace)), interfaces)


def _trace_call(
    rpc: Dispatcher, name: str, budget: GasBudget, fields: dict[str, Any], *, verbose: bool, profile: bool
) -> tuple[TransactionTrace, Interfaces]:
    """``simulate``, traced: the same transaction, gas cap and budget; and what its values decode with."""
    simulation = _simulation(rpc, **fields)
    budget.reserve(name, simulation.executed)
    trace = rpc.node.trace_call(simulation.signed, verbose=verbose, profile=profile)
    budget.refund(simulation.unused(trace.receipt.gas_used))
    return trace, simulation.interfaces(trace.receipt)


def _profiled(trace: TransactionTrace) -> TransactionTrace:
    """The trace, if contract code ran in it: else there is nothing to profile (``no_wasm``)."""
    if trace.frame is not None:
        return trace
    tx = trace.signed.tx
    what = f"transaction 0x{trace.signed.hash.hex()}"
    if trace.receipt.status == "invalid":
        why = f"{what} is invalid ({trace.receipt.error})"
    elif tx.kind is TxKind.TRANSFER:
        why = f"{what} is a native transfer"
    else:
        why = f"{what} is a deploy without an init method"
    raise RPCError(
        INVALID_PARAMS,
        f"{why}: no contract code ran, so there is nothing to profile (trace it with debug_trace_* instead)",
        "no_wasm",
    )


# Devnet controls.


@METHODS.add()
def devnet_snapshot(rpc: Dispatcher) -> Report:
    return {"id": rpc.node.snapshot(), "height": rpc.chain.head.height}


@METHODS.add(Param("blocks", to_uint, 1), Param("timestamp", optional(to_uint64), None))
def devnet_mine(rpc: Dispatcher, blocks: int, timestamp: int | None) -> Report:
    mined = rpc.node.mine(blocks, timestamp)
    return {
        "blocks": [
            {"height": block.height, "hash": "0x" + block.hash.hex(), "transactions": len(block.transactions)}
            for block in mined
        ],
        "head": rpc.chain.head.height,
    }


@METHODS.add(Param("timestamp", to_uint64))
def devnet_set_next_block_timestamp(rpc: Dispatcher, timestamp: int) -> Report:
    rpc.node.set_next_block_timestamp(timestamp)
    return {"timestamp": timestamp}


@METHODS.add(Param("seconds", to_uint64))
def devnet_increase_time(rpc: Dispatcher, seconds: int) -> Report:
    return {"offset": rpc.node.increase_time(seconds)}


@METHODS.add(Param("address", to_address), Param("balance", to_uint))
def devnet_set_balance(rpc: Dispatcher, address: Address, balance: int) -> Report:
    block = rpc.node.set_balance(address, balance)
    return {
        "address": format_address(address),
        "balance": rpc.chain.account(address).balance,
        "block_height": block.height,
    }


@METHODS.add(Param("id", to_uint))
def devnet_revert(rpc: Dispatcher, id: int) -> Report:
    return {"reverted": True, "head": rpc.node.revert(id)}


# -- helpers ----------------------------------------------------------------------------------------


def _input(method: WitMethod | None, args: JsonArgs | None, args_hex: bytes | None) -> bytes:
    """A call's msgpack arguments.  For a method its contract's interface declares: ``args`` encoded with its
    parameters' types, or ``args_hex`` checked against them (``invalid_args`` if they do not fit); else ``args``
    as plain JSON (``{}`` by default) or ``args_hex`` as it is."""
    if args is not None and args_hex is not None:
        raise ChainError("give args or args_hex, not both")
    if method is None:
        return args_hex if args_hex is not None else to_json_args({} if args is None else args.value, "args")
    try:
        if args_hex is not None:
            check_args(method, args_hex)
            return args_hex
        return encode_typed_args(method, None if args is None else args.value)
    except ArgumentError as error:
        given = "args" if args is not None else "args_hex" if args_hex is not None else "args (none given)"
        raise RPCError(
            INVALID_PARAMS, f"invalid params: {given} of {signature(method)}: {error}", "invalid_args"
        ) from None
    except RecursionError:
        raise RPCError(INVALID_PARAMS, "invalid params: args is nested too deeply") from None


def _tx_interface(rpc: Dispatcher, signed: SignedTransaction) -> Interface | None:
    """The interface a transaction's arguments are typed by: its target's, or a deploy's own code's."""
    tx = signed.tx
    if tx.kind is TxKind.CALL:
        return rpc.node.interface_or_none(tx.to)
    return code_interface(tx.code) if tx.kind is TxKind.DEPLOY and tx.method else None


def _storage_key(text: str) -> bytes:
    """A storage key as ``0x`` hex, or else as its UTF-8 text."""
    if text.startswith("0x"):
        try:
            return from_hex(text[2:])
        except ValueError:
            raise ChainError(f"storage key {text!r} starts with 0x but is not hex") from None
    return text.encode()


def _found_event_report(found: FoundEvent, interfaces: Interfaces) -> Report:
    return {
        "block_height": found.height,
        "tx_hash": "0x" + found.tx_hash.hex(),
        "tx_index": found.tx_index,
        "log_index": found.log_index,
        **event_report(found.event, interfaces),
    }
