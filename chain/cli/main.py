"""The ``wasmchain`` command line.

``main(argv)`` parses arguments and dispatches to one small function per
subcommand; each returns the process exit code.  Errors a user can cause
are reported in one line on stderr (and as JSON with ``--json``), never as
a traceback.

The chain commands (``commands.py``) run on an embedded node over the
data directory, or on a running node with ``--rpc URL`` (or
``$WASMCHAIN_RPC``), and print the same report either way; ``init`` and
``keys`` are local.

Exit codes: 0 success, 1 an execution that ran and failed (or a follower
that refused a block or lost its chain: ``follow.py``), 2 invalid
input (a module that fails validation, bad arguments, unreadable files),
a rejected transaction, or a node that cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wasmchain.cli import commands
from wasmchain.cli.commands import DEFAULT_EVENT_LIMIT, DEFAULT_GAS, RECEIPT_TIMEOUT, Session, TxOptions
from wasmchain.cli.runner import EXIT_INVALID, RUNNER_CALLER, RunnerError, RunRequest, load_module, run, validate
from wasmchain.client.transport import RPCClientError
from wasmchain.history.follow import DEFAULT_POLL, FollowOptions, run_follow
from wasmchain.history.follow import DEFAULT_PORT as DEFAULT_FOLLOW_PORT
from wasmchain.history.replay import MEMORY_STORE_BLOCKS, describe_divergence, describe_report
from wasmchain.node.datadir import DataDir
from wasmchain.node.devnet import DevnetOptions, run_devnet
from wasmchain.node.jsonrpc import INVALID_PARAMS
from wasmchain.protocol.args import ArgsError, parse_args
from wasmchain.protocol.errors import ChainError, InvalidTransaction
from wasmchain.protocol.keys import parse_address
from wasmchain.store.genesis_file import default_genesis_path, load_vm_params
from wasmchain.store.kv import StoreError
from wasmchain.vm import VMParams
from wasmchain.vm.engine import check_wasmtime_version
from wasmchain.vm.errors import InvalidParams

DEFAULT_RUNNER_GAS = 1_000_000_000


class UsageError(Exception):
    """Arguments that parse but make no sense together."""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line, as every other bad input does."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wasmchain", description="A deterministic WebAssembly smart-contract chain.")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    vm_parser = subcommands.add_parser("vm", help="the standalone VM runner (no chain)")
    vm_subcommands = vm_parser.add_subparsers(dest="vm_command", required=True, parser_class=_Parser)

    validate_parser = vm_subcommands.add_parser("validate", help="check a module against the deploy rules")
    validate_parser.add_argument("file", type=Path, help="a .wasm or .wat file")
    _add_common(validate_parser)

    run_parser = vm_subcommands.add_parser("run", help="run one method of a contract")
    run_parser.add_argument("file", type=Path, help="a .wasm or .wat file")
    run_parser.add_argument("--method", required=True, help="the exported method (or plain function) to call")
    inputs = run_parser.add_mutually_exclusive_group()
    inputs.add_argument("--args", help='arguments as JSON, encoded as msgpack ("0x.." strings are bytes)')
    inputs.add_argument("--input-hex", help="the raw input bytes, in hex")
    run_parser.add_argument("--gas", type=int, default=DEFAULT_RUNNER_GAS, help="gas limit (default %(default)s)")
    run_parser.add_argument("--state", type=Path, help="JSON file with the contract's storage; updated on success")
    run_parser.add_argument("--caller", default="0x" + RUNNER_CALLER.hex(), help="caller address, 0x + 40 hex")
    run_parser.add_argument("--height", type=int, default=1, help="block height the call sees")
    run_parser.add_argument("--timestamp", type=int, default=0, help="block timestamp the call sees")
    _add_common(run_parser)

    _add_chain_commands(subcommands)
    return parser


def _add_data(parser: argparse.ArgumentParser, *, rpc: bool = True) -> None:
    """``--data`` and ``--json``; and ``--rpc`` for the commands that talk to a node."""
    if rpc:
        parser.add_argument(
            "--data",
            type=Path,
            default=None,
            help="data directory (default: $WASMCHAIN_DATA or ./.wasmchain); with --rpc, only its keys are used",
        )
        parser.add_argument(
            "--rpc",
            metavar="URL",
            default=None,
            help="a running node's URL, e.g. http://127.0.0.1:8545 (default: $WASMCHAIN_RPC; "
            "if neither, the node is embedded over --data)",
        )
    else:
        parser.add_argument(
            "--data", type=Path, default=None, help="data directory (default: $WASMCHAIN_DATA or ./.wasmchain)"
        )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _add_tx_options(parser: argparse.ArgumentParser, *, value: bool, simulate: bool = False) -> None:
    if simulate:
        parser.add_argument(
            "--from", dest="sender", required=True, help="the sender: an address or a key name (nothing is signed)"
        )
    else:
        parser.add_argument(
            "--from", dest="sender", required=True, help="the signing key's name (dev0..dev9 or a stored key)"
        )
    parser.add_argument("--gas", type=int, default=DEFAULT_GAS, help="gas limit (default %(default)s)")
    if value:
        parser.add_argument("--value", type=int, default=0, help="native tokens to attach")
    if not simulate:
        parser.add_argument(
            "--wait",
            type=float,
            default=None,
            metavar="SECONDS",
            help="how long to wait for the receipt from a node with --block-time "
            f"(default: {RECEIPT_TIMEOUT:g} s, or 3 block times if longer)",
        )


def _add_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the .wasm module")
    parser.add_argument("--init", help="a method to call once deployed")
    parser.add_argument("--args", help="JSON arguments for --init")


def _add_call(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", help="the contract's address")
    parser.add_argument("method")
    parser.add_argument("--args", help='JSON arguments ("0x.." strings are bytes, e.g. addresses)')


def _add_transfer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("to", help="address or key name")
    parser.add_argument("amount", type=int)


def _add_chain_commands(sub: Any) -> None:
    devnet = sub.add_parser("devnet", help="run a local devnet node serving JSON-RPC (the main job)")
    devnet.add_argument(
        "--data",
        type=Path,
        default=None,
        help="data directory (default: $WASMCHAIN_DATA or ./.wasmchain); created from genesis if absent",
    )
    devnet.add_argument("--genesis", type=Path, help="genesis file (default: ./genesis.json)")
    devnet.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)"
    )
    devnet.add_argument("--port", type=int, default=8545, help="port (default %(default)s; 0 picks a free one)")
    devnet.add_argument(
        "--block-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help="produce a block every SECONDS, packing pending transactions "
        "(default: instant mining, a block per transaction)",
    )
    devnet.add_argument(
        "--fresh", action="store_true", help="discard the data directory's chain and start from genesis"
    )
    devnet.add_argument(
        "--durable", action="store_true", help="fsync every block (survives an OS crash too; about 1 ms a block)"
    )

    follow = sub.add_parser(
        "follow", help="follow a running node: take its blocks, re-execute each, serve read-only RPC"
    )
    follow.add_argument("--rpc", metavar="URL", required=True, help="the node to follow, e.g. http://127.0.0.1:8545")
    follow.add_argument(
        "--data",
        type=Path,
        required=True,
        help="the follower's data directory; created from the followed node's genesis if absent",
    )
    follow.add_argument(
        "--genesis",
        type=Path,
        default=None,
        help="a genesis file the followed node's must equal (default: take the node's, checked "
        "against its genesis hash)",
    )
    follow.add_argument("--host", default="127.0.0.1", help="address to serve on (default %(default)s)")
    follow.add_argument(
        "--port", type=int, default=DEFAULT_FOLLOW_PORT, help="port (default %(default)s; 0 picks a free one)"
    )
    follow.add_argument(
        "--poll",
        type=float,
        default=DEFAULT_POLL,
        metavar="SECONDS",
        help="seconds between two polls of the followed node's head (default %(default)s)",
    )

    init = sub.add_parser("init", help="create a data directory from a genesis file")
    init.add_argument("--genesis", type=Path, help="genesis file (default: ./genesis.json)")
    init.add_argument("--rpc", default=None, help=argparse.SUPPRESS)  # refused, with a reason
    _add_data(init, rpc=False)

    keys = sub.add_parser("keys", help="named keys (dev0..dev9 are the funded devnet keys)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    for name, help_text in (("new", "create a key"), ("show", "show a key's address and public key")):
        keys_parser = keys_sub.add_parser(name, help=help_text)
        keys_parser.add_argument("name")
        _add_data(keys_parser, rpc=False)
    _add_data(keys_sub.add_parser("list", help="list the keys"), rpc=False)

    deploy = sub.add_parser("deploy", help="deploy a contract (one block)")
    _add_deploy(deploy)
    _add_tx_options(deploy, value=True)
    _add_data(deploy)

    call = sub.add_parser("call", help="call a contract method in a transaction (one block)")
    _add_call(call)
    _add_tx_options(call, value=True)
    _add_data(call)

    view = sub.add_parser("view", help="run a method read-only: no transaction, no state change")
    view.add_argument("address")
    view.add_argument("method")
    view.add_argument("--args", help="JSON arguments")
    view.add_argument("--gas", type=int, default=DEFAULT_GAS, help="gas limit (default %(default)s)")
    _add_data(view)

    transfer = sub.add_parser("transfer", help="send native tokens (one block)")
    _add_transfer(transfer)
    _add_tx_options(transfer, value=False)
    _add_data(transfer)

    simulate = sub.add_parser("simulate", help="run a deploy, call or transfer on the head: nothing signed or kept")
    simulate_sub = simulate.add_subparsers(dest="simulate_command", required=True, parser_class=_Parser)
    kinds = (("deploy", _add_deploy, True), ("call", _add_call, True), ("transfer", _add_transfer, False))
    for name, add, value in kinds:
        simulated = simulate_sub.add_parser(name, help=f"what `wasmchain {name}` would do now")
        add(simulated)
        _add_tx_options(simulated, value=value, simulate=True)
        _add_data(simulated)

    for name, help_text in (("balance", "an account's native balance"), ("account", "balance, nonce and code hash")):
        reader = sub.add_parser(name, help=help_text)
        reader.add_argument("address", help="address or key name")
        _add_data(reader)

    tx = sub.add_parser("tx", help="a transaction and its receipt")
    tx.add_argument("hash")
    _add_data(tx)

    block = sub.add_parser("block", help="a block by height, hash or 'latest'")
    block.add_argument("which", nargs="?", default="latest")
    _add_data(block)

    proof = sub.add_parser("proof", help="a Merkle proof of an account or a storage key against the state root")
    proof.add_argument("address", help="address or key name")
    proof.add_argument("storage_key", nargs="?", help="a contract storage key (0x hex, or text)")
    _add_data(proof)

    export = sub.add_parser("export", help="write blocks, with their receipts and state changes, to a file")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="the file to write")
    export.add_argument(
        "--from", dest="from_block", type=int, default=None, metavar="N", help="the first block (default 1)"
    )
    export.add_argument(
        "--to", dest="to_block", type=int, default=None, metavar="M", help="the last block (default: the head)"
    )
    _add_data(export, rpc=False)

    imported = sub.add_parser("import", help="apply an exported file's blocks to a data directory, checking each")
    imported.add_argument("file", type=Path, help="a file written by `wasmchain export`")
    _add_data(imported, rpc=False)

    replay = sub.add_parser("replay", help="re-execute blocks into a fresh state and compare every receipt and root")
    replay.add_argument(
        "file",
        type=Path,
        nargs="?",
        default=None,
        help="a file written by `wasmchain export` (default: the chain in --data)",
    )
    replay.add_argument(
        "--from",
        dest="from_block",
        type=int,
        default=None,
        metavar="N",
        help="with --data: start from the state at block N, verified against its state root",
    )
    replay.add_argument(
        "--to",
        dest="to_block",
        type=int,
        default=None,
        metavar="M",
        help="the last block to replay (default: the last one)",
    )
    replay.add_argument(
        "--allow-version-mismatch",
        action="store_true",
        help="replay a chain made by another VM version or gas schedule, and report where it differs",
    )
    replay.add_argument(
        "--store",
        choices=("auto", "memory", "leveldb"),
        default="auto",
        help="where the replayed state lives: memory (faster) or a temporary LevelDB (for a chain "
        f"too big for memory); auto (default): memory up to {MEMORY_STORE_BLOCKS:,} blocks",
    )
    _add_data(replay, rpc=False)

    events = sub.add_parser("events", help="events of committed blocks, oldest first (one a line)")
    events.add_argument("--contract", help="only this contract's events")
    events.add_argument("--name", help="only events with this name")
    events.add_argument("--from-block", type=int, default=0, metavar="N", help="the first block (default 0)")
    events.add_argument("--to-block", type=int, default=None, metavar="N", help="the last block (default: the head)")
    events.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_EVENT_LIMIT,
        metavar="N",
        help="at most N events, 1 to 10000 (default %(default)s)",
    )
    _add_data(events)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genesis", type=Path, help="genesis file for the VM parameters (default: ./genesis.json)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_wasmtime_version()
        if args.command == "vm":
            handler = {"validate": cmd_vm_validate, "run": cmd_vm_run}[args.vm_command]
            return handler(args)
        if args.command == "devnet":
            return cmd_devnet(args)
        if args.command == "follow":
            return cmd_follow(args)
        code, report = _chain_command(args)
    except RPCClientError as error:
        # The node's message as it is, but "invalid params: " names JSON-RPC
        # parameters the user did not write: the rest says what was wrong.
        message = error.message.removeprefix("invalid params: ") if error.code == INVALID_PARAMS else error.message
        return _fail(args, message)
    except (RunnerError, ArgsError, UsageError, InvalidParams, ChainError, StoreError) as error:
        prefix = "rejected: " if isinstance(error, InvalidTransaction) else ""
        return _fail(args, prefix + str(error))
    except UnicodeError as error:
        return _fail(args, f"an argument is not valid UTF-8: {error}")
    _print_report(args, report)
    return code


def _data_dir(args: argparse.Namespace) -> DataDir:
    if args.data is not None:
        return DataDir(args.data)
    return DataDir(Path(os.environ.get("WASMCHAIN_DATA", ".wasmchain")))


def _rpc_url(args: argparse.Namespace) -> str | None:
    """``--rpc``, else ``$WASMCHAIN_RPC`` if set and not empty, else ``None`` (embedded)."""
    if args.rpc is not None:
        return str(args.rpc)
    return os.environ.get("WASMCHAIN_RPC") or None


def _chain_command(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    data = _data_dir(args)
    command = args.command
    if command == "init":
        if args.rpc is not None:
            raise UsageError(
                "init creates a local data directory and does not take --rpc "
                "(a running node has its chain already; `wasmchain devnet` creates one)"
            )
        return commands.cmd_init(data, args.genesis or default_genesis_path())
    if command == "keys":
        if args.keys_command == "list":
            return commands.cmd_keys_list(data)
        handler = commands.cmd_keys_new if args.keys_command == "new" else commands.cmd_keys_show
        return handler(data, args.name)
    if command == "export":
        return commands.cmd_export(data, args.out, args.from_block, args.to_block, sys.stderr)
    if command == "import":
        return commands.cmd_import(data, args.file, sys.stderr)
    if command == "replay":
        if args.file is not None and args.data is not None:
            raise UsageError("replay takes a FILE or --data DIR, not both")
        return commands.cmd_replay(
            args.file,
            None if args.file is not None else data,
            args.from_block,
            args.to_block,
            allow_version_mismatch=args.allow_version_mismatch,
            progress=sys.stderr,
            store=args.store,
        )
    with Session(data, _rpc_url(args)) as session:
        return _session_command(session, args)


def _session_command(session: Session, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    command = args.command
    if command in ("deploy", "call", "transfer", "simulate"):
        options = TxOptions(args.sender, args.gas, getattr(args, "value", 0), getattr(args, "wait", None))
        kind = args.simulate_command if command == "simulate" else command
        simulated = command == "simulate"
        if kind == "deploy":
            deploy = commands.cmd_simulate_deploy if simulated else commands.cmd_deploy
            return deploy(session, options, args.file, args.init, args.args)
        if kind == "call":
            call = commands.cmd_simulate_call if simulated else commands.cmd_call
            return call(session, options, args.address, args.method, args.args)
        transfer = commands.cmd_simulate_transfer if simulated else commands.cmd_transfer
        return transfer(session, options, args.to, args.amount)
    if command == "view":
        return commands.cmd_view(session, args.address, args.method, args.args, args.gas)
    if command == "balance":
        return commands.cmd_balance(session, args.address)
    if command == "account":
        return commands.cmd_account(session, args.address)
    if command == "tx":
        return commands.cmd_tx(session, args.hash)
    if command == "block":
        return commands.cmd_block(session, args.which)
    if command == "proof":
        return commands.cmd_proof(session, args.address, args.storage_key)
    if command == "events":
        return commands.cmd_events(session, args.contract, args.name, args.from_block, args.to_block, args.limit)
    raise AssertionError(f"unhandled command {command}")


def cmd_devnet(args: argparse.Namespace) -> int:
    if args.block_time is not None and not (0 < args.block_time <= 86_400):
        raise UsageError(f"--block-time must be between 0 and 86400 seconds, found {args.block_time:g}")
    if not 0 <= args.port <= 65_535:
        raise UsageError(f"--port must be between 0 and 65535, found {args.port}")
    options = DevnetOptions(
        _data_dir(args),
        args.genesis or default_genesis_path(),
        args.host,
        args.port,
        args.block_time,
        args.fresh,
        args.durable,
    )
    try:
        return run_devnet(options, sys.stdout)
    except OSError as error:  # the port is taken, say
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None


def cmd_follow(args: argparse.Namespace) -> int:
    if not 0 < args.poll <= 3_600:
        raise UsageError(f"--poll must be between 0 and 3600 seconds, found {args.poll:g}")
    if not 0 <= args.port <= 65_535:
        raise UsageError(f"--port must be between 0 and 65535, found {args.port}")
    options = FollowOptions(args.rpc, DataDir(args.data), args.genesis, args.host, args.port, args.poll)
    try:
        return run_follow(options, sys.stdout, sys.stderr)
    except OSError as error:  # the port is taken, say
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None


def _print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(report))
        return
    if args.command == "events":
        _print_events(report["events"])
        return
    if args.command == "replay":
        print(describe_report(report))
        return
    if args.command == "import":
        _print_import(report)
        return
    for key, value in report.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            print(f"{key}:")
            for item in value:  # one record a line: keys, events
                print("  " + "  ".join(v if isinstance(v, str) else json.dumps(v) for v in item.values()))
            continue
        shown = value if isinstance(value, (str, int)) and not isinstance(value, bool) else json.dumps(value)
        print(f"{key}: {shown}")


def _print_events(events: list[dict[str, Any]]) -> None:
    """One event a line: height, transaction hash, contract, name, data as JSON (or 0x hex if not msgpack)."""
    for event in events:
        data = json.dumps(event["data"]) if event["data"] is not None else "0x" + event["data_hex"]
        print(f"{event['block_height']}  {event['tx_hash']}  {event['contract']}  {event['name']}  {data}")


def _print_import(report: dict[str, Any]) -> None:
    head = report["head"]
    print(
        f"imported {report['imported']} block(s), {report['transactions']} transaction(s) from {report['file']} "
        f"into {report['data']} in {report['seconds']:.2f} s; the head is block {head['height']} {head['hash']}"
    )
    if report["error"] is not None:
        print(f"error: {report['error']}")
    if report["divergence"] is not None:
        print("\n".join(describe_divergence(report["divergence"])))


def _fail(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):
        # A replay's report says match, diverged or refused; every other command's failure is "invalid".
        print(json.dumps({"status": "refused" if args.command == "replay" else "invalid", "error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)
    return EXIT_INVALID


def _vm_params(args: argparse.Namespace) -> VMParams:
    return load_vm_params(args.genesis or default_genesis_path())


def cmd_vm_validate(args: argparse.Namespace) -> int:
    params = _vm_params(args)
    code, report = validate(params, load_module(args.file))
    if args.json:
        print(json.dumps(report))
    elif report["valid"]:
        print(f"valid: {args.file} ({report['code_size']} bytes)")
        print(f"methods: {', '.join(report['methods']) or '(none)'}")
        for name, signature in report["exports"].items():
            print(f"export {name}: {signature}")
    else:
        print(f"invalid: {report['error']}", file=sys.stderr)
    return code


def cmd_vm_run(args: argparse.Namespace) -> int:
    params = _vm_params(args)
    code = load_module(args.file)
    if args.input_hex is not None:
        try:
            input_bytes = bytes.fromhex(args.input_hex.removeprefix("0x"))
        except ValueError:
            raise UsageError(f"--input-hex is not hex: {args.input_hex!r}") from None
    else:
        input_bytes = parse_args(args.args if args.args is not None else "{}")
    if args.gas <= 0:
        raise UsageError(f"--gas must be positive, found {args.gas}")
    caller = _address(args.caller, "--caller")
    request = RunRequest(
        code=code,
        method=args.method,
        input=input_bytes,
        gas=args.gas,
        state_path=args.state,
        caller=caller,
        height=args.height,
        timestamp=args.timestamp,
    )
    exit_code, report = run(params, request)
    if args.json:
        print(json.dumps(report))
    else:
        _print_run_report(report)
    return exit_code


def _address(text: str, option: str) -> bytes:
    try:
        return parse_address(text)
    except ChainError:
        raise UsageError(f"{option} must be 0x followed by 40 hex digits, found {text!r}") from None


def _print_run_report(report: dict[str, Any]) -> None:
    print(f"status: {report['status']}")
    print(f"gas used: {report['gas_used']}")
    if report.get("results") is not None:
        for result in report["results"]:
            print(f"result: {result['type']} {result['bits']}")
    elif report["return_hex"]:
        shown = json.dumps(report["return"]) if report["return"] is not None else "0x" + report["return_hex"]
        print(f"return: {shown}")
    for event in report["events"]:
        data = json.dumps(event["data"]) if event["data"] is not None else "0x" + event["data_hex"]
        print(f"event {event['name']}: {data}")
    if report["error"]:
        print(f"error: {report['error']}")


if __name__ == "__main__":
    sys.exit(main())
