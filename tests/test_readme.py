"""The README's contract-testing example runs as written (a user copies it first)."""

from __future__ import annotations

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
