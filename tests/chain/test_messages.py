"""Messages that say what to do next (issue 15, item 6): an unreachable node, a port in use, out of gas, set-up.

Each test pins the advice, not the whole wording: the message must name the
command or the option that gets the user going again.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import wasmchain
from wasmchain.client.client import Account, Client, Contract
from wasmchain.client.results import OUT_OF_GAS_HINT, TransactionFailed, failure_hint, out_of_gas_step
from wasmchain.client.transport import RPCClientError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = ROOT / "contracts" / "token" / "token.wasm"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on for the test's duration."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port: int = holder.getsockname()[1]
        yield port


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens (a port just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- a node that is not there --------------------------------------------------------------------


def _says_how_to_start_one(message: str) -> None:
    assert "make run" in message and "wasmchain devnet" in message, message
    assert "unset WASMCHAIN_RPC" in message, message


def test_the_client_says_how_to_start_a_node(dead_url: str) -> None:
    with pytest.raises(RPCClientError) as unreachable:
        Client.connect(dead_url, timeout=5).head()
    assert unreachable.value.message.startswith(f"cannot reach the node at {dead_url}: ")
    assert unreachable.value.reason == "no_answer"
    _says_how_to_start_one(unreachable.value.message)


@pytest.mark.parametrize("how", ["--rpc", "WASMCHAIN_RPC"])
def test_the_cli_says_how_to_start_a_node_or_use_a_data_directory(how: str, dead_url: str, tmp_path: Path) -> None:
    argv = ("balance", "dev0", "--data", str(tmp_path))
    if how == "--rpc":
        code, out, err = wasmchain(*argv, "--rpc", dead_url)
    else:
        code, out, err = wasmchain(*argv, env={"WASMCHAIN_RPC": dead_url})
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot reach the node at {dead_url}: ") and err.count("\n") == 1, err
    _says_how_to_start_one(err)


# -- a port in use -------------------------------------------------------------------------------


def test_a_port_in_use_is_one_line_suggesting_port_0(taken_port: int, tmp_path: Path) -> None:
    code, out, err = wasmchain("devnet", "--port", str(taken_port), "--data", str(tmp_path / "chain"))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{taken_port}: the port is in use"), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "--port 0" in err and "stop that process" in err, err


# -- out of gas ----------------------------------------------------------------------------------


@pytest.fixture
def alice(wasmchain: Client) -> Account:
    return wasmchain.dev_account(0)


@pytest.fixture
def token(alice: Account) -> Contract:
    return alice.deploy(TOKEN, init="init", args={"supply": 1_000})


def test_out_of_gas_says_the_limit_was_too_low_and_to_simulate(wasmchain: Client, token: Contract) -> None:
    alice, bob = wasmchain.dev_account(0), wasmchain.dev_account(1)
    with pytest.raises(TransactionFailed) as failure:
        token.call("transfer", {"to": bob, "amount": 5}, sender=alice, gas=100_000)
    receipt = failure.value.result
    # The receipt's message is consensus data (hashed into receipts_root, compared in replay): it stays as it was,
    # and its "needed" figure is one step's cost, far from what the call needs...
    assert receipt.status == "out_of_gas" and receipt.error is not None
    assert receipt.error.startswith("out of gas: needed "), receipt.error
    needed = int(receipt.error.removeprefix("out of gas: needed ").split(" ")[0])
    simulated = token.simulate("transfer", {"to": bob, "amount": 5}, sender=alice)
    assert simulated.ok and simulated.gas_used > needed
    # ...so the client's message adds, on its second line, that the limit was too low and how to find the right one.
    first, second = str(failure.value).split("\n")[:2]
    assert first == f"out_of_gas: {receipt.error}"
    assert second == failure_hint("out_of_gas", receipt.error)
    assert second.startswith("the gas limit was too low for the call's first step, instantiating the contract")
    assert "wasmchain simulate" in second and "not what the whole call needs" in second
    # With the limit left out, the client simulates and the same call goes through.
    assert token.call("transfer", {"to": bob, "amount": 5}, sender=alice).ok


@pytest.mark.parametrize(
    ("error", "step"),
    [
        ("out of gas: needed 100000 more, 46020 left of 46020", "the call's first step, instantiating the contract"),
        ("out of gas: needed 310 more, 12 left of 46020", "a host call partway through the call"),
        ("out of gas: used all 46020", "the contract's code, which used all of it"),
        ("out of gas: used more than the limit of 46020", "the contract's code, which used all of it"),
        (
            "out of gas: not run: the caller has 90 gas left, no more than the call_reserve of 100 it keeps",
            "a nested call, which was not run",
        ),
    ],
)
def test_out_of_gas_names_the_step(error: str, step: str) -> None:
    assert out_of_gas_step(error) == step
    assert failure_hint("out_of_gas", error) == OUT_OF_GAS_HINT.format(step=step)


def test_only_out_of_gas_gets_the_hint() -> None:
    assert failure_hint("abort", "insufficient balance") is None
    assert failure_hint("ok") is None


# -- the first make run --------------------------------------------------------------------------

NOISY_PIP = """#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10; do echo "Collecting something-$i"; done
echo "a warning on stderr" >&2
exit "${FAIL_PIP:-0}"
"""

FAKE_PYTHON = f"""#!/bin/sh
# Stands in for python3: `-m venv DIR` makes DIR/bin/pip, a script that prints pages and installs nothing.
[ "$1" = "-m" ] && [ "$2" = "venv" ] || exit 3
mkdir -p "$3/bin"
cat > "$3/bin/pip" <<'EOF'
{NOISY_PIP}EOF
chmod +x "$3/bin/pip"
"""


def _make_install(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    python = tmp_path / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "install", f"PYTHON={python}", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_the_first_setup_says_so_and_keeps_the_installer_quiet(tmp_path: Path) -> None:
    done = _make_install(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Setting up {tmp_path / 'venv'}") and "about a minute" in lines[0], lines
    assert len(lines) == 2 and "Collecting" not in done.stdout and done.stderr == "", (done.stdout, done.stderr)
    log = tmp_path / "venv" / "setup.log"
    assert str(log) in lines[0] and "Collecting something-10" in log.read_text()
    assert (tmp_path / "venv" / ".installed-stamp").exists()


def test_a_failed_setup_says_where_its_log_is(tmp_path: Path) -> None:
    failed = _make_install(tmp_path, FAIL_PIP="1")
    assert failed.returncode != 0
    log = tmp_path / "venv" / "setup.log"
    assert f"error: setting up {tmp_path / 'venv'} failed" in failed.stderr and str(log) in failed.stderr
    assert "a warning on stderr" in failed.stderr  # the log's last lines
    assert failed.stdout.count("\n") == 1 and not (tmp_path / "venv" / ".installed-stamp").exists()


def test_make_run_and_make_test_set_up_quietly_first() -> None:
    for target in ("run", "test"):
        planned = subprocess.run(
            ["make", "-n", target, "VENV=/nonexistent/venv"], cwd=ROOT, capture_output=True, text=True, timeout=60
        ).stdout
        assert "Setting up /nonexistent/venv" in planned and "> /nonexistent/venv/setup.log 2>&1" in planned, planned
