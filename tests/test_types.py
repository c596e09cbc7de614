"""vm/ and chain/ type-check under mypy --strict (STYLE: typed packages)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_vm_and_chain_pass_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
