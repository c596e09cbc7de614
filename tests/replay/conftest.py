"""Fixtures and helpers of the determinism harness: the genesis, a module cache, and ``wasmchain`` in a subprocess.

Every replay, import and export the harness checks runs the real console
command in a fresh process, from an empty working directory (so nothing
can come from a ``./genesis.json``), with a ``PYTHONHASHSEED`` of the
test's choosing: never the one this process runs with, so that anything
depending on the order of a ``set`` or of ``str`` hashes would show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from wasmchain.protocol.genesis import Genesis
from wasmchain.store.genesis_file import load_genesis

ROOT = Path(__file__).resolve().parents[2]
GENESIS_PATH = ROOT / "genesis.json"
TIMEOUT = 300
"""Seconds any one command may take before the test fails (a replay of these chains takes about one)."""

PARENT_HASH_SEED = os.environ.get("PYTHONHASHSEED")
"""This process's seed if it was set; unset means a random one, which a fixed seed differs from almost surely."""


def hash_seeds() -> st.SearchStrategy[int]:
    """A ``PYTHONHASHSEED`` for a child process: randomized (never 0) and never this process's."""
    return st.integers(1, 2**32 - 1).filter(lambda seed: str(seed) != PARENT_HASH_SEED)


def wasmchain_command() -> list[str]:
    """The installed console script beside this interpreter, else the CLI's ``main`` through ``-c``."""
    script = Path(sys.executable).parent / "wasmchain"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from wasmchain.cli.main import main; sys.exit(main())"]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    hash_seed: int
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The one JSON object printed on stdout."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError:
            raise AssertionError(
                f"`wasmchain {' '.join(self.args)}` printed no JSON object "
                f"(exit {self.returncode}):\n{self.stdout}\n{self.stderr}"
            ) from None

    def describe(self) -> str:
        return (
            f"`wasmchain {' '.join(self.args)}` (PYTHONHASHSEED={self.hash_seed}) exited {self.returncode}\n"
            f"stdout: {self.stdout}\nstderr: {self.stderr}"
        )


def run_wasmchain(*args: str | Path, hash_seed: int, cwd: Path) -> Run:
    """Run ``wasmchain ARGS`` in a fresh process with ``PYTHONHASHSEED=hash_seed`` (or the next seed, should
    that be this process's own)."""
    assert 1 <= hash_seed <= 2**32 - 1, f"PYTHONHASHSEED {hash_seed}: randomized seeds are 1 to 2**32 - 1"
    if str(hash_seed) == PARENT_HASH_SEED:
        hash_seed = hash_seed - 1 if hash_seed > 1 else 2
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    for name in ("WASMCHAIN_DATA", "WASMCHAIN_RPC", "WASMCHAIN_GENESIS"):
        env.pop(name, None)
    text = tuple(str(arg) for arg in args)
    done = subprocess.run(
        [*wasmchain_command(), *text], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    return Run(text, hash_seed, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def genesis() -> Genesis:
    return load_genesis(GENESIS_PATH)


@pytest.fixture(scope="session")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiled modules shared by the producers of every chain in the session (the replays compile afresh)."""
    return tmp_path_factory.mktemp("replay-modules")
