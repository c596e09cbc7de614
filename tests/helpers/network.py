"""A real CometBFT network for tests: validators on loopback, each a ``cometbft`` and a ``wasmchain node`` process.

``start_network(tmp_path, 4)`` sets up a localnet directory with the
localnet's own code (``wasmchain.node.localnet.set_up``: ``cometbft
testnet``, the configs, our genesis) on a loopback range of its own
(127.X.Y.1 onwards, X and Y random, so the default ports never clash with
another test or a developer's node), starts every validator's ``wasmchain
node`` and then its ``cometbft start``, and returns once each has committed
a block.  The tests kill, stop and restart single processes through it.

``cometbft_binary()`` finds the binary as ``wasmchain localnet`` does
($WASMCHAIN_COMETBFT, PATH, $GOBIN, ~/go/bin); without it the test is
skipped, or fails when ``WASMCHAIN_REQUIRE_COMETBFT=1`` (CI).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wasmchain import Client, HTTPTransport
from wasmchain.node.localnet import (
    COMETBFT_VERSION,
    INSTALL_COMETBFT,
    Child,
    Layout,
    LocalnetError,
    check_layout,
    cometbft_height,
    cometbft_version,
    find_cometbft,
    set_up,
)

ROOT = Path(__file__).resolve().parents[2]
GENESIS = ROOT / "genesis.json"
START_TIMEOUT = 60.0


def cometbft_binary() -> Path:
    """The pinned ``cometbft``, or a skip (a failure under ``WASMCHAIN_REQUIRE_COMETBFT=1``)."""
    try:
        found = find_cometbft()
        version = cometbft_version(found)
        if version != COMETBFT_VERSION:
            raise LocalnetError(f"{found} is CometBFT {version}, not {COMETBFT_VERSION}: `{INSTALL_COMETBFT}`")
    except LocalnetError as error:
        if os.environ.get("WASMCHAIN_REQUIRE_COMETBFT") == "1":
            pytest.fail(f"WASMCHAIN_REQUIRE_COMETBFT=1 but {error}")
        pytest.skip(str(error))
    return found


def free_loopback_range() -> str:
    """A first address 127.X.Y.1 for a localnet that shares no address with any other test's."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.1"


@dataclass
class Network:
    layout: Layout
    cometbft: Path
    apps: list[Child | None] = field(default_factory=list)
    nodes: list[Child | None] = field(default_factory=list)
    transports: list[HTTPTransport] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.layout.validators

    # -- processes ----------------------------------------------------------------------

    def start_app(self, index: int) -> Child:
        log = self.layout.home(index) / "wasmchain.log"
        app = Child.start(f"validator{index}'s wasmchain node", self.layout.node_command(index), log)
        self.apps[index] = app
        _wait(f"{app.name} to listen", lambda: "Listening on " in app.output() or _dead(app), app)
        return app

    def start_cometbft(self, index: int) -> Child:
        command = self.layout.cometbft_command(self.cometbft, index)
        node = Child.start(f"validator{index}'s cometbft", command, self.layout.home(index) / "cometbft.log")
        self.nodes[index] = node
        return node

    def start(self, index: int) -> None:
        self.start_app(index)
        self.start_cometbft(index)

    def kill(self, index: int, *, app: bool = True, cometbft: bool = True) -> None:
        """SIGKILL validator ``index``'s processes (both by default)."""
        for children, wanted in ((self.nodes, cometbft), (self.apps, app)):
            child = children[index]
            if wanted and child is not None:
                child.process.send_signal(signal.SIGKILL)
                child.process.wait(30)
                children[index] = None

    def stop(self, index: int) -> None:
        """SIGTERM validator ``index``'s CometBFT, then its app; the app must exit 0 with no traceback."""
        node, app = self.nodes[index], self.apps[index]
        if node is not None:
            node.stop()
            self.nodes[index] = None
        if app is not None:
            code = app.stop()
            self.apps[index] = None
            output = app.output()
            assert code == 0, f"{app.name} exited {code} after SIGTERM:\n{output[-3000:]}"
            assert "Traceback" not in output, f"{app.name} logged a traceback:\n{output[-3000:]}"
            assert output.rstrip().splitlines()[-1].startswith("stopped at height "), output[-2000:]

    def stop_all(self) -> None:
        for transport in self.transports:
            transport.close()
        for index in range(self.size):
            node = self.nodes[index]
            if node is not None:
                node.stop()
                self.nodes[index] = None
        for index in range(self.size):
            self.stop(index)

    def kill_all(self) -> None:
        """Last resort (a failed test): no checks."""
        for index in range(self.size):
            for child in (self.nodes[index], self.apps[index]):
                if child is not None and child.process.poll() is None:
                    child.process.kill()
                    child.process.wait(30)

    # -- reading ------------------------------------------------------------------------

    def client(self, index: int) -> Client:
        transport = HTTPTransport(self.layout.rpc_url(index), timeout=30.0)
        self.transports.append(transport)
        return Client(transport)

    def height(self, index: int) -> int | None:
        """Validator ``index``'s committed height as CometBFT reports it."""
        return cometbft_height(self.layout.cometbft_url(index))

    def wait_height(self, index: int, height: int, timeout: float = START_TIMEOUT) -> None:
        _wait(f"validator{index} to reach height {height}", lambda: (self.height(index) or 0) >= height, None, timeout)

    def comet_rpc(self, index: int, path: str) -> Any:
        """A CometBFT RPC GET (``/block?height=3``): its ``result``."""
        with urllib.request.urlopen(self.layout.cometbft_url(index) + path, timeout=10) as answer:
            return json.load(answer)["result"]

    def logs(self) -> str:
        parts = []
        for children in (self.apps, self.nodes):
            for child in children:
                if child is not None:
                    parts.append(f"--- {child.name} ---\n{child.tail(30)}")
        return "\n".join(parts)


def start_network(tmp_path: Path, validators: int = 4) -> Network:
    cometbft = cometbft_binary()
    layout = check_layout(tmp_path / "localnet", validators, free_loopback_range())
    set_up(layout, cometbft, GENESIS, _Quiet())
    network = Network(layout, cometbft, [None] * validators, [None] * validators)
    try:
        for index in range(validators):
            network.start_app(index)
        for index in range(validators):
            network.start_cometbft(index)
        for index in range(validators):
            network.wait_height(index, 1)
    except BaseException:
        print(network.logs())
        network.kill_all()
        raise
    return network


class _Quiet:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _dead(child: Child) -> bool:
    if child.process.poll() is not None:
        raise AssertionError(f"{child.name} exited ({child.process.returncode}):\n{child.tail(40)}")
    return False


def _wait(what: str, condition: Any, child: Child | None, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = f":\n{child.tail(40)}" if child is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{tail}")
        time.sleep(0.05)


def run_cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``wasmchain ARGUMENTS`` in a process of its own (export, import, replay on a stopped node's data)."""
    command = [sys.executable, "-m", "wasmchain.cli.main", *arguments]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300, check=False)
