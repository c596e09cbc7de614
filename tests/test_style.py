"""The code is formatted and lint-clean under ruff, as configured in pyproject.toml.

Both checks run with the venv's ruff (pinned exactly in the ``test`` extra: a new release may
format or flag differently) over every folder of Python the project keeps.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

FOLDERS = ("chain", "vm", "tests", "bench")
"""The Python the project keeps: the package, its vm, the tests and the benchmarks."""


def ruff(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, "--config", str(ROOT / "pyproject.toml"), *FOLDERS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "arguments",
    [("format", "--check", "--no-cache"), ("check", "--no-cache", "--output-format", "concise")],
    ids=["format", "lint"],
)
def test_ruff_finds_nothing(arguments: tuple[str, ...]) -> None:
    result = ruff(*arguments)
    assert result.returncode == 0, result.stdout + result.stderr
