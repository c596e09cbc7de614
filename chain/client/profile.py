"""Rendering a gas profile: a table of the top functions, speedscope JSON, folded stacks.

The input is the ``"profile"`` object of docs/rpc.md (``wasmchain.vm.profile.profile_to_json``,
the RPC's ``debug_profile_*`` answers).  Function names come from the profile itself (the
module's ``name`` section) or, for stripped modules, from name maps: the ``.names`` files
contracts/build.sh writes beside each example ``.wasm`` (``load_names``), matched to a frame
by its ``code_hash``.  A function without a name is shown as ``func[INDEX]``.

Pure data in, text or JSON out: nothing here loads the VM or talks to a node.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


@dataclass(frozen=True, slots=True)
class NameMap:
    """The function names of one module (a ``.names`` file)."""

    label: str
    """What to call the module's frames (the file's stem: ``token``)."""
    functions: Mapping[int, str] = field(default_factory=dict)


Names = Mapping[str, NameMap]
"""Name maps by module hash, ``"0x..."`` lowercase."""


def load_names(paths: Iterable[str | Path]) -> dict[str, NameMap]:
    """Read ``.names`` files (a directory: every ``*.names`` under it) into name maps by module hash.

    Raises ``ValueError`` naming the file when one is not a names file.
    """
    found: dict[str, NameMap] = {}
    for given in paths:
        path = Path(given)
        files = sorted(path.rglob("*.names")) if path.is_dir() else [path]
        for file in files:
            try:
                document = json.loads(file.read_text())
                module = str(document["module"]).lower()
                functions = {int(index): str(name) for index, name in document["functions"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                raise ValueError(f"{file} is not a .names file (module hash and functions): {error}") from None
            found[module] = NameMap(file.stem, functions)
    return found


# -- names ----------------------------------------------------------------------------


def _function_names(frame: Mapping[str, Any], names: Names | None) -> dict[int, str]:
    mapped = (names or {}).get(str(frame.get("code_hash", "")).lower())
    result = dict(mapped.functions) if mapped is not None else {}
    for row in frame.get("functions", []):
        if row.get("name"):
            result[int(row["index"])] = str(row["name"])
    return result


def function_label(index: int, known: Mapping[int, str]) -> str:
    """A function's name, or ``func[INDEX]``."""
    return known.get(index) or f"func[{index}]"


def frame_label(frame: Mapping[str, Any], names: Names | None = None) -> str:
    """``token.transfer``: the module's label (from its name map) or the short contract address, and the method."""
    mapped = (names or {}).get(str(frame.get("code_hash", "")).lower())
    contract = str(frame.get("contract", "0x"))
    module = mapped.label if mapped is not None else f"{contract[:6]}..{contract[-4:]}"
    return f"{module}.{frame.get('method', '?')}"


def _stacks(profile: Mapping[str, Any], names: Names | None) -> list[tuple[list[str], int]]:
    """Every stack of every frame as the full path of labels (frames nested under their caller's stack) and gas."""
    frames = profile.get("frames", [])
    prefixes: dict[tuple[int, ...], list[str]] = {}
    known_by_path: dict[tuple[int, ...], dict[int, str]] = {}
    out = []
    for frame in frames:
        path = tuple(frame.get("path", []))
        known = _function_names(frame, names)
        known_by_path[path] = known
        parent = path[:-1]
        prefix: list[str] = []
        if path and parent in prefixes:
            caller = known_by_path[parent]
            prefix = prefixes[parent] + [function_label(index, caller) for index in frame.get("caller_stack", [])]
        prefixes[path] = [*prefix, frame_label(frame, names)]
        for item in frame.get("stacks", []):
            labels = prefixes[path] + [function_label(index, known) for index in item["stack"]]
            out.append((labels, int(item["gas"])))
    return out


# -- the three outputs ----------------------------------------------------------------------


def folded_stacks(profile: Mapping[str, Any], names: Names | None = None) -> list[str]:
    """Lines ``frame;fn;fn GAS`` for flamegraph.pl or inferno (``;`` inside a name becomes ``,``).

    The gas of the lines adds up to ``profile["gas"]``.
    """
    return [
        ";".join(label.replace(";", ",") for label in labels) + f" {gas}" for labels, gas in _stacks(profile, names)
    ]


def speedscope(
    profile: Mapping[str, Any], names: Names | None = None, *, title: str = "wasmchain gas"
) -> dict[str, Any]:
    """The profile as a speedscope file (a "sampled" profile weighted by gas; unit "none": gas)."""
    frames: list[dict[str, str]] = []
    index: dict[str, int] = {}
    samples = []
    weights = []
    for labels, gas in _stacks(profile, names):
        sample = []
        for label in labels:
            if label not in index:
                index[label] = len(frames)
                frames.append({"name": label})
            sample.append(index[label])
        samples.append(sample)
        weights.append(gas)
    total = sum(weights)
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": title,
                "unit": "none",
                "startValue": 0,
                "endValue": total,
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": title,
        "activeProfileIndex": 0,
        "exporter": "wasmchain",
    }


@dataclass(frozen=True, slots=True)
class FunctionRow:
    """One line of the table: a function of a module, over every frame that ran it."""

    module: str
    function: str
    own: int
    """Gas with the function on top of the stack ("self")."""
    total: int
    calls: int


def top_functions(profile: Mapping[str, Any], names: Names | None = None) -> list[FunctionRow]:
    """Every function's self and total gas and calls, summed over the frames of its module; most self gas first.

    A frame's own overhead (instantiation, attached value: the empty stack) is a row ``(frame)``.
    """
    rows: dict[tuple[str, str], list[int]] = {}
    for frame in profile.get("frames", []):
        module = frame_label(frame, names).rsplit(".", 1)[0]
        known = _function_names(frame, names)
        for row in frame.get("functions", []):
            key = (module, function_label(int(row["index"]), known))
            sums = rows.setdefault(key, [0, 0, 0])
            sums[0] += int(row["self"])
            sums[1] += int(row["total"])
            sums[2] += int(row["calls"])
        overhead = sum(int(item["gas"]) for item in frame.get("stacks", []) if not item["stack"])
        if overhead:
            sums = rows.setdefault((module, "(frame)"), [0, 0, 0])
            sums[0] += overhead
            sums[1] += overhead
            sums[2] += 1
    table = [
        FunctionRow(module, function, own, total, calls) for (module, function), (own, total, calls) in rows.items()
    ]
    table.sort(key=lambda row: (-row.own, -row.total, row.module, row.function))
    return table


def profile_table(profile: Mapping[str, Any], names: Names | None = None, *, top: int = 20) -> str:
    """A text table of the ``top`` functions by self gas: self, total, calls, share of the profile's gas."""
    gas = int(profile.get("gas", 0))
    rows = top_functions(profile, names)
    lines = [f"{'self gas':>12}  {'share':>6}  {'total gas':>12}  {'calls':>6}  function"]
    for row in rows[:top]:
        share = f"{100 * row.own / gas:5.1f}%" if gas else "     -"
        lines.append(f"{row.own:>12,}  {share:>6}  {row.total:>12,}  {row.calls:>6}  [{row.module}] {row.function}")
    if len(rows) > top:
        rest = sum(row.own for row in rows[top:])
        lines.append(f"{rest:>12,}  {'':>6}  {'':>12}  {'':>6}  ({len(rows) - top} more functions)")
    lines.append(f"{gas:>12,}  total gas in {len(profile.get('frames', []))} frame(s)")
    return "\n".join(lines)
