"""The contract author's path end to end, as a new user takes it with only the README (issue 15's "done when").

In an empty folder outside the repository: a virtualenv of its own with
wasmchain installed from a copy of the sources (a wheel: not the checkout's
editable install) and pytest, from the package index; the README's commands
as written (``wasmchain new mytoken``, ``wasmchain build``, ``pytest``,
``wasmchain build --check``); then the module deploys to a running devnet,
and a call that would fail is refused before sending: exit 1, nothing mined,
the balance and the nonce unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.devnet import Devnet, start_devnet
from tests.helpers.toolchain import require_toolchain

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "README.md", "genesis.json", "contracts/TOOLCHAIN", "chain", "vm", "contracts/sdk")
"""What a wasmchain checkout holds that its installation needs."""


def _readme_block() -> str:
    """The shell block of the README's "Testing your contract"."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Testing your contract") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


def _copy_sources(target: Path) -> None:
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "target"))
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / name)


def _clean_env() -> dict[str, str]:
    drop = ("WASMCHAIN_", "PYTEST_", "VIRTUAL_ENV", "PYTHONPATH")
    return {name: value for name, value in os.environ.items() if not name.startswith(drop)}


def test_a_new_user_s_contract_from_an_empty_folder_to_a_devnet(tmp_path: Path) -> None:
    require_toolchain()
    checkout = tmp_path / "wasmchain"
    _copy_sources(checkout)
    work = tmp_path / "work"
    work.mkdir()
    script = _readme_block().replace("/path/to/wasmchain", str(checkout))
    assert "wasmchain new mytoken" in script and "pytest" in script
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
        env=_clean_env(),
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "built " in output and "2 initial memory pages" in output and "add: add(by: u64) -> u64" in output
    assert "3 passed" in output
    assert "identical: a rebuild from scratch gives" in output
    project = work / "mytoken"
    venv_bin = work / ".venv" / "bin"
    # the installed package is the venv's own, not this checkout's
    where = subprocess.run(
        [str(venv_bin / "python"), "-c", "import wasmchain, sys; print(wasmchain.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=work,
    )
    assert where.stdout.startswith(str(work / ".venv")), where.stdout

    devnet = start_devnet(tmp_path / "devnet" / "data")
    try:
        _deploy_and_preflight(devnet, venv_bin / "wasmchain", project)
    finally:
        devnet.stop()


def _deploy_and_preflight(devnet: Devnet, wasmchain: Path, project: Path) -> None:
    def cli(*argv: str, rpc: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(wasmchain), *argv, *(("--rpc", devnet.url) if rpc else ())],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=project,
            env=_clean_env(),
            check=False,
        )

    deployed = cli("deploy", "mytoken.wasm", "--from", "dev0", "--json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    address = json.loads(deployed.stdout)["address"]
    filled = cli("call", address, "add", "--args", json.dumps({"by": 2**64 - 1}), "--from", "dev0", "--json")
    assert filled.returncode == 0 and json.loads(filled.stdout)["status"] == "ok", filled.stdout + filled.stderr

    client = devnet.client()
    dev0 = json.loads(cli("keys", "show", "dev0", "--json", rpc=False).stdout)["address"]
    before = client.call("get_account", address=dev0), client.call("chain_info")["head"]["height"]
    refused = cli("call", address, "add", "--args", '{"by": 1}', "--from", "dev0")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    said = refused.stdout + refused.stderr
    assert "count overflow" in said and "not sent" in said and "--no-preflight" in said, said
    after = client.call("get_account", address=dev0), client.call("chain_info")["head"]["height"]
    assert after == before  # balance, nonce and head: nothing was sent, nothing spent
    assert json.loads(cli("view", address, "get", "--json").stdout)["result"] == 2**64 - 1
