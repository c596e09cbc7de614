"""The ``wasmchain`` command line.

``main(argv)`` parses arguments and calls the handler the command's parser
set (``set_defaults(handler=...)``): each command's arguments are declared
next to its handler, one small function each, and the parser lists the
commands in ``COMMANDS``'s order.  A handler returns the process exit code,
or, for a chain command, the exit code and its report, which ``main``
prints as JSON (``--json``) or as the text the parser's ``text`` renders
(``render.py``).  Errors a user can cause are reported in one line on
stderr (and as JSON with ``--json``), never as a traceback.

``call``, ``view`` and ``simulate call`` with ``--help`` after a contract
and a method (``wasmchain call TOKEN transfer --help``) print that method's
parameters with their types and docs, from the contract's interface
(``method_help_args`` catches them before argparse's own help).

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wasmchain.cli import author, commands, render
from wasmchain.cli.commands import DEFAULT_EVENT_LIMIT, DEFAULT_GAS, RECEIPT_TIMEOUT, Session, TraceOptions, TxOptions
from wasmchain.cli.render import TerminalProgress
from wasmchain.cli.runner import EXIT_INVALID, RUNNER_CALLER, RunRequest, load_module, run, validate
from wasmchain.client.build import CompileFailed
from wasmchain.client.profile import NameMap, Names, load_names
from wasmchain.client.transport import DEFAULT_MAX_ANSWER, RPCClientError
from wasmchain.history.follow import DEFAULT_POLL, FETCH_TIMEOUT, FollowOptions, run_follow
from wasmchain.history.follow import DEFAULT_PORT as DEFAULT_FOLLOW_PORT
from wasmchain.history.replay import MEMORY_STORE_BLOCKS
from wasmchain.node.datadir import DataDir
from wasmchain.node.devnet import DevnetOptions, run_devnet
from wasmchain.node.jsonrpc import (
    BATCH_GAS_FLAG,
    DEFAULT_LIMITS,
    GAS_CAP_FLAG,
    INVALID_PARAMS,
    MAX_ANSWER_SIZE_FLAG,
    MAX_BATCH_ANSWER_SIZE_FLAG,
    Limits,
)
from wasmchain.node.localnet import DEFAULT_DIR as DEFAULT_LOCALNET_DIR
from wasmchain.node.localnet import FIRST_ADDRESS, LocalnetOptions, run_localnet
from wasmchain.node.network import DEFAULT_ABCI, DEFAULT_COMETBFT_RPC, NetworkOptions, run_node
from wasmchain.node.reports import Report, code_interface
from wasmchain.node.server import HTTPAccess
from wasmchain.protocol.args import ArgsError
from wasmchain.protocol.errors import ChainError, InvalidTransaction
from wasmchain.protocol.hexstr import from_hex
from wasmchain.protocol.keys import parse_address
from wasmchain.store.genesis_file import default_genesis_path, load_vm_params
from wasmchain.vm import VMParams
from wasmchain.vm.engine import check_wasmtime_version
from wasmchain.vm.errors import InvalidParams
from wasmchain.vm.wit.types import signature
from wasmchain.vm.wit.values import ArgumentError, check_args

DEFAULT_RUNNER_GAS = 1_000_000_000

Handler = Callable[[argparse.Namespace], int | tuple[int, Report]]
"""A command: its exit code; a chain command's also its report, which ``main`` prints."""
Subcommands = Any
"""What ``add_subparsers`` returns (argparse's ``_SubParsersAction``, private)."""


class UsageError(ChainError):
    """Arguments that parse but make no sense together."""

    reason = "usage"


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line, as every other bad input does."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wasmchain", description="A deterministic WebAssembly smart-contract chain.")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add_arguments in COMMANDS:
        add_arguments(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = method_help_args(given) or build_parser().parse_args(given)
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (`wasmchain profile TX --format folded | head`): stop quietly, as cat does,
        # with stdout pointed at /dev/null so that the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return commands.EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    handler: Handler = args.handler
    try:
        check_wasmtime_version()
        outcome = handler(args)
    except RPCClientError as error:
        # The node's message as it is, but "invalid params: " names JSON-RPC
        # parameters the user did not write: the rest says what was wrong.
        message = error.message.removeprefix("invalid params: ") if error.code == INVALID_PARAMS else error.message
        return _fail(args, message)
    except (InvalidParams, ChainError) as error:
        prefix = "rejected: " if isinstance(error, InvalidTransaction) else ""
        return _fail(args, prefix + str(error))
    except UnicodeError as error:
        return _fail(args, f"an argument is not valid UTF-8: {error}")
    if isinstance(outcome, int):
        return outcome
    code, report = outcome
    _print_report(args, report)
    return code


def _print_report(args: argparse.Namespace, report: Report) -> None:
    """A chain command's report: one JSON object with ``--json``, else the text its parser's ``text`` gives."""
    if args.json:
        print(json.dumps(report))
        return
    text: Callable[[Report], list[str]] = args.text
    for line in text(report):
        print(line)


def _fail(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):
        # A replay's report says match, diverged or refused; every other command's failure is "invalid".
        print(json.dumps({"status": "refused" if args.command == "replay" else "invalid", "error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)
    return EXIT_INVALID


# -- options shared by several commands --------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genesis", type=Path, help="genesis file for the VM parameters (default: ./genesis.json)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


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


def _add_tx_options(
    parser: argparse.ArgumentParser, *, value: bool, simulate: bool = False, required: bool = True
) -> None:
    if simulate:
        parser.add_argument(
            "--from", dest="sender", required=required, help="the sender: an address or a key name (nothing is signed)"
        )
    else:
        parser.add_argument(
            "--from", dest="sender", required=required, help="the signing key's name (dev0..dev9 or a stored key)"
        )
    if simulate:
        parser.add_argument("--gas", type=int, default=DEFAULT_GAS, help="gas limit (default %(default)s)")
    else:
        parser.add_argument(
            "--gas",
            type=int,
            default=None,
            help="gas limit (default: the simulated gas plus a margin, or exactly the simulated gas when no contract "
            f"code runs, as in a transfer; with --no-preflight {DEFAULT_GAS})",
        )
    if value:
        parser.add_argument("--value", type=int, default=0, help="native tokens to attach")
    if not simulate:
        parser.add_argument(
            "--no-preflight",
            dest="preflight",
            action="store_false",
            help="send without simulating first (a transaction that fails is then mined and charged)",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=None,
            metavar="SECONDS",
            help="how long to wait for the receipt from a node with --block-time "
            f"(default: {RECEIPT_TIMEOUT:g} s, or 3 block times if longer)",
        )


def _chain_command(
    parser: argparse.ArgumentParser,
    handler: Callable[[argparse.Namespace], tuple[int, Report]],
    text: Callable[[Report], list[str]] = render.report_lines,
) -> None:
    """Register a chain command: its handler returns a report, printed as JSON or as ``text`` renders it."""
    parser.set_defaults(handler=handler, text=text)


def _data_dir(args: argparse.Namespace) -> DataDir:
    if args.data is not None:
        return DataDir(args.data)
    return DataDir(Path(os.environ.get("WASMCHAIN_DATA", ".wasmchain")))


def _rpc_url(args: argparse.Namespace) -> str | None:
    """``--rpc``, else ``$WASMCHAIN_RPC`` if set and not empty, else ``None`` (embedded)."""
    if args.rpc is not None:
        return str(args.rpc)
    return os.environ.get("WASMCHAIN_RPC") or None


def _session(args: argparse.Namespace) -> Session:
    """Where a chain command runs: the node at ``--rpc``, or one embedded over ``--data``."""
    return Session(_data_dir(args), _rpc_url(args))


def _tx_options(args: argparse.Namespace) -> TxOptions:
    return TxOptions(
        args.sender,
        args.gas,
        getattr(args, "value", 0),
        getattr(args, "wait", None),
        preflight=getattr(args, "preflight", True),
    )


def _port(port: int) -> None:
    if not 0 <= port <= 65_535:
        raise UsageError(f"--port must be between 0 and 65535, found {port}")


# -- the contract author's workflow: new, build ------------------------------------------------


def new_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "new",
        help="create a contract project: a Rust crate with the SDK, its interface, pytest tests and a README",
        description="Create the folder NAME (a path; the crate is named after its last part) with a contract that "
        "builds and passes its tests straight away: src/lib.rs, NAME.wit, tests/test_NAME.py, the SDK copied into "
        "wasmchain-sdk/ (no crates.io), the build settings the chain expects, a README and a .gitignore.",
    )
    parser.add_argument("path", type=Path, metavar="NAME", help="the new project's folder, e.g. mytoken")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    _chain_command(parser, cmd_new, author.new_lines)


def cmd_new(args: argparse.Namespace) -> tuple[int, Report]:
    return author.cmd_new(args.path)


def build_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "build",
        help="build a contract crate to NAME.wasm with the pinned toolchain, check it and print its deploy gas",
        description="Build the crate for wasm32-unknown-unknown with the settings the chain expects (the pinned "
        "toolchain, a 64 KiB stack, the release profile, paths remapped), write NAME.wasm and NAME.names beside its "
        "Cargo.toml, check the module against the genesis's deploy rules, and print its size, initial memory, deploy "
        "gas and methods. Sources unchanged since the last build: nothing is rebuilt.",
    )
    parser.add_argument("path", type=Path, nargs="?", default=Path("."), help="the crate's folder (default: .)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild from scratch and require the same bytes as NAME.wasm and NAME.names (written by an earlier "
        "build); exit 1 if they differ; writes nothing",
    )
    _add_common(parser)
    _chain_command(parser, cmd_build, author.build_lines)


def cmd_build(args: argparse.Namespace) -> tuple[int, Report]:
    genesis = args.genesis if args.genesis is not None else default_genesis_path()
    try:
        return author.cmd_build(args.path, genesis, check=args.check)
    except CompileFailed as failed:
        if not args.json:
            print(failed.output, file=sys.stderr)
            print(f"error: {failed}", file=sys.stderr)
        return commands.EXIT_FAILED, {"status": "failed", "error": str(failed), "output": failed.output}


# -- wasmchain vm: the standalone runner ---------------------------------------------------------


def vm_arguments(sub: Subcommands) -> None:
    vm_parser = sub.add_parser("vm", help="the standalone VM runner (no chain)")
    vm_subcommands = vm_parser.add_subparsers(dest="vm_command", required=True, parser_class=_Parser)
    vm_validate_arguments(vm_subcommands)
    vm_run_arguments(vm_subcommands)


def _vm_params(args: argparse.Namespace) -> VMParams:
    return load_vm_params(args.genesis or default_genesis_path())


def vm_validate_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("validate", help="check a module against the deploy rules")
    parser.add_argument("file", type=Path, help="a .wasm or .wat file")
    _add_common(parser)
    parser.set_defaults(handler=cmd_vm_validate)


def cmd_vm_validate(args: argparse.Namespace) -> int:
    params = _vm_params(args)
    code, report = validate(params, load_module(args.file))
    if args.json:
        print(json.dumps(report))
    elif report["valid"]:
        for line in render.validate_lines(str(args.file), report):
            print(line)
    else:
        print(render.invalid_line(report), file=sys.stderr)
    return code


def vm_run_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("run", help="run one method of a contract")
    parser.add_argument("file", type=Path, help="a .wasm or .wat file")
    parser.add_argument(
        "--method",
        required=True,
        help="the exported method (or plain function) to call; a method the module's interface declares may also "
        "be named by its WIT name (balance-of)",
    )
    inputs = parser.add_mutually_exclusive_group()
    inputs.add_argument(
        "--args",
        help="arguments as JSON, encoded as msgpack: with the method's types when the module's interface declares "
        'it (checked before running), else as plain JSON ("0x.." strings are bytes)',
    )
    inputs.add_argument("--input-hex", help="the raw input bytes, in hex (checked against a declared method's types)")
    parser.add_argument("--gas", type=int, default=DEFAULT_RUNNER_GAS, help="gas limit (default %(default)s)")
    parser.add_argument("--state", type=Path, help="JSON file with the contract's storage; updated on success")
    parser.add_argument("--caller", default="0x" + RUNNER_CALLER.hex(), help="caller address, 0x + 40 hex")
    parser.add_argument("--height", type=int, default=1, help="block height the call sees")
    parser.add_argument("--timestamp", type=int, default=0, help="block timestamp the call sees")
    _add_common(parser)
    parser.set_defaults(handler=cmd_vm_run)


def cmd_vm_run(args: argparse.Namespace) -> int:
    params = _vm_params(args)
    code = load_module(args.file)
    # A method the module's interface declares takes arguments of its types, checked here (as `wasmchain call`
    # checks them) and sent to its export; any other export runs untyped, with --args as plain JSON.
    interface = code_interface(code)
    declared = None if interface is None else interface.method(args.method)
    method = args.method if declared is None else declared.export
    if args.input_hex is not None:
        try:
            input_bytes = from_hex(args.input_hex.removeprefix("0x"))
        except ValueError:
            raise UsageError(f"--input-hex is not hex: {args.input_hex!r}") from None
        if declared is not None:
            try:
                check_args(declared, input_bytes)
            except ArgumentError as error:
                raise ArgsError(f"--input-hex of {signature(declared)}: {error}") from None
    else:
        where = f"the module {args.file}"
        method, input_bytes = commands.encode_call_args(
            interface if declared is not None else None, method, args.args, _no_key_names, where
        )
    if args.gas <= 0:
        raise UsageError(f"--gas must be positive, found {args.gas}")
    caller = _address(args.caller, "--caller")
    request = RunRequest(
        code=code,
        method=method,
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
        for line in render.run_lines(report):
            print(line)
    return exit_code


def _no_key_names(name: str) -> bytes:
    """The runner has no keystore: an ``address`` argument is ``0x`` and 40 hex digits."""
    raise ValueError("the runner has no keystore to look a key name up in: give the address, 0x and 40 hex digits")


def _address(text: str, option: str) -> bytes:
    try:
        return parse_address(text)
    except ChainError:
        raise UsageError(f"{option} must be 0x followed by 40 hex digits, found {text!r}") from None


# -- wasmchain devnet and follow: servers ---------------------------------------------------------


def _add_rpc_limits(parser: argparse.ArgumentParser) -> None:
    """What one JSON-RPC request may cost the node (docs/rpc.md, "Limits"): the same flags for devnet and follow."""
    limits = parser.add_argument_group("limits of one JSON-RPC request (docs/rpc.md, Limits)")
    for flag, default, metavar, text in (
        (GAS_CAP_FLAG, DEFAULT_LIMITS.gas_cap, "GAS", "gas one view or simulate may execute (more is clamped to it)"),
        (BATCH_GAS_FLAG, DEFAULT_LIMITS.batch_gas, "GAS", "gas the view and simulate calls of one batch may use"),
        (MAX_ANSWER_SIZE_FLAG, DEFAULT_LIMITS.max_answer_size, "BYTES", "bytes of one call's answer"),
        (MAX_BATCH_ANSWER_SIZE_FLAG, DEFAULT_LIMITS.max_batch_answer_size, "BYTES", "bytes of a batch's answers"),
    ):
        limits.add_argument(flag, type=int, default=default, metavar=metavar, help=text + " (default %(default)s)")


def _rpc_limits(args: argparse.Namespace) -> Limits:
    limits = Limits(args.rpc_gas_cap, args.rpc_batch_gas, args.rpc_max_answer_size, args.rpc_max_batch_answer_size)
    for flag, value in (
        (GAS_CAP_FLAG, limits.gas_cap),
        (BATCH_GAS_FLAG, limits.batch_gas),
        (MAX_ANSWER_SIZE_FLAG, limits.max_answer_size),
        (MAX_BATCH_ANSWER_SIZE_FLAG, limits.max_batch_answer_size),
    ):
        if value < 1:
            raise UsageError(f"{flag} must be a positive integer, found {value}")
    return limits


def _add_http_access(parser: argparse.ArgumentParser) -> None:
    """Who besides this machine's own tools may call the node (docs/rpc.md, "Host and Origin")."""
    parser.add_argument(
        "--allowed-hosts",
        metavar="NAMES",
        help="comma-separated host names a request's Host header may give besides localhost, 127.0.0.1, [::1] "
        "and the --host address (any port); * for any (default: those only, against DNS rebinding)",
    )
    parser.add_argument(
        "--cors-origins",
        metavar="ORIGINS",
        help="comma-separated origins (e.g. http://localhost:3000) whose web pages may call the node, or * for "
        "any page (default: none; a request with another Origin is refused)",
    )


def _http_access(args: argparse.Namespace) -> HTTPAccess:
    return HTTPAccess.parse(args.allowed_hosts, args.cors_origins)


def devnet_arguments(sub: Subcommands) -> None:
    # No abbreviations: an action's --rpc would otherwise be read as an ambiguous prefix of --rpc-gas-cap...
    parser = sub.add_parser(
        "devnet",
        help="run a local devnet node serving JSON-RPC (the main job), or act on one",
        description="Without an ACTION: start a devnet node with these options. With one (`wasmchain devnet mine "
        "--help`...): act on the running node at --rpc URL or $WASMCHAIN_RPC, its options after the action.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="data directory (default: $WASMCHAIN_DATA or ./.wasmchain); created from genesis if absent",
    )
    parser.add_argument("--genesis", type=Path, help="genesis file (default: ./genesis.json)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8545, help="port (default %(default)s; 0 picks a free one)")
    parser.add_argument(
        "--block-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help="produce a block every SECONDS, packing pending transactions "
        "(default: instant mining, a block per transaction)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard the data directory's chain and start from genesis"
    )
    parser.add_argument(
        "--durable", action="store_true", help="fsync every block (survives an OS crash too; about 1 ms a block)"
    )
    _add_rpc_limits(parser)
    _add_http_access(parser)
    parser.set_defaults(handler=cmd_devnet, rpc=None, json=False)
    devnet_control_arguments(parser)


def cmd_devnet(args: argparse.Namespace) -> int:
    if args.block_time is not None and not (0 < args.block_time <= 86_400):
        raise UsageError(f"--block-time must be between 0 and 86400 seconds, found {args.block_time:g}")
    _port(args.port)
    options = DevnetOptions(
        _data_dir(args),
        args.genesis or default_genesis_path(),
        args.host,
        args.port,
        args.block_time,
        args.fresh,
        args.durable,
        access=_http_access(args),
        limits=_rpc_limits(args),
    )
    try:
        return run_devnet(options, sys.stdout)
    except OSError as error:  # the port is taken, say
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None


def devnet_control_arguments(devnet: argparse.ArgumentParser) -> None:
    """``wasmchain devnet ACTION ...``: the devnet controls (docs/rpc.md, "Devnet controls") as optional actions, so
    that ``wasmchain devnet`` with no action still starts a node.  An action runs on the node at ``--rpc`` (or
    ``$WASMCHAIN_RPC``), else on one embedded over ``--data``, where only ``mine`` and ``set-balance`` make sense:
    the others change a running node's memory (``commands.MEMORY_ONLY_CONTROLS``)."""
    server = {
        action.dest: (action.option_strings[0], action.default)
        for action in devnet._actions
        if action.option_strings and action.dest not in ("help", "data")
    }
    controls = devnet.add_subparsers(
        dest="devnet_command",
        metavar="ACTION",
        parser_class=_Parser,
        title="actions on a running devnet (without one, `wasmchain devnet` starts a node)",
    )

    def control(name: str, help: str, handler: Callable[[argparse.Namespace], tuple[int, Report]]) -> Any:
        parser = controls.add_parser(name, help=help, description=help)
        parser.set_defaults(devnet_server_options=server)
        # Defaults suppressed: `wasmchain devnet --data DIR mine` keeps the --data given before the action.
        parser.add_argument(
            "--data",
            type=Path,
            default=argparse.SUPPRESS,
            help="data directory (default: $WASMCHAIN_DATA or ./.wasmchain): the embedded node's, or with --rpc "
            "only its keys",
        )
        parser.add_argument(
            "--rpc",
            metavar="URL",
            default=argparse.SUPPRESS,
            help="the running devnet's URL, e.g. http://127.0.0.1:8545 (default: $WASMCHAIN_RPC)",
        )
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")
        _chain_command(parser, handler)
        return parser

    mine = control("mine", "mine N blocks now (default 1), packing the pending transactions", cmd_devnet_mine)
    mine.add_argument("blocks", type=int, nargs="?", default=1, metavar="N")
    mine.add_argument("--timestamp", type=int, metavar="T", help="the first block's timestamp (seconds since 1970)")
    control(
        "snapshot", "remember the head; prints the id `devnet revert` takes (a running node only)", cmd_devnet_snapshot
    )
    revert = control(
        "revert",
        "roll the chain back to a snapshot, dropping it and later ones (a running node only)",
        cmd_devnet_revert,
    )
    revert.add_argument("id", type=int, metavar="ID", help="an id printed by `wasmchain devnet snapshot`")
    balance = control(
        "set-balance",
        "set an account's balance outright, in a block of its own (if genesis allows)",
        cmd_devnet_set_balance,
    )
    balance.add_argument("address", metavar="ADDRESS", help="address or key name")
    balance.add_argument("amount", type=int, metavar="AMOUNT", help="the new balance")
    timestamp = control(
        "set-next-timestamp",
        "the next block's timestamp (not before the head's; a running node only)",
        cmd_devnet_set_next_timestamp,
    )
    timestamp.add_argument("timestamp", type=int, metavar="T", help="seconds since 1970")
    later = control(
        "increase-time", "move the clock forward for every later block (a running node only)", cmd_devnet_increase_time
    )
    later.add_argument("seconds", type=int, metavar="S", help="seconds to add")


def _control_session(args: argparse.Namespace) -> Session:
    """A devnet action's session; the options that start a node (``--port``...) make no sense with an action."""
    given = [flag for dest, (flag, default) in args.devnet_server_options.items() if getattr(args, dest) != default]
    if given:
        raise UsageError(
            f"{', '.join(given)}: for the node `wasmchain devnet` starts, not for `devnet {args.devnet_command}`, "
            "which acts on a running one (give its --rpc URL)"
        )
    return _session(args)


def cmd_devnet_mine(args: argparse.Namespace) -> tuple[int, Report]:
    with _control_session(args) as session:
        return commands.cmd_devnet_mine(session, args.blocks, args.timestamp)


def cmd_devnet_snapshot(args: argparse.Namespace) -> tuple[int, Report]:
    with _control_session(args) as session:
        return commands.cmd_devnet_snapshot(session)


def cmd_devnet_revert(args: argparse.Namespace) -> tuple[int, Report]:
    with _control_session(args) as session:
        return commands.cmd_devnet_revert(session, args.id)


def cmd_devnet_set_balance(args: argparse.Namespace) -> tuple[int, Report]:
    with _control_session(args) as session:
        return commands.cmd_devnet_set_balance(session, args.address, args.amount)


def cmd_devnet_set_next_timestamp(args: argparse.Namespace) -> tuple[int, Report]:
    with _control_session(args) as session:
        return commands.cmd_devnet_set_next_timestamp(session, args.timestamp)


def cmd_devnet_increase_time(args: argparse.Namespace) -> tuple[int, Report]:
    with _control_session(args) as session:
        return commands.cmd_devnet_increase_time(session, args.seconds)


def follow_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "follow", help="follow a running node: take its blocks, re-execute each, serve read-only RPC"
    )
    parser.add_argument("--rpc", metavar="URL", required=True, help="the node to follow, e.g. http://127.0.0.1:8545")
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="the follower's data directory; created from the followed node's genesis if absent",
    )
    parser.add_argument(
        "--genesis",
        type=Path,
        default=None,
        help="a genesis file the followed node's must equal (default: take the node's, checked "
        "against its genesis hash)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_FOLLOW_PORT, help="port (default %(default)s; 0 picks a free one)"
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=DEFAULT_POLL,
        metavar="SECONDS",
        help="seconds between two polls of the followed node's head (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=FETCH_TIMEOUT,
        metavar="SECONDS",
        help="seconds one call to the followed node may take in all, answer included (default %(default)s)",
    )
    parser.add_argument(
        "--max-answer",
        type=int,
        default=DEFAULT_MAX_ANSWER // 2**20,
        metavar="MIB",
        help="MiB one answer of the followed node may have; a larger page is asked for again in fewer blocks "
        "(default %(default)s)",
    )
    _add_rpc_limits(parser)
    _add_http_access(parser)
    parser.set_defaults(handler=cmd_follow)


def cmd_follow(args: argparse.Namespace) -> int:
    if not 0 < args.poll <= 3_600:
        raise UsageError(f"--poll must be between 0 and 3600 seconds, found {args.poll:g}")
    if not 0 < args.timeout <= 3_600:
        raise UsageError(f"--timeout must be between 0 and 3600 seconds, found {args.timeout:g}")
    if not 1 <= args.max_answer <= 65_536:
        raise UsageError(f"--max-answer must be between 1 and 65536 MiB, found {args.max_answer}")
    _port(args.port)
    options = FollowOptions(
        args.rpc,
        DataDir(args.data),
        args.genesis,
        args.host,
        args.port,
        args.poll,
        args.timeout,
        args.max_answer * 2**20,
        access=_http_access(args),
        limits=_rpc_limits(args),
    )
    try:
        return run_follow(options, sys.stdout, sys.stderr)
    except OSError as error:  # the port is taken, say
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None


def node_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "node",
        help="run a validator's application for a CometBFT node (ABCI), serving JSON-RPC beside it",
        description="The application of one validator of a CometBFT network (docs/network.md): CometBFT connects "
        "to --abci and drives the chain; JSON-RPC on --port answers as a devnet does, handing transactions to "
        "the CometBFT node at --cometbft-rpc.",
        allow_abbrev=False,
    )
    parser.add_argument("--data", type=Path, required=True, help="data directory; created from --genesis if absent")
    parser.add_argument(
        "--genesis", type=Path, help="genesis file, the network's (default: ./genesis.json); CometBFT's app_state"
    )
    parser.add_argument(
        "--abci", default=DEFAULT_ABCI, metavar="ADDRESS", help="ABCI socket to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--cometbft-rpc",
        default=DEFAULT_COMETBFT_RPC,
        metavar="URL",
        help="this validator's CometBFT RPC, where transactions go (default %(default)s)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="JSON-RPC address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8545, help="JSON-RPC port (default %(default)s; 0: a free one)")
    parser.add_argument("--durable", action="store_true", help="fsync every block (CometBFT replays lost ones anyway)")
    _add_rpc_limits(parser)
    _add_http_access(parser)
    parser.set_defaults(handler=cmd_node)


def cmd_node(args: argparse.Namespace) -> int:
    _port(args.port)
    options = NetworkOptions(
        DataDir(args.data),
        args.genesis or default_genesis_path(),
        args.abci,
        args.cometbft_rpc,
        args.host,
        args.port,
        args.durable,
        access=_http_access(args),
        limits=_rpc_limits(args),
    )
    try:
        return run_node(options, sys.stdout)
    except OSError as error:  # the address cannot be bound, say
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None


def localnet_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "localnet",
        help="run N validators on this machine: CometBFT nodes and their wasmchain nodes (needs cometbft)",
        description="Set up (the first time) and run a CometBFT network of --validators validators on loopback "
        "addresses 127.0.0.1, 127.0.0.2 ..., each with its wasmchain node (JSON-RPC on port 8545 of its address). "
        "Ctrl-C stops them all; run it again to resume (docs/network.md).",
    )
    parser.add_argument("--validators", type=int, default=4, metavar="N", help="how many (default %(default)s)")
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_LOCALNET_DIR, help="the localnet's directory (default %(default)s)"
    )
    parser.add_argument("--genesis", type=Path, help="genesis file, at set-up (default: ./genesis.json)")
    parser.add_argument("--cometbft", type=Path, metavar="PATH", help="the cometbft binary (default: found on PATH)")
    parser.add_argument(
        "--first-address",
        default=FIRST_ADDRESS,
        metavar="IP",
        help="the first validator's loopback address; the next ones follow it (default %(default)s)",
    )
    parser.set_defaults(handler=cmd_localnet)


def cmd_localnet(args: argparse.Namespace) -> int:
    options = LocalnetOptions(
        args.dir, args.validators, args.genesis or default_genesis_path(), args.cometbft, args.first_address
    )
    return run_localnet(options, sys.stdout, sys.stderr)


# -- wasmchain init and keys: local --------------------------------------------------------------


def init_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("init", help="create a data directory from a genesis file")
    parser.add_argument("--genesis", type=Path, help="genesis file (default: ./genesis.json)")
    parser.add_argument("--rpc", default=None, help=argparse.SUPPRESS)  # refused, with a reason
    _add_data(parser, rpc=False)
    _chain_command(parser, cmd_init)


def cmd_init(args: argparse.Namespace) -> tuple[int, Report]:
    if args.rpc is not None:
        raise UsageError(
            "init creates a local data directory and does not take --rpc "
            "(a running node has its chain already; `wasmchain devnet` creates one)"
        )
    return commands.cmd_init(_data_dir(args), args.genesis or default_genesis_path())


def keys_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("keys", help="named keys (dev0..dev9 are the funded devnet keys)")
    keys_sub = parser.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    new = keys_sub.add_parser("new", help="create a key")
    new.add_argument("name")
    _add_data(new, rpc=False)
    _chain_command(new, cmd_keys_new)
    show = keys_sub.add_parser("show", help="show a key's address and public key")
    show.add_argument("name")
    _add_data(show, rpc=False)
    _chain_command(show, cmd_keys_show)
    listing = keys_sub.add_parser("list", help="list the keys")
    _add_data(listing, rpc=False)
    _chain_command(listing, cmd_keys_list)


def cmd_keys_new(args: argparse.Namespace) -> tuple[int, Report]:
    return commands.cmd_keys_new(_data_dir(args), args.name)


def cmd_keys_show(args: argparse.Namespace) -> tuple[int, Report]:
    return commands.cmd_keys_show(_data_dir(args), args.name)


def cmd_keys_list(args: argparse.Namespace) -> tuple[int, Report]:
    return commands.cmd_keys_list(_data_dir(args))


# -- transactions: deploy, call, view, transfer, simulate ----------------------------------------


def _add_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the module: a .wasm binary or a .wat text file")
    parser.add_argument("--init", help="a method to call once deployed")
    parser.add_argument("--args", help="JSON arguments for --init")


ARGS_HELP = (
    "JSON arguments, checked against the method's types when the contract has an interface (an address may be "
    'a key name there); "0x.." strings are bytes, e.g. addresses'
)


def _add_call(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", help="the contract's address or key name")
    parser.add_argument("method", help="the method (`... CONTRACT METHOD --help` shows its parameters and types)")
    parser.add_argument("--args", help=ARGS_HELP)


def _add_view(parser: argparse.ArgumentParser) -> None:
    _add_call(parser)
    parser.add_argument("--gas", type=int, default=DEFAULT_GAS, help="gas limit (default %(default)s)")


def _add_transfer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("to", help="address or key name")
    parser.add_argument("amount", type=int)


def deploy_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("deploy", help="deploy a contract (one block)")
    _add_deploy(parser)
    _add_tx_options(parser, value=True)
    _add_data(parser)
    _chain_command(parser, cmd_deploy)


def cmd_deploy(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_deploy(session, _tx_options(args), args.file, args.init, args.args)


def call_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("call", help="call a contract method in a transaction (one block)")
    _add_call(parser)
    _add_tx_options(parser, value=True)
    _add_data(parser)
    _chain_command(parser, cmd_call)


def cmd_call(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_call(session, _tx_options(args), args.address, args.method, args.args)


def view_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("view", help="run a method read-only: no transaction, no state change")
    _add_view(parser)
    _add_data(parser)
    _chain_command(parser, cmd_view)


def cmd_view(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_view(session, args.address, args.method, args.args, args.gas)


def transfer_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("transfer", help="send native tokens (one block)")
    _add_transfer(parser)
    _add_tx_options(parser, value=False)
    _add_data(parser)
    _chain_command(parser, cmd_transfer)


def cmd_transfer(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_transfer(session, _tx_options(args), args.to, args.amount)


def simulate_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("simulate", help="run a deploy, call or transfer on the head: nothing signed or kept")
    simulate_sub = parser.add_subparsers(dest="simulate_command", required=True, parser_class=_Parser)
    kinds = (
        ("deploy", _add_deploy, True, cmd_simulate_deploy),
        ("call", _add_call, True, cmd_simulate_call),
        ("transfer", _add_transfer, False, cmd_simulate_transfer),
    )
    for name, add, value, handler in kinds:
        simulated = simulate_sub.add_parser(name, help=f"what `wasmchain {name}` would do now")
        add(simulated)
        _add_simulate_options(simulated, value=value)
        simulated.set_defaults(handler=handler, text=_trace_or_report_text)


def _add_simulate_options(parser: argparse.ArgumentParser, *, value: bool, required: bool = True) -> None:
    _add_tx_options(parser, value=value, simulate=True, required=required)
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print the call tree as `wasmchain trace` does (with --json: the debug_trace_call object)",
    )
    _add_verbose(parser, "with --trace: ")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print the gas per wasm function as `wasmchain profile` does, with its --format, --names and "
        "--output (with --json: the debug_profile_call object)",
    )
    _add_profile_output(parser, "with --profile: ")
    _add_data(parser)


# -- a method's --help, and wasmchain abi ----------------------------------------------------------

HELP_FLAGS = ("-h", "--help")


class _NoMethodHelp(Exception):
    """The arguments do not name a contract and a method: argparse's own help applies."""


class _MethodHelpParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _NoMethodHelp(message)


def _method_help_parser(command: tuple[str, ...]) -> argparse.ArgumentParser:
    """The arguments of ``command`` (``call``, ``view`` or ``simulate call``) as its own parser declares them, none
    required but the contract and the method, so that ``--help`` anywhere after them shows the method's help."""
    parser = _MethodHelpParser(prog="wasmchain " + " ".join(command), add_help=False)
    if command == ("view",):
        _add_view(parser)
        _add_data(parser)
    elif command == ("call",):
        _add_call(parser)
        _add_tx_options(parser, value=True, required=False)
        _add_data(parser)
    else:
        _add_call(parser)
        _add_simulate_options(parser, value=True, required=False)
    return parser


def method_help_args(argv: list[str]) -> argparse.Namespace | None:
    """``call``, ``view`` or ``simulate call`` with a contract, a method and ``-h``/``--help``: the arguments of
    ``cmd_method_help``; ``None`` for anything else (argparse's own help, or no help at all)."""
    if not any(arg in HELP_FLAGS for arg in argv):
        return None
    rest = [arg for arg in argv if arg not in HELP_FLAGS]
    command = tuple(rest[:2]) if rest[:1] == ["simulate"] else tuple(rest[:1])
    if command not in (("call",), ("view",), ("simulate", "call")):
        return None
    try:
        args, _ = _method_help_parser(command).parse_known_args(rest[len(command) :])
    except _NoMethodHelp:
        return None
    args.command = " ".join(command)
    args.handler = cmd_method_help
    args.text = render.method_help_lines
    return args


def cmd_method_help(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        code, report = commands.cmd_method_help(session, args.address, args.method)
    return code, {"command": args.command, **report}


def abi_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "abi",
        help="a contract's typed interface: its WIT world, its methods with their types, its events",
        description="Print the interface a contract carries in its wasmchain:wit section: the WIT text, then a "
        "table of its methods (parameters with types, result, read-only or not) and its events. CONTRACT_OR_FILE "
        "is a module file (a .wasm or .wat path: read here, no node needed) or a deployed contract's address or "
        "key name (asked of the node: get_interface). An untyped contract (no interface) says so, exit 0.",
    )
    parser.add_argument("contract", metavar="CONTRACT_OR_FILE", help="a .wasm/.wat file, or an address or key name")
    _add_data(parser)
    _chain_command(parser, cmd_abi, render.abi_lines)


def cmd_abi(args: argparse.Namespace) -> tuple[int, Report]:
    if commands.is_module_path(args.contract):
        return commands.cmd_abi(None, args.contract)
    with _session(args) as session:
        return commands.cmd_abi(session, args.contract)


def _add_verbose(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", help=prefix + "also every host call of each frame, with its gas"
    )


def _trace_options(args: argparse.Namespace) -> TraceOptions:
    return TraceOptions(args.trace, args.verbose, args.profile)


def _trace_text(report: Report) -> list[str]:
    return render.trace_lines(report, colour=render.colour_for(sys.stdout))


def _trace_or_report_text(report: Report) -> list[str]:
    return render.trace_or_report_lines(report, colour=render.colour_for(sys.stdout))


def cmd_simulate_deploy(args: argparse.Namespace) -> int | tuple[int, Report]:
    return _simulated(
        args,
        lambda session: commands.cmd_simulate_deploy(
            session, _tx_options(args), args.file, args.init, args.args, _trace_options(args)
        ),
    )


def cmd_simulate_call(args: argparse.Namespace) -> int | tuple[int, Report]:
    return _simulated(
        args,
        lambda session: commands.cmd_simulate_call(
            session, _tx_options(args), args.address, args.method, args.args, _trace_options(args)
        ),
    )


def cmd_simulate_transfer(args: argparse.Namespace) -> int | tuple[int, Report]:
    return _simulated(
        args,
        lambda session: commands.cmd_simulate_transfer(
            session, _tx_options(args), args.to, args.amount, _trace_options(args)
        ),
    )


def _simulated(args: argparse.Namespace, simulate: Callable[[Session], tuple[int, Report]]) -> int | tuple[int, Report]:
    """A simulation's report, printed as any chain command's; with ``--profile``, printed as ``wasmchain profile``
    prints a mined transaction's.  The exit code is the simulation's either way (0 ok, 1 failed, 2 invalid)."""
    if not args.profile and (args.format is not None or args.names or args.output is not None):
        raise UsageError("--format, --names and --output shape a profile: add --profile")
    names = _profile_names(args.names) if args.profile else {}
    with _session(args) as session:
        outcome = simulate(session)
    if not args.profile:
        return outcome
    code, report = outcome
    printed = _print_profile(args, report, names)
    return code if printed == commands.EXIT_OK else printed


# -- traces and gas profiles ------------------------------------------------------------------------


def trace_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "trace",
        help="a mined transaction's call tree, re-executed from its block's parent state and checked against "
        "its receipt",
        description="Re-execute a mined transaction from its block's parent state and print its call tree as "
        "`cast run -vvvv` does: gas per frame, decoded arguments and results, storage reads and writes, events, "
        "debug logs, transfers, failed frames marked (in colour on a terminal, unless NO_COLOR is set); then "
        "intrinsic gas, fee, refund, the state diff, and whether the re-execution matched the receipt.",
    )
    parser.add_argument("hash", help="the transaction's hash (0x + 64 hex digits)")
    _add_verbose(parser)
    _add_data(parser)
    _chain_command(parser, cmd_trace, _trace_text)


def cmd_trace(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_trace(session, args.hash, args.verbose)


def profile_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "profile",
        help="a mined transaction's gas per wasm function: a table, speedscope JSON or folded stacks",
        description="Re-execute a mined transaction with a gas profiler and attribute every unit of its contract "
        "frames' gas to the wasm function that spent it (host functions' charges to their caller). Function names "
        "come from the module's name section or from .names files: those given with --names, and the *.names "
        "files beside .wasm files in the current directory and up to "
        f"{commands.NAMES_SEARCH_DEPTH} levels below it (each used for the module whose hash it names).",
    )
    parser.add_argument("hash", help="the transaction's hash (0x + 64 hex digits)")
    _add_profile_output(parser)
    _add_data(parser)
    parser.set_defaults(handler=cmd_profile)


def _add_profile_output(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        "--format",
        choices=render.PROFILE_FORMATS,
        help=prefix + "table: the top functions (default); speedscope: JSON for https://www.speedscope.app; "
        "folded: stacks for flamegraph.pl or inferno",
    )
    parser.add_argument(
        "--names",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help=prefix + "a .names file (or a directory of them) naming a module's functions; may be repeated",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help=prefix + "write the profile to FILE")


def cmd_profile(args: argparse.Namespace) -> int:
    names = _profile_names(args.names)
    with _session(args) as session:
        _, report = commands.cmd_profile(session, args.hash)
    return _print_profile(args, report, names)


def _print_profile(args: argparse.Namespace, report: Report, names: Names) -> int:
    """A profile report: the JSON object with ``--json``, else rendered in ``--format`` (a table by default), on
    stdout or into ``--output``."""
    if args.json:
        print(json.dumps(report))
        return commands.EXIT_OK
    output_format = args.format or "table"
    text = render.profile_text(report, output_format, names)
    if args.output is None:
        print(text)
        return commands.EXIT_OK
    try:
        args.output.write_text(text + "\n")
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    print(render.profile_written_line(report, output_format, str(args.output)))
    return commands.EXIT_OK


def _profile_names(given: list[Path]) -> Names:
    """Name maps: the ``*.names`` files beside modules under the current directory (one that cannot be read is
    skipped with a warning), then those of ``--names`` (an error if one cannot be read), which take precedence."""
    names: dict[str, NameMap] = {}
    for path in commands.names_files_beside_modules(Path.cwd()):
        try:
            names.update(load_names([path]))
        except ValueError as error:
            print(render.names_warning_line(str(path), str(error)), file=sys.stderr)
    try:
        names.update(load_names(given))
    except ValueError as error:
        raise UsageError(f"--names: {error}") from None
    return names


# -- reads: balance, account, tx, block, proof, events --------------------------------------------


def balance_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("balance", help="an account's native balance")
    parser.add_argument("address", help="address or key name")
    _add_data(parser)
    _chain_command(parser, cmd_balance)


def cmd_balance(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_balance(session, args.address)


def account_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("account", help="balance, nonce and code hash")
    parser.add_argument("address", help="address or key name")
    _add_data(parser)
    _chain_command(parser, cmd_account)


def cmd_account(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_account(session, args.address)


def tx_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("tx", help="a transaction and its receipt")
    parser.add_argument("hash")
    _add_data(parser)
    _chain_command(parser, cmd_tx)


def cmd_tx(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_tx(session, args.hash)


def block_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("block", help="a block by height, hash or 'latest'")
    parser.add_argument(
        "which", nargs="?", default="latest", help="a height (0 or more), a block hash (0x + 64 hex digits) or latest"
    )
    _add_data(parser)
    _chain_command(parser, cmd_block)


def cmd_block(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_block(session, args.which)


def proof_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("proof", help="a Merkle proof of an account or a storage key against the state root")
    parser.add_argument("address", help="address or key name")
    parser.add_argument("storage_key", nargs="?", help="a contract storage key (0x hex, or text)")
    _add_data(parser)
    _chain_command(parser, cmd_proof)


def cmd_proof(args: argparse.Namespace) -> tuple[int, Report]:
    with _session(args) as session:
        return commands.cmd_proof(session, args.address, args.storage_key)


def events_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("events", help="events of committed blocks, oldest first (one a line)")
    parser.add_argument("--contract", help="only this contract's events")
    parser.add_argument("--name", help="only events with this name")
    parser.add_argument(
        "--from-block",
        type=int,
        default=None,
        metavar="N",
        help="the first block (default 0; with --follow, the block after the head)",
    )
    parser.add_argument("--to-block", type=int, default=None, metavar="N", help="the last block (default: the head)")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help=f"at most N events, 1 to 10000 (default {DEFAULT_EVENT_LIMIT}; with --follow: stop after N, default none)",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="then print each new event as its block is committed, until Ctrl-C (needs --rpc or $WASMCHAIN_RPC; "
        "with --json, one JSON object a line)",
    )
    _add_data(parser)
    parser.set_defaults(handler=cmd_events, text=render.events_lines)  # (a chain command; --follow prints as it goes)


def cmd_events(args: argparse.Namespace) -> int | tuple[int, Report]:
    with _session(args) as session:
        if args.follow:
            if args.to_block is not None:
                raise UsageError("--follow prints events from --from-block on, as they come: it takes no --to-block")
            return commands.follow_events(
                session,
                args.contract,
                args.name,
                args.from_block,
                args.limit,
                lambda event: _print_event(args, event),
                lambda text: print(text, file=sys.stderr, flush=True),
            )
        limit = DEFAULT_EVENT_LIMIT if args.limit is None else args.limit
        from_block = 0 if args.from_block is None else args.from_block
        return commands.cmd_events(session, args.contract, args.name, from_block, args.to_block, limit)


def _print_event(args: argparse.Namespace, event: Report) -> None:
    """One followed event, printed at once: its JSON object on a line (``--json``), or ``wasmchain events``'s line."""
    if args.json:
        print(json.dumps(event), flush=True)
    else:
        for line in render.events_lines({"events": [event]}):
            print(line, flush=True)


# -- export, import and replay: the data directory or a file, no node ------------------------------


def export_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("export", help="write blocks, with their receipts and state changes, to a file")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the file to write")
    parser.add_argument(
        "--from", dest="from_block", type=int, default=None, metavar="N", help="the first block (default 1)"
    )
    parser.add_argument(
        "--to", dest="to_block", type=int, default=None, metavar="M", help="the last block (default: the head)"
    )
    _add_data(parser, rpc=False)
    _chain_command(parser, cmd_export)


def cmd_export(args: argparse.Namespace) -> tuple[int, Report]:
    return commands.cmd_export(_data_dir(args), args.out, args.from_block, args.to_block, TerminalProgress(sys.stderr))


def import_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("import", help="apply an exported file's blocks to a data directory, checking each")
    parser.add_argument("file", type=Path, help="a file written by `wasmchain export`")
    _add_data(parser, rpc=False)
    _chain_command(parser, cmd_import, render.import_lines)


def cmd_import(args: argparse.Namespace) -> tuple[int, Report]:
    return commands.cmd_import(_data_dir(args), args.file, TerminalProgress(sys.stderr))


def replay_arguments(sub: Subcommands) -> None:
    parser = sub.add_parser("replay", help="re-execute blocks into a fresh state and compare every receipt and root")
    parser.add_argument(
        "file",
        type=Path,
        nargs="?",
        default=None,
        help="a file written by `wasmchain export` (default: the chain in --data)",
    )
    parser.add_argument(
        "--from",
        dest="from_block",
        type=int,
        default=None,
        metavar="N",
        help="with --data: start from the state at block N, verified against its state root",
    )
    parser.add_argument(
        "--to",
        dest="to_block",
        type=int,
        default=None,
        metavar="M",
        help="the last block to replay (default: the last one)",
    )
    parser.add_argument(
        "--allow-version-mismatch",
        action="store_true",
        help="replay a chain made by another VM version or gas schedule, and report where it differs",
    )
    parser.add_argument(
        "--store",
        choices=("auto", "memory", "leveldb"),
        default="auto",
        help="where the replayed state lives: memory (faster) or a temporary LevelDB (for a chain "
        f"too big for memory); auto (default): memory up to {MEMORY_STORE_BLOCKS:,} blocks",
    )
    _add_data(parser, rpc=False)
    _chain_command(parser, cmd_replay, render.replay_lines)


def cmd_replay(args: argparse.Namespace) -> tuple[int, Report]:
    if args.file is not None and args.data is not None:
        raise UsageError("replay takes a FILE or --data DIR, not both")
    return commands.cmd_replay(
        args.file,
        None if args.file is not None else _data_dir(args),
        args.from_block,
        args.to_block,
        allow_version_mismatch=args.allow_version_mismatch,
        progress=TerminalProgress(sys.stderr),
        store=args.store,
    )


COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    vm_arguments,
    devnet_arguments,
    follow_arguments,
    node_arguments,
    localnet_arguments,
    init_arguments,
    keys_arguments,
    new_arguments,
    build_arguments,
    deploy_arguments,
    call_arguments,
    view_arguments,
    transfer_arguments,
    simulate_arguments,
    abi_arguments,
    trace_arguments,
    profile_arguments,
    balance_arguments,
    account_arguments,
    tx_arguments,
    block_arguments,
    proof_arguments,
    export_arguments,
    import_arguments,
    replay_arguments,
    events_arguments,
)
"""Each command's arguments, in the order ``wasmchain --help`` lists them; each sets its handler."""


if __name__ == "__main__":
    sys.exit(main())
