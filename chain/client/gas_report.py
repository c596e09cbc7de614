"""Gas reports and gas snapshots for the pytest plugin (``--wasmchain-gas-report``, ``-snapshot``, ``-check``).

The plugin's chains (``wasmchain``, ``wasmchain_factory``) get a ``RecordingTransport`` when
one of the gas options is given: after every JSON-RPC call it reads the blocks the chain mined
since the last one (so transactions mined later, by ``mine()``, count too, and a ``revert``
forgets nothing already read) and hands each transaction and its receipt to the session's
``GasRecorder``, with the test that was running; it records each ``view`` too.  What this
module makes of the records:

- ``gas_rows`` and ``format_report``: per contract, method and kind, the number of calls and
  the min, mean, median and max gas, all integers (the mean is the floor of the exact mean;
  the median of an even count is the floor of the mean of the two middle values);
- ``format_snapshot``: one line per test, sorted by test id (format in ``format_snapshot_line``),
  parsed back by ``parse_snapshot``;
- ``compare_snapshots`` and ``format_check``: what changed against a snapshot file.

Contracts are named by the file name of the module they were deployed from (``token.wasm``),
when the module was read from a path by ``Account.deploy`` in this process; else by address.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmchain.client.local import LocalTransport
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.blocks import Receipt
from wasmchain.protocol.keys import format_address
from wasmchain.protocol.transactions import SignedTransaction, TxKind

DEPLOY = "(deploy)"
"""The method name of a deploy's row (its gas includes the init call's)."""
NATIVE = "(native)"
"""The contract name of native transfers' row (method ``transfer``)."""
KINDS = ("deploy", "call", "transfer", "view")
"""A record's kind: a mined deploy, call or native transfer, or a ``view`` (never mined)."""


@dataclass(frozen=True, slots=True)
class GasRecord:
    """One transaction a plugin chain mined (or one view it ran), and its gas as the receipt says."""

    contract: str
    """The module's file name (``token.wasm``), else the contract's ``0x`` address; ``(native)`` for transfers."""
    method: str
    """The method called; ``(deploy)`` for a deploy, ``transfer`` for a native transfer."""
    kind: str
    """One of ``KINDS``."""
    gas: int
    """The receipt's ``gas_used`` (a view's: the gas it was charged)."""
    status: str
    """``ok``, or how it failed (``abort``, ``trap``, ``out_of_gas``)."""
    test: str | None
    """The id of the test it belongs to (mined in its setup or call phase), else ``None``."""

    @property
    def label(self) -> str:
        """The record in a snapshot line: ``contract:method``, ``[status]`` appended when it failed."""
        text = _plain(self.contract) + ":" + _plain(self.method)
        return text if self.status == "ok" else f"{text}[{_plain(self.status)}]"


def _plain(text: str) -> str:
    """Text that a snapshot entry can hold (no spaces, ``=`` or ``*``): any other character becomes ``_``."""
    return re.sub(r"[\s=*]", "_", text)


class GasRecorder:
    """Every transaction the session's plugin chains mined, and every view they ran, in order."""

    def __init__(self) -> None:
        self.records: list[GasRecord] = []
        self.module_names: dict[bytes, str] = {}
        """sha256 of a module (its code hash on chain) -> the file name it was read from."""
        self.ran: set[str] = set()
        """Ids of the tests whose call phase ran (passed or failed), with transactions or not."""
        self._test: str | None = None
        self._suspended = 0

    # -- what the plugin's hooks tell it --------------------------------------------------------

    def name_module(self, code: bytes, path: str | Path) -> None:
        """Remember that ``code`` was read from ``path``; the first name seen for a module stays."""
        self.module_names.setdefault(hashlib.sha256(code).digest(), Path(path).name)

    @contextmanager
    def running(self, test: str) -> Iterator[None]:
        """Attribute what is mined inside the ``with`` block to ``test``."""
        outer = self._test
        self._test = test
        try:
            yield
        finally:
            self._test = outer

    @contextmanager
    def unattributed(self) -> Iterator[None]:
        """Attribute nothing mined inside to a test (a fixture of a wider scope than a function is set up)."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1

    @property
    def current_test(self) -> str | None:
        return None if self._suspended else self._test

    # -- what the transports tell it ------------------------------------------------------------

    def record_block(self, dispatcher: Dispatcher, height: int) -> None:
        chain = dispatcher.chain
        block = chain.block(height)
        for signed, receipt in zip(block.transactions, chain.receipts(height)):
            self.records.append(self._record(dispatcher, signed, receipt))

    def _record(self, dispatcher: Dispatcher, signed: SignedTransaction, receipt: Receipt) -> GasRecord:
        tx = signed.tx
        test = self.current_test
        if tx.kind is TxKind.DEPLOY:
            code_hash = hashlib.sha256(tx.code).digest()
            name = self.module_names.get(code_hash)
            if name is None:
                name = format_address(receipt.contract_address) if receipt.contract_address else "0x" + code_hash.hex()
            return GasRecord(name, DEPLOY, "deploy", receipt.gas_used, receipt.status, test)
        if tx.kind is TxKind.CALL:
            name = self._contract_name(dispatcher, tx.to)
            return GasRecord(name, tx.method, "call", receipt.gas_used, receipt.status, test)
        return GasRecord(NATIVE, "transfer", "transfer", receipt.gas_used, receipt.status, test)

    def _contract_name(self, dispatcher: Dispatcher, address: bytes) -> str:
        code_hash = dispatcher.chain.account(address).code_hash
        return self.module_names.get(code_hash) or format_address(address)

    def record_view(self, dispatcher: Dispatcher, params: dict[str, Any], result: Any) -> None:
        try:
            address = bytes.fromhex(str(params["contract"])[2:])
            gas, status = int(result["gas_used"]), str(result["status"])
        except (KeyError, TypeError, ValueError):
            return  # not a view the node answered as one
        name = self._contract_name(dispatcher, address)
        self.records.append(GasRecord(name, str(params["method"]), "view", gas, status, self.current_test))

    # -- what it makes of them ------------------------------------------------------------------

    def snapshot(self) -> dict[str, list[tuple[str, int]]]:
        """Test id -> its mined transactions as (label, gas), in order; tests that mined none are left out."""
        tests: dict[str, list[tuple[str, int]]] = {}
        for record in self.records:
            if record.test is not None and record.kind != "view":
                tests.setdefault(record.test, []).append((record.label, record.gas))
        return tests


class RecordingTransport(LocalTransport):
    """A ``LocalTransport`` that tells a ``GasRecorder`` every block its chain mined and every view it ran."""

    def __init__(self, dispatcher: Dispatcher, recorder: GasRecorder) -> None:
        super().__init__(dispatcher)
        self.recorder = recorder
        self.seen = dispatcher.chain.head.height
        """The height up to which mined blocks were recorded (lowered by a revert)."""

    def call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            result = super().call(method, params)
        finally:
            self._catch_up()
        if method == "view":
            self.recorder.record_view(self.dispatcher, params, result)
        return result

    def _catch_up(self) -> None:
        head = self.dispatcher.chain.head.height
        for height in range(self.seen + 1, head + 1):
            self.recorder.record_block(self.dispatcher, height)
        self.seen = head


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GasRow:
    """One line of the gas report: every record of one contract, method and kind."""

    contract: str
    method: str
    kind: str
    calls: int
    min: int
    mean: int
    """The floor of the exact mean."""
    median: int
    """The middle value; for an even count, the floor of the mean of the two middle values."""
    max: int
    failed: int
    """How many of the calls did not end ``ok``."""


def gas_rows(records: Iterable[GasRecord]) -> list[GasRow]:
    """The report's rows, sorted by contract, method and kind."""
    groups: dict[tuple[str, str, str], list[GasRecord]] = {}
    for record in records:
        groups.setdefault((record.contract, record.method, record.kind), []).append(record)
    rows = []
    for (contract, method, kind), group in sorted(groups.items()):
        gas = sorted(record.gas for record in group)
        count, middle = len(gas), len(gas) // 2
        median = gas[middle] if count % 2 else (gas[middle - 1] + gas[middle]) // 2
        failed = sum(record.status != "ok" for record in group)
        rows.append(GasRow(contract, method, kind, count, gas[0], sum(gas) // count, median, gas[-1], failed))
    return rows


def format_report(rows: Sequence[GasRow]) -> list[str]:
    """The rows as an aligned text table (the header first)."""
    if not rows:
        return ["no transactions or views on the plugin's chains"]
    header = ("contract", "method", "kind", "calls", "min", "mean", "median", "max", "failed")
    cells = [header] + [
        (row.contract, row.method, row.kind, *map(str, (row.calls, row.min, row.mean, row.median, row.max, row.failed)))
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    lines = []
    for line in cells:
        texts = [
            text.ljust(width) if column < 3 else text.rjust(width)
            for column, (text, width) in enumerate(zip(line, widths))
        ]
        lines.append("  ".join(texts).rstrip())
    return lines


# -- snapshots ---------------------------------------------------------------------------------

_LINE = re.compile(r"^(?P<test>.+) \(gas: (?P<total>\d+)\)(?P<entries>(?: \S+=\d+(?:\*\d+)?)*)$")
_ENTRY = re.compile(r"^(?P<label>\S+)=(?P<gas>\d+)(?:\*(?P<count>\d+))?$")


class SnapshotError(ValueError):
    """A snapshot file that is not in the format ``format_snapshot`` writes; the message names the line."""


def format_snapshot_line(test: str, transactions: Sequence[tuple[str, int]]) -> str:
    """``<test id> (gas: <total>) <label>=<gas> ...``: the total, then each transaction in order.

    A label is ``<contract>:<method>`` (``token.wasm:(deploy)``, ``token.wasm:transfer``,
    ``(native):transfer``), with ``[<status>]`` after it for a transaction that failed.  A
    run of the same label and gas is written once with ``*<count>`` (``token.wasm:transfer=24234*3``).
    """
    total = sum(gas for _, gas in transactions)
    return f"{test} (gas: {total})" + "".join(" " + entry for entry in _entries(transactions))


def _entries(transactions: Sequence[tuple[str, int]]) -> list[str]:
    """Each transaction as ``<label>=<gas>``, a run of equal ones as ``<label>=<gas>*<count>``."""
    entries = []
    index = 0
    while index < len(transactions):
        run = 1
        while index + run < len(transactions) and transactions[index + run] == transactions[index]:
            run += 1
        label, gas = transactions[index]
        entries.append(f"{label}={gas}" + (f"*{run}" if run > 1 else ""))
        index += run
    return entries


def format_snapshot(tests: dict[str, list[tuple[str, int]]]) -> str:
    """The snapshot file: one line per test, sorted by test id."""
    return "".join(format_snapshot_line(test, tests[test]) + "\n" for test in sorted(tests))


def parse_snapshot(text: str) -> dict[str, list[tuple[str, int]]]:
    """A snapshot file read back; raises ``SnapshotError`` naming the first line that is not one of ours."""
    tests: dict[str, list[tuple[str, int]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        matched = _LINE.match(line)
        if matched is None:
            raise SnapshotError(f"line {number} is not '<test id> (gas: <total>) <label>=<gas> ...': {line!r}")
        transactions: list[tuple[str, int]] = []
        for entry in matched["entries"].split():
            part = _ENTRY.match(entry)
            assert part is not None  # _LINE matched it
            transactions += [(part["label"], int(part["gas"]))] * int(part["count"] or 1)
        if sum(gas for _, gas in transactions) != int(matched["total"]):
            raise SnapshotError(f"line {number}: the total {matched['total']} is not the sum of its transactions")
        if matched["test"] in tests:
            raise SnapshotError(f"line {number}: test {matched['test']} is listed twice")
        tests[matched["test"]] = transactions
    return tests


@dataclass(frozen=True, slots=True)
class SnapshotDiff:
    """What differs between a snapshot file (``old``) and this run (``new``)."""

    changed: list[tuple[str, list[tuple[str, int]], list[tuple[str, int]]]] = field(default_factory=list)
    """(test id, old transactions, new transactions) for each test whose transactions or gas changed."""
    added: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    """Tests this run mined transactions in that the file does not list."""
    not_run: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    """Tests the file lists that did not run this time (deselected, skipped, removed): not a failure."""

    @property
    def failed(self) -> bool:
        return bool(self.changed or self.added)


def compare_snapshots(
    old: dict[str, list[tuple[str, int]]], new: dict[str, list[tuple[str, int]]], ran: set[str]
) -> SnapshotDiff:
    """Compare a snapshot file with this run; ``ran`` is every test whose call phase ran (a test of the
    file that ran and mined nothing now has changed to no transactions)."""
    diff = SnapshotDiff()
    for test in sorted(old.keys() | new.keys()):
        if test in new and test not in old:
            diff.added.append((test, new[test]))
        elif test in new or test in ran:
            if old[test] != new.get(test, []):
                diff.changed.append((test, old[test], new.get(test, [])))
        else:
            diff.not_run.append((test, old[test]))
    return diff


def _signed(number: int) -> str:
    return f"{number:+d}"


def _transaction_changes(old: list[tuple[str, int]], new: list[tuple[str, int]]) -> list[str]:
    """Each transaction that changed gas (``tx N label: old -> new (+d)``), appeared (``+ tx N``) or went (``- tx N``).

    Transactions are matched by label in order (``difflib``); ``N`` counts from 1 within the test,
    in the old list for one that went, else in the new.
    """
    lines = []
    matcher = difflib.SequenceMatcher(a=[label for label, _ in old], b=[label for label, _ in new], autojunk=False)
    for opcode, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if opcode == "equal":  # the same transactions: say which changed gas
            for offset, ((label, was), (_, now)) in enumerate(zip(old[old_start:old_end], new[new_start:new_end])):
                if was != now:
                    lines.append(f"    tx {new_start + offset + 1} {label}: {was} -> {now} ({_signed(now - was)})")
            continue
        for index in range(old_start, old_end):
            lines.append(f"  - tx {index + 1} {old[index][0]}={old[index][1]} (gone)")
        for index in range(new_start, new_end):
            lines.append(f"  + tx {index + 1} {new[index][0]}={new[index][1]} (new)")
    return lines


def format_check(diff: SnapshotDiff, path: str) -> list[str]:
    """The check's report: a summary line, then each changed test with old -> new and the difference."""
    if not diff.changed and not diff.added and not diff.not_run:
        return [f"gas unchanged: every test matches {path}"]
    lines = [
        f"{len(diff.changed)} changed, {len(diff.added)} added, {len(diff.not_run)} not run, against {path}"
        + (" (re-snapshot with --wasmchain-gas-snapshot if the changes are meant)" if diff.failed else "")
    ]
    for test, old, new in diff.changed:
        before, after = sum(gas for _, gas in old), sum(gas for _, gas in new)
        lines.append(f"CHANGED {test}: {before} -> {after} ({_signed(after - before)})")
        lines += _transaction_changes(old, new)
    for test, new in diff.added:
        lines.append(f"ADDED {format_snapshot_line(test, new)}")
    for test, old in diff.not_run:
        lines.append(f"NOT RUN {format_snapshot_line(test, old)}")
    return lines
