"""The ``wasmchain`` command line.

``main(argv)`` parses arguments and dispatches to one small function per
subcommand; each returns the process exit code.  Errors a user can cause
are reported in one line on stderr (and as JSON with ``--json``), never as
a traceback.

Exit codes: 0 success, 1 an execution that ran and failed, 2 invalid
input (a module that fails validation, bad arguments, unreadable files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from vm import VMParams
from vm.args import ArgsError, parse_args
from vm.engine import check_wasmtime_version
from vm.errors import InvalidParams
from vm.runner import EXIT_INVALID, RUNNER_CALLER, RunnerError, RunRequest, load_module, run, validate

from .genesis import GenesisError, default_genesis_path, load_vm_params

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
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    vm_parser = commands.add_parser("vm", help="the standalone VM runner (no chain)")
    vm_commands = vm_parser.add_subparsers(dest="vm_command", required=True, parser_class=_Parser)

    validate_parser = vm_commands.add_parser("validate", help="check a module against the deploy rules")
    validate_parser.add_argument("file", type=Path, help="a .wasm or .wat file")
    _add_common(validate_parser)

    run_parser = vm_commands.add_parser("run", help="run one method of a contract")
    run_parser.add_argument("file", type=Path, help="a .wasm or .wat file")
    run_parser.add_argument("--method", required=True, help="the exported method (or plain function) to call")
    inputs = run_parser.add_mutually_exclusive_group()
    inputs.add_argument("--args", help="arguments as JSON, encoded as msgpack (\"0x..\" strings are bytes)")
    inputs.add_argument("--input-hex", help="the raw input bytes, in hex")
    run_parser.add_argument("--gas", type=int, default=DEFAULT_RUNNER_GAS, help="gas limit (default %(default)s)")
    run_parser.add_argument("--state", type=Path, help="JSON file with the contract's storage; updated on success")
    run_parser.add_argument("--caller", default="0x" + RUNNER_CALLER.hex(), help="caller address, 0x + 40 hex")
    run_parser.add_argument("--height", type=int, default=1, help="block height the call sees")
    run_parser.add_argument("--timestamp", type=int, default=0, help="block timestamp the call sees")
    _add_common(run_parser)
    return parser


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
    except (RunnerError, GenesisError, ArgsError, UsageError, InvalidParams) as error:
        return _fail(args, str(error))
    raise AssertionError(f"unhandled command {args.command}")


def _fail(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"status": "invalid", "error": message}))
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
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise UsageError(f"{option} must be 0x followed by 40 hex digits, found {text!r}")
    return raw


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
