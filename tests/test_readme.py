"""The README's examples run as written: its contract tests, its tour's traces and typed contracts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import wasmchain
from tests.helpers.toolchain import require_toolchain

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_pytest_example_is_what_wasmchain_new_writes_and_passes(tmp_path: Path) -> None:
    """The README shows the tests of a new project; with its snapshot/revert fixtures added, they pass there."""
    require_toolchain()
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 2, "the README's two python examples: a new project's tests, then snapshot/revert fixtures"
    created = wasmchain("new", str(tmp_path / "mytoken"))
    assert created.code == 0, created
    tests = tmp_path / "mytoken" / "tests" / "test_mytoken.py"
    assert tests.read_text() == blocks[0], "README's example is not the test file `wasmchain new mytoken` writes"
    tests.write_text(
        blocks[0] + "\n\n" + blocks[1] + "\n\ndef test_isolated(counter):\n"
        "    counter.add(by=1)\n\n"
        "def test_isolated_again(counter):\n"
        "    assert counter.get() == 0\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path / "mytoken",
        capture_output=True,
        text=True,
        timeout=300,
        env={name: value for name, value in os.environ.items() if not name.startswith("WASMCHAIN_")},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 passed" in run.stdout


TOUR_BEFORE_TRACES = """
wasmchain init >/dev/null
TOKEN=$(wasmchain deploy contracts/token/token.wasm --from dev0 --init init --args '{"supply": 1000000}' --json \\
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
DEV1=$(wasmchain keys show dev1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
wasmchain call $TOKEN transfer --args "{\\"to\\": \\"$DEV1\\", \\"amount\\": 250}" --from dev0 >/dev/null
wasmchain transfer dev2 1000 --from dev0 >/dev/null
"""
"""The tour's state-changing steps before its traces section, as the README gives them (on a fresh chain)."""


def _expected(line: str) -> re.Pattern[str]:
    """A line of the README's example output as a pattern: ``0xabcd...ef01`` stands for any hex with those ends."""
    parts = re.split(r"(0x[0-9a-f]{4}\.\.\.[0-9a-f]{4})", line)
    pattern = "".join(
        f"0x{part[2:6]}[0-9a-f]*{part[-4:]}" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(pattern + r"\Z")


def test_the_readme_traces_run_and_print_what_it_shows(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Inside a transaction") : text.index("### Typed contracts")]
    blocks = re.findall(r"```(sh|text)\n(.*?)```", section, re.S)
    assert [kind for kind, _ in blocks][:4] == ["sh", "text", "sh", "text"]
    script = TOUR_BEFORE_TRACES + "".join(
        f"echo '=== block {index}'\n{body}" for index, (kind, body) in enumerate(blocks) if kind == "sh"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("WASMCHAIN_RPC", "NO_COLOR")}
    env |= {"WASMCHAIN_DATA": str(tmp_path / "tour"), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    run = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.stderr == "", run.stderr
    outputs = re.split(r"^=== block \d+\n", run.stdout, flags=re.M)[1:]
    shown = [body for kind, body in blocks if kind == "text"]
    for printed, example in zip(outputs, shown):
        expected = [line for line in example.splitlines()]
        if expected[-1] == "...":
            expected.pop()
        lines = printed.splitlines()
        first = next((i for i, line in enumerate(lines) if _expected(expected[0]).match(line)), None)
        assert first is not None, f"{expected[0]!r} not in:\n{printed}"
        for want, got in zip(expected, lines[first:]):
            assert _expected(want).match(got), f"README shows {want!r}, the command printed {got!r}"
        assert len(lines) - first >= len(expected)


def _in_order(printed: str, example: str) -> None:
    """Every line of a README output block is printed, in that order; a ``...`` line stands for any lines."""
    lines, at = printed.splitlines(), 0
    for want in example.splitlines():
        if want == "...":
            continue
        pattern = _expected(want)
        found = next((i for i in range(at, len(lines)) if pattern.match(lines[i])), None)
        assert found is not None, f"README shows {want!r}; not printed (in order) in:\n{printed}"
        at = found + 1


def test_the_readme_typed_contracts_run_and_print_what_it_shows(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Typed contracts") : text.index("### Replaying history")]
    blocks = re.findall(r"```(sh|text)\n(.*?)```", section, re.S)
    assert [kind for kind, _ in blocks] == ["sh", "text", "sh", "text", "sh", "text"]
    nonce = (
        'wasmchain account dev0 --json | python3 -c \'import json,sys; print("nonce", json.load(sys.stdin)["nonce"])\''
    )
    script = TOUR_BEFORE_TRACES + "exec 2>&1\n"  # the refusal is on stderr
    for index, (kind, body) in enumerate(blocks):
        if kind == "sh":
            # Each command's exit code is printed after it, and dev0's nonce around the refused call.
            script += f"echo '=== block {index}'\n"
            for line in body.replace("\\\n", "").splitlines():  # a command continued with \ is one line
                command = re.sub(r"\s+#.*$", "", line) + '; echo "exit=$?"\n'
                script += f"{nonce}\n{command}{nonce}\n" if "nothing sent" in line else command
    env = {key: value for key, value in os.environ.items() if key not in ("WASMCHAIN_RPC", "NO_COLOR")}
    env |= {"WASMCHAIN_DATA": str(tmp_path / "tour"), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    run = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    outputs = re.split(r"^=== block \d+\n", run.stdout, flags=re.M)[1:]
    shown = [body for kind, body in blocks if kind == "text"]
    assert len(outputs) == len(shown) == 3, run.stdout
    for printed, example in zip(outputs, shown):
        _in_order(printed, example)
    exits = re.findall(r"^exit=(\d+)$", run.stdout, flags=re.M)
    assert exits == ["0", "0", "2", "0", "0"], run.stdout
    nonces = re.findall(r"^nonce (\d+)$", outputs[1], flags=re.M)
    assert len(nonces) == 2 and nonces[0] == nonces[1], outputs[1]  # the refused call sent nothing
