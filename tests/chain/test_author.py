"""``wasmchain new`` and ``wasmchain build``, and the plugin's ``compile_project`` (issue 15, items 1 to 3).

The tests that compile need the pinned toolchain (tests/helpers/toolchain.py:
skipped without it, failed under CI's WASMCHAIN_REQUIRE_CONTRACT_BUILD=1);
the refusals of other toolchains use stand-in ``rustc`` scripts and run
everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.cli import refused, wasmchain
from tests.helpers.toolchain import require_toolchain
from wasmchain.client import build
from wasmchain.client.build import BuildError, CompileFailed, build_crate
from wasmchain.client.testing import compile_project
from wasmchain.client.wasm_names import memory_pages
from wasmchain.store.shipped import SDK, shipped


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wasmchain new mytoken`` then ``wasmchain build``, in a folder outside the repository."""
    require_toolchain()
    folder = tmp_path_factory.mktemp("author") / "mytoken"
    created = wasmchain("new", str(folder), "--json")
    assert created.code == 0, created
    built = wasmchain("build", str(folder))
    assert built.code == 0, built
    return folder


def test_new_writes_a_crate_with_the_sdk_the_settings_an_interface_tests_and_a_readme(tmp_path: Path) -> None:
    run = wasmchain("new", str(tmp_path / "my-token"), "--json")
    assert run.code == 0, run
    report = run.json()
    assert (report["status"], report["package"], report["wasm"]) == ("created", "my-token", "my_token.wasm")
    folder = tmp_path / "my-token"
    for name in ("Cargo.toml", ".cargo/config.toml", "src/lib.rs", "my_token.wit", "tests/test_my_token.py"):
        assert name in report["files"] and (folder / name).is_file(), name
    for name in ("README.md", ".gitignore", "wasmchain-sdk/Cargo.toml", "wasmchain-sdk/src/lib.rs"):
        assert (folder / name).is_file(), name
    # the SDK is a copy of the one wasmchain ships, file for file
    sdk = shipped(SDK)
    for source in sorted(sdk.rglob("*.rs")):
        assert (folder / "wasmchain-sdk" / source.relative_to(sdk)).read_bytes() == source.read_bytes()
    manifest = (folder / "Cargo.toml").read_text()
    assert 'name = "my-token"' in manifest and 'path = "wasmchain-sdk"' in manifest and "[workspace]" in manifest
    assert 'opt-level = "z"' in manifest and 'panic = "abort"' in manifest
    assert "zstack-size=65536" in (folder / ".cargo" / "config.toml").read_text()
    assert 'interface!("../my_token.wit")' in (folder / "src" / "lib.rs").read_text()
    assert "package local:my-token;" in (folder / "my_token.wit").read_text()
    text = wasmchain("new", str(tmp_path / "other")).out
    assert "wasmchain build" in text and "pytest" in text and "wasmchain deploy other.wasm" in text


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("My-Token", "cannot name a contract: use lowercase letters and digits"),
        ("1token", "cannot name a contract"),
        ("my--token", "cannot name a contract"),
        ("token-2", "cannot name a contract"),
        ("fn", "'fn' is reserved"),
        ("wasmchain-sdk", "is reserved"),
        ("core", "is reserved"),
    ],
)
def test_new_refuses_a_name_that_is_no_crate_rust_and_wit_name(tmp_path: Path, name: str, fragment: str) -> None:
    refused(wasmchain("new", str(tmp_path / name)), fragment)
    assert not (tmp_path / name).exists()


def test_new_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    refused(wasmchain("new", str(tmp_path / "taken")), "already exists and is not an empty folder")
    assert [path.name for path in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert wasmchain("new", str(tmp_path / "empty")).code == 0


def test_the_new_project_builds_to_a_valid_module_with_its_interface(project: Path) -> None:
    run = wasmchain("build", str(project), "--json")
    assert run.code == 0, run
    report = run.json()
    code = (project / "mytoken.wasm").read_bytes()
    assert report["status"] == "built" and report["cached"] is True  # the fixture built it; nothing changed
    assert (report["size"], report["sha256"]) == (len(code), "0x" + hashlib.sha256(code).hexdigest())
    assert report["memory_pages"] == memory_pages(code) == 2  # the 64 KiB stack: not the default 17 pages
    assert report["methods"] == [
        {"name": "add", "signature": "add(by: u64) -> u64", "readonly": False},
        {"name": "get", "signature": "get() -> u64", "readonly": True},
    ]
    assert report["toolchain"] == build.pinned_toolchain()
    names = json.loads((project / "mytoken.names").read_text())
    assert names["module"] == report["sha256"] and "add" in names["functions"].values()
    # the deploy gas is what a deploy of these bytes costs on the chain
    from wasmchain.client.local import local_client

    with local_client() as client:
        deployed = client.dev_account(0).deploy(code)
        assert deployed.deployment is not None
        assert report["deploy_gas"] == deployed.deployment.gas_used
    text = wasmchain("build", str(project)).out
    assert "2 initial memory pages" in text and "add: add(by: u64) -> u64" in text and "get() -> u64  [view]" in text
    assert f"deploy gas: {report['deploy_gas']}" in text


def test_the_new_project_s_own_tests_pass_from_its_folder(project: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={name: value for name, value in os.environ.items() if not name.startswith(("WASMCHAIN_", "PYTEST_"))},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


def test_check_confirms_a_byte_identical_rebuild_and_finds_a_stale_module(project: Path, tmp_path: Path) -> None:
    checked = wasmchain("build", str(project), "--check", "--json")
    assert checked.code == 0 and checked.json()["status"] == "identical", checked
    copy = tmp_path / "copy" / "mytoken"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("target"))
    lib = copy / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace('"count overflow"', '"the count would overflow"'))
    stale = wasmchain("build", str(copy), "--check", "--json")
    assert stale.code == 1 and stale.json()["status"] == "differs", stale
    assert stale.json()["sha256"] == "0x" + hashlib.sha256((copy / "mytoken.wasm").read_bytes()).hexdigest()
    assert stale.json()["rebuilt_sha256"] != stale.json()["sha256"]
    assert (copy / "mytoken.wasm").read_bytes() == (project / "mytoken.wasm").read_bytes()  # --check writes nothing
    text = wasmchain("build", str(copy), "--check")
    assert text.code == 1 and text.out.startswith("differs: rebuilding mytoken from scratch gave other bytes")
    # built again, the module follows the sources (the cache key changed), and --check agrees
    rebuilt = wasmchain("build", str(copy), "--json").json()
    assert rebuilt["cached"] is False and rebuilt["sha256"] == stale.json()["rebuilt_sha256"]
    assert wasmchain("build", str(copy), "--check").code == 0


def test_check_without_a_module_says_to_build_first(tmp_path: Path) -> None:
    require_toolchain()
    assert wasmchain("new", str(tmp_path / "fresh")).code == 0
    refused(wasmchain("build", str(tmp_path / "fresh"), "--check"), "nothing to check", "build it first")


def test_the_same_sources_build_to_the_same_bytes_at_another_path(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "a folder with spaces" / "mytoken"
    shutil.copytree(project, elsewhere, ignore=shutil.ignore_patterns("target", "*.wasm", "*.names"))
    assert wasmchain("build", str(elsewhere)).code == 0
    assert (elsewhere / "mytoken.wasm").read_bytes() == (project / "mytoken.wasm").read_bytes()


def test_build_check_of_the_examples_reproduces_the_committed_bytes(tmp_path: Path) -> None:
    """The reproducibility check CI runs with contracts/build.sh, as a user command."""
    require_toolchain()
    copy = tmp_path / "another checkout" / "contracts"
    shutil.copytree(ROOT / "contracts", copy, ignore=shutil.ignore_patterns("target"))
    for name in ("counter", "token", "vault"):
        run = wasmchain("build", str(copy / name), "--check", "--json")
        assert run.code == 0 and run.json()["status"] == "identical", run


def test_a_compile_error_shows_the_compiler_s_message_and_exits_1(project: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "mytoken"
    shutil.copytree(project, broken, ignore=shutil.ignore_patterns("target"))
    lib = broken / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("storage::set_u64(COUNT, count);", "storage::set_u64(COUNT, count)"))
    run = wasmchain("build", str(broken))
    assert run.code == 1 and run.out == "" and "Traceback" not in run.err, run
    assert "error: expected `;`" in run.err and "src/lib.rs:" in run.err
    assert (
        run.err.splitlines()[-1] == "error: cargo build of mytoken failed (exit 101); the compiler's messages say why"
    )
    as_json = wasmchain("build", str(broken), "--json")
    assert as_json.code == 1 and as_json.err == "" and "expected `;`" in as_json.json()["output"]
    with pytest.raises(CompileFailed, match="cargo build of mytoken failed") as failed:
        compile_project(broken)
    assert "expected `;`" in failed.value.output


def test_a_module_the_chain_refuses_is_reported_with_the_rule(project: Path, tmp_path: Path) -> None:
    floats = tmp_path / "floats" / "mytoken"
    shutil.copytree(project, floats, ignore=shutil.ignore_patterns("target"))
    lib = floats / "src" / "lib.rs"
    source = lib.read_text().replace('let by = args.u64("by");', 'let by = (args.u64("by") as f64 * 1.5) as u64;')
    lib.write_text(source)
    run = wasmchain("build", str(floats), "--json")
    assert run.code == 2 and run.json()["status"] == "invalid", run
    assert run.json()["rule"] == "float_instruction" and "float" in run.json()["error"]
    assert "but the chain refuses it" in wasmchain("build", str(floats)).out


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        (None, "no Cargo.toml in"),
        ("[workspace]\nmembers = []\n", "has no [package] name"),
        ('[package]\nname = "lib"\nversion = "0.1.0"\n', 'add crate-type = ["cdylib"] under [lib]'),
        ("[package\n", "is not valid TOML"),
    ],
)
def test_build_of_something_that_is_no_contract_crate_says_what_it_needs(
    tmp_path: Path, manifest: str | None, fragment: str
) -> None:
    if manifest is not None:
        (tmp_path / "Cargo.toml").write_text(manifest)
    refused(wasmchain("build", str(tmp_path)), fragment)


def _fake_toolchain(folder: Path, version: str, *, wasm_target: bool) -> dict[str, str]:
    """A stand-in rustc reporting ``version`` (with a sysroot that has the wasm32 target or not), and a cargo."""
    sysroot = folder / "sysroot"
    (sysroot / "lib" / "rustlib" / ("wasm32-unknown-unknown" if wasm_target else "x86_64-unknown-linux-gnu")).mkdir(
        parents=True
    )
    rustc, cargo = folder / "rustc", folder / "cargo"
    rustc.write_text(f'#!/bin/sh\nif [ "$1" = --print ]; then echo {sysroot}; else echo "{version}"; fi\n')
    cargo.write_text("#!/bin/sh\necho should not run >&2\nexit 3\n")
    for script in (rustc, cargo):
        script.chmod(0o755)
    return {"WASMCHAIN_RUSTC": str(rustc), "WASMCHAIN_CARGO": str(cargo)}


def test_another_toolchain_is_refused_saying_how_to_install_the_pinned_one(tmp_path: Path) -> None:
    assert wasmchain("new", str(tmp_path / "mytoken")).code == 0
    other = _fake_toolchain(tmp_path / "newer", "rustc 1.80.0 (051478957 2024-07-21)", wasm_target=True)
    run = wasmchain("build", str(tmp_path / "mytoken"), env=other)
    refused(
        run,
        f"is 'rustc 1.80.0 (051478957 2024-07-21)', not the pinned '{build.pinned_toolchain()}'",
        "sudo apt-get install rustc cargo libstd-rust-dev-wasm32 lld",
    )
    no_target = _fake_toolchain(tmp_path / "host", build.pinned_toolchain(), wasm_target=False)
    refused(wasmchain("build", str(tmp_path / "mytoken"), env=no_target), "has no wasm32-unknown-unknown target")
    assert not (tmp_path / "mytoken" / "mytoken.wasm").exists()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in other.items():
            patch.setenv(name, value)
        with pytest.raises(BuildError, match="apt-get install"):
            compile_project(tmp_path / "mytoken")


def test_compile_project_runs_cargo_only_when_a_source_changed(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "mytoken"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("target"))
    compiled: list[Path] = []
    real = build._compile

    def counting(crate: build.Crate, toolchain: build.Toolchain, target_dir: Path) -> bytes:
        compiled.append(crate.root)
        return real(crate, toolchain, target_dir)

    monkeypatch.setattr(build, "_compile", counting)
    wasm = compile_project(copy)
    assert wasm == copy.resolve() / "mytoken.wasm" and len(compiled) == 1  # no cache record in the copy yet
    assert compile_project(copy) == wasm and len(compiled) == 1
    monkeypatch.chdir(copy)
    assert compile_project() == wasm and len(compiled) == 1  # "." is the current folder
    (copy / "tests" / "test_more.py").write_text("# tests are no input of the module\n")
    (copy / "README.md").write_text("changed")
    assert compile_project(copy) == wasm and len(compiled) == 2  # the README is a source (include_str! may read it)
    wit = copy / "mytoken.wit"
    wit.write_text(wit.read_text().replace("The count: 0 before the first add.", "The count."))
    before = wasm.read_bytes()
    assert compile_project(copy) == wasm and len(compiled) == 3
    assert wasm.read_bytes() != before  # the interface is embedded: new bytes
    wasm.write_bytes(before)  # a module changed behind the cache's back is built again
    compile_project(copy)
    assert len(compiled) == 4 and wasm.read_bytes() != before
    assert build_crate(copy).cached is True
