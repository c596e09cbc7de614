"""What installing wasmchain puts into a user's environment: one import name, and nothing in the way.

The distribution installs the package ``wasmchain`` (the repository's ``chain/``, with ``vm/`` as
``wasmchain.vm``), the ``wasmchain`` console script and the pytest plugin.  A user's project may
have packages of its own called ``chain`` or ``vm``: the plugin loads inside every pytest run, so
it must not take those names.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "genesis.json"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("chain", "vm", "contracts/sdk"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "contracts" / "TOOLCHAIN", source / "contracts" / "TOOLCHAIN")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("wasmchain-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    dist_info = next(name for name in top_level if name.endswith(".dist-info"))
    assert top_level == {"wasmchain", dist_info}
    assert {"wasmchain/__init__.py", "wasmchain/vm/__init__.py", "wasmchain/vm/wasm/__init__.py"} <= set(names)
    assert {"wasmchain/py.typed", "wasmchain/vm/py.typed"} <= set(names)
    # what the installed package reads besides code (chain/store/shipped.py): the devnet genesis, for the plugin
    # and `wasmchain devnet`, and the SDK's sources with the pinned toolchain's name, for `wasmchain new`/`build`
    shipped = {name.removeprefix("wasmchain/shipped/") for name in names if name.startswith("wasmchain/shipped/")}
    sdk = {path.relative_to(ROOT).as_posix() for path in (ROOT / "contracts" / "sdk").glob("src/*.rs")}
    assert shipped == {"genesis.json", "contracts/TOOLCHAIN", "contracts/sdk/Cargo.toml", *sdk}
    assert zipfile.ZipFile(wheel).read("wasmchain/shipped/genesis.json") == (ROOT / "genesis.json").read_bytes()
    layers = {name.split("/")[1] for name in names if name.count("/") == 2 and name.endswith("/__init__.py")}
    assert layers == {"protocol", "store", "node", "client", "history", "cli", "vm"}  # (shipped/ has no __init__)
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "wasmchain = wasmchain.cli.main:main" in entry_points
    assert "wasmchain = wasmchain.client.testing" in entry_points


def test_a_user_project_may_have_its_own_chain_and_vm_packages(tmp_path: Path) -> None:
    """As a new user would: their own ``chain`` and ``vm`` packages, and the plugin's fixture beside them."""
    for package in ("chain", "vm"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "models.py").write_text(f"NAME = {package!r}\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mine.py").write_text(
        "from chain.models import NAME as CHAIN\n"
        "from vm.models import NAME as VM\n"
        "from wasmchain import Client\n\n\n"
        "def test_mine(wasmchain: Client) -> None:\n"
        "    assert (CHAIN, VM) == ('chain', 'vm')\n"
        "    assert wasmchain.call('chain_info')['head']['height'] == 0\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
