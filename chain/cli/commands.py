"""The CLI's chain commands: each talks to a node through a JSON-RPC ``Client``.

Two places a command can run, with the same code and the same output:

- *embedded* (the default): the node is in this process, over the data
  directory's database (``--data``), with instant mining: each
  state-changing command applies one block holding its one transaction
  (as SQLite is to a database server);
- *remote* (``--rpc URL`` or ``$WASMCHAIN_RPC``): a running ``wasmchain
  devnet``, over HTTP.  The data directory is then only the keystore.

Either way a command makes the same JSON-RPC calls (``LocalTransport`` puts
the results through JSON as HTTP would) and its report *is* the call's
result, so the embedded CLI and the CLI through a node print the same
thing for the same chain.  Keys stay here: a transaction is signed with
the local keystore (``dev0``..``dev9`` are always there), then submitted;
key names are resolved to addresses here too.

Typed contracts: before anything is signed or sent, a call's ``--args`` are
checked against the called method's types, which ``get_interface`` gives (a
deploy's, its own code's): a missing, extra or ill-typed argument is an
``ArgsError`` (exit 2) naming it, the type it must have and an example, and
an ``address`` anywhere in the arguments may be a key name.  A contract
without an interface takes ``--args`` as plain JSON, as before.

A pre-flight on every send: ``deploy``, ``call`` and ``transfer`` first
simulate the exact transaction (same sender, value, code, method and
arguments) on the head (``simulate``); a simulation that fails is not sent:
the report says so (``status: preflight_failed``, ``PREFLIGHT_FAILED``) with
the simulated error, the frame where it failed (``debug_trace_call``) and
what to do, exit 1, nothing signed, no nonce or fee spent.  Without
``--gas`` the gas limit is then the simulated gas plus a margin
(``preflight_gas``: exact for a transfer or a deploy without init, which
run no code).  ``--no-preflight`` sends without simulating, with
``DEFAULT_GAS`` unless ``--gas`` says otherwise.

Each handler returns ``(exit code, report)``; ``main.py`` prints the report
as JSON or as text (``render.py``).  Exit codes: 0 success, 1 a transaction was included
(or a call ran) but failed, or its pre-flight failed and it was not sent, 2 it was rejected,
the arguments were bad, or the node could not be used.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wasmchain.cli.render import PREFLIGHT_FAILED
from wasmchain.cli.runner import load_module
from wasmchain.client.client import Client, sufficient_gas
from wasmchain.client.local import LocalTransport
from wasmchain.client.results import Trace, TraceFrame, failure_hint
from wasmchain.client.transport import ClientError, HTTPTransport, RPCClientError
from wasmchain.history.archive import ArchiveReader, write_archive
from wasmchain.history.replay import (
    Progress,
    Refused,
    ReplayResult,
    StoreKind,
    archive_problems,
    import_records,
    load_genesis_document,
    replay_archive,
    replay_database,
    reporting,
)
from wasmchain.node.datadir import DataDir, create_chain, load_chain, open_database
from wasmchain.node.jsonrpc import MAX_EVENT_BLOCK_RANGE, METHOD_NOT_FOUND
from wasmchain.node.node import Node
from wasmchain.node.reports import Report
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.args import ArgsError, parse_args
from wasmchain.protocol.errors import ChainError, InsufficientFunds, KeystoreError
from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.hexstr import from_hex
from wasmchain.protocol.keys import KeyPair, format_address, parse_address
from wasmchain.protocol.transactions import Transaction, TxKind
from wasmchain.store import schema
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import KVStore, LevelDBKV, MemoryKV, StoreError
from wasmchain.vm.host import Address
from wasmchain.vm.wit.section import SECTION_NAME, interface_of
from wasmchain.vm.wit.syntax import parse_wit
from wasmchain.vm.wit.types import AddressType, Interface, Method, WitError, signature
from wasmchain.vm.wit.values import ArgumentError, example
from wasmchain.vm.wit.values import encode_args as encode_typed_args

DEFAULT_GAS = 100_000_000
"""The gas limit of a transaction sent with ``--no-preflight`` (and of a simulation) when ``--gas`` is not given."""
EXACT_ROUNDS = 8
"""Simulations at most to find the gas of a transaction that runs no code (``preflight_gas``); two or three do."""
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
RECEIPT_TIMEOUT = 60.0
"""Seconds to wait for a receipt from a node that mines on an interval (or three block times, if longer)."""
POLL_INTERVAL = 0.1
"""Seconds between two ``get_receipt`` calls while waiting."""
DEFAULT_EVENT_LIMIT = 1_000
"""Events ``wasmchain events`` prints unless ``--limit`` says otherwise."""
EXAMPLE_KEY = "dev1"
"""The example a method's help gives for an address parameter: a key name, which the CLI takes for one."""


class Session:
    """Where a chain command runs: a client for the node, and the local data directory for keys.

    ``rpc`` is a node's URL (remote); without it the node is embedded over
    ``data``'s database, which is opened at the first call (so that bad
    arguments are reported before a missing or locked database) and closed
    by ``close``.  ``client`` runs the commands over any client instead
    (tests use a node with interval mining).
    """

    def __init__(self, data: DataDir, rpc: str | None = None, *, client: Client | None = None) -> None:
        self.data = data
        self.rpc = rpc
        self._kv: KVStore | None = None
        self._client = client
        if client is None and rpc is not None:
            self._client = Client(HTTPTransport(rpc))

    @property
    def client(self) -> Client:
        if self._client is None:
            chain = load_chain(self.data)
            self._kv = chain.kv
            self._client = Client(LocalTransport(Dispatcher(Node(chain, clock=time.time))))
        return self._client

    def call(self, method: str, /, **params: Any) -> Any:
        """One JSON-RPC call; errors raise ``RPCClientError`` with the node's message."""
        return self.client.call(method, **params)

    def report(self, method: str, /, **params: Any) -> Report:
        """A call whose result is a report (a JSON object)."""
        result = self.call(method, **params)
        if not isinstance(result, dict):
            raise RPCClientError(None, f"{method} answered {str(result)[:80]!r}, not a JSON object")
        return result

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._kv is not None:
            self._kv.close()
            self._kv = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def resolve_address(data: DataDir, text: str) -> Address:
    """An address as ``0x`` + 40 hex digits, or the name of a key (any other text is taken for an unknown key's
    name: the error says so, and how to list the keys)."""
    named = data.keystore.address_of(text)
    if named is not None:
        return named
    try:
        return parse_address(text)
    except ChainError:
        if text.startswith("0x"):
            raise
        raise ChainError(
            f"no key named {text!r} (known: {', '.join(data.keystore.names())}): give a key name "
            "(`wasmchain keys list` shows them) or an address, 0x and 40 hex digits"
        ) from None


def _address(data: DataDir, text: str) -> str:
    return format_address(resolve_address(data, text))


# -- typed interfaces --------------------------------------------------------------------


def contract_interface(session: Session, address: str) -> Interface | None:
    """The interface of the contract at ``address`` (``get_interface``), or ``None`` when it is untyped, its
    interface is unreadable (the node decodes and checks nothing with it either), there is no contract there
    (the node then refuses the call itself, saying so), or the node predates ``get_interface``."""
    try:
        report = session.report("get_interface", address=address)
    except RPCClientError as error:
        if error.code == METHOD_NOT_FOUND or error.reason in ("invalid_interface", "not_found"):
            return None
        raise
    described = report.get("interface")
    if not isinstance(described, dict):
        return None
    try:
        return parse_wit(str(described.get("wit")))
    except WitError as error:
        raise RPCClientError(None, f"the interface the node gives for {address} does not parse here: {error}") from None


def declared_method(interface: Interface, name: str, where: str) -> Method:
    """The method ``name`` (its export or WIT name) of ``interface``, else an ``ArgsError`` listing them all."""
    method = interface.method(name)
    if method is None:
        listed = "; ".join(signature(m) for m in interface.methods) or "none"
        raise ArgsError(f"{where} has no method {json.dumps(name)} in its interface; its methods: {listed}")
    return method


def key_resolver(data: DataDir) -> Callable[[str], bytes]:
    """What turns a key name given for an ``address`` argument into the key's address."""

    def resolve(name: str) -> bytes:
        try:
            return data.keystore.get(name).address
        except KeystoreError as error:
            raise ValueError(f"{error}, or give an address: 0x and 40 hex digits") from None

    return resolve


def encode_call_args(
    interface: Interface | None, name: str, args: str | None, resolve: Callable[[str], bytes], where: str
) -> tuple[str, bytes]:
    """The method to send (its export) and its msgpack arguments from ``--args`` (JSON text, ``{}`` if absent).

    With an interface the method must be declared and the arguments fit its types (else ``ArgsError``,
    naming the argument, its type and an example); without one they are plain JSON ("0x.." strings are bytes).
    """
    if interface is None:
        return name, parse_args(args if args is not None else "{}")
    method = declared_method(interface, name, where)
    value: Any = None
    if args is not None:
        try:
            value = json.loads(args)
        except json.JSONDecodeError as error:
            raise ArgsError(f"--args is not valid JSON: {error}") from None
    try:
        return method.export, encode_typed_args(method, value, resolve)
    except ArgumentError as error:
        raise ArgsError(f"--args of {signature(method)}: {error}") from None
    except RecursionError:
        raise ArgsError("--args is nested too deeply") from None


def _typed_call(session: Session, address: str, method: str, args: str | None) -> tuple[str, bytes]:
    """A call's method and arguments, checked against the contract's interface (``address`` is 0x hex)."""
    return encode_call_args(
        contract_interface(session, address), method, args, key_resolver(session.data), f"the contract at {address}"
    )


def _module_interface(code: bytes) -> Interface | None:
    """A module's own interface; ``None`` for none or an unreadable one (the node then refuses the deploy, saying
    why, under a VM version that checks interfaces)."""
    try:
        return interface_of(code)
    except WitError:
        return None


# -- init and keys (local: no node) ---------------------------------------------------


def cmd_init(data: DataDir, genesis_path: Path) -> tuple[int, Report]:
    genesis = load_genesis(genesis_path)
    chain = create_chain(data, genesis)
    try:
        head = chain.head
    finally:
        chain.kv.close()
    return EXIT_OK, {
        "data": str(data.path),
        "chain_id": genesis.chain_id,
        "genesis_hash": "0x" + head.hash.hex(),
        "state_root": "0x" + head.state_root.hex(),
        "accounts": len(genesis.accounts),
    }


def _key_report(name: str, key: KeyPair) -> Report:
    return {"name": name, "address": format_address(key.address), "public_key": "0x" + key.public_key.hex()}


def cmd_keys_new(data: DataDir, name: str) -> tuple[int, Report]:
    return EXIT_OK, _key_report(name, data.keystore.new(name))


def cmd_keys_show(data: DataDir, name: str) -> tuple[int, Report]:
    return EXIT_OK, _key_report(name, data.keystore.get(name))


def cmd_keys_list(data: DataDir) -> tuple[int, Report]:
    store = data.keystore
    return EXIT_OK, {"keys": [_key_report(name, store.get(name)) for name in store.names()]}


# -- transactions ----------------------------------------------------------------------


@dataclass(frozen=True)
class TxOptions:
    sender: str
    """A key name (signing) or, for ``simulate`` only, an address."""
    gas: int | None = None
    """The gas limit; ``None``: after a pre-flight, the simulated gas plus a margin (``preflight_gas``), else
    (``--no-preflight``, ``simulate``) ``DEFAULT_GAS``."""
    value: int = 0
    wait: float | None = None
    """Seconds to wait for a pending transaction's receipt (default: ``RECEIPT_TIMEOUT``, or 3 block times)."""
    preflight: bool = True
    """Simulate a transaction before sending it, and send it only if the simulation ends ``ok``."""


def _check_tx_options(options: TxOptions, gas_bits: int = 64) -> None:
    if options.gas is not None and not 0 < options.gas < 1 << gas_bits:
        raise ChainError(f"--gas must be between 1 and 2**{gas_bits}-1, found {options.gas}")
    if options.value < 0:
        raise ChainError(f"--value must not be negative, found {options.value}")
    if options.wait is not None and not options.wait >= 0:
        raise ChainError(f"--wait must not be negative, found {options.wait:g}")


def _submit(session: Session, options: TxOptions, kind: TxKind, **fields: Any) -> tuple[int, Report]:
    """Simulate (unless ``--no-preflight``), sign here, submit to the node, and return the receipt (waiting for
    its block if need be); a failed pre-flight's report instead, nothing sent."""
    _check_tx_options(options)
    key = session.data.keystore.get(options.sender)
    info = session.report("chain_info")
    gas, note = options.gas, None
    if options.preflight:
        checked = _preflight(session, options, info, format_address(key.address), _simulation_params(kind, fields))
        if isinstance(checked, dict):
            return EXIT_FAILED, checked
        gas, note = checked
    nonce = session.report("get_next_nonce", address=format_address(key.address))["nonce"]
    tx = Transaction(
        chain_id=info["chain_id"],
        nonce=nonce,
        gas_limit=DEFAULT_GAS if gas is None else gas,
        gas_price=info["min_gas_price"],
        public_key=key.public_key,
        kind=kind,
        value=options.value,
        **fields,
    )
    try:
        submitted = session.report("submit_transaction", tx="0x" + tx.sign(key).encoded.hex())
    except RPCClientError as error:
        if note is None or error.code is None:
            raise
        raise RPCClientError(error.code, f"{error.message}; {note}", error.reason) from None
    receipt = submitted["receipt"]
    if receipt is None:  # a node with --block-time: the transaction waits for the next block
        receipt = _wait_for_receipt(session, submitted["tx_hash"], _receipt_timeout(options, info))
    return (EXIT_OK if receipt["status"] == "ok" else EXIT_FAILED), receipt


# -- the pre-flight: the transaction simulated before it is sent -------------------------------------


def _simulation_params(kind: TxKind, fields: dict[str, Any]) -> dict[str, Any]:
    """``simulate``'s parameters for the transaction ``_submit`` would sign (but the sender, value and gas)."""
    if kind is TxKind.DEPLOY:
        return {
            "code": "0x" + fields["code"].hex(),
            "method": fields["method"] or None,
            "args_hex": "0x" + fields["args"].hex(),
        }
    if kind is TxKind.CALL:
        return {"to": format_address(fields["to"]), "method": fields["method"], "args_hex": "0x" + fields["args"].hex()}
    return {"to": format_address(fields["to"])}


def _preflight(
    session: Session, options: TxOptions, info: Report, sender: str, params: dict[str, Any]
) -> tuple[int | None, str | None] | Report:
    """The gas limit to send with (``None``: ``DEFAULT_GAS``) and a note for the node's refusal, if any; or, when
    the simulation fails, the report that says so (``PREFLIGHT_FAILED``), to print instead of sending.

    The simulation runs at ``--gas`` if given; else at the most gas the transaction may have (the block gas
    limit, or what the sender can pay for besides the value), and the limit is then ``preflight_gas``'s.  A
    simulation the node would refuse (``invalid``: no such method, too little balance ...) is left to the
    node, sent at the gas simulated: the node refuses it and says why (exit 2), and a refusal spends nothing.
    """
    price = int(info["min_gas_price"])
    params = {"from": sender, **params, "value": options.value, "gas_price": price}

    def simulate(gas: int) -> Report:
        return session.report("simulate", **params, gas=gas)

    ceiling = "--gas"  # what bounds the simulation's gas, for the message of one that runs out
    note = None  # what a refusal does not say: where the limit came from
    if options.gas is not None:
        if options.gas > int(info["block_gas_limit"]):
            return options.gas, None  # the node refuses it, saying why
        limit = options.gas
    else:
        limit, ceiling = int(info["block_gas_limit"]), "the block gas limit: no block can hold it"
        if price > 0:
            balance = int(session.report("get_balance", address=sender)["balance"])
            affordable = (balance - options.value) // price
            if affordable < 1:
                raise InsufficientFunds(
                    f"the value {options.value} leaves nothing of the balance {balance} for the fee: "
                    "attach less value, or fund the sender"
                )
            if affordable < limit:
                limit, ceiling = affordable, "all the sender can pay for: fund it, or attach less value"
                note = (
                    f"without --gas the gas limit is what the balance left after the value pays for, "
                    f"{affordable}: attach less value, or fund the sender"
                )
    simulated = simulate(limit)
    if simulated["status"] == "invalid":
        return limit, note
    if simulated["status"] != "ok":
        return _preflight_failed(session, options, params, (limit, ceiling), simulated)
    if options.gas is not None:
        return options.gas, None
    return preflight_gas(simulate, simulated, limit, runs_code=bool(params.get("method"))), None


def preflight_gas(simulate: Callable[[int], Report], simulated: Report, most: int, *, runs_code: bool) -> int:
    """The default gas limit of a transaction whose simulation at ``most`` gas was ``simulated`` (ok).

    A transaction that runs no contract code (a transfer, a deploy without init) uses its intrinsic gas alone,
    which does not depend on the state: its limit is exactly that, so that a transfer of the whole balance less
    that fee is admitted (admission reserves limit x price).  The intrinsic gas counts the transaction's bytes,
    the gas limit's own among them (a shorter number, fewer bytes), so the limit is simulated again until the
    gas used is the limit.  A transaction that runs code gets the client's margin (``estimate_gas``: x (64/63)^8,
    about +13.4%, integer arithmetic, for the 64th of its gas that each nested call's caller keeps), at most
    ``most``; that limit is simulated too, and if the outcome changes (a caller also keeps at least the
    genesis ``call_reserve``), the lowest limit that keeps it is searched for (``sufficient_gas``, the
    client's own).  The fee is only ever the gas used.
    """
    if not runs_code:
        limit, verified = int(simulated["gas_used"]), most
        for _ in range(EXACT_ROUNDS):
            trial = simulate(limit)
            if trial["status"] != simulated["status"]:  # cannot happen (fewer bytes, less gas): keep what worked
                return verified
            verified = limit
            if trial["gas_used"] >= limit:
                break
            limit = int(trial["gas_used"])
        return verified

    def same_outcome(limit: int) -> bool:
        trial = simulate(limit)
        return (trial["status"], trial["return_hex"]) == (simulated["status"], simulated["return_hex"])

    return sufficient_gas(int(simulated["gas_used"]), most, same_outcome)


def _preflight_failed(
    session: Session, options: TxOptions, params: dict[str, Any], simulated_at: tuple[int, str], simulated: Report
) -> Report:
    """The report of a transaction not sent because its simulation failed (at ``simulated_at``: a gas limit, and
    what set it): the simulated error, the frame where it started (from the simulation's trace), what to do."""
    limit, ceiling = simulated_at
    status, error = str(simulated["status"]), simulated.get("error")
    trace: Trace | None = None
    try:
        trace = Trace.from_report(session.report("debug_trace_call", **params, gas=limit))
    except ClientError:  # a node without the debug methods (or a malformed answer): no frame to name
        trace = None
    path = [] if trace is None else trace.failing_path()
    where = f" (in {path[-1].contract}::{path[-1].method})" if path else ""
    simulated_limit = limit if trace is None else trace.gas_limit
    if status == "out_of_gas" and simulated_limit < limit:
        action = (
            f"the node simulates at most {simulated_limit} gas (its --rpc-gas-cap), and the call needs more: "
            "send it with --gas and --no-preflight"
        )
    elif status == "out_of_gas" and options.gas is not None:
        action = f"raise --gas (it was {options.gas}), or leave it out to send with the simulated gas plus a margin"
    elif status == "out_of_gas":
        action = f"it needs more than {limit} gas, {ceiling}"
    else:
        what = "deploy" if "code" in params else "call" if params.get("method") else "transfer"
        action = f"fix the {what}, or send it anyway with --no-preflight (it would be mined, fail, and be charged)"
    return {
        "status": PREFLIGHT_FAILED,
        "sent": False,
        "error": f"not sent: the simulation failed: {status}: {error or '(no message)'}{where}; {action}",
        # What ran out, and to raise the limit: advice about a --gas given (without one, the action says it all).
        "hint": None if options.gas is None else failure_hint(status, error),
        "gas_limit": simulated_limit,
        "simulation": simulated,
        "failed_frame": None if not path else _frame_summary(path[-1]),
        "failing_path": [_frame_summary(frame) for frame in path],
        "trace": None if trace is None else trace.report,
    }


def _frame_summary(frame: TraceFrame) -> Report:
    return {
        "contract": frame.contract,
        "method": frame.method,
        "depth": frame.depth,
        "status": frame.status,
        "error": frame.error,
    }


def _receipt_timeout(options: TxOptions, info: Report) -> float:
    if options.wait is not None:
        return options.wait
    mining = info.get("mining")
    block_time = mining.get("block_time") if isinstance(mining, dict) else None
    return max(RECEIPT_TIMEOUT, 3 * block_time) if isinstance(block_time, (int, float)) else RECEIPT_TIMEOUT


def _wait_for_receipt(session: Session, tx_hash: str, timeout: float) -> Report:
    """Poll ``get_receipt`` until the transaction is in a block; a dropped one raises (rejected)."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = session.call("get_receipt", hash=tx_hash)
        if isinstance(receipt, dict):
            return receipt
        if time.monotonic() >= deadline:
            raise ChainError(
                f"transaction {tx_hash} is still pending after {timeout:g} s; "
                f"look it up later with `wasmchain tx {tx_hash}`"
            )
        time.sleep(POLL_INTERVAL)


def _read_code(file: Path) -> bytes:
    """A module to deploy: a ``.wasm`` binary, or WAT text translated to one, as ``wasmchain vm run`` reads it."""
    return load_module(file)


def _init_args(session: Session, file: Path, code: bytes, init: str | None, args: str | None) -> tuple[str, bytes]:
    """A deploy's init method (its export) and encoded arguments, checked against the module's own interface:
    none without an init, ``{}`` by default."""
    if args is not None and not init:
        raise ChainError("--args needs --init METHOD")
    if not init:
        return "", b""
    return encode_call_args(_module_interface(code), init, args, key_resolver(session.data), str(file))


def cmd_deploy(
    session: Session, options: TxOptions, file: Path, init: str | None, args: str | None
) -> tuple[int, Report]:
    code = _read_code(file)
    method, encoded = _init_args(session, file, code, init, args)
    return _submit(session, options, TxKind.DEPLOY, code=code, method=method, args=encoded)


def cmd_call(session: Session, options: TxOptions, contract: str, method: str, args: str | None) -> tuple[int, Report]:
    _check_tx_options(options)
    to = resolve_address(session.data, contract)
    export, encoded = _typed_call(session, format_address(to), method, args)
    return _submit(session, options, TxKind.CALL, to=to, method=export, args=encoded)


def cmd_transfer(session: Session, options: TxOptions, to: str, amount: int) -> tuple[int, Report]:
    if amount < 0:
        raise ChainError(f"the amount must not be negative, found {amount}")
    return _submit(
        session,
        replace(options, value=amount),
        TxKind.TRANSFER,
        to=resolve_address(session.data, to),
    )


# -- simulate: a transaction run against the head, nothing kept, nothing signed -----------------


@dataclass(frozen=True)
class TraceOptions:
    """``simulate ... --trace``: trace the simulation (``debug_trace_call``); ``verbose`` adds the host calls;
    ``profile``: trace it with its gas profile per wasm function (``debug_profile_call``)."""

    trace: bool = False
    verbose: bool = False
    profile: bool = False


def _simulate(
    session: Session, options: TxOptions, tracing: TraceOptions = TraceOptions(), **params: Any
) -> tuple[int, Report]:
    _check_tx_options(options, gas_bits=63)  # the node's bound for a simulation, as for a view
    if tracing.trace and tracing.profile:
        raise ChainError("--trace and --profile: choose one (a profile's --json holds the trace too)")
    if tracing.verbose and not tracing.trace:
        raise ChainError("--verbose shows a trace's host calls: add --trace")
    sender = _address(session.data, options.sender)
    if tracing.trace:
        params["verbose"] = tracing.verbose
    method = "debug_profile_call" if tracing.profile else "debug_trace_call" if tracing.trace else "simulate"
    gas = DEFAULT_GAS if options.gas is None else options.gas
    report = session.report(method, **{"from": sender}, gas=gas, **params)
    if tracing.profile:
        _profile_checked(report, "the simulated transaction")
    return _outcome_exit(report), report


def cmd_simulate_deploy(
    session: Session,
    options: TxOptions,
    file: Path,
    init: str | None,
    args: str | None,
    tracing: TraceOptions = TraceOptions(),
) -> tuple[int, Report]:
    _check_tx_options(options, gas_bits=63)
    code = _read_code(file)
    method, encoded = _init_args(session, file, code, init, args)
    return _simulate(
        session,
        options,
        tracing,
        code="0x" + code.hex(),
        method=method or None,
        args_hex="0x" + encoded.hex(),
        value=options.value,
    )


def cmd_simulate_call(
    session: Session,
    options: TxOptions,
    contract: str,
    method: str,
    args: str | None,
    tracing: TraceOptions = TraceOptions(),
) -> tuple[int, Report]:
    _check_tx_options(options, gas_bits=63)
    to = _address(session.data, contract)
    export, encoded = _typed_call(session, to, method, args)
    return _simulate(
        session, options, tracing, to=to, method=export, args_hex="0x" + encoded.hex(), value=options.value
    )


def cmd_simulate_transfer(
    session: Session, options: TxOptions, to: str, amount: int, tracing: TraceOptions = TraceOptions()
) -> tuple[int, Report]:
    if amount < 0:
        raise ChainError(f"the amount must not be negative, found {amount}")
    return _simulate(session, options, tracing, to=_address(session.data, to), value=amount)


def _outcome_exit(report: Report) -> int:
    """A view's or a simulation's exit code: 0 ok, 2 invalid (would be refused), 1 any other failure."""
    status = report.get("status")
    if status == "ok":
        return EXIT_OK
    return EXIT_INVALID if status == "invalid" else EXIT_FAILED


# -- reads ---------------------------------------------------------------------------------


def cmd_view(session: Session, contract: str, method: str, args: str | None, gas: int) -> tuple[int, Report]:
    if not 0 < gas < 1 << 63:
        raise ChainError(f"--gas must be between 1 and 2**63-1, found {gas}")
    address = _address(session.data, contract)
    export, encoded = _typed_call(session, address, method, args)
    report = session.report("view", contract=address, method=export, args_hex="0x" + encoded.hex(), gas=gas)
    return _outcome_exit(report), report


def is_module_path(target: str) -> bool:
    """Whether ``wasmchain abi`` reads ``target`` as a module file: a path ending in .wasm or .wat, or any file."""
    path = Path(target)
    return path.suffix in (".wasm", ".wat") or path.is_file()


def cmd_abi(session: Session | None, target: str) -> tuple[int, Report]:
    """A contract's interface: of a module file (a path that exists, or ends in .wasm or .wat: read here, no node
    needed) or of the contract at an address or key name (``get_interface``).  Exit 0 for an untyped one too:
    the report's ``interface`` is then ``null``."""
    if is_module_path(target):
        path = Path(target)
        code = load_module(path)
        try:
            interface = interface_of(code)
        except WitError as error:
            raise ArgsError(f"{path}: its {SECTION_NAME} section is not a valid interface: {error}") from None
        described = None if interface is None else interface.to_json()
        return EXIT_OK, {
            "file": str(path),
            "code_hash": "0x" + hashlib.sha256(code).hexdigest(),
            "interface": described,
        }
    if session is None:
        raise ChainError(f"{target} is neither a module file nor an address")
    return EXIT_OK, session.report("get_interface", address=_address(session.data, target))


def cmd_method_help(session: Session, contract: str, method: str) -> tuple[int, Report]:
    """What ``wasmchain call CONTRACT METHOD --help`` prints: the method's entry of its contract's interface
    (``get_interface``), or ``null`` for an untyped contract; a method it does not declare is an ``ArgsError``
    listing those it does."""
    address = _address(session.data, contract)
    interface = contract_interface(session, address)
    if interface is None:
        return EXIT_OK, {"address": address, "method": method, "declared": None}
    found = declared_method(interface, method, f"the contract at {address}")
    entry = next(m for m in interface.to_json()["methods"] if m["export"] == found.export)
    for param, described in zip(found.params, entry["params"]):
        described["example"] = EXAMPLE_KEY if isinstance(param.type, AddressType) else example(param.type)
    return EXIT_OK, {"address": address, "method": method, "declared": entry}


def cmd_balance(session: Session, who: str) -> tuple[int, Report]:
    return EXIT_OK, session.report("get_balance", address=_address(session.data, who))


def cmd_account(session: Session, who: str) -> tuple[int, Report]:
    return EXIT_OK, session.report("get_account", address=_address(session.data, who))


def cmd_tx(session: Session, tx_hash: str) -> tuple[int, Report]:
    """A transaction: its receipt and body once included; else its status (pending or dropped)."""
    raw = _hex32(tx_hash, "transaction hash")
    return EXIT_OK, session.report("get_transaction", hash="0x" + raw.hex())


def cmd_trace(session: Session, tx_hash: str, verbose: bool = False) -> tuple[int, Report]:
    """A mined transaction's trace (``debug_trace_transaction``): the node re-executes its block up to it and
    checks the receipt.  Exit 0 whatever the transaction's own status: the trace is the answer."""
    raw = _hex32(tx_hash, "transaction hash")
    return EXIT_OK, session.report("debug_trace_transaction", hash="0x" + raw.hex(), verbose=verbose)


def cmd_profile(session: Session, tx_hash: str) -> tuple[int, Report]:
    """A mined transaction's trace with its gas profile per wasm function (``debug_profile_transaction``)."""
    raw = _hex32(tx_hash, "transaction hash")
    report = session.report("debug_profile_transaction", hash="0x" + raw.hex())
    _profile_checked(report, f"transaction 0x{raw.hex()}")
    return EXIT_OK, report


def _profile_checked(report: Report, what: str) -> tuple[int, Report]:
    """A profile's exit code (0: the profile is the answer, whatever the transaction's status) and report, once
    it is known to hold a profile."""
    if not isinstance(report.get("profile"), dict):
        raise RPCClientError(None, f"the node's answer for {what} has no profile")
    return EXIT_OK, report


NAMES_SEARCH_DEPTH = 3
"""How many directory levels below the current one ``wasmchain profile`` looks in for modules' ``.names`` files."""


def names_files_beside_modules(root: Path, depth: int = NAMES_SEARCH_DEPTH) -> list[Path]:
    """The ``*.names`` files of every directory at most ``depth`` levels below ``root`` (``root`` included) that
    holds a ``.wasm`` file, in sorted order; hidden directories (``.git``, ``.venv``) are skipped.  Each file
    says which module it names (its ``module`` hash), so a file of another module is simply not used."""
    found: list[Path] = []
    level = [root]
    for _ in range(depth + 1):
        below: list[Path] = []
        for directory in level:
            try:
                entries = sorted(directory.iterdir())
            except OSError:
                continue
            if any(entry.suffix == ".wasm" and entry.is_file() for entry in entries):
                found += [entry for entry in entries if entry.suffix == ".names" and entry.is_file()]
            below += [entry for entry in entries if entry.is_dir() and not entry.name.startswith(".")]
        level = below
    return found


def cmd_block(session: Session, which: str) -> tuple[int, Report]:
    block: int | str
    if which == "latest":
        block = "latest"
    elif which.isascii() and which.isdigit():
        block = int(which)
    else:
        try:
            block = "0x" + _hex32(which, "block hash").hex()
        except ChainError:
            raise ChainError(
                f"a block is a height (0 or more), a block hash (0x and 64 hex digits) or latest, found {which!r}"
            ) from None
    return EXIT_OK, session.report("get_block", block=block)


def cmd_proof(session: Session, who: str, key: str | None) -> tuple[int, Report]:
    return EXIT_OK, session.report("get_proof", address=_address(session.data, who), key=key)


def cmd_events(
    session: Session,
    contract: str | None,
    name: str | None,
    from_block: int,
    to_block: int | None,
    limit: int = DEFAULT_EVENT_LIMIT,
) -> tuple[int, Report]:
    """Events of blocks ``from_block..to_block`` (default: to the head), oldest first, at most ``limit``.

    A node scans at most ``MAX_EVENT_BLOCK_RANGE`` blocks a call, so a
    longer range is asked for a window at a time.
    """
    filters = {"contract": None if contract is None else _address(session.data, contract), "name": name}
    last = to_block
    if last is None:
        last = session.report("chain_info")["head"]["height"]
        if from_block > last:
            return EXIT_OK, {"events": []}
    found: list[Any] = []
    start = from_block
    while True:
        end = last if last < start else min(last, start + MAX_EVENT_BLOCK_RANGE - 1)
        page = session.report("get_events", **filters, from_block=start, to_block=end, limit=limit - len(found))
        found += page["events"]
        if len(found) >= limit or end >= last:
            return EXIT_OK, {"events": found}
        start = end + 1


FOLLOW_NEEDS_A_NODE = (
    "events --follow needs a running node: give --rpc URL or set $WASMCHAIN_RPC (a node embedded over --data "
    "makes blocks only while a command runs, so no event would come)"
)


def follow_events(
    session: Session,
    contract: str | None,
    name: str | None,
    from_block: int | None,
    limit: int | None,
    emit: Callable[[Report], None],
    notice: Callable[[str], None] | None = None,
) -> int:
    """``wasmchain events --follow``: each event as its block is committed, ``emit``ted as a ``get_events`` entry,
    until ``limit`` events (if given) or Ctrl-C (exit 0 either way).

    ``from_block``: first the past events from that block; without it, only those of the blocks after the head.
    ``notice`` is told, once subscribed, from which block on events come (the CLI prints it on stderr).
    """
    if session.rpc is None:
        raise ChainError(FOLLOW_NEEDS_A_NODE)
    if limit is not None and limit < 1:
        raise ChainError(f"--limit must be 1 or more, found {limit}")
    address = None if contract is None else _address(session.data, contract)
    emitted = 0
    try:
        client = session.client
        start = from_block if from_block is not None else client.head().height + 1
        with client.follow_event_reports(address, name, start) as events:
            if notice is not None:
                notice(f"following events from block {start} (Ctrl-C to stop)")
            for event in events:
                emit(event)
                emitted += 1
                if limit is not None and emitted >= limit:
                    break
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _hex32(text: str, what: str) -> bytes:
    try:
        raw = from_hex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ChainError(f"a {what} is 0x followed by 64 hex digits, found {text!r}")
    return raw


# -- devnet controls: a running node's clock, blocks and snapshots ------------------------------

MEMORY_ONLY_CONTROLS = ("snapshot", "revert", "set-next-timestamp", "increase-time")
"""The controls whose effect lives in the node's memory (its snapshots, its clock): an embedded node is gone when the
command ends, so these need a running node (``--rpc``); ``mine`` and ``set-balance`` write blocks, and work on
either."""


def _running_node(session: Session, control: str) -> None:
    if session.rpc is None and control in MEMORY_ONLY_CONTROLS:
        raise ChainError(
            f"devnet {control} changes a running node's memory, which an embedded node forgets when the command "
            "ends: give --rpc URL (or set $WASMCHAIN_RPC) of a running `wasmchain devnet`"
        )


def cmd_devnet_mine(session: Session, blocks: int, timestamp: int | None) -> tuple[int, Report]:
    if blocks < 1:
        raise ChainError(f"the number of blocks must be at least 1, found {blocks}")
    return EXIT_OK, session.report("devnet_mine", blocks=blocks, timestamp=timestamp)


def cmd_devnet_snapshot(session: Session) -> tuple[int, Report]:
    _running_node(session, "snapshot")
    return EXIT_OK, session.report("devnet_snapshot")


def cmd_devnet_revert(session: Session, snapshot_id: int) -> tuple[int, Report]:
    _running_node(session, "revert")
    if snapshot_id < 0:
        raise ChainError(f"a snapshot id is a number from `wasmchain devnet snapshot`, found {snapshot_id}")
    return EXIT_OK, session.report("devnet_revert", id=snapshot_id)


def cmd_devnet_set_balance(session: Session, who: str, amount: int) -> tuple[int, Report]:
    if amount < 0:
        raise ChainError(f"the balance must not be negative, found {amount}")
    return EXIT_OK, session.report("devnet_set_balance", address=_address(session.data, who), balance=amount)


def cmd_devnet_set_next_timestamp(session: Session, timestamp: int) -> tuple[int, Report]:
    _running_node(session, "set-next-timestamp")
    if timestamp < 0:
        raise ChainError(f"a timestamp is seconds since 1970, 0 or more, found {timestamp}")
    return EXIT_OK, session.report("devnet_set_next_block_timestamp", timestamp=timestamp)


def cmd_devnet_increase_time(session: Session, seconds: int) -> tuple[int, Report]:
    _running_node(session, "increase-time")
    if seconds < 0:
        raise ChainError(f"time only moves forward: seconds must not be negative, found {seconds}")
    return EXIT_OK, session.report("devnet_increase_time", seconds=seconds)


# -- export, import and replay (local: the data directory or a file, no node) ---------------------


def _open_db(data: DataDir, *, create: bool = False, sync: bool = True) -> LevelDBKV:
    """The data directory's database, for a command that reads it directly (a running node holds it)."""
    return open_database(
        data,
        create=create,
        sync=sync,
        exclusive="export, import and replay read the database itself, so stop the node first",
    )


def cmd_export(
    data: DataDir, out: Path, first: int | None, last: int | None, progress: Progress | None = None
) -> tuple[int, Report]:
    """Write blocks ``first..last`` (default 1..head) of the data directory's chain to an archive."""
    started = time.monotonic()
    with _open_db(data) as kv:
        chain = Chain.load(kv)
        head = chain.head.height
        first = 1 if first is None else first
        last = head if last is None else last
        if first < 1:
            raise ChainError(
                f"--from must be at least 1 (block 0 follows from the genesis the file carries), found {first}"
            )
        if last > head:
            raise ChainError(f"--to {last} is after the head, block {head}")
        if first > last and (first, last) != (1, 0):
            raise ChainError(f"--from {first} is after --to {last}")
        with reporting(progress, last - first + 1):
            header, transactions, size = write_archive(
                out, chain, first, last, None if progress is None else progress.update
            )
    return EXIT_OK, {
        "file": str(out),
        "chain_id": header.chain_id,
        "genesis_hash": "0x" + header.genesis_hash.hex(),
        "vm_version": header.vm_version,
        "gas_schedule_hash": "0x" + header.gas_schedule_hash.hex(),
        "from": first,
        "to": last,
        "blocks": header.count,
        "transactions": transactions,
        "bytes": size,
        "seconds": round(time.monotonic() - started, 3),
    }


def cmd_import(data: DataDir, file: Path, progress: Progress | None = None) -> tuple[int, Report]:
    """Apply an archive's blocks to a fresh data directory (created from the file's genesis) or to one
    whose head is the block before the file's first; each block is checked fully and written atomically."""
    started = time.monotonic()
    with ArchiveReader(file) as reader:
        header = reader.header
        problems = archive_problems(header)
        if problems:
            raise Refused("; ".join(problems))
        genesis: Genesis | None = None
        created = not data.initialized
        if created:
            if header.first != 1:
                raise Refused(
                    f"the file starts at block {header.first}: a fresh data directory needs the blocks "
                    f"from 1 (or init {data.path} and import the earlier blocks first)"
                )
            genesis = load_genesis_document(header.genesis_document, any_vm_version=False, where=f"{file}: genesis")
            genesis_hash = Chain.create(MemoryKV(), genesis).head.hash
            if genesis_hash != header.genesis_hash:
                raise Refused(
                    f"the file's genesis document gives block 0 hash 0x{genesis_hash.hex()}, its header "
                    f"records 0x{header.genesis_hash.hex()}"
                )
        kv = _open_db(data, create=created, sync=False)
        try:
            if genesis is not None:
                chain = Chain.create(kv, genesis, cache_dir=data.cache)
            else:
                chain = Chain.load(kv, cache_dir=data.cache)
            result = import_records(chain, reader, progress)
            head = chain.head
        finally:
            _sync(kv)
            kv.close()
    report: Report = {
        "data": str(data.path),
        "file": str(file),
        "created": created,
        "imported": result.imported,
        "transactions": result.transactions,
        "from": header.first,
        "to": header.last,
        "head": {"height": head.height, "hash": "0x" + head.hash.hex(), "state_root": "0x" + head.state_root.hex()},
        "seconds": round(time.monotonic() - started, 3),
        "error": result.error,
        "divergence": None if result.divergence is None else result.divergence.to_json(),
    }
    if result.divergence is not None:
        divergence = result.divergence
        report["error"] = (
            f"block {divergence.height} is invalid ({divergence.check}): {divergence.message}; "
            f"{result.imported} block(s) before it were imported"
        )
        return EXIT_FAILED, report
    if result.error is not None:
        report["error"] = f"{result.error}; {result.imported} block(s) before it were imported"
        return EXIT_INVALID, report
    return EXIT_OK, report


def _sync(kv: LevelDBKV) -> None:
    """Make every write so far durable: one synced write flushes LevelDB's log, earlier batches included.

    An import writes each block in its own batch without waiting for the
    disk (a killed process loses nothing; an OS crash could lose the last
    blocks, never part of one), then syncs once at the end.
    """
    kv.sync = True
    head = kv.get(schema.head_key())
    if head is not None:
        kv.write({schema.head_key(): head})


def cmd_replay(
    file: Path | None,
    data: DataDir | None,
    start: int | None,
    to: int | None,
    *,
    allow_version_mismatch: bool = False,
    progress: Progress | None = None,
    store: StoreKind = "auto",
) -> tuple[int, Report]:
    """Replay an archive (``file``) or a data directory's chain into a fresh state; the report of
    ``ReplayResult.to_json``: 0 match, 1 diverged, 2 refused."""
    if file is not None:
        if start is not None:
            result = ReplayResult(
                "refused",
                str(file),
                error="--from needs --data: a file carries no state to "
                "start from (replay it whole, or stop early with --to)",
            )
        else:
            result = replay_archive(
                file, to=to, allow_version_mismatch=allow_version_mismatch, progress=progress, store=store
            )
        return result.exit_code, result.to_json()
    assert data is not None
    try:
        kv = _open_db(data)
    except StoreError as error:
        result = ReplayResult("refused", str(data.path), error=str(error))
        return result.exit_code, result.to_json()
    with kv:
        result = replay_database(
            kv,
            start=start or 0,
            to=to,
            allow_version_mismatch=allow_version_mismatch,
            progress=progress,
            store=store,
            source=str(data.path),
        )
    return result.exit_code, result.to_json()
