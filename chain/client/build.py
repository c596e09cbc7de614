"""Building a contract crate into the module a chain deploys: ``wasmchain build``, the plugin's ``compile_project``.

A contract is a Rust crate (``cdylib``, ``no_std``, the SDK as its one
dependency) built for ``wasm32-unknown-unknown``.  ``build_crate`` builds it
the way contracts/build.sh builds the examples, so that the same sources give
the same bytes on any machine with the pinned toolchain:

- the toolchain must be the pinned one (contracts/TOOLCHAIN, Debian's Rust
  with its wasm32 target); another is refused, saying how to install it;
- cargo runs ``--release --offline`` with a clean environment: a private
  ``CARGO_HOME``, the release profile and the flags given through the
  environment (which beats a stray ``.cargo/config.toml`` in a parent
  folder), no wrappers, no incremental builds;
- the flags: a 64 KiB stack (the default 1 MiB one makes the initial memory
  17 pages instead of 2) and source paths remapped, the workspace's root to
  ``/wasmchain/<its folder's name>`` and ``CARGO_HOME`` to ``/cargo-home``, so
  that no local path reaches a panic message;
- the module is then stripped of its custom sections but the interface
  (``wasm_names.strip``), with its function names kept aside in
  ``<name>.names`` for gas profiles.

The module lands beside the crate's ``Cargo.toml`` as ``<name>.wasm`` (the
library's name: the package's, ``-`` read as ``_``), where the examples keep
theirs.  ``check=True`` rebuilds from scratch in a temporary target folder
and compares with that file instead of writing it: the reproducibility check.

Builds are cached on the sources: a digest of every file of the workspace
(but build outputs, tests and hidden folders other than ``.cargo``) and of
the crate's path dependencies outside it, with the toolchain's version, is
kept in ``target/wasmchain/<name>.json``; while it matches and the module
is unchanged, ``build_crate`` returns without running cargo.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wasmchain.client import wasm_names
from wasmchain.protocol.errors import ChainError
from wasmchain.store.shipped import TOOLCHAIN, shipped

TARGET = "wasm32-unknown-unknown"
STACK_SIZE = 65_536
"""Bytes of the contract's shadow stack: 64 KiB keeps the initial memory at 2 pages."""
INSTALL = "on Debian or Ubuntu: sudo apt-get install rustc cargo libstd-rust-dev-wasm32 lld"
"""How to get the pinned toolchain with its wasm32 target."""
BUILD_TIMEOUT = 900.0
"""Seconds a cargo build may take before it is stopped."""
CACHE_VERSION = 1
"""Bumped when the build's flags or steps change, so that no cached build from before is reused."""

PROFILE = {
    "OPT_LEVEL": "z",
    "LTO": "true",
    "CODEGEN_UNITS": "1",
    "PANIC": "abort",
    "DEBUG": "false",
    "STRIP": "false",  # wasm_names strips, keeping the names aside
    "INCREMENTAL": "false",
    "OVERFLOW_CHECKS": "false",
    "DEBUG_ASSERTIONS": "false",
}
"""The release profile, as contracts/Cargo.toml and a new project's Cargo.toml declare it, given to cargo."""

_CALLER_OVERRIDES = (
    "CARGO_PROFILE_",
    "CARGO_BUILD_",
    "CARGO_TARGET_",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_INCREMENTAL",
    "SOURCE_DATE_EPOCH",
    "RUSTC_BOOTSTRAP",
    "CARGO_HOME",
    "RUSTC",
)
"""Environment variables (or prefixes) of the caller's shell that could change the bytes: dropped."""

_NOT_SOURCES = frozenset({"target", "tests", "__pycache__", "node_modules"})
"""Folders of a workspace that are no input of the module (and hidden ones, but ``.cargo``)."""


class BuildError(ChainError):
    """A crate that cannot be built here: not a crate, no usable toolchain, or a module the chain refuses."""

    reason = "build"


class CompileFailed(BuildError):
    """cargo ran and failed; ``output`` is what it printed (the compiler's messages)."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def pinned_toolchain() -> str:
    """``rustc --version`` of the pinned toolchain (contracts/TOOLCHAIN's first line)."""
    return shipped(TOOLCHAIN).read_text().splitlines()[0].strip()


@dataclass(frozen=True, slots=True)
class Toolchain:
    cargo: str
    rustc: str
    version: str


def _output(*command: str) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _has_wasm_target(rustc: str) -> bool:
    sysroot = _output(rustc, "--print", "sysroot")
    return sysroot is not None and (Path(sysroot) / "lib" / "rustlib" / TARGET).is_dir()


def find_toolchain() -> Toolchain:
    """The pinned cargo and rustc: ``$WASMCHAIN_CARGO``/``$WASMCHAIN_RUSTC`` if set, else Debian's in /usr/bin,
    else the ones on ``PATH`` (contracts/build.sh looks in the same order); another version is refused.

    Asking a rustc its version and sysroot takes tens of milliseconds, so the
    answer is kept for the process, per value of those three variables."""
    return _find_toolchain(os.environ.get("WASMCHAIN_CARGO"), os.environ.get("WASMCHAIN_RUSTC"), os.environ.get("PATH"))


@functools.lru_cache(maxsize=8)
def _find_toolchain(cargo_env: str | None, rustc_env: str | None, _path: str | None) -> Toolchain:
    pinned = pinned_toolchain()
    chosen = cargo_env, rustc_env
    if any(chosen):
        candidates = [(chosen[0] or "cargo", chosen[1] or "rustc", "$WASMCHAIN_CARGO/$WASMCHAIN_RUSTC")]
    else:
        candidates = [("/usr/bin/cargo", "/usr/bin/rustc", "/usr/bin")]
        on_path = shutil.which("cargo"), shutil.which("rustc")
        if on_path[0] and on_path[1]:
            candidates.append((on_path[0], on_path[1], "PATH"))
    found = []
    for cargo, rustc, where in candidates:
        cargo_path, rustc_path = shutil.which(cargo), shutil.which(rustc)
        if cargo_path is None or rustc_path is None:
            found.append(f"no cargo and rustc in {where}")
            continue
        if not _has_wasm_target(rustc_path):
            found.append(f"{rustc_path} has no {TARGET} target")
            continue
        version = _output(rustc_path, "--version")
        if version != pinned:
            found.append(f"{rustc_path} is {version!r}, not the pinned {pinned!r}")
            continue
        return Toolchain(cargo_path, rustc_path, version)
    raise BuildError(
        f"no pinned Rust toolchain ({pinned} with the {TARGET} target): {'; '.join(found)}. Contracts build "
        f"byte-reproducibly with that one only; {INSTALL} (or point $WASMCHAIN_CARGO and $WASMCHAIN_RUSTC at it)"
    )


@dataclass(frozen=True, slots=True)
class Crate:
    """A contract crate: its folder, its package's name and its workspace's root (its own folder if alone)."""

    root: Path
    package: str
    workspace: Path
    path_dependencies: tuple[Path, ...]

    @property
    def name(self) -> str:
        """The library's name, which cargo gives the .wasm: the package's, with ``-`` as ``_``."""
        return self.package.replace("-", "_")

    @property
    def wasm(self) -> Path:
        return self.root / f"{self.name}.wasm"

    @property
    def names(self) -> Path:
        return self.root / f"{self.name}.names"


def _read_manifest(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as error:
        raise BuildError(f"cannot read {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BuildError(f"{path} is not valid TOML: {error}") from None


def _path_dependencies(root: Path, manifest: dict[str, object], seen: set[Path]) -> None:
    """Every crate ``manifest`` depends on by path, and theirs, into ``seen``."""
    for table in ("dependencies", "build-dependencies"):
        dependencies = manifest.get(table)
        if not isinstance(dependencies, dict):
            continue
        for spec in dependencies.values():
            if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                folder = (root / spec["path"]).resolve()
                if folder not in seen and (folder / "Cargo.toml").is_file():
                    seen.add(folder)
                    _path_dependencies(folder, _read_manifest(folder / "Cargo.toml"), seen)


def locate_crate(path: Path) -> Crate:
    """The contract crate at ``path`` (its folder, or its Cargo.toml)."""
    folder = path.parent if path.name == "Cargo.toml" else path
    manifest_path = folder / "Cargo.toml"
    if not manifest_path.is_file():
        raise BuildError(
            f"no Cargo.toml in {folder}: give the folder of a contract crate (`wasmchain new NAME` makes one)"
        )
    root = folder.resolve()
    manifest = _read_manifest(manifest_path)
    package = manifest.get("package")
    if not isinstance(package, dict) or not isinstance(package.get("name"), str):
        raise BuildError(f"{manifest_path} has no [package] name: a contract is a package (a crate), not a workspace")
    lib = manifest.get("lib")
    crate_types = lib.get("crate-type") if isinstance(lib, dict) else None
    if not isinstance(crate_types, list) or "cdylib" not in crate_types:
        raise BuildError(
            f'{manifest_path}: a contract builds as a cdylib: add crate-type = ["cdylib"] under [lib] '
            "(a project from `wasmchain new` has it)"
        )
    workspace = root
    for parent in (root, *root.parents):
        candidate = parent / "Cargo.toml"
        if candidate.is_file() and "workspace" in _read_manifest(candidate):
            workspace = parent
            break
    seen: set[Path] = set()
    _path_dependencies(root, manifest, seen)
    outside = tuple(sorted(folder for folder in seen if not folder.is_relative_to(workspace)))
    return Crate(root, package["name"], workspace, outside)


def _source_files(folder: Path) -> Iterator[Path]:
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            if entry.name in _NOT_SOURCES or (entry.name.startswith(".") and entry.name != ".cargo"):
                continue
            yield from _source_files(entry)
        elif entry.is_file() and entry.suffix not in (".wasm", ".names") and not entry.name.startswith("."):
            yield entry


def source_digest(crate: Crate, toolchain: Toolchain) -> str:
    """The cache key: every source file's path and bytes, the toolchain's version and ``CACHE_VERSION``."""
    digest = hashlib.sha256(f"{CACHE_VERSION}\0{toolchain.version}\0{crate.package}\0".encode())
    for base in (crate.workspace, *crate.path_dependencies):
        for file in _source_files(base):
            data = file.read_bytes()
            digest.update(f"{file.relative_to(base).as_posix()}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def _environment(cargo_home: Path, target_dir: Path, toolchain: Toolchain, workspace: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not any(name == prefix or (prefix.endswith("_") and name.startswith(prefix)) for prefix in _CALLER_OVERRIDES)
    }
    flags = [
        f"-Clink-arg=-zstack-size={STACK_SIZE}",
        f"--remap-path-prefix={workspace}=/wasmchain/{workspace.name}",
        f"--remap-path-prefix={cargo_home}=/cargo-home",
    ]
    environment.update(
        {f"CARGO_PROFILE_RELEASE_{name}": value for name, value in PROFILE.items()},
        CARGO_HOME=str(cargo_home),
        CARGO_TARGET_DIR=str(target_dir),
        RUSTC=toolchain.rustc,
        CARGO_INCREMENTAL="0",
        RUSTC_WRAPPER="",
        RUSTC_WORKSPACE_WRAPPER="",
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="rust-lld",
        CARGO_ENCODED_RUSTFLAGS="\x1f".join(flags),
        CARGO_TERM_COLOR="never",
        LC_ALL="C",
        TZ="UTC",
    )
    return environment


def _compile(crate: Crate, toolchain: Toolchain, target_dir: Path) -> bytes:
    """Run cargo; the unstripped module it links."""
    _cargo(crate, toolchain, target_dir, "build", "--release", "--offline", "--target", TARGET, "-p", crate.package)
    built = target_dir / TARGET / "release" / f"{crate.name}.wasm"
    try:
        return built.read_bytes()
    except OSError:
        raise BuildError(f"cargo built {crate.package} but wrote no {built.name}: is it a cdylib?") from None


def _lock(crate: Crate, toolchain: Toolchain, target_dir: Path) -> None:
    """Write the workspace's Cargo.lock if it has none (a new project), so that the first build's digest of the
    sources is the one every later build computes."""
    if not (crate.workspace / "Cargo.lock").exists():
        _cargo(crate, toolchain, target_dir, "generate-lockfile", "--offline")


def _cargo(crate: Crate, toolchain: Toolchain, target_dir: Path, *arguments: str) -> None:
    cargo_home = target_dir / "cargo-home"
    cargo_home.mkdir(parents=True, exist_ok=True)
    command = [toolchain.cargo, *arguments]
    try:
        done = subprocess.run(
            command,
            cwd=crate.root,
            env=_environment(cargo_home, target_dir, toolchain, crate.workspace),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"cargo {arguments[0]} of {crate.root} took over {BUILD_TIMEOUT:.0f} s and was stopped"
        ) from None
    except OSError as error:
        raise BuildError(f"cannot run {toolchain.cargo}: {error.strerror}") from None
    if done.returncode != 0:
        raise CompileFailed(
            f"cargo {arguments[0]} of {crate.package} failed (exit {done.returncode}); the compiler's messages say why",
            (done.stdout + done.stderr).rstrip(),
        )


@dataclass(frozen=True, slots=True)
class Built:
    """A crate's module: its bytes and where they are, with whether cargo ran for it."""

    crate: Crate
    code: bytes
    names: str
    toolchain: str
    cached: bool
    identical: bool | None = None
    """With ``check=True``: whether the rebuild matched ``<name>.wasm`` and ``<name>.names`` byte for byte."""


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def build_crate(path: Path, *, check: bool = False) -> Built:
    """Build the crate at ``path`` to ``<name>.wasm`` and ``<name>.names`` beside its Cargo.toml (cached on the
    sources); ``check=True`` rebuilds from scratch and compares with those files instead of writing them."""
    crate = locate_crate(path)
    toolchain = find_toolchain()
    if check:
        return _check(crate, toolchain)
    target_dir = crate.workspace / "target" / "wasmchain"
    record = target_dir / f"{crate.name}.json"
    _lock(crate, toolchain, target_dir)
    digest = source_digest(crate, toolchain)
    cached = _cached(record, crate, digest)
    if cached is not None:
        return cached
    built = _compile(crate, toolchain, target_dir)
    code = wasm_names.strip(built)
    names = wasm_names.names_file(code, wasm_names.function_names(built))
    _write(crate.wasm, code)
    _write(crate.names, names.encode())
    entry = {"sources": digest, "module": hashlib.sha256(code).hexdigest(), "toolchain": toolchain.version}
    _write(record, json.dumps(entry, sort_keys=True).encode())
    return Built(crate, code, names, toolchain.version, cached=False)


def _cached(record: Path, crate: Crate, digest: str) -> Built | None:
    try:
        entry = json.loads(record.read_text())
        code = crate.wasm.read_bytes()
        names = crate.names.read_text()
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("sources") != digest:
        return None
    if entry.get("module") != hashlib.sha256(code).hexdigest():
        return None
    return Built(crate, code, names, str(entry.get("toolchain")), cached=True)


def _check(crate: Crate, toolchain: Toolchain) -> Built:
    try:
        existing, existing_names = crate.wasm.read_bytes(), crate.names.read_bytes()
    except OSError as error:
        raise BuildError(
            f"nothing to check: cannot read {error.filename} ({error.strerror}); build it first (`wasmchain build`)"
        ) from None
    with tempfile.TemporaryDirectory(prefix="wasmchain-check-") as scratch:
        built = _compile(crate, toolchain, Path(scratch))
    code = wasm_names.strip(built)
    names = wasm_names.names_file(code, wasm_names.function_names(built))
    identical = code == existing and names.encode() == existing_names
    return Built(crate, code, names, toolchain.version, cached=False, identical=identical)
