"""Rules about the code base itself: docs match code, layering, one Engine, the pin."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import tomllib
from pathlib import Path

from tests.helpers import CONTRACTS, ROOT, Sandbox, contract_address
from wasmchain.vm import GasSchedule, Runtime
from wasmchain.vm.abi import HOST_FUNCTIONS_V2
from wasmchain.vm.params import VM_VERSION, WASMTIME_VERSION


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else None]


def test_docs_abi_lists_exactly_the_host_functions_with_their_types() -> None:
    table = _section((ROOT / "docs" / "abi.md").read_text(), "## Functions")
    documented = {}
    for row in re.findall(r"^\| `(\w+)` \| ([^|]*) \| ([^|]*) \|", table, re.MULTILINE):
        name, params, result = row
        param_types = tuple(re.findall(r"\b(i32|i64|f32|f64)\b", params))
        result_types = tuple(re.findall(r"\b(i32|i64|f32|f64)\b", result))
        documented[name] = (param_types, result_types)
    assert documented == {name: (sig.params, sig.results) for name, sig in HOST_FUNCTIONS_V2.items()}


def test_docs_gas_table_matches_the_devnet_genesis() -> None:
    genesis_gas = json.loads((ROOT / "genesis.json").read_text())["vm"]["gas"]
    table = _section((ROOT / "docs" / "gas.md").read_text(), "## The schedule")
    documented = {name: int(value) for name, value in re.findall(r"^\| `(\w+)` \| (\d+) \|", table, re.MULTILINE)}
    assert documented == genesis_gas
    assert set(documented) == {field.name for field in dataclasses.fields(GasSchedule)}


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_vm_never_imports_chain() -> None:
    offenders = [str(path.relative_to(ROOT)) for path in _python_files("vm") if "chain" in _imports(path)]
    assert offenders == []


def test_only_vm_engine_creates_an_engine_or_config() -> None:
    creators = []
    for package in ("vm", "chain"):
        for path in _python_files(package):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("Engine", "Config")
                ):
                    creators.append(str(path.relative_to(ROOT)))
    assert sorted(set(creators)) == ["vm/engine.py"]


def test_wasmtime_is_pinned_to_the_vm_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"wasmtime=={WASMTIME_VERSION}" in project["dependencies"]
    assert json.loads((ROOT / "genesis.json").read_text())["vm"]["version"] == VM_VERSION


def test_compiled_modules_are_cached_on_disk_and_reused(tmp_path: Path) -> None:
    code = (CONTRACTS / "counter" / "counter.wasm").read_bytes()
    first = Sandbox()
    first.runtime = Runtime(first.params, cache_dir=tmp_path)
    first.deploy(code, contract_address(1))
    artifacts = list(tmp_path.iterdir())
    assert len(artifacts) == 1 and artifacts[0].suffix == ".cwasm"
    stamp = artifacts[0].stat().st_mtime_ns
    second = Sandbox()
    second.runtime = Runtime(second.params, cache_dir=tmp_path)
    second.deploy(code, contract_address(1))
    assert artifacts[0].stat().st_mtime_ns == stamp  # loaded, not rewritten
    assert first.call(contract_address(1), "increment") == second.call(contract_address(1), "increment")


def test_nothing_catches_the_vm_error_root() -> None:
    # HostFault is a VMError: a handler of the root would also catch a node's own fault, and could
    # turn it into a receipt or a refusal.  Catch the branch meant (ExecutionHalted, InvalidModule...).
    handlers = []
    for path in sorted([*(ROOT / "vm").rglob("*.py"), *(ROOT / "chain").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                names = {c.attr if isinstance(c, ast.Attribute) else getattr(c, "id", "") for c in caught}
                if "VMError" in names:
                    handlers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert handlers == []
