"""The pytest plugin's gas report, gas snapshot and gas check (chain/client/gas_report.py, testing.py).

The plugin is exercised as a user meets it: a project in a temporary folder, outside the
repository, with its own test file, run by ``python -m pytest`` with the installed plugin.
Its tests write every receipt's gas (and each view's) to a log; the figures expected of the
report and the snapshot are computed here from that log, never by the report's code.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wasmchain.client.gas_report import (
    GasRecord,
    SnapshotError,
    compare_snapshots,
    format_check,
    format_snapshot,
    format_snapshot_line,
    gas_rows,
    parse_snapshot,
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = ROOT / "contracts" / "token" / "token.wasm"
COUNTER = ROOT / "contracts" / "counter" / "counter.wasm"

PROJECT_TESTS = '''
"""A user's tests: every receipt's gas goes to $GAS_LOG as [test id or null, contract, method, kind, status, gas]."""

import json
import os
from pathlib import Path

import pytest

from wasmchain import Client, Contract
from wasmchain.protocol.transactions import Transaction, TxKind

TOKEN = Path(os.environ["TOKEN_WASM"])
COUNTER = Path(os.environ["COUNTER_WASM"])
LOG = Path(os.environ["GAS_LOG"])
AMOUNT = int(os.environ.get("AMOUNT", "5"))


def log(test, contract, method, kind, status, gas):
    with LOG.open("a") as out:
        out.write(json.dumps([test, contract, method, kind, status, gas]) + "\\n")


@pytest.fixture(scope="module")
def deployed(wasmchain_factory) -> Contract:
    token = wasmchain_factory().dev_account(0).deploy(TOKEN, init="init", args={"supply": 1000})
    log(None, "token.wasm", "(deploy)", "deploy", "ok", token.deployment.gas_used)
    return token


@pytest.fixture
def token(wasmchain: Client, request) -> Contract:
    token = wasmchain.dev_account(0).deploy(TOKEN, init="init", args={"supply": 1000})
    log(request.node.nodeid, "token.wasm", "(deploy)", "deploy", "ok", token.deployment.gas_used)
    return token


def test_transfer(wasmchain: Client, token: Contract, request) -> None:
    test = request.node.nodeid
    alice, bob = wasmchain.dev_account(0), wasmchain.dev_account(1)
    receipt = token.call("transfer", {"to": bob, "amount": AMOUNT}, sender=alice)
    log(test, "token.wasm", "transfer", "call", receipt.status, receipt.gas_used)
    view = wasmchain.view(token, "balance_of", {"owner": bob})
    log(test, "token.wasm", "balance_of", "view", view.status, view.gas_used)
    failed = token.call("transfer", {"to": alice, "amount": 10**6}, sender=bob, check=False)
    assert failed.status == "abort"
    log(test, "token.wasm", "transfer", "call", failed.status, failed.gas_used)
    if os.environ.get("EXTRA"):
        extra = token.call("transfer", {"to": bob, "amount": 1}, sender=alice)
        log(test, "token.wasm", "transfer", "call", extra.status, extra.gas_used)
    receipt = alice.transfer(bob, 7)
    log(test, "(native)", "transfer", "transfer", receipt.status, receipt.gas_used)


def test_mined_later_and_from_bytes(wasmchain: Client, request) -> None:
    test = request.node.nodeid
    alice, bob = wasmchain.dev_account(0), wasmchain.dev_account(1)
    counter = alice.deploy(COUNTER.read_bytes())  # from bytes: the report names it by address
    log(test, counter.address, "(deploy)", "deploy", "ok", counter.deployment.gas_used)
    queued = Transaction(
        chain_id=wasmchain.chain_id, nonce=alice.nonce() + 1, gas_limit=100_000, gas_price=wasmchain.gas_price,
        public_key=alice.key.public_key, kind=TxKind.TRANSFER, to=bytes.fromhex(bob.address[2:]), value=10**9,
    )
    tx_hash = wasmchain.submit(queued.sign(alice.key))  # waits behind a nonce gap
    first = alice.transfer(bob, 7)  # fills the gap: both are mined in this call
    later = wasmchain.wait_for_receipt(tx_hash)
    assert later.block_height == first.block_height + 1
    for receipt in (first, later):
        log(test, "(native)", "transfer", "transfer", receipt.status, receipt.gas_used)


def test_isolated(deployed: Contract, request) -> None:
    client = deployed.client
    with client.isolated():
        to, sender = client.dev_account(2), client.dev_account(0)
        receipt = deployed.call("transfer", {"to": to, "amount": AMOUNT}, sender=sender)
        log(request.node.nodeid, "token.wasm", "transfer", "call", receipt.status, receipt.gas_used)


def test_without_a_chain() -> None:
    assert True


if os.environ.get("ADD_TEST"):

    def test_added(wasmchain: Client, request) -> None:
        receipt = wasmchain.dev_account(0).transfer(wasmchain.dev_account(3), 1)
        log(request.node.nodeid, "(native)", "transfer", "transfer", receipt.status, receipt.gas_used)
'''


@dataclass(frozen=True)
class Logged:
    test: str | None
    contract: str
    method: str
    kind: str
    status: str
    gas: int


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    log: list[Logged]


class Project:
    """A user's project in a temporary folder: one test file, run with the installed plugin."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "tests").mkdir()
        (folder / "tests" / "test_project.py").write_text(PROJECT_TESTS)

    def pytest(self, *arguments: str, **environment: str) -> Run:
        log = self.folder / "gas.log"
        log.unlink(missing_ok=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
        env.update(TOKEN_WASM=str(TOKEN), COUNTER_WASM=str(COUNTER), GAS_LOG=str(log), **environment)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *arguments, "tests"],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        logged = [Logged(*json.loads(line)) for line in log.read_text().splitlines()] if log.exists() else []
        return Run(run.returncode, run.stdout + run.stderr, logged)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    yield Project(tmp_path_factory.mktemp("gas-project"))


@pytest.fixture(scope="module")
def snapshotted(project: Project) -> Run:
    """The project run once with all three options' first two: the report and a snapshot to gas.snap."""
    run = project.pytest("--wasmchain-gas-report", "--wasmchain-gas-snapshot", "gas.snap")
    assert run.returncode == 0, run.output
    return run


def report_table(output: str) -> dict[tuple[str, str, str], list[int]]:
    """The printed report: (contract, method, kind) -> [calls, min, mean, median, max, failed]."""
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if "wasmchain gas report" in line)
    header = lines[start + 1].split()
    assert header == ["contract", "method", "kind", "calls", "min", "mean", "median", "max", "failed"]
    table = {}
    for line in lines[start + 2 :]:
        if line.startswith("="):
            break
        contract, method, kind, *figures = line.split()
        table[contract, method, kind] = [int(figure) for figure in figures]
    return table


def expected_table(log: list[Logged]) -> dict[tuple[str, str, str], list[int]]:
    groups: dict[tuple[str, str, str], list[Logged]] = {}
    for entry in log:
        groups.setdefault((entry.contract, entry.method, entry.kind), []).append(entry)
    return {
        key: [
            len(entries),
            min(gas := [entry.gas for entry in entries]),
            math.floor(statistics.mean(gas)),
            math.floor(statistics.median(gas)),
            max(gas),
            sum(entry.status != "ok" for entry in entries),
        ]
        for key, entries in groups.items()
    }


def expected_snapshot(log: list[Logged]) -> str:
    """One line per test that mined something, by id: its total, then each transaction as label=gas."""
    tests: dict[str, list[Logged]] = {}
    for entry in log:
        if entry.test is not None and entry.kind != "view":
            tests.setdefault(entry.test, []).append(entry)
    lines = []
    for test in sorted(tests):
        labels = [
            f"{entry.contract}:{entry.method}" + ("" if entry.status == "ok" else f"[{entry.status}]")
            for entry in tests[test]
        ]
        pairs = list(zip(labels, (entry.gas for entry in tests[test])))
        assert all(a != b for a, b in zip(pairs, pairs[1:])), "no run of equal transactions here (see *count)"
        total = sum(entry.gas for entry in tests[test])
        lines.append(f"{test} (gas: {total}) " + " ".join(f"{label}={gas}" for label, gas in pairs) + "\n")
    return "".join(lines)


def gas_of(log: list[Logged], test: str) -> int:
    return sum(entry.gas for entry in log if entry.test == f"tests/test_project.py::{test}" and entry.kind != "view")


# -- a user's project ------------------------------------------------------------------------


def test_the_report_shows_every_receipts_gas_per_contract_and_method(snapshotted: Run) -> None:
    table = report_table(snapshotted.output)
    assert table == expected_table(snapshotted.log)
    counter = next(entry.contract for entry in snapshotted.log if entry.contract.startswith("0x"))
    assert table["token.wasm", "(deploy)", "deploy"][0] == 2  # test_transfer's fixture and the module fixture
    assert table["token.wasm", "transfer", "call"][5] == 1  # the refused overdraft, counted as failed
    assert table["(native)", "transfer", "transfer"][0] == 3  # including the one mined after its nonce gap
    assert table[counter, "(deploy)", "deploy"][0] == 1
    assert table["token.wasm", "balance_of", "view"][0] == 1
    assert list(table) == sorted(table)  # printed in order


def test_the_snapshot_has_one_line_per_test_with_each_transaction(snapshotted: Run, project: Project) -> None:
    text = (project.folder / "gas.snap").read_text()
    assert text == expected_snapshot(snapshotted.log)
    assert "test_without_a_chain" not in text  # mined nothing
    assert "balance_of" not in text  # views are in the report only
    assert "wrote 3 tests to gas.snap" in snapshotted.output
    isolated = next(line for line in text.splitlines() if "test_isolated" in line)
    assert "(deploy)" not in isolated  # the module-scoped fixture's deploy belongs to no test


def test_the_check_passes_when_nothing_changed(snapshotted: Run, project: Project) -> None:
    run = project.pytest("--wasmchain-gas-check", "gas.snap")
    assert run.returncode == 0, run.output
    assert "wasmchain gas check passed" in run.output
    assert "gas unchanged: every test matches gas.snap" in run.output


def test_the_check_fails_showing_each_change(snapshotted: Run, project: Project) -> None:
    run = project.pytest("--wasmchain-gas-check", "gas.snap", AMOUNT="900", EXTRA="1", ADD_TEST="1")
    assert run.returncode == 1, run.output
    assert "5 passed" in run.output  # the tests passed; the gas check failed the run
    assert "wasmchain gas check FAILED" in run.output
    assert "2 changed, 1 added, 0 not run, against gas.snap" in run.output
    for test in ("test_transfer", "test_isolated"):
        old, new = gas_of(snapshotted.log, test), gas_of(run.log, test)
        assert new != old
        assert f"CHANGED tests/test_project.py::{test}: {old} -> {new} ({new - old:+d})" in run.output
    # a longer amount (900 takes 3 bytes of msgpack, 5 one): each transfer's own line with its
    # difference; the extra call: a new transaction
    old_call = next(e.gas for e in snapshotted.log if e.test and "test_isolated" in e.test)
    new_call = next(e.gas for e in run.log if e.test and "test_isolated" in e.test)
    assert f"    tx 1 token.wasm:transfer: {old_call} -> {new_call} ({new_call - old_call:+d})" in run.output
    extra = [e for e in run.log if e.test and "test_transfer" in e.test and e.kind != "view"][3]
    assert f"  + tx 4 token.wasm:transfer={extra.gas} (new)" in run.output
    added = gas_of(run.log, "test_added")
    assert f"ADDED tests/test_project.py::test_added (gas: {added}) (native):transfer={added}" in run.output
    assert "test_mined_later_and_from_bytes" not in run.output  # unchanged


def test_the_check_lists_tests_not_run_without_failing(snapshotted: Run, project: Project) -> None:
    run = project.pytest("--wasmchain-gas-check", "gas.snap", "-k", "isolated")
    assert run.returncode == 0, run.output
    assert "0 changed, 0 added, 2 not run, against gas.snap" in run.output
    assert "NOT RUN tests/test_project.py::test_transfer (gas: " in run.output


def test_the_check_refuses_a_missing_or_foreign_file(tmp_path: Path) -> None:
    project = Project(tmp_path)
    missing = project.pytest("--wasmchain-gas-check", "none.snap")
    assert missing.returncode == 4
    assert "--wasmchain-gas-check: cannot read none.snap" in missing.output
    (tmp_path / "bad.snap").write_text("tests/x.py::test_a (gas: 5) a:b=4\n")
    bad = project.pytest("--wasmchain-gas-check", "bad.snap")
    assert bad.returncode == 4
    assert "bad.snap is not a wasmchain gas snapshot: line 1: the total 5 is not the sum" in bad.output
    assert missing.log == bad.log == []  # nothing ran


def test_without_the_options_the_plugin_records_nothing(tmp_path: Path) -> None:
    run = Project(tmp_path).pytest("-k", "isolated")
    assert run.returncode == 0, run.output
    assert "wasmchain gas" not in run.output


# -- the formats, in this process --------------------------------------------------------------


def test_a_snapshot_line_lists_each_transaction_and_runs_of_equal_ones_once() -> None:
    transactions = [("t.wasm:(deploy)", 100), ("t.wasm:f", 7), ("t.wasm:f", 7), ("t.wasm:f", 7), ("t.wasm:f[abort]", 3)]
    line = format_snapshot_line("tests/a.py::test_x[a b]", transactions)
    assert line == "tests/a.py::test_x[a b] (gas: 124) t.wasm:(deploy)=100 t.wasm:f=7*3 t.wasm:f[abort]=3"
    assert parse_snapshot(line + "\n") == {"tests/a.py::test_x[a b]": transactions}
    tests = {"b::t": [("x:y", 1)], "a::t": [("x:y", 2)]}
    assert format_snapshot(tests) == "a::t (gas: 2) x:y=2\nb::t (gas: 1) x:y=1\n"
    assert parse_snapshot(format_snapshot(tests)) == tests


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a::t gas 5\n", "line 1 is not '<test id> (gas: <total>) <label>=<gas> ...'"),
        ("a::t (gas: 1) x:y=1\na::t (gas: 1) x:y=1\n", "line 2: test a::t is listed twice"),
        ("a::t (gas: 3) x:y=1*2\n", "line 1: the total 3 is not the sum of its transactions"),
    ],
)
def test_a_snapshot_file_that_is_not_ours_is_refused_naming_the_line(text: str, error: str) -> None:
    with pytest.raises(SnapshotError, match=error.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse_snapshot(text)


def test_rows_are_integers_floored_and_sorted() -> None:
    def record(contract: str, method: str, gas: int, status: str = "ok") -> GasRecord:
        return GasRecord(contract, method, "call", gas, status, None)

    records = [record("b.wasm", "f", 1), record("a.wasm", "g", 10), record("a.wasm", "g", 13, "abort")]
    records += [record("a.wasm", "g", 4), record("a.wasm", "g", 2)]
    rows = gas_rows(records)
    assert [(row.contract, row.method) for row in rows] == [("a.wasm", "g"), ("b.wasm", "f")]
    row = rows[0]
    assert (row.calls, row.min, row.mean, row.median, row.max, row.failed) == (4, 2, 7, 7, 13, 1)  # 29/4, (4+10)/2
    assert all(type(value) is int for value in (row.mean, row.median))


def test_compare_sorts_changes_additions_and_tests_not_run() -> None:
    old = {"a": [("x:f", 5)], "b": [("x:f", 5)], "c": [("x:f", 5)], "d": [("x:f", 5)]}
    new = {"a": [("x:f", 5)], "b": [("x:f", 6)], "e": [("x:f", 1)]}
    diff = compare_snapshots(old, new, ran={"a", "b", "c", "e"})
    assert diff.changed == [("b", [("x:f", 5)], [("x:f", 6)]), ("c", [("x:f", 5)], [])]  # c ran, mined nothing
    assert diff.added == [("e", [("x:f", 1)])]
    assert diff.not_run == [("d", [("x:f", 5)])]
    assert diff.failed
    lines = format_check(diff, "gas.snap")
    assert "CHANGED b: 5 -> 6 (+1)" in lines
    assert "    tx 1 x:f: 5 -> 6 (+1)" in lines
    assert "CHANGED c: 5 -> 0 (-5)" in lines
    assert "  - tx 1 x:f=5 (gone)" in lines
    assert not compare_snapshots(old, old, ran=set(old)).failed
