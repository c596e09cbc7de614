"""The text the CLI prints: each command's report (a JSON-ready dict) as lines for people.

The commands (``commands.py``, ``runner.py``) and the history layer produce
data; ``--json`` prints it as it is, and without ``--json`` the functions
here turn it into text.  ``TerminalProgress`` draws a long run's progress
(replay, import, export) on a terminal.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any, TextIO

from wasmchain.client.profile import Names, folded_stacks, profile_table, speedscope
from wasmchain.client.results import StateChange, Trace, bytes_text, failure_hint, failure_lines, trace_tree_lines
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.state import Account

PROGRESS_INTERVAL = 0.2
"""Seconds between two progress updates on a terminal (at most five a second)."""


# --- any chain command -----------------------------------------------------------------------


PREFLIGHT_FAILED = "preflight_failed"
"""The ``status`` of a send's report when its simulation failed and nothing was sent (``commands._preflight``)."""


def report_lines(report: dict[str, Any]) -> list[str]:
    """A report as ``key: value`` lines; a list of records as one line a record (keys, events).

    A failed execution's (a receipt's, a simulation's, a view's) ends with a ``hint:`` line when
    ``failure_hint`` has one (out of gas: what ran out, what to do); a send whose pre-flight failed
    prints ``preflight_lines``.
    """
    if report.get("status") == PREFLIGHT_FAILED:
        return preflight_lines(report)
    lines = []
    for key, value in report.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            lines.append(f"{key}:")
            for item in value:
                lines.append("  " + "  ".join(v if isinstance(v, str) else json.dumps(v) for v in item.values()))
            continue
        shown = value if isinstance(value, (str, int)) and not isinstance(value, bool) else json.dumps(value)
        lines.append(f"{key}: {shown}")
    return lines + _hint_lines(report.get("status"), report.get("error"))


def _hint_lines(status: Any, error: Any) -> list[str]:
    """``hint: ...`` for a failure whose message does not say what to do next (``failure_hint``), else nothing."""
    if not isinstance(status, str) or not (error is None or isinstance(error, str)):
        return []
    hint = failure_hint(status, error)
    return [] if hint is None else [f"hint: {hint}"]


def preflight_lines(report: dict[str, Any]) -> list[str]:
    """A send not sent because its simulation failed: the message (the simulated error, where, what to do), the
    hint if any, the frame where the failure started with the trace of the path down to it, and the gas."""
    lines = [report["error"]]
    if report.get("hint"):
        lines.append(f"hint: {report['hint']}")
    if report.get("trace") is not None:
        lines += failure_lines(Trace.from_report(report["trace"]))
    simulation = report["simulation"]
    lines.append(
        f"simulated on block {simulation['block_height']}: {simulation['gas_used']} gas used "
        f"(limit {report['gas_limit']}); nothing was signed or sent"
    )
    return lines


def events_lines(report: dict[str, Any]) -> list[str]:
    """One event a line: height, transaction hash, contract, name, data as JSON (or 0x hex if not msgpack)."""
    lines = []
    for event in report["events"]:
        data = json.dumps(event["data"]) if event["data"] is not None else "0x" + event["data_hex"]
        lines.append(f"{event['block_height']}  {event['tx_hash']}  {event['contract']}  {event['name']}  {data}")
    return lines


# --- export, import and replay -------------------------------------------------------------


def import_lines(report: dict[str, Any]) -> list[str]:
    """``cmd_import``'s report: what was imported, the error and the divergence if any."""
    head = report["head"]
    lines = [
        f"imported {report['imported']} block(s), {report['transactions']} transaction(s) from {report['file']} "
        f"into {report['data']} in {report['seconds']:.2f} s; the head is block {head['height']} {head['hash']}"
    ]
    if report["error"] is not None:
        lines.append(f"error: {report['error']}")
    if report["divergence"] is not None:
        lines += describe_divergence(report["divergence"])
    return lines


def replay_lines(report: dict[str, Any]) -> list[str]:
    """``ReplayResult.to_json()`` as lines."""
    return [describe_report(report)]


def describe_report(report: dict[str, Any]) -> str:
    """``ReplayResult.to_json()`` as text."""
    lines = []
    span = f"blocks {report['from']}..{report['to']}" if report["from"] is not None else "no blocks"
    status = report["status"]
    if status == "match":
        lines.append(
            f"match: {report['blocks']} blocks, {report['transactions']} transactions replayed "
            f"({span} of {report['source']}) in {report['seconds']:.2f} s: "
            "every receipt, state root and state key is the same"
        )
    elif status == "refused":
        lines.append(f"refused: {report['error']}")
    lines += [f"warning: {warning}" for warning in report["warnings"]]
    divergence = report["divergence"]
    if divergence is not None:
        lines += describe_divergence(divergence)
        lines.append(f"({report['blocks']} blocks before it matched, {span} asked for)")
    return "\n".join(lines)


def describe_divergence(divergence: dict[str, Any]) -> list[str]:
    """``Divergence.to_json()`` as lines of text."""
    lines = [f"diverged at block {divergence['height']}: {divergence['check']}", f"  {divergence['message']}"]
    if divergence["recorded"] is not None or divergence["replayed"] is not None:
        lines += [f"  recorded: {_brief(divergence['recorded'])}", f"  replayed: {_brief(divergence['replayed'])}"]
    if divergence["tx_index"] is not None:
        lines.append(f"  transaction {divergence['tx_index']}:")
        for name, values in divergence["receipt"].items():
            lines.append(f"    {name}: recorded {_brief(values['recorded'])}, replayed {_brief(values['replayed'])}")
    if divergence["state"]:
        lines.append("  state keys that differ:")
        for item in divergence["state"]:
            account = item["what"].startswith("account ")
            lines += [
                f"    {item['what']}",
                f"      recorded {_brief(item['recorded'])}{_account_text(item['recorded']) if account else ''}",
                f"      replayed {_brief(item['replayed'])}{_account_text(item['replayed']) if account else ''}",
            ]
        if divergence["state_omitted"]:
            lines.append(f"    ... and {divergence['state_omitted']} more")
    return lines


def _account_text(value: str | None) -> str:
    """An account's value decoded, for humans: ``" (balance B, nonce N)"``."""
    if value is None:
        return ""
    try:
        account = Account.decode(bytes.fromhex(value[2:]))
    except (ValueError, ChainError):
        return " (not an account)"
    code = f", code 0x{account.code_hash.hex()}" if account.code_hash else ""
    return f" (balance {account.balance}, nonce {account.nonce}{code})"


def _brief(value: Any, limit: int = 66) -> str:
    """A value on one line; long hex cut short, with its length in bytes."""
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) <= limit + 20:
        return text
    size = f"{(len(text) - 2) // 2} bytes" if text.startswith("0x") else f"{len(text)} characters"
    return f"{text[:limit]}... ({size})"


class TerminalProgress:
    """Blocks done/total, blocks/s, tx/s and an ETA on one line of a terminal, redrawn at most five
    times a second; silent when the stream is not a terminal.  (``history.replay.Progress``.)"""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.total = 0
        self.started = time.monotonic()
        self._shown = 0.0
        self._drawn = False

    def start(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self._shown = 0.0
        self._drawn = False

    def update(self, blocks: int, transactions: int) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._shown < PROGRESS_INTERVAL and blocks < self.total:
            return
        self._shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = blocks / elapsed
        eta = f"{(self.total - blocks) / rate:.0f}s" if rate > 0 else "?"
        self.stream.write(
            f"\r\x1b[K{blocks}/{self.total} blocks  {rate:.0f} blocks/s  {transactions / elapsed:.0f} tx/s  ETA {eta}"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.stream is not None and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# --- the standalone runner ------------------------------------------------------------------


def validate_lines(file: str, report: dict[str, Any]) -> list[str]:
    """``runner.validate``'s report of a valid module (an invalid one is ``invalid_line``)."""
    lines = [f"valid: {file} ({report['code_size']} bytes)", f"methods: {', '.join(report['methods']) or '(none)'}"]
    interface = report.get("interface")
    typed = {}
    if interface is not None:
        lines.append(f"interface: package {interface['package']}, world {interface['world']} ({interface['section']})")
        typed = {method["export"]: method for method in interface["methods"]}
    elif report.get("interface_error"):
        lines.append(f"interface: unreadable, so untyped here ({report['interface_error']})")
    else:
        lines.append("interface: none (untyped)")
    for name, signature in report["exports"].items():
        method = typed.get(name)
        if method is None:
            lines.append(f"export {name}: {signature}")
        else:
            kind = "view" if method["readonly"] else "method"
            lines.append(f"export {name}: {signature}  {kind} {method['signature']}")
    if interface is not None:
        lines += [
            f"event {event['event']}: "
            + ", ".join(f"{field['key']}: {field['type']['wit']}" for field in event["fields"])
            for event in interface["events"]
        ]
    return lines


def invalid_line(report: dict[str, Any]) -> str:
    """``runner.validate``'s report of a module that fails the deploy rules (printed on stderr)."""
    return f"invalid: {report['error']}"


def run_lines(report: dict[str, Any]) -> list[str]:
    """``runner.run``'s report: status, gas, the contract's debug logs, results or return value, events, error."""
    lines = [f"status: {report['status']}", f"gas used: {report['gas_used']}"]
    # A message's own line breaks stay visible without being taken for another line of the report.
    lines += ["log: " + log["message"].replace("\n", "\n     ") for log in report["logs"]]
    if report.get("results") is not None:
        lines += [f"result: {result['type']} {result['bits']}" for result in report["results"]]
    elif report["return_hex"]:
        shown = json.dumps(report["return"]) if report["return"] is not None else "0x" + report["return_hex"]
        lines.append(f"return: {shown}")
    for event in report["events"]:
        data = json.dumps(event["data"]) if event["data"] is not None else "0x" + event["data_hex"]
        lines.append(f"event {event['name']}: {data}")
    if report["error"]:
        lines.append(f"error: {report['error']}")
    return lines


# --- traces: wasmchain trace, wasmchain simulate ... --trace ----------------------------------------

STATE_DIFF_LINES = 20
"""State changes a trace's footer lists one by one; the rest are counted."""


def colour_for(stream: TextIO) -> bool:
    """Colour on a terminal only, and never when ``NO_COLOR`` is set to anything (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def trace_lines(report: dict[str, Any], *, colour: bool = False) -> list[str]:
    """A ``debug_trace_*`` answer as ``cast run -vvvv`` prints a transaction: what it was, the call tree (gas per
    frame, decoded arguments and results, storage, events, logs, transfers, failed frames marked), then gas,
    fee, refund, the state diff and whether the re-execution matched the receipt."""
    trace = Trace.from_report(report)
    lines = [_trace_title(trace), "Traces:"]
    if trace.frame is not None:
        lines += trace_tree_lines(trace.frame, colour=colour)
    else:
        lines.append("  (no contract code ran: " + _no_frame_reason(trace) + ")")
    return lines + _trace_footer(trace, colour)


def trace_or_report_lines(report: dict[str, Any], *, colour: bool = False) -> list[str]:
    """``simulate``'s report as ``report_lines``, or with ``--trace`` its trace as ``trace_lines``."""
    if "state_diff" in report and "frame" in report:
        return trace_lines(report, colour=colour)
    return report_lines(report)


def _trace_title(trace: Trace) -> str:
    if trace.block_height is None:
        where = "simulated on the head, not mined"
    else:
        where = f"block {trace.block_height}, index {trace.tx_index}"
    if trace.kind == "call":
        what = f"call {trace.to}::{trace.method}"
    elif trace.kind == "deploy":
        what = "deploy" + (f" with init {trace.method}" if trace.method else "")
    else:
        what = f"transfer of {trace.value} to {trace.to}"
    value = f" with {trace.value} attached" if trace.value and trace.kind != "transfer" else ""
    return f"transaction {trace.tx_hash} ({where}): {what} from {trace.sender}{value}"


def _no_frame_reason(trace: Trace) -> str:
    if trace.status == "invalid":
        return f"refused before it ran: {trace.error}"
    if trace.kind == "transfer":
        return "a native transfer"
    if trace.kind == "deploy":
        return "a deploy without an init method"
    return trace.error or "the call was refused"


def _trace_footer(trace: Trace, colour: bool) -> list[str]:
    status = f"{trace.status}: {trace.error}" if trace.error else trace.status
    lines = ["", _paint_status(f"status: {status}", trace.ok, colour), *_hint_lines(trace.status, trace.error)]
    failed = trace.failed_frame()
    if failed is not None and failed is not trace.frame:
        lines.append(
            f"failed in: {failed.contract}::{failed.method} (depth {failed.depth}): "
            f"{failed.status}: {failed.error or '(no message)'}"
        )
    if trace.contract_address is not None:
        lines.append(f"contract: {trace.contract_address}")
    executed = trace.frame.gas_used if trace.frame is not None else 0
    lines += [
        f"gas: {trace.gas_used} used = {trace.intrinsic_gas} intrinsic + {executed} in contract frames "
        f"(limit {trace.gas_limit}, price {trace.gas_price})",
        f"fee: {trace.fee}, refund: {trace.refund}",
    ]
    lines += _state_diff_lines(trace.state_diff)
    if trace.matches_receipt is None:
        lines.append("simulated: not a transaction of the chain, nothing was kept")
    elif trace.matches_receipt:
        lines.append(_paint_status("re-executed: matches the receipt", True, colour))
    else:
        lines.append(_paint_status("re-executed: DIFFERS from the receipt", False, colour))
    return lines


def _paint_status(text: str, ok: bool, colour: bool) -> str:
    return f"\x1b[{'32' if ok else '31'}m{text}\x1b[0m" if colour else text


_STATE_KINDS = {"account": "account", "code": "module", "storage": "storage key"}


def _state_diff_lines(changes: tuple[StateChange, ...]) -> list[str]:
    kinds = Counter(change.kind for change in changes)
    counted = ", ".join(
        f"{count} {_STATE_KINDS.get(kind, kind)}{'s' if count > 1 else ''}" for kind, count in sorted(kinds.items())
    )
    lines = [
        f"state diff: {len(changes)} key{'s' if len(changes) != 1 else ''} changed" + (f" ({counted})" * bool(counted))
    ]
    for change in changes[:STATE_DIFF_LINES]:
        lines.append("  " + _state_change_text(change))
    if len(changes) > STATE_DIFF_LINES:
        lines.append(f"  ... and {len(changes) - STATE_DIFF_LINES} more (--json has them all)")
    return lines


def _state_change_text(change: StateChange) -> str:
    if change.kind == "storage":
        key = bytes_text(change.storage_key, key=True)
        return f"storage {change.address} {key}: {bytes_text(change.old)} -> {bytes_text(change.new)}"
    if change.kind == "code":
        size = "(absent)" if change.new is None else f"{change.new['size']} bytes"
        return f"code {change.code_hash}: {size}" + (" (new)" if change.old is None else "")
    old, new = change.old, change.new
    if old is None or new is None:
        present = new if old is None else old
        shown = f"balance {present['balance']}, nonce {present['nonce']}"
        if present.get("code_hash"):
            shown += f", code {present['code_hash']}"
        return f"account {change.address}: {'created' if old is None else 'removed'} ({shown})"
    fields = [
        f"{name} {old.get(name)} -> {new.get(name)}"
        for name in ("balance", "nonce", "code_hash")
        if old.get(name) != new.get(name)
    ]
    return f"account {change.address}: " + (", ".join(fields) or "unchanged")


# --- gas profiles: wasmchain profile --------------------------------------------------------------

PROFILE_FORMATS = ("table", "speedscope", "folded")


def profile_text(report: dict[str, Any], fmt: str, names: Names | None = None) -> str:
    """A ``debug_profile_*`` answer's profile as ``fmt``: ``table`` (the top functions, under a line naming the
    transaction), ``speedscope`` (JSON for https://www.speedscope.app) or ``folded`` (stacks for flame graphs)."""
    profile = report["profile"]
    if fmt == "speedscope":
        return json.dumps(speedscope(profile, names, title=f"wasmchain gas: {_profile_subject(report)}"))
    if fmt == "folded":
        return "\n".join(folded_stacks(profile, names))
    trace = Trace.from_report(report)
    title = f"gas profile of {_profile_subject(report)}: {profile['gas']} gas in contract frames"
    extra = f" (+ {trace.intrinsic_gas} intrinsic = {trace.gas_used})"
    return "\n".join([title + extra, profile_table(profile, names)])


def profile_written_line(report: dict[str, Any], fmt: str, path: str) -> str:
    """What ``wasmchain profile --output FILE`` prints once the file is written."""
    hint = {"speedscope": " (open it at https://www.speedscope.app)", "folded": " (flamegraph.pl or inferno)"}
    return f"wrote the {fmt} gas profile of {_profile_subject(report)} to {path}{hint.get(fmt, '')}"


def names_warning_line(path: str, error: str) -> str:
    """A ``.names`` file found beside a module that could not be used (printed on stderr)."""
    return f"warning: skipped {path}: {error}"


def _profile_subject(report: dict[str, Any]) -> str:
    block = report.get("block")
    where = "simulated" if block is None else f"block {block['height']}"
    return f"transaction {report['tx_hash']} ({where})"


# --- typed interfaces: wasmchain abi, a method's --help, vm validate ---------------------------------


def abi_lines(report: dict[str, Any]) -> list[str]:
    """``wasmchain abi``'s report (``get_interface``'s, or a module file's): the WIT text, then the methods and the
    events as tables; or a line saying the contract is untyped."""
    subject = report["address"] if "address" in report else report["file"]
    interface = report["interface"]
    if interface is None:
        return [
            f"{subject} has no interface (no wasmchain:wit section): it is untyped; its methods take --args as plain "
            'JSON ("0x.." strings are bytes), checked by nothing before they run'
        ]
    lines = [f"// {subject} (code {report['code_hash']}): section {interface['section']}"]
    lines += interface["wit"].rstrip("\n").splitlines()
    lines += ["", f"package {interface['package']}, world {interface['world']}"]
    lines += ["", "methods:"] + _table(
        ["name", "params", "result", "kind"],
        [
            [
                method["export"],
                ", ".join(f"{param['key']}: {param['type']['wit']}" for param in method["params"]) or "-",
                method["result"]["wit"] if method["result"] is not None else "-",
                "read-only" if method["readonly"] else "call",
            ]
            for method in interface["methods"]
        ],
    )
    events = [
        [event["event"], ", ".join(f"{field['key']}: {field['type']['wit']}" for field in event["fields"]) or "-"]
        for event in interface["events"]
    ]
    lines += ["", "events:"] + (_table(["name", "fields"], events) if events else ["  (none)"])
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Rows in left-aligned columns under a header, indented two spaces."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]


def method_help_lines(report: dict[str, Any]) -> list[str]:
    """``wasmchain call|view|simulate call CONTRACT METHOD --help``: the method's signature, docs and parameters
    (each with its type and an example), and the command with those example arguments."""
    command, address, method = report["command"], report["address"], report["declared"]
    if method is None:
        return [
            f'{address} has no interface (untyped): {report["method"]} takes --args as plain JSON ("0x.." strings '
            "are bytes), checked by nothing before it runs; `wasmchain "
            f"{command} --help` lists the command's options"
        ]
    lines = [method["signature"] + ("  (read-only)" if method["readonly"] else "")]
    lines += ["  " + line if line else "" for line in method["docs"].splitlines()]
    params = method["params"]
    example = {param["key"]: param["example"] for param in params}
    if params:
        lines += ["", "arguments (--args, a JSON object):"]
        lines += _table(
            ["name", "type", "example"],
            [[param["key"], param["type"]["wit"], json.dumps(param["example"])] for param in params],
        )
        if any(_has_address(param["type"]) for param in params):
            lines.append("  an address is 0x and 40 hex digits, or a key name (dev1)")
    else:
        lines += ["", "no arguments"]
    result = method["result"]
    lines += ["", f"returns: {result['wit'] if result is not None else 'nothing'}"]
    sender = "" if command == "view" else " --from dev0"
    args = f" --args '{json.dumps(example)}'" if params else ""
    lines += ["", f"example: wasmchain {command} {address} {method['export']}{args}{sender}"]
    return lines


def _has_address(described: dict[str, Any]) -> bool:
    """Whether a type (``type_to_json``) holds an address anywhere."""
    if described.get("kind") == "address":
        return True
    nested = [described.get("item"), described.get("ok"), described.get("err"), *described.get("items", [])]
    nested += [part.get("type") for part in described.get("fields", []) + described.get("cases", [])]
    return any(isinstance(part, dict) and _has_address(part) for part in nested)
