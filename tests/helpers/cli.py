"""Running the ``wasmchain`` command line in the test's process, with a clean ``WASMCHAIN_*`` environment."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import pytest

from wasmchain.cli.main import main


@dataclass(frozen=True)
class Run:
    """One ``wasmchain`` invocation: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __iter__(self) -> Iterator[Any]:
        """``code, out, err = wasmchain(...)``."""
        return iter((self.code, self.out, self.err))


def wasmchain(*argv: str, env: dict[str, str] | None = None) -> Run:
    """``main(argv)`` in this process, with ``WASMCHAIN_*`` from ``env`` only."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("WASMCHAIN_")]:
            patch.delenv(name)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


def refused(run: Run, *fragments: str) -> None:
    """Exit 2 with one line on stderr holding every fragment, no traceback."""
    assert run.code == 2, run
    assert run.out == "" and len(run.err.splitlines()) == 1 and "Traceback" not in run.err, run
    for fragment in fragments:
        assert fragment in run.err, run.err
