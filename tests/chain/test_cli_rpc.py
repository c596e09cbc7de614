"""The CLI through a running node (``--rpc URL``, ``$WASMCHAIN_RPC``) prints what the embedded CLI prints.

Both modes make the same JSON-RPC calls and print the results, so the
same chain gives the same output.  Two checks:

- *the same data directory*: every read command run embedded on a data
  directory, then through a ``wasmchain devnet`` serving that very
  directory, prints exactly the same bytes (text and ``--json``, stdout,
  stderr and exit code);
- *the same command sequence on two chains*: one data directory driven by
  the embedded CLI, one fresh devnet driven with ``--rpc``, both from the
  same genesis.  Transactions sign the same (Ed25519 is deterministic), so
  transaction hashes, contract addresses, statuses, gas, results, events,
  balances, state roots and proofs are all equal; only what depends on a
  block's wall-clock timestamp differs: the block hashes (``block_hash`` in
  receipts; ``hash``, ``parent_hash`` and ``timestamp`` of a block).

The devnets are real ``wasmchain devnet --port 0`` processes, stopped with
SIGTERM (which must exit 0); the CLI runs in this process (``main``).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CONTRACTS, GENESIS
from tests.helpers.cli import Run, wasmchain
from tests.helpers.devnet import Devnet, start_devnet
from wasmchain.protocol.keys import contract_address, dev_key, format_address

DEV0 = format_address(dev_key(0).address)
DEV1 = format_address(dev_key(1).address)
TOKEN = format_address(contract_address(dev_key(0).address, 0))
COUNTER = format_address(contract_address(dev_key(1).address, 1))
TOKEN_WASM = str(CONTRACTS / "token" / "token.wasm")
COUNTER_WASM = str(CONTRACTS / "counter" / "counter.wasm")


# -- running the CLI and the devnet ---------------------------------------------------------


class Devnets:
    """The devnets a test or module started; all stopped (and checked) at its end."""

    def __init__(self) -> None:
        self.running: list[Devnet] = []

    def start(self, data: Path, *options: str) -> Devnet:
        devnet = start_devnet(data, *options)
        self.running.append(devnet)
        return devnet

    def stop_all(self) -> None:
        errors = []
        for devnet in self.running:
            try:
                devnet.stop()
            except AssertionError as error:
                errors.append(str(error))
        assert not errors, "\n".join(errors)


@pytest.fixture
def devnets() -> Iterator[Devnets]:
    started = Devnets()
    try:
        yield started
    finally:
        started.stop_all()


# -- the scenario: the same commands, embedded and through a node ----------------------------------


def _args(value: Any) -> str:
    return json.dumps(value)


WRITES: list[tuple[str, ...]] = [
    ("deploy", TOKEN_WASM, "--from", "dev0", "--init", "init", "--args", _args({"supply": 1_000_000})),
    ("call", TOKEN, "transfer", "--from", "dev0", "--args", _args({"to": DEV1, "amount": 250})),
    ("transfer", "dev2", "1000", "--from", "dev0"),
    # fails: exit 1, mined (--no-preflight; without it, the pre-flight refuses it: test_cli_preflight.py)
    ("call", TOKEN, "transfer", "--from", "dev1", "--args", _args({"to": DEV0, "amount": 10**9}), "--no-preflight"),
    ("transfer", "alice", str(10**18), "--from", "dev0"),  # a stored key, resolved locally
    ("transfer", "dev3", "7", "--from", "alice"),  # signed with it
    ("deploy", COUNTER_WASM, "--from", "dev1", "--value", "5"),  # no init
    ("call", COUNTER, "increment", "--from", "dev1"),
]

REJECTED: list[tuple[str, ...]] = [
    ("call", "0x" + "00" * 20, "get", "--from", "dev0"),
    ("call", TOKEN, "mint", "--from", "dev0"),
    ("transfer", "dev1", "5", "--from", "dev0", "--gas", "3000000000"),
    ("transfer", "dev1", "5", "--from", "dev0", "--gas", "10"),
    ("transfer", "dev0", "1", "--from", "bob"),  # no funds
    ("transfer", "dev1", "5", "--from", "nobody"),  # no such key
    ("call", "0x1234", "get", "--from", "dev0"),
    ("deploy", "/nonexistent.wasm", "--from", "dev0"),
]

READS: list[tuple[str, ...]] = [
    ("balance", "dev0"),
    ("balance", "alice"),
    ("account", "dev1"),
    ("account", TOKEN),
    ("view", TOKEN, "balance_of", "--args", _args({"owner": DEV1})),
    ("view", COUNTER, "get"),
    ("view", TOKEN, "nosuch"),  # status invalid: exit 2
    ("view", "0x" + "00" * 20, "get"),
    ("simulate", "call", TOKEN, "transfer", "--from", "dev1", "--args", _args({"to": DEV0, "amount": 1})),
    ("simulate", "call", TOKEN, "transfer", "--from", "dev1", "--args", _args({"to": DEV0, "amount": 10**9})),
    ("simulate", "deploy", TOKEN_WASM, "--from", "dev2", "--init", "init", "--args", _args({"supply": 5})),
    ("simulate", "transfer", "dev4", "5", "--from", "dev0"),
    ("simulate", "transfer", "dev4", "5", "--from", "0x" + "11" * 20),  # no balance: invalid
    ("events",),
    ("events", "--contract", TOKEN, "--name", "Transfer"),
    ("events", "--from-block", "2", "--to-block", "3"),
    ("events", "--limit", "1"),
    ("events", "--from-block", "5", "--to-block", "3"),
    ("tx", "0x" + "ab" * 32),
    ("tx", "0x12"),
    ("block", "latest"),
    ("block", "1"),
    ("block", "99"),
    ("proof", TOKEN),
    ("proof", "dev0"),
    ("proof", COUNTER, "count"),
    ("proof", TOKEN, "no-such-key"),
    ("proof", TOKEN, "0xzz"),
]

VOLATILE_LINES = re.compile(r"^(block_hash|hash|parent_hash|timestamp): .*\n", re.M)


@dataclass
class Side:
    """One mode's results: command -> (text run, JSON run)."""

    where: tuple[str, ...]
    writes: dict[tuple[str, ...], Run] = field(default_factory=dict)
    reads: dict[tuple[str, ...], tuple[Run, Run]] = field(default_factory=dict)

    def run(self, *argv: str) -> Run:
        return wasmchain(*argv, *self.where)

    def read(self, argv: tuple[str, ...]) -> tuple[Run, Run]:
        return self.run(*argv), self.run(*argv, "--json")


def _reads(side: Side) -> list[tuple[str, ...]]:
    """READS, and the lookups of this chain's own transactions and blocks."""
    receipts = [run.json() for run in side.writes.values() if run.code in (0, 1)]
    block_one = side.run("block", "1", "--json").json()
    return [*READS, *(("tx", receipt["tx_hash"]) for receipt in receipts), ("block", block_one["hash"])]


@dataclass
class Scenario:
    embedded: Side
    remote: Side
    embedded_data: Path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("cli-rpc")
    data = root / "embedded"
    assert wasmchain("init", "--genesis", str(GENESIS), "--data", str(data)).code == 0
    for name in ("alice", "bob"):  # the remote side signs with these same keys: --data is its keystore
        assert wasmchain("keys", "new", name, "--data", str(data)).code == 0
    devnet = start_devnet(root / "remote")
    try:
        embedded = Side(("--data", str(data)))
        remote = Side(("--rpc", devnet.url, "--data", str(data)))
        for side in (embedded, remote):
            for argv in WRITES + REJECTED:
                side.writes[argv] = side.run(*argv, "--json")
            for argv in _reads(side):
                side.reads[argv] = side.read(argv)
        yield Scenario(embedded, remote, data)
    finally:
        devnet.stop()


def _without_block_times(report: Any) -> Any:
    """A report with the fields that depend on block timestamps removed (at any depth)."""
    if isinstance(report, dict):
        return {
            key: _without_block_times(value)
            for key, value in report.items()
            if key not in ("block_hash", "parent_hash", "timestamp") and not (key == "hash" and "parent_hash" in report)
        }
    if isinstance(report, list):
        return [_without_block_times(item) for item in report]
    return report


def test_transactions_give_the_same_receipts_through_a_node(scenario: Scenario) -> None:
    for argv in WRITES:
        embedded, remote = scenario.embedded.writes[argv], scenario.remote.writes[argv]
        assert (embedded.code, embedded.err) == (remote.code, remote.err), argv
        assert _without_block_times(embedded.json()) == _without_block_times(remote.json()), argv
    codes = [scenario.remote.writes[argv].code for argv in WRITES]
    assert codes == [0, 0, 0, 1, 0, 0, 0, 0]
    deployed = scenario.remote.writes[WRITES[0]].json()
    assert deployed["address"] == TOKEN and deployed["block_height"] == 1


def test_rejections_print_the_same_one_line_error(scenario: Scenario) -> None:
    for argv in REJECTED:
        embedded, remote = scenario.embedded.writes[argv], scenario.remote.writes[argv]
        assert embedded == remote, argv
        assert embedded.code == 2 and embedded.json()["status"] == "invalid", argv
    rejected = scenario.remote.writes[REJECTED[0]].json()["error"]
    assert rejected.startswith("rejected: no contract at 0x0000")


def test_reads_of_the_same_history_print_the_same_but_block_times(scenario: Scenario) -> None:
    embedded, remote = scenario.embedded.reads, scenario.remote.reads
    assert len(embedded) == len(remote) == len(READS) + 9
    for (argv, (text, as_json)), (remote_argv, (remote_text, remote_json)) in zip(embedded.items(), remote.items()):
        if argv[0] == "block" and argv[1].startswith("0x"):  # each chain's own block 1, by its hash
            assert remote_argv[0] == "block"
        else:
            assert argv == remote_argv
        assert (text.code, text.err) == (remote_text.code, remote_text.err), argv
        assert VOLATILE_LINES.sub("", text.out) == VOLATILE_LINES.sub("", remote_text.out), argv
        assert as_json.code == remote_json.code, argv
        assert _without_block_times(as_json.json()) == _without_block_times(remote_json.json()), argv
    # Not vacuous: the state is the same, so are its root and proofs; the block hashes are not.
    latest, remote_latest = embedded[("block", "latest")][1].json(), remote[("block", "latest")][1].json()
    assert latest["height"] == remote_latest["height"] == len(WRITES)
    assert latest["state_root"] == remote_latest["state_root"]
    assert latest["hash"] != remote_latest["hash"]


def test_a_node_on_the_same_data_prints_exactly_what_the_embedded_cli_did(scenario: Scenario, devnets: Devnets) -> None:
    devnet = devnets.start(scenario.embedded_data)  # resumes at the embedded CLI's head
    remote = Side(("--rpc", devnet.url, "--data", str(scenario.embedded_data)))
    for argv, (text, as_json) in scenario.embedded.reads.items():
        assert remote.read(argv) == (text, as_json), argv
    # And the embedded CLI says how to reach the data directory while the node holds it.
    locked = wasmchain("balance", "dev0", "--data", str(scenario.embedded_data))
    assert locked.code == 2 and "in use by another process" in locked.err and "--rpc" in locked.err


def test_simulate_and_events_through_a_node(scenario: Scenario) -> None:
    reads = scenario.remote.reads
    simulated = reads[READS[8]][1]
    assert simulated.code == 0 and simulated.json()["status"] == "ok"
    assert simulated.json()["events"][0]["data"] == {"from": DEV1, "to": DEV0, "amount": 1}
    assert (reads[READS[9]][1].code, reads[READS[9]][1].json()["status"]) == (1, "abort")
    assert reads[READS[12]][1].code == 2 and reads[READS[12]][1].json()["status"] == "invalid"
    events, _ = reads[("events", "--contract", TOKEN, "--name", "Transfer")]
    lines = events.out.splitlines()
    assert len(lines) == 2  # the mint at init and the one transfer that succeeded
    height, tx_hash, contract, name, data = lines[1].split("  ")
    assert (height, contract, name) == ("2", TOKEN, "Transfer")
    assert tx_hash == scenario.remote.writes[WRITES[1]].json()["tx_hash"]
    assert json.loads(data) == {"from": DEV0, "to": DEV1, "amount": 250}


# -- choosing the node ------------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path, devnets: Devnets) -> Devnet:
    return devnets.start(tmp_path / "node")


def test_wasmchain_rpc_in_the_environment(node: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.wasmchain here: the dev keys need none
    expected = wasmchain("balance", "dev0", "--rpc", node.url)
    assert expected.code == 0 and expected.out.startswith(f"address: {DEV0}\n")
    assert wasmchain("balance", "dev0", env={"WASMCHAIN_RPC": node.url}) == expected
    sent = wasmchain("transfer", "dev1", "5", "--from", "dev0", "--json", env={"WASMCHAIN_RPC": node.url})
    assert sent.code == 0 and sent.json()["status"] == "ok"
    # --rpc wins over the environment; an empty WASMCHAIN_RPC means embedded (here: no data directory).
    assert wasmchain("balance", "dev0", "--rpc", node.url, env={"WASMCHAIN_RPC": "http://127.0.0.1:1"}).code == 0
    embedded = wasmchain("balance", "dev0", env={"WASMCHAIN_RPC": ""})
    assert embedded.code == 2 and "wasmchain init" in embedded.err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "argv",
    [
        ("balance", "dev0"),
        ("transfer", "dev1", "5", "--from", "dev0"),
        ("events",),
        ("simulate", "transfer", "dev1", "5", "--from", "dev0"),
    ],
)
def test_an_unreachable_node_is_one_clear_line(argv: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    run = wasmchain(*argv, "--rpc", url)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith(f"error: cannot reach the node at {url}: ") and run.err.count("\n") == 1
    as_json = wasmchain(*argv, "--rpc", url, "--json")
    assert as_json.code == 2 and as_json.json()["error"].startswith(f"cannot reach the node at {url}")


@pytest.mark.parametrize(
    "url",
    ["localhost:8545", "https://127.0.0.1:8545", "http://127.0.0.1:notaport", "http://127.0.0.1:99999", "http://", ""],
)
def test_a_bad_node_url_is_refused_before_anything_is_sent(url: str) -> None:
    run = wasmchain("balance", "dev0", "--rpc", url)
    assert run.code == 2 and run.err.startswith("error: a node URL is http://HOST:PORT") and "Traceback" not in run.err


def test_init_is_local_and_refuses_rpc(tmp_path: Path) -> None:
    run = wasmchain("init", "--data", str(tmp_path / "data"), "--rpc", "http://127.0.0.1:8545")
    assert run.code == 2 and "does not take --rpc" in run.err
    assert not (tmp_path / "data").exists()


def test_a_node_with_a_block_time_is_waited_for(tmp_path: Path, devnets: Devnets) -> None:
    devnet = devnets.start(tmp_path / "node", "--block-time", "0.2")
    where = ("--rpc", devnet.url, "--json")
    deployed = wasmchain("deploy", TOKEN_WASM, "--from", "dev0", "--init", "init", "--args", '{"supply": 9}', *where)
    assert deployed.code == 0 and deployed.json()["address"] == TOKEN
    called = wasmchain("call", TOKEN, "transfer", "--from", "dev0", "--args", _args({"to": DEV1, "amount": 4}), *where)
    assert called.code == 0 and called.json()["block_height"] > deployed.json()["block_height"]
    assert wasmchain("tx", called.json()["tx_hash"], *where).json()["status"] == "ok"
    viewed = wasmchain("view", TOKEN, "balance_of", "--args", _args({"owner": DEV1}), *where)
    assert viewed.json()["result"] == 4
