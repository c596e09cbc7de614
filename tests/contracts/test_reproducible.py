"""The committed contract .wasm files (and their .names) are exactly what the sources build to.

With the pinned toolchain (contracts/TOOLCHAIN) and its wasm32 target, the
contracts are rebuilt with contracts/build.sh from a copy of the sources at
another path, and every .wasm must be byte-identical to the committed one.
Without that toolchain the test skips, unless WASMCHAIN_REQUIRE_CONTRACT_BUILD=1
(CI sets it), where it fails instead (tests/helpers/toolchain.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers.toolchain import require_toolchain

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
NAMES = ("counter", "token", "vault")
TARGET = "wasm32-unknown-unknown"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_committed_wasm_is_reproducible(tmp_path: Path) -> None:
    toolchain = require_toolchain()  # the one `wasmchain build` uses, found as build.sh finds it

    # Build from a copy at a different path (with a space in it), so that
    # the checkout path provably does not reach the bytes.
    src = tmp_path / "another checkout" / "contracts"
    shutil.copytree(CONTRACTS, src, ignore=shutil.ignore_patterns("target", "*.wasm", "*.names"))
    (src.parent / "chain" / "client").mkdir(parents=True)  # build.sh strips with ../chain/client/wasm_names.py
    shutil.copy(ROOT / "chain" / "client" / "wasm_names.py", src.parent / "chain" / "client")
    out = tmp_path / "out"
    env = dict(os.environ, WASMCHAIN_CARGO=toolchain.cargo, WASMCHAIN_RUSTC=toolchain.rustc, SOURCE_DATE_EPOCH="1")
    done = subprocess.run(
        ["bash", str(src / "build.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"build.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"

    mismatches = []
    for name in NAMES:
        for file in (f"{name}.wasm", f"{name}.names"):
            committed = (CONTRACTS / name / file).read_bytes()
            built = (out / name / file).read_bytes()
            if built != committed:
                mismatches.append(
                    f"{file}: committed {_sha256(committed)} ({len(committed)} bytes), "
                    f"rebuilt {_sha256(built)} ({len(built)} bytes)"
                )
    assert not mismatches, (
        "the committed contracts differ from a rebuild with the pinned toolchain "
        "(run `make contracts` and commit the .wasm and .names files):\n  " + "\n  ".join(mismatches)
    )


def test_build_script_reports_a_missing_toolchain(tmp_path: Path) -> None:
    """No usable toolchain: exit status 2 and the commands that get one."""
    env = dict(
        os.environ,
        WASMCHAIN_RUSTC=str(tmp_path / "no-rustc"),
        WASMCHAIN_CARGO=str(tmp_path / "no-cargo"),
    )
    done = subprocess.run(
        ["bash", str(CONTRACTS / "build.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "no-rustc" in done.stderr
    assert "apt-get install rustc cargo libstd-rust-dev-wasm32 lld" in done.stderr
    assert f"rustup target add {TARGET}" in done.stderr
    assert not (tmp_path / "out").exists()
