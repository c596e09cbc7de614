"""docs/architecture.md names only code that exists.

It points a newcomer at files and functions; a name that was renamed or removed sends them
nowhere.  Checked: every source path (``chain/node/rpc.py``), every ``path.py: name`` (the name is
defined in that file), every ``Class.member`` (the class defines it), and every private name
(``_run_frame``: defined somewhere).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from tests.helpers import ROOT

DOC = ROOT / "docs" / "architecture.md"
SOURCES = [*sorted((ROOT / "chain").rglob("*.py")), *sorted((ROOT / "vm").rglob("*.py"))]


def definitions(path: Path) -> tuple[set[str], dict[str, set[str]]]:
    """The names a file defines at any depth, and each class's members (methods, attributes, fields)."""
    names: set[str] = set()
    members: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
        if isinstance(node, ast.ClassDef):
            for item in ast.walk(node):
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    members[node.name].add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members[node.name].add(item.target.id)
                elif isinstance(item, ast.Assign):
                    members[node.name].update(t.id for t in item.targets if isinstance(t, ast.Name))
                elif isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name) and item.value.id == "self":
                    members[node.name].add(item.attr)
    return names, members


def stale_names(text: str) -> list[str]:
    """Every name in a page that the code does not have, with the span it was in."""
    every_name: set[str] = set()
    every_member: dict[str, set[str]] = defaultdict(set)
    per_file: dict[str, set[str]] = {}
    for path in SOURCES:
        names, members = definitions(path)
        per_file[path.relative_to(ROOT).as_posix()] = names
        every_name |= names
        for cls, found in members.items():
            every_member[cls] |= found
    missing = []
    for span in re.findall(r"`([^`\n]+)`", text):
        for path in re.findall(
            r"\b((?:chain|vm|tests|bench|contracts|docs)/[\w/.-]*\.(?:py|md|toml|json|rs|wasm))\b", span
        ):
            if not (ROOT / path).exists():
                missing.append(f"{span}: no file {path}")
        located = re.fullmatch(r"((?:chain|vm)/[\w/]+\.py): (\w+)", span)
        if located and located.group(2) not in per_file.get(located.group(1), set()):
            missing.append(f"{span}: {located.group(1)} defines no {located.group(2)}")
        for cls, member in re.findall(r"\b([A-Z]\w*)\.([a-z_]\w*)\b", span):
            if cls in every_member and member not in every_member[cls]:
                missing.append(f"{span}: {cls} has no {member}")
        for private in re.findall(r"(?<![\w.])(_[a-z]\w*)", span):
            if private not in every_name:
                missing.append(f"{span}: nothing defines {private}")
    return missing


def test_every_name_in_the_architecture_page_exists() -> None:
    assert stale_names(DOC.read_text()) == []


def test_the_checker_finds_stale_names() -> None:
    page = "A fault escapes as `HostFault` (`vm/runtime.py: _dispatch`); see `Chain.no_such` and `chain/no.py`."
    assert stale_names(page) == [
        "vm/runtime.py: _dispatch: vm/runtime.py defines no _dispatch",
        "vm/runtime.py: _dispatch: nothing defines _dispatch",
        "Chain.no_such: Chain has no no_such",
        "chain/no.py: no file chain/no.py",
    ]
