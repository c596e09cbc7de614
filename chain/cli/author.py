"""The contract author's commands: ``wasmchain new`` (scaffold.py) and ``wasmchain build`` (client/build.py).

``build`` builds the crate, then checks the module as a deploy would (the
genesis's VM rules: ``runner.validate``) and simulates its deploy on a fresh
in-process chain of that genesis, so its report gives what an author wants
before deploying: the size, the initial memory, the deploy gas and the
methods with their types.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from wasmchain.cli.runner import EXIT_FAILED, EXIT_INVALID, EXIT_OK, validate
from wasmchain.cli.scaffold import new_project
from wasmchain.client.build import Built, build_crate
from wasmchain.client.local import local_client
from wasmchain.client.wasm_names import memory_pages
from wasmchain.node.reports import Report
from wasmchain.store.genesis_file import load_genesis


def cmd_new(path: Path) -> tuple[int, Report]:
    project = new_project(path)
    return EXIT_OK, {
        "status": "created",
        "path": str(project.root),
        "package": project.package,
        "wasm": f"{project.name}.wasm",
        "files": list(project.files),
    }


def cmd_build(path: Path, genesis: Path, *, check: bool = False) -> tuple[int, Report]:
    """Build (or ``check``) the crate at ``path``; the module is judged by ``genesis``'s rules."""
    built = build_crate(path, check=check)
    report: dict[str, Any] = {
        "status": "built",
        "wasm": str(built.crate.wasm),
        "names": str(built.crate.names),
        "package": built.crate.package,
        "toolchain": built.toolchain,
        "cached": built.cached,
        **_module_report(built.code),
    }
    if check:
        report["status"] = "identical" if built.identical else "differs"
        if not built.identical:
            report["rebuilt_sha256"] = report.pop("sha256")
            report["rebuilt_size"] = report.pop("size")
            existing = built.crate.wasm.read_bytes()
            report["sha256"], report["size"] = "0x" + hashlib.sha256(existing).hexdigest(), len(existing)
            return EXIT_FAILED, report
    code, validated = validate(load_genesis(genesis).vm, built.code)
    if code != EXIT_OK:
        report.update(status="invalid", rule=validated["rule"], error=validated["error"])
        return EXIT_INVALID, report
    report["methods"] = _methods(validated)
    report["deploy_gas"], deploy_error = _deploy_gas(built, genesis)
    if deploy_error is not None:
        report.update(status="invalid", error=f"a deploy of it fails: {deploy_error}")
        return EXIT_INVALID, report
    return EXIT_OK, report


def _module_report(code: bytes) -> dict[str, Any]:
    return {"size": len(code), "sha256": "0x" + hashlib.sha256(code).hexdigest(), "memory_pages": memory_pages(code)}


def _methods(validated: dict[str, Any]) -> list[dict[str, Any]]:
    """The exported methods, each with its interface's signature and whether it is read-only, if declared."""
    interface = validated.get("interface")
    typed = {method["export"]: method for method in interface["methods"]} if interface else {}
    methods = []
    for name in validated["methods"]:
        method = typed.get(name)
        methods.append(
            {
                "name": name,
                "signature": method["signature"] if method else None,
                "readonly": bool(method["readonly"]) if method else None,
            }
        )
    return methods


def _deploy_gas(built: Built, genesis: Path) -> tuple[int | None, str | None]:
    """The gas a deploy of the module (with no init call) uses on a fresh chain of ``genesis``, or why it fails."""
    with local_client(genesis) as client:
        simulated = client.simulate(client.dev_account(0).address, code=built.code)
    if simulated.status != "ok":
        return None, simulated.error
    return simulated.gas_used, None


def new_lines(report: Report) -> list[str]:
    wasm = report["wasm"]
    return [
        f"created {report['path']}: the contract crate {report['package']} ({len(report['files'])} files)",
        "next:",
        f"  cd {report['path']}",
        "  wasmchain build      # -> " + wasm + ": its size, deploy gas and methods",
        "  pytest               # its tests, each on a fresh in-process chain (README.md says how to set up)",
        f"  wasmchain deploy {wasm} --from dev0   # on a running devnet (--rpc URL or $WASMCHAIN_RPC)",
    ]


def build_lines(report: Report) -> list[str]:
    """``wasmchain build``'s report as text; a failed build's messages went to stderr already."""
    status = report["status"]
    if status == "failed":
        return []
    module = f"{report['size']} bytes, sha256 {report['sha256']}"
    if status == "differs":
        return [
            f"differs: rebuilding {report['package']} from scratch gave other bytes than {report['wasm']}",
            f"  {report['wasm']}: {module}",
            f"  rebuilt: {report['rebuilt_size']} bytes, sha256 {report['rebuilt_sha256']} ({report['toolchain']})",
            "  the sources changed since it was built (`wasmchain build` writes it again), or the build is not "
            "reproducible",
        ]
    if status == "invalid":
        return [f"built {report['wasm']} ({module}), but the chain refuses it: {report['error']}"]
    verb = {"identical": "identical: a rebuild from scratch gives", "built": "built"}[status]
    cached = " (unchanged sources: not rebuilt)" if report["cached"] else ""
    lines = [
        f"{verb} {report['wasm']}{cached}",
        f"  {module}, {report['memory_pages']} initial memory pages, {report['toolchain']}",
        f"  deploy gas: {report['deploy_gas']} (simulated, without an init call)",
        "  methods:",
    ]
    for method in report["methods"]:
        signature = method["signature"] or "(untyped: not in the interface)"
        kind = "  [view]" if method["readonly"] else ""
        lines.append(f"    {method['name']}: {signature}{kind}")
    return lines
