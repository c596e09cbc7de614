"""The layers of ``wasmchain`` import one way only, and the installed package is one name.

The repository's ``chain/`` folder is the package ``wasmchain`` and ``vm/`` is ``wasmchain.vm``
(pyproject.toml).  Inside, the layers are ordered::

    vm  <-  protocol  <-  store  <-  node  <-  client  <-  history  <-  cli

A module may import its own layer and the layers to its left, never one to its right; ``vm``
imports nothing of ``wasmchain`` but itself; nothing inside imports the package root (the root
re-exports the public API, so an import of it from inside would run upward).  ``protocol`` does
no I/O and reads no clock: the modules that would let it are refused there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

LAYERS = ("vm", "protocol", "store", "node", "client", "history", "cli")
"""Lowest first: each layer may import the ones before it."""

FOLDERS = {"vm": ROOT / "vm", **{layer: ROOT / "chain" / layer for layer in LAYERS[1:]}}

NO_IO = frozenset(
    {
        "asyncio",
        "concurrent",
        "http",
        "multiprocessing",
        "os",
        "pathlib",
        "plyvel",
        "random",
        "select",
        "shutil",
        "signal",
        "socket",
        "subprocess",
        "tempfile",
        "threading",
        "time",
        "urllib",
    }
)
"""Standard modules (and plyvel) that ``protocol`` may not import: files, clocks, threads, sockets."""


@dataclass(frozen=True)
class Edge:
    module: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


def module_name(path: Path) -> str:
    """The installed name of a source file: chain/node/rpc.py is wasmchain.node.rpc, vm/x.py wasmchain.vm.x."""
    if path.is_relative_to(ROOT / "vm"):
        parts = ("wasmchain", "vm", *path.relative_to(ROOT / "vm").with_suffix("").parts)
    else:
        parts = ("wasmchain", *path.relative_to(ROOT / "chain").with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, source: str | None = None) -> list[Edge]:
    """Every module a file imports (relative imports resolved), with the line, ``TYPE_CHECKING`` ones too."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            edges += [Edge(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from wasmchain.store import chain`` is judged by its package, which is enough:
            # a package of one layer holds only that layer's modules
            edges.append(Edge(name, target, node.lineno))
    return edges


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "wasmchain":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "root"


def violations(path: Path, source: str | None = None) -> list[str]:
    """What a file imports that its layer may not."""
    own = layer_of(module_name(path))
    assert own in LAYERS, path
    allowed = set(LAYERS[: LAYERS.index(own) + 1])
    found = []
    for edge in imports_of(path, source):
        target = layer_of(edge.imported)
        if target == "root" and edge.imported == "wasmchain":
            found.append(f"{edge}: nothing inside imports the package root")
        elif target is not None and target != "root" and target not in allowed:
            found.append(f"{edge}: layer {own} may import only {', '.join(sorted(allowed))}")
        elif own == "protocol" and edge.imported.split(".")[0] in NO_IO:
            found.append(f"{edge}: protocol does no I/O and reads no clock")
    return found


def source_files() -> list[Path]:
    return sorted(path for folder in FOLDERS.values() for path in folder.rglob("*.py"))


def test_every_source_file_belongs_to_a_layer() -> None:
    loose = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "chain").glob("*.py") if path.name != "__init__.py")
    assert loose == [], "chain/ holds only the package root; modules live in a layer's folder"
    assert all(layer_of(module_name(path)) in LAYERS for path in source_files())


def test_imports_run_one_way_only() -> None:
    found = [problem for path in source_files() for problem in violations(path)]
    assert found == []


@pytest.mark.parametrize(
    ("path", "line", "complaint"),
    [
        ("vm/runtime.py", "from wasmchain.protocol.codec import encode", "layer vm may import only vm"),
        ("chain/protocol/state.py", "from wasmchain.store.journal import Journal", "layer protocol may import"),
        ("chain/store/chain.py", "from ..node.mempool import Mempool", "imports wasmchain.node.mempool"),
        ("chain/node/rpc.py", "import wasmchain.client.client", "layer node may import"),
        ("chain/client/client.py", "from wasmchain.history import replay", "imports wasmchain.history:"),
        ("chain/history/replay.py", "from wasmchain.cli.main import main", "layer history may import"),
        ("chain/node/node.py", "from wasmchain import Client", "nothing inside imports the package root"),
        ("chain/protocol/genesis.py", "import time", "protocol does no I/O"),
        ("chain/protocol/blocks.py", "from pathlib import Path", "protocol does no I/O"),
    ],
)
def test_an_upward_import_is_caught(path: str, line: str, complaint: str) -> None:
    """The checker itself: one upward import planted in a real file is found, with its line."""
    file = ROOT / path
    source = file.read_text() + "\n" + line + "\n"
    found = violations(file, source)
    assert len(found) == 1 and complaint in found[0], found
    assert found[0].startswith(f"{module_name(file)}:{source.count(chr(10))}")


def test_the_package_maps_chain_and_vm_under_one_name() -> None:
    import wasmchain
    import wasmchain.vm

    assert Path(wasmchain.__file__).parent == ROOT / "chain"
    assert Path(wasmchain.vm.__file__).parent == ROOT / "vm"


LIGHT = (
    "wasmchain",
    "wasmchain.client",
    "wasmchain.client.client",
    "wasmchain.client.results",
    "wasmchain.client.transport",
    "wasmchain.node",
    "wasmchain.node.jsonrpc",
)
"""What a program that only talks to a node loads of the layers above protocol: the client, and the
interface's codes and limits (``node.jsonrpc`` imports nothing of the node)."""


@pytest.mark.parametrize(
    "statement",
    ["import wasmchain", "from wasmchain import Client, Contract, TransactionFailed", "import wasmchain.client.client"],
)
def test_the_http_client_loads_no_node_no_vm_no_database(statement: str) -> None:
    code = (
        f"import sys; {statement}\n"
        "print('\\n'.join(sorted(name for name in sys.modules if name.split('.')[0] in "
        "('wasmchain', 'wasmtime', 'plyvel'))))"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "wasmchain.client.client" in loaded
    heavy = [name for name in loaded if name.split(".")[:2] != ["wasmchain", "protocol"] and name not in LIGHT]
    assert heavy == []
