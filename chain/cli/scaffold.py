"""``wasmchain new NAME``: a contract project, anywhere, that builds and passes its tests straight away.

The project is a Rust crate with the SDK copied into it (``wasmchain-sdk/``,
from the sources wasmchain ships: no crates.io, and the same bytes on every
machine with the pinned toolchain), the build settings the chain expects
(``Cargo.toml``'s release profile, ``.cargo/config.toml``'s 64 KiB stack;
``wasmchain build`` passes both itself), an interface (``NAME.wit``, embedded
in the module), pytest tests on the plugin's ``wasmchain`` fixture, a README
and a .gitignore.  The example contract is a counter anyone can add to, with
an event, a read-only method and a failure to test: small enough to replace.
"""

from __future__ import annotations

import keyword
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from wasmchain.client.build import STACK_SIZE, TARGET, pinned_toolchain
from wasmchain.protocol.errors import ChainError
from wasmchain.store.shipped import SDK, shipped

NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z][a-z0-9]*)*")
"""Lowercase words of letters and digits, each starting with a letter, joined by ``-`` or ``_``: a name that is a
Cargo package, a Rust identifier (``-`` read as ``_``) and a WIT identifier (``_`` read as ``-``) at once."""
MAX_NAME = 64
RESERVED = frozenset({"core", "std", "alloc", "proc-macro", "test", "wasmchain-sdk", "wasmchain_sdk", "self", "crate"})
"""Names a crate may not take, or that would shadow its own dependencies."""
SDK_FOLDER = "wasmchain-sdk"


class ScaffoldError(ChainError):
    reason = "usage"


@dataclass(frozen=True, slots=True)
class Project:
    root: Path
    package: str
    files: tuple[str, ...]
    """Every file written, relative to ``root``, in ``/`` form, sorted."""

    @property
    def name(self) -> str:
        return self.package.replace("-", "_")


def check_name(package: str) -> None:
    if len(package) > MAX_NAME or not NAME.fullmatch(package):
        raise ScaffoldError(
            f"{package!r} cannot name a contract: use lowercase letters and digits, words starting with a letter "
            f"joined by - or _, at most {MAX_NAME} characters (e.g. mytoken or my-token)"
        )
    rust = package.replace("-", "_")
    if package in RESERVED or rust in RESERVED or keyword.iskeyword(rust) or rust in _RUST_KEYWORDS:
        raise ScaffoldError(f"{package!r} is reserved (a Rust keyword or a crate a contract uses): choose another name")


_RUST_KEYWORDS = frozenset(
    "as async await box break const continue dyn else enum extern false fn for if impl in let loop macro match mod "
    "move mut priv pub ref return static struct super trait true type union unsafe use where while yield".split()
)


def new_project(path: Path) -> Project:
    """Write a new contract project into the folder ``path`` (created; it must not exist, or be empty), named after
    the folder."""
    package = path.name
    check_name(package)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ScaffoldError(f"{path} already exists and is not an empty folder: choose another name or folder")
    sdk = shipped(SDK)
    if not (sdk / "Cargo.toml").is_file():
        raise ScaffoldError(f"the SDK's sources are missing from this installation ({sdk}): reinstall wasmchain")
    files = _files(package)
    try:
        path.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        shutil.copytree(sdk, path / SDK_FOLDER, ignore=shutil.ignore_patterns("__pycache__", "target"))
    except OSError as error:
        raise ScaffoldError(f"cannot write {error.filename or path}: {error.strerror}") from None
    written = sorted(
        [*files, *(file.relative_to(path).as_posix() for file in (path / SDK_FOLDER).rglob("*") if file.is_file())]
    )
    return Project(path, package, tuple(written))


def _files(package: str) -> dict[str, str]:
    name = package.replace("-", "_")
    kebab = package.replace("_", "-")
    values = {
        "@PACKAGE@": package,
        "@NAME@": name,
        "@KEBAB@": kebab,
        "@SDK@": SDK_FOLDER,
        "@TARGET@": TARGET,
        "@STACK@": str(STACK_SIZE),
        "@TOOLCHAIN@": pinned_toolchain(),
        "@LAYOUT@": _layout(name),
    }
    templates = {
        "Cargo.toml": CARGO_TOML,
        ".cargo/config.toml": CARGO_CONFIG,
        ".gitignore": GITIGNORE,
        "src/lib.rs": LIB_RS,
        f"{name}.wit": WIT,
        f"tests/test_{name}.py": TEST_PY,
        "README.md": README,
    }
    out = {}
    for relative, template in templates.items():
        for key, value in values.items():
            template = template.replace(key, value)
        out[relative] = template
    return out


def _layout(name: str) -> str:
    """The README's table of the project's files, its columns aligned whatever the name's length."""
    rows = (
        ("src/lib.rs", "the contract (Rust, no_std)"),
        (f"{name}.wit", "its interface, embedded in the module"),
        (f"tests/test_{name}.py", "pytest tests, each on a fresh in-process chain"),
        (f"{SDK_FOLDER}/", "the SDK, copied here (no crates.io)"),
        (f"{name}.wasm", f"the module, once built ({name}.names: its function names)"),
    )
    width = max(len(path) for path, _ in rows) + 2
    return "\n".join(path.ljust(width) + what for path, what in rows)


CARGO_TOML = """\
[package]
name = "@PACKAGE@"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
# The SDK, copied into this project by `wasmchain new`: no crates.io, the same bytes everywhere.
wasmchain-sdk = { path = "@SDK@" }

# Its own workspace, so that a Cargo.toml in a folder above does not claim it.
[workspace]

# What the chain expects (`wasmchain build` passes the same settings itself).
[profile.release]
opt-level = "z"
lto = true
codegen-units = 1
panic = "abort"
debug = false
strip = true
incremental = false
overflow-checks = false
"""

CARGO_CONFIG = """\
# For a plain `cargo build --release --target @TARGET@`: a @STACK@-byte stack keeps
# the module's initial memory at 2 pages (the default 1 MiB stack needs 17).
# `wasmchain build` passes this flag itself.
[target.@TARGET@]
rustflags = ["-C", "link-arg=-zstack-size=@STACK@"]
"""

GITIGNORE = """\
/target
/.venv
__pycache__/
.pytest_cache/
.wasmchain/
"""

LIB_RS = """\
//! @NAME@: a wasmchain contract, made by `wasmchain new`.
//!
//! A counter anyone can add to; replace it with your own. Its methods, with
//! their types, are in `@NAME@.wit`, which is embedded in `@NAME@.wasm`:
//!
//! - `add {"by": u64}` -> the new count (u64); emits `Added {"by", "count"}`;
//!   aborts with "count overflow" past the largest u64, changing nothing;
//! - `get {}` -> the count (u64; 0 before the first add).

#![cfg_attr(target_arch = "wasm32", no_std)]

use wasmchain_sdk::{emit, entry, msgpack, storage};

wasmchain_sdk::interface!("../@NAME@.wit");

const COUNT: &[u8] = b"count";

entry! {
    fn add(args) -> u64 {
        let by = args.u64("by");
        let count = match storage::get_u64(COUNT).unwrap_or(0).checked_add(by) {
            Some(count) => count,
            None => wasmchain_sdk::abort("count overflow"),
        };
        storage::set_u64(COUNT, count);
        emit("Added", msgpack::encode_map(&[("by", &by), ("count", &count)]));
        count
    }

    fn get(_args) -> u64 {
        storage::get_u64(COUNT).unwrap_or(0)
    }
}

// Unit tests on the SDK's mock host: `cargo test` (no chain, no wasm).
#[cfg(test)]
mod tests {
    use super::*;
    use wasmchain_sdk::mock;

    fn by(n: u64) -> Vec<u8> {
        msgpack::encode_map(&[("by", &n)]).to_vec()
    }

    #[test]
    fn adds_and_emits() {
        mock::reset();
        assert_eq!(mock::invoke(add, &by(5)).unwrap(), [5]);
        assert_eq!(mock::invoke(get, &[]).unwrap(), [5]);
        let events = mock::take_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "Added");
    }

    #[test]
    fn overflow_aborts() {
        mock::reset();
        mock::invoke(add, &by(u64::MAX)).unwrap();
        assert_eq!(mock::invoke(add, &by(1)).unwrap_err(), "count overflow");
    }
}
"""

WIT = """\
// @NAME@'s interface, embedded in @NAME@.wasm by
// `wasmchain_sdk::interface!("../@NAME@.wit")` in src/lib.rs: the client, the
// CLI and the node check arguments and decode results and events with it.
package local:@KEBAB@;

/// Read-only methods.
interface view {
    /// The count: 0 before the first add.
    get: func() -> u64;
}

/// The events the contract emits (a record `added` is the event `Added`).
interface events {
    /// `by` was added, making `count`.
    record added {
        by: u64,
        count: u64,
    }
}

/// A counter anyone can add to.
world @KEBAB@ {
    /// Adds `by` to the count and returns the new count; aborts with
    /// "count overflow" past the largest u64. Emits an `added` event.
    export add: func(by: u64) -> u64;
    export view;
}
"""

TEST_PY = '''\
"""@NAME@'s tests: each gets a fresh chain in this process (the `wasmchain` fixture of wasmchain's pytest plugin)."""

from pathlib import Path

import pytest

from wasmchain import Client, TransactionFailed
from wasmchain.client.testing import compile_project

CRATE = Path(__file__).resolve().parent.parent  # tests/ is inside the crate


@pytest.fixture(scope="session")
def wasm() -> Path:
    """The contract, built as `wasmchain build` builds it (again only when a source changed)."""
    return compile_project(CRATE)


def test_add(wasmchain: Client, wasm: Path) -> None:
    alice, bob = wasmchain.dev_account(0), wasmchain.dev_account(1)
    counter = alice.deploy(wasm)

    receipt = counter.add(by=5)  # a transaction signed by alice, who deployed it; typed by @NAME@.wit
    assert receipt.result == 5
    assert [(event.name, event.data) for event in receipt.events] == [("Added", {"by": 5, "count": 5})]
    assert counter.get() == 5  # read-only: the value itself, no transaction
    counter.with_sender(bob).add(by=2)  # signed by bob
    assert counter.get() == 7
    assert receipt.trace().frame.args == {"by": 5}  # what it did, frame by frame


def test_a_failing_call(wasmchain: Client, wasm: Path) -> None:
    alice = wasmchain.dev_account(0)
    counter = alice.deploy(wasm)
    counter.add(by=2**64 - 1)

    # simulate: what a call would do and cost, without sending it
    assert counter.add.bind(by=1).simulate(sender=alice).error == "count overflow"
    # a failed transaction raises (send(check=False) returns its receipt instead)
    with pytest.raises(TransactionFailed, match="count overflow") as failure:
        counter.add(by=1)
    assert failure.value.result.gas_used > 0  # it paid for its gas; nothing else changed
    assert failure.value.trace.failed_frame().method == "add"  # the trace names the frame where it failed
    assert counter.get() == 2**64 - 1


def test_arguments_are_checked_before_sending(wasmchain: Client, wasm: Path) -> None:
    alice = wasmchain.dev_account(0)
    counter = alice.deploy(wasm)
    with pytest.raises(TypeError, match='argument "by": expected u64'):
        counter.add(by="ten")  # refused before anything is signed or sent
    assert counter.call("add", {"by": 3}, sender=alice).result == 3  # by name: the same checks
'''

README = """\
# @NAME@

A wasmchain contract, made by `wasmchain new @PACKAGE@`.

```
@LAYOUT@
```

It needs the pinned Rust toolchain (`@TOOLCHAIN@` with the `@TARGET@`
target; on Debian or Ubuntu: `sudo apt-get install rustc cargo
libstd-rust-dev-wasm32 lld`), and wasmchain and pytest installed in the
virtualenv you work in (`pip install pytest /path/to/wasmchain`, a
checkout of wasmchain).

```sh
wasmchain build           # -> @NAME@.wasm: its size, initial memory, deploy gas and methods
pytest                    # builds it again first if a source changed
wasmchain build --check   # a rebuild from scratch gives the same bytes
cargo test                # the Rust unit tests, on the SDK's mock host
```

On a running devnet (`wasmchain devnet`, or `make run` in wasmchain):

```sh
export WASMCHAIN_RPC=http://127.0.0.1:8545
wasmchain deploy @NAME@.wasm --from dev0           # prints its address
wasmchain call ADDRESS add --args '{"by": 5}' --from dev0
wasmchain view ADDRESS get
```

`call`, `deploy` and `transfer` simulate first and send nothing that would
fail. `wasmchain abi @NAME@.wasm` shows the interface.
"""
