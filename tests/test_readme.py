"""The README's contract-testing example runs as written (a user copies it first)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_pytest_example_passes(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 2, "the README's two python examples: a test, then the snapshot/revert fixtures"
    example = tmp_path / "test_example.py"
    example.write_text(
        blocks[0] + "\n" + blocks[1] + "\n\ndef test_isolated(token):\n"
        "    token.call('transfer', {'to': '0x' + '11' * 20, 'amount': 1},"
        " sender=token.client.dev_account(0))\n\n"
        "def test_isolated_again(token):\n"
        "    assert token.view('balance_of', {'owner': '0x' + '11' * 20}) == 0\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


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
    section = text[text.index("### Inside a transaction") : text.index("### Replaying history")]
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
