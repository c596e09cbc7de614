"""Fixtures that run the real ``wasmchain devnet`` process (see ``tools.py``).

- ``devnet``: one instant-mining devnet per test module, for tests that do
  not disturb each other; stopped with SIGTERM at the end of the module,
  which must exit 0 with no traceback in its output;
- ``devnets``: start (and restart) devnets of a test's own, each on its own
  data directory; every one still running is stopped and checked the same
  way when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.devnet import Devnet, start_devnet


class Devnets:
    """The devnets of one test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: list[Devnet] = []

    def start(self, *options: str, data: Path | None = None) -> Devnet:
        if data is None:
            data = self.root / f"data{len(self.running)}"
        devnet = start_devnet(data, *options)
        self.running.append(devnet)
        return devnet

    def restart(self, devnet: Devnet) -> Devnet:
        """Stop with SIGTERM (checking the exit), then start again on the same data directory."""
        restarted = devnet.restart()
        self.running.append(restarted)
        return restarted

    def stop_all(self) -> None:
        for devnet in self.running:
            if devnet.process.poll() is None:
                devnet.stop()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    started = start_devnet(tmp_path_factory.mktemp("devnet") / "data")
    try:
        yield started
        started.stop()
    finally:
        started.kill()  # (nothing left to do if it stopped)


@pytest.fixture
def devnets(tmp_path: Path) -> Iterator[Devnets]:
    started = Devnets(tmp_path)
    try:
        yield started
    finally:
        try:
            started.stop_all()
        finally:
            for devnet in started.running:
                devnet.kill()
