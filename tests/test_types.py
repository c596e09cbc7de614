"""The package type-checks under mypy --strict (STYLE: typed packages).

mypy names modules by their folders, and the package ``wasmchain`` is the repository's ``chain/``
with ``vm/`` as ``wasmchain.vm`` (pyproject.toml): the test lays that tree out with symbolic links
in a temporary folder and checks ``-p wasmchain`` there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def package_view(where: Path) -> Path:
    """A ``wasmchain`` folder whose entries link to chain/'s, with ``vm`` linking to vm/."""
    package = where / "wasmchain"
    package.mkdir()
    for entry in (ROOT / "chain").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "vm").symlink_to(ROOT / "vm")
    return package


def test_the_package_passes_mypy_strict(tmp_path: Path) -> None:
    package_view(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "wasmchain"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
