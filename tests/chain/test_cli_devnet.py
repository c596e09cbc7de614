"""``wasmchain devnet ACTION``: the devnet controls from the CLI (issue 15, item 5).

``wasmchain devnet`` with no action still starts a node (the fixture starts
one exactly so, as ``make run`` does); an action talks to a running node
through ``--rpc`` or ``$WASMCHAIN_RPC`` (the devnet_* JSON-RPC methods), or
to a node embedded over ``--data``, where only ``mine`` and ``set-balance``
make sense (they write blocks; the others change a running node's memory).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.helpers.cli import refused, wasmchain
from tests.helpers.devnet import GENESIS, Devnet, start_devnet
from wasmchain.cli.main import main


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """``wasmchain devnet --port 0 --data DIR --genesis FILE``: the bare form, options and no action."""
    devnet = start_devnet(tmp_path_factory.mktemp("devnet") / "data")
    try:
        yield devnet
    finally:
        devnet.stop()


def test_the_bare_devnet_still_starts_a_node_and_its_help_lists_the_actions(node: Devnet) -> None:
    assert node.client().call("chain_info")["chain_id"] == "wasmchain-devnet"
    with pytest.raises(SystemExit) as exited, redirect_stdout(io.StringIO()) as out:
        main(["devnet", "--help"])
    assert exited.value.code == 0
    for action in ("mine", "snapshot", "revert", "set-balance", "set-next-timestamp", "increase-time"):
        assert action in out.getvalue()
    assert "--port" in out.getvalue()


def test_the_controls_drive_a_running_devnet(node: Devnet) -> None:
    rpc = ("--rpc", node.url)
    snapshot = wasmchain("devnet", "snapshot", *rpc, "--json")
    assert snapshot.code == 0, snapshot
    start = snapshot.json()["height"]

    mined = wasmchain("devnet", "mine", "3", *rpc, "--json")
    assert mined.code == 0, mined
    assert [block["height"] for block in mined.json()["blocks"]] == [start + 1, start + 2, start + 3]
    assert mined.json()["head"] == start + 3

    head_time = node.client().call("get_block", block="latest")["timestamp"]
    later = head_time + 1_000
    assert wasmchain("devnet", "set-next-timestamp", str(later), *rpc, "--json").json() == {"timestamp": later}
    text = wasmchain("devnet", "mine", *rpc)  # the text form: one line per block, then the head
    assert text.code == 0 and text.out.splitlines()[-1] == f"head: {start + 4}", text
    assert node.client().call("get_block", block="latest")["timestamp"] == later

    increased = wasmchain("devnet", "increase-time", "3600", *rpc, "--json")
    assert increased.code == 0 and increased.json()["offset"] >= 3600, increased
    wasmchain("devnet", "mine", *rpc)
    assert node.client().call("get_block", block="latest")["timestamp"] >= head_time + 3600  # the clock, moved on

    balance = wasmchain("devnet", "set-balance", "dev1", "12345", *rpc, "--json")  # a key name for the address
    assert balance.code == 0, balance
    assert (balance.json()["balance"], balance.json()["block_height"]) == (12345, start + 6)
    assert wasmchain("balance", "dev1", *rpc, "--json").json()["balance"] == 12345

    reverted = wasmchain("devnet", "revert", str(snapshot.json()["id"]), *rpc, "--json")
    assert reverted.json() == {"reverted": True, "head": start}
    assert wasmchain("balance", "dev1", *rpc, "--json").json()["balance"] != 12345


def test_wasmchain_rpc_in_the_environment_reaches_the_node(node: Devnet) -> None:
    run = wasmchain("devnet", "snapshot", "--json", env={"WASMCHAIN_RPC": node.url})
    assert run.code == 0 and set(run.json()) == {"id", "height"}, run


def test_the_node_s_refusals_are_one_line_with_exit_2(node: Devnet) -> None:
    rpc = ("--rpc", node.url)
    refused(wasmchain("devnet", "revert", "999999", *rpc), "no snapshot with id 999999")
    refused(wasmchain("devnet", "set-next-timestamp", "0", *rpc), "earlier than the head block's")
    run = wasmchain("devnet", "revert", "999999", *rpc, "--json")
    assert run.code == 2 and run.json()["status"] == "invalid" and "no snapshot" in run.json()["error"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("mine", "0"), "at least 1, found 0"),
        (("set-balance", "dev1", "-5"), "must not be negative, found -5"),
        (("set-balance", "dev42", "5"), "no key named 'dev42'"),
        (("increase-time", "-1"), "must not be negative, found -1"),
        (("revert", "-1"), "a snapshot id is a number from `wasmchain devnet snapshot`"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    node: Devnet, argv: tuple[str, ...], fragment: str, tmp_path: Path
) -> None:
    head = node.client().call("chain_info")["head"]["height"]
    refused(wasmchain("devnet", *argv, "--rpc", node.url, "--data", str(tmp_path)), fragment)
    assert node.client().call("chain_info")["head"]["height"] == head


def test_bad_arguments_are_argparse_s_exit_2() -> None:
    for argv in (("devnet", "mine", "x"), ("devnet", "revert"), ("devnet", "set-balance", "dev1")):
        with pytest.raises(SystemExit) as exited, redirect_stderr(io.StringIO()):
            main(list(argv))
        assert exited.value.code == 2


def test_the_options_of_a_node_to_start_are_refused_with_an_action(node: Devnet) -> None:
    refused(wasmchain("devnet", "--port", "9", "mine", "--rpc", node.url), "--port", "give its --rpc URL")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    assert wasmchain("init", "--data", str(directory), "--genesis", str(GENESIS)).code == 0
    return directory


def test_mine_and_set_balance_work_on_an_embedded_node(data: Path) -> None:
    mined = wasmchain("devnet", "mine", "2", "--data", str(data), "--json")
    assert mined.code == 0 and mined.json()["head"] == 2, mined
    # --data before the action is kept (the action's own options do not override it)
    balance = wasmchain("devnet", "--data", str(data), "set-balance", "dev2", "7", "--json")
    assert balance.code == 0 and balance.json()["block_height"] == 3, balance
    assert wasmchain("balance", "dev2", "--data", str(data), "--json").json()["balance"] == 7


@pytest.mark.parametrize(
    "argv", [("snapshot",), ("revert", "0"), ("set-next-timestamp", "10"), ("increase-time", "10")]
)
def test_controls_of_a_running_node_s_memory_say_to_give_rpc_when_embedded(data: Path, argv: tuple[str, ...]) -> None:
    refused(
        wasmchain("devnet", *argv, "--data", str(data)),
        f"devnet {argv[0]} changes a running node's memory",
        "give --rpc URL (or set $WASMCHAIN_RPC)",
    )
