"""The ``wasmchain`` pytest plugin: a fresh in-process chain for every test.

Installed with wasmchain (entry point ``pytest11: wasmchain``), so tests
ask for its fixtures by name, with no conftest.py::

    from pathlib import Path

    import pytest

    from wasmchain import Client, TransactionFailed

    TOKEN = Path(__file__).parent.parent / "token" / "token.wasm"

    def test_transfer(wasmchain: Client) -> None:
        alice, bob = wasmchain.dev_account(0), wasmchain.dev_account(1)
        token = alice.deploy(TOKEN, init="init", args={"supply": 1000})
        receipt = token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
        assert receipt.events[0].data == {"from": alice.address, "to": bob.address, "amount": 5}
        assert token.view("balance_of", {"owner": bob}) == 5
        with pytest.raises(TransactionFailed, match="insufficient balance: have 5, need 6"):
            token.call("transfer", {"to": alice, "amount": 6}, sender=bob)
        # the token declares its interface (token.wit): typed methods, checked before sending
        token.transfer(to=bob, amount=1)          # signed by alice, who deployed it
        assert token.balance_of(owner=bob) == 6

Each chain is the real thing (the node, the RPC dispatcher, the VM, real
gas figures), in memory, with no server and no port; block timestamps
count up from genesis with no wall clock, so every run is the same.

Fixtures:

- ``wasmchain``: a ``Client`` on a fresh chain, one per test;
- ``dev_accounts``: that chain's funded dev accounts dev0..dev9;
- ``wasmchain_factory`` (session): makes more fresh chains, for fixtures
  of a wider scope;
- ``wasmchain_genesis`` (session): the genesis every chain starts from
  (``$WASMCHAIN_GENESIS``, else ``./genesis.json``, else the devnet's);
  define your own fixture of that name in conftest.py to use another;
- ``wasmchain_module_cache`` (session): a directory of compiled modules the
  session's chains share, so each contract compiles once per session.

Deploy once per module and still give each test a clean chain with a
snapshot and a revert (``Client.isolated``)::

    from wasmchain import Contract
    from wasmchain.client.testing import ChainFactory

    @pytest.fixture(scope="module")
    def deployed(wasmchain_factory: ChainFactory) -> Contract:
        client = wasmchain_factory()
        return client.dev_account(0).deploy(TOKEN, init="init", args={"supply": 1000})

    @pytest.fixture
    def token(deployed: Contract) -> Iterator[Contract]:
        with deployed.client.isolated():  # whatever the test does is undone after it
            yield deployed

Gas reports and snapshots (as Foundry's ``forge test --gas-report`` and
``forge snapshot``), over every transaction the fixtures' chains mine
(``wasmchain`` and ``wasmchain_factory``'s; not a ``Client.connect`` to a
devnet), with the gas each receipt says it used:

- ``pytest --wasmchain-gas-report`` prints, at the end of the run, one row
  per contract, method and kind: the number of calls, the min, mean,
  median and max gas, and how many failed (their gas counts too).  Kinds:
  ``deploy`` (method ``(deploy)``, its gas including the init call's),
  ``call``, ``transfer`` (native transfers, contract ``(native)``) and
  ``view`` (each ``view``: never mined, never in a snapshot).  A contract
  is named by the file name of the module it was deployed from
  (``token.wasm``) when ``Account.deploy`` was given a path, else by its
  address.  Only a transaction's top-level call is counted: the gas of a
  call a contract makes to another is in its caller's figure.  Every
  figure is an integer: the mean is the floor of the exact mean, and the
  median of an even count is the floor of the mean of the two middle
  values.  Rows are sorted by contract, method and kind::

      contract    method      kind      calls       min      mean    median       max  failed
      (native)    transfer    transfer      1     53120     53120     53120     53120       0
      token.wasm  (deploy)    deploy        2  30166643  30166643  30166643  30166643       0
      token.wasm  balance_of  view          1    146532    146532    146532    146532       0
      token.wasm  transfer    call          3    340904    341275    341029    341894       0

- ``--wasmchain-gas-snapshot FILE`` writes one line per test that mined
  a transaction, sorted by test id: the test's total gas, then each of
  its transactions in the order they were mined, as ``<contract>:<method>=<gas>``
  (``[<status>]`` after the method for one that failed; a run of equal
  ones once, as ``=<gas>*<count>``)::

      tests/test_token.py::test_transfer (gas: 30901696) token.wasm:(deploy)=30166643 token.wasm:transfer=340904 ...

  A test's transactions are those mined while it was set up (by its
  function-scoped fixtures) and while it ran; a fixture of a wider scope
  (``module``, ``session`` ...) is set up once for many tests and its
  transactions belong to none of them (they are in the report), nor do
  teardowns'.  So a deploy shared by many tests is in none of their lines.

- ``--wasmchain-gas-check FILE`` compares the run with a snapshot file and
  fails the run (exit status 1, the tests' own results unchanged) when a
  test's transactions or gas changed, or a test mined transactions the
  file does not list.  The report, under "wasmchain gas check FAILED",
  names each test with its old and new total and the difference, then
  each transaction that changed (``tx 2 token.wasm:transfer: 340904 ->
  341026 (+122)``), appeared (``+ tx 5 ...``) or went (``- tx 5 ...``);
  ``ADDED`` tests; and, without failing, the file's tests that did not run
  (``NOT RUN``: deselected with ``-k``, skipped, or removed).  A file that
  is missing or not a snapshot is a usage error (exit 4).  With both
  options and the same file, the check reads the file before the snapshot
  rewrites it.

Paths are relative to where pytest was started.  The three options
record in the pytest process and refuse pytest-xdist's ``-n``.  A run
that is interrupted, or collects nothing, neither checks nor snapshots.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from wasmchain.client import client as client_module
from wasmchain.client.build import build_crate
from wasmchain.client.client import Account, Client
from wasmchain.client.gas_report import (
    GasRecorder,
    RecordingTransport,
    SnapshotDiff,
    SnapshotError,
    compare_snapshots,
    format_check,
    format_report,
    format_snapshot,
    gas_rows,
    parse_snapshot,
)
from wasmchain.client.local import LocalTransport, local_client
from wasmchain.protocol.genesis import Genesis
from wasmchain.store.genesis_file import default_genesis_path, load_genesis


class ChainFactory:
    """Makes ``Client.in_process`` chains from one genesis, sharing one compiled-module cache."""

    def __init__(self, genesis: Genesis, cache_dir: Path, recorder: GasRecorder | None = None) -> None:
        self.genesis = genesis
        self.cache_dir = cache_dir
        self.recorder = recorder
        """Told every transaction the chains mine, when a gas option is on (``--wasmchain-gas-report`` ...)."""

    def __call__(self, genesis: Genesis | str | os.PathLike[str] | None = None) -> Client:
        """A fresh chain, from ``genesis`` (a ``Genesis`` or a genesis file) if given, else the session's."""
        client = local_client(self.genesis if genesis is None else genesis, cache_dir=self.cache_dir)
        if self.recorder is not None:
            assert isinstance(client.transport, LocalTransport)
            client.transport = RecordingTransport(client.transport.dispatcher, self.recorder)
        return client


def compile_project(path: str | os.PathLike[str] = ".") -> Path:
    """Build the contract crate at ``path`` (its folder, absolute or relative to the current one) as
    ``wasmchain build`` does, and return its module's path, ``<name>.wasm`` beside its Cargo.toml.

    Cached on the sources (``wasmchain.client.build``): while no source of the
    crate changed, this returns at once without running cargo, so a test
    session can call it in every test.  A crate that does not compile raises
    ``CompileFailed`` with the compiler's messages; no pinned toolchain,
    ``BuildError`` saying how to install it.  As near-workspaces'
    ``compile_project``; a test file next to its crate passes
    ``Path(__file__).parent.parent``.
    """
    return build_crate(Path(path)).crate.wasm


@pytest.fixture(scope="session")
def wasmchain_genesis() -> Genesis:
    """The genesis of every chain the fixtures make; override this fixture to use your own."""
    return load_genesis(default_genesis_path())


@pytest.fixture(scope="session")
def wasmchain_module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiled modules, shared by the session's chains (compiling a contract takes ~0.1 s, loading it ~1 ms)."""
    return tmp_path_factory.mktemp("wasmchain-modules")


@pytest.fixture(scope="session")
def wasmchain_factory(
    wasmchain_genesis: Genesis, wasmchain_module_cache: Path, pytestconfig: pytest.Config
) -> ChainFactory:
    """Call it for a fresh in-process chain (e.g. in a module-scoped fixture)."""
    plugin = pytestconfig.pluginmanager.get_plugin(GasPlugin.NAME)
    recorder = plugin.recorder if isinstance(plugin, GasPlugin) else None
    return ChainFactory(wasmchain_genesis, wasmchain_module_cache, recorder)


@pytest.fixture
def wasmchain(wasmchain_factory: ChainFactory) -> Client:
    """A fresh in-process chain for this test."""
    return wasmchain_factory()


@pytest.fixture
def dev_accounts(wasmchain: Client) -> list[Account]:
    """The funded dev accounts dev0..dev9 of this test's chain."""
    return wasmchain.accounts


# -- gas reports and snapshots -----------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wasmchain", "wasmchain gas reports and snapshots")
    group.addoption(
        "--wasmchain-gas-report",
        action="store_true",
        help="print the gas of the transactions (and views) the wasmchain fixtures' chains ran, "
        "per contract and method: calls, min, mean, median, max",
    )
    group.addoption(
        "--wasmchain-gas-snapshot",
        metavar="FILE",
        help="write one line per test with the gas of the transactions it mined to FILE",
    )
    group.addoption(
        "--wasmchain-gas-check",
        metavar="FILE",
        help="fail the run if a test's gas differs from the snapshot FILE, showing each difference",
    )


def pytest_configure(config: pytest.Config) -> None:
    report = bool(config.getoption("wasmchain_gas_report"))
    snapshot: str | None = config.getoption("wasmchain_gas_snapshot")
    check: str | None = config.getoption("wasmchain_gas_check")
    if not (report or snapshot or check):
        return
    if (
        hasattr(config, "workerinput")
        or config.getoption("numprocesses", None)
        or config.getoption("dist", "no") != "no"
    ):
        raise pytest.UsageError("the wasmchain gas options record in one process: run them without pytest-xdist's -n")
    base = config.invocation_params.dir
    expected = None
    if check:
        try:
            expected = parse_snapshot((base / check).read_text(encoding="utf-8"))
        except OSError as error:
            raise pytest.UsageError(
                f"--wasmchain-gas-check: cannot read {check}: {error.strerror} "
                "(write it first with --wasmchain-gas-snapshot FILE)"
            ) from None
        except (SnapshotError, UnicodeDecodeError) as error:
            raise pytest.UsageError(
                f"--wasmchain-gas-check: {check} is not a wasmchain gas snapshot: {error}"
            ) from None
    plugin = GasPlugin(
        report=report,
        snapshot=(base / snapshot, snapshot) if snapshot else None,
        check=(expected, check) if check and expected is not None else None,
    )
    config.pluginmanager.register(plugin, GasPlugin.NAME)
    config.add_cleanup(plugin.name_modules())


class GasPlugin:
    """The gas options' hooks: which test is running, the report, the snapshot file and the check."""

    NAME = "wasmchain-gas"

    def __init__(
        self,
        *,
        report: bool,
        snapshot: tuple[Path, str] | None,
        check: tuple[dict[str, list[tuple[str, int]]], str] | None,
    ) -> None:
        self.recorder = GasRecorder()
        self.report = report
        self.snapshot = snapshot
        """Where to write the snapshot, and its name as given."""
        self.check = check
        """The snapshot file's tests, and its name as given."""
        self.diff: SnapshotDiff | None = None
        self.written: int | None = None
        """How many tests the snapshot file got, once written."""

    def name_modules(self) -> Callable[[], None]:
        """Learn the file name of every module ``Account.deploy`` reads from a path; returns the undo."""
        read = client_module._read_module
        recorder = self.recorder

        def reading(path: str | os.PathLike[str]) -> bytes:
            code = read(path)
            recorder.name_module(code, os.fspath(path))
            return code

        client_module._read_module = reading

        def undo() -> None:
            client_module._read_module = read

        return undo

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, object, object]:
        with self.recorder.running(item.nodeid):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        with self.recorder.running(item.nodeid):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[object]) -> Generator[None, object, object]:
        if fixturedef.scope == "function":
            return (yield)
        with self.recorder.unattributed():  # set up once for many tests: it belongs to none of them
            return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and not report.skipped:
            self.recorder.ran.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return  # interrupted, or nothing collected: a partial run neither checks nor snapshots
        tests = self.recorder.snapshot()
        if self.check is not None:
            self.diff = compare_snapshots(self.check[0], tests, self.recorder.ran)
            if self.diff.failed:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.snapshot is not None:
            self.snapshot[0].write_text(format_snapshot(tests), encoding="utf-8")
            self.written = len(tests)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        write = terminalreporter.write_line
        if self.report:
            terminalreporter.write_sep("=", "wasmchain gas report")
            for line in format_report(gas_rows(self.recorder.records)):
                write(line)
        if self.snapshot is not None and self.written is not None:
            terminalreporter.write_sep("=", "wasmchain gas snapshot")
            write(f"wrote {self.written} tests to {self.snapshot[1]}")
        if self.check is not None and self.diff is not None:
            failed = self.diff.failed
            terminalreporter.write_sep("=", "wasmchain gas check " + ("FAILED" if failed else "passed"), red=failed)
            for line in format_check(self.diff, self.check[1]):
                write(line, red=line.startswith(("CHANGED", "ADDED")))
