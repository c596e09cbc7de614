"""What the benchmarks share: paths, the token workload's constants, output, and the machine's load.

Each benchmark runs as ``python bench/NAME.py`` from anywhere: importing this
module puts the source tree on ``sys.path`` first, so ``chain`` and ``vm``
import from it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = ROOT / "contracts" / "token" / "token.wasm"
GENESIS = ROOT / "genesis.json"
SUPPLY = 10**15
PER_SENDER = 10**12
"""Tokens dev0 gives each sender before the run."""
RECIPIENTS = 8
"""Distinct recipient addresses, shared by the senders."""
DEPLOY_GAS = 10**8

_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--json-only``: print the JSON line only."""
    global _quiet
    _quiet = quiet


def say(line: str) -> None:
    """A human-readable line (none with ``--json-only``)."""
    if not _quiet:
        print(line, flush=True)


def shown_share(share: float | None) -> str:
    """A ``busy_share`` for people: a percentage, or "unknown"."""
    return "unknown" if share is None else f"{share:.0%}"


def busy_share(seconds: float = 1.0) -> float | None:
    """The share of all CPUs busy (with anything) over ``seconds``; ``None`` without ``/proc``."""

    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle_before, total_before = sample()
        time.sleep(seconds)
        idle_after, total_after = sample()
    except OSError:
        return None
    return 1 - (idle_after - idle_before) / max(1, total_after - total_before)
