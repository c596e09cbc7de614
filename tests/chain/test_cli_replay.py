"""``wasmchain export``, ``import`` and ``replay``: exit codes, the JSON report, the text report, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.chain.test_archive import HEAD, Produced
from tests.chain.test_replay import Tamper
from wasmchain.cli import render
from wasmchain.cli.main import main
from wasmchain.cli.render import TerminalProgress
from wasmchain.node.datadir import DataDir
from wasmchain.store.kv import LevelDBKV

REPORT_KEYS = {
    "status",
    "source",
    "blocks",
    "transactions",
    "from",
    "to",
    "seconds",
    "tx_per_second",
    "divergence",
    "error",
    "warnings",
}
DIVERGENCE_KEYS = {
    "height",
    "check",
    "message",
    "recorded",
    "replayed",
    "tx_index",
    "receipt",
    "state",
    "state_omitted",
}


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WASMCHAIN_DATA", "WASMCHAIN_RPC"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, dict[str, Any]]:
    code = main([*map(str, argv), "--json"])
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress when stderr is not a terminal
    report: dict[str, Any] = json.loads(captured.out)
    return code, report


def text(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    code = main(list(map(str, argv)))
    return code, capsys.readouterr().out


def test_export_replay_import_replay(
    produced_dir: tuple[DataDir, Produced], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = produced_dir[0]
    out = tmp_path / "chain.blocks"
    code, report = run(capsys, "export", "--data", data.path, "--out", out)
    assert code == 0 and (report["from"], report["to"], report["blocks"], report["transactions"]) == (1, HEAD, HEAD, 17)
    assert report["bytes"] == out.stat().st_size
    code, report = run(capsys, "replay", out)
    assert (code, report["status"], set(report)) == (0, "match", REPORT_KEYS)
    assert (report["blocks"], report["transactions"], report["from"], report["to"]) == (HEAD, 17, 1, HEAD)
    code, report = run(capsys, "replay", "--data", data.path, "--from", 3)
    assert (code, report["status"], report["from"], report["blocks"]) == (0, "match", 4, HEAD - 3)
    code, report = run(capsys, "import", out, "--data", tmp_path / "copy")
    assert (code, report["imported"], report["head"]["height"], report["error"]) == (0, HEAD, HEAD, None)
    code, report = run(capsys, "replay", "--data", tmp_path / "copy", "--store", "leveldb")
    assert (code, report["status"]) == (0, "match")
    code, shown = text(capsys, "replay", out)
    assert code == 0 and shown.startswith("match: 7 blocks, 17 transactions replayed (blocks 1..7 of")


def test_a_divergence_exits_1_and_names_the_block(
    exported: Path,
    tmp_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    tamper = Tamper(exported)
    receipts = tamper.receipts(2)
    receipts[6] = type(receipts[6])(receipts[6].tx_hash, "ok", receipts[6].gas_used)
    tamper.set_record(2, receipts=receipts)
    path = tamper.write(tmp_path / "t")
    code, report = run(capsys, "replay", path)
    assert (code, report["status"], report["blocks"]) == (1, "diverged", 1)
    divergence = report["divergence"]
    assert set(divergence) == DIVERGENCE_KEYS
    assert (divergence["height"], divergence["check"], divergence["tx_index"]) == (2, "receipts", 6)
    assert divergence["receipt"]["status"] == {"recorded": "ok", "replayed": "out_of_gas"}
    code, shown = text(capsys, "replay", path)
    assert code == 1
    assert "diverged at block 2: receipts" in shown and "transaction 6:" in shown
    assert "    status: recorded ok, replayed out_of_gas" in shown
    # Import stops at the same block, keeping the one before it.
    code, report = run(capsys, "import", path, "--data", tmp_path / "copy")
    assert (code, report["imported"], report["head"]["height"]) == (1, 1, 1)
    assert report["error"].startswith("block 2 is invalid (receipts): the receipt of transaction 6 differs in")
    code, shown = text(capsys, "import", path, "--data", tmp_path / "other")
    assert code == 1 and "error: block 2 is invalid (receipts)" in shown and "diverged at block 2" in shown


def test_a_state_divergence_lists_keys_in_text(
    exported: Path,
    tmp_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    tamper = Tamper(exported)
    changes = tamper.changes(1)
    key = next(key for key in changes if key.startswith(b"c"))
    changes[key] = b"\x00asm" + bytes(200)
    tamper.set_record(1, changes=changes)
    code, shown = text(capsys, "replay", tamper.write(tmp_path / "t"))
    assert code == 1 and "diverged at block 1: state_changes" in shown
    assert f"    code 0x{key[1:].hex()}\n      recorded 0x0061736d000000" in shown
    assert "... (204 bytes)" in shown


def test_refusals_exit_2_with_a_refused_report(
    exported: Path,
    tmp_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    tamper = Tamper(exported)
    document = tamper.genesis_document()
    document["vm"]["gas"]["host_call"] += 1
    tamper.set_genesis_document(document)
    path = tamper.write(tmp_path / "t")
    code, report = run(capsys, "replay", path)
    assert (code, report["status"], set(report)) == (2, "refused", REPORT_KEYS)
    assert "another gas schedule" in report["error"]
    code, report = run(capsys, "replay", path, "--allow-version-mismatch")
    assert (code, report["status"], report["divergence"]["height"]) == (1, "diverged", 1)
    assert len(report["warnings"]) == 2
    code, shown = text(capsys, "replay", path)
    assert code == 2 and shown.startswith("refused: the genesis document is not the one exported")
    for argv, message in (
        (("replay", path, "--from", 2), "--from needs --data"),
        (("replay", tmp_path / "missing"), "cannot read"),
        (("replay", "--data", tmp_path / "nothing"), "no database at"),
        (("replay", path, "--data", tmp_path), "replay takes a FILE or --data DIR, not both"),
    ):
        code, report = run(capsys, *argv)
        assert (code, report["status"]) == (2, "refused") and message in report["error"], (argv, report)
    code, report = run(capsys, "import", path, "--data", tmp_path / "copy")
    assert code == 2 and "another gas schedule" in report["error"]
    code, report = run(capsys, "export", "--data", tmp_path / "nothing", "--out", tmp_path / "x")
    assert code == 2 and "no database at" in report["error"]


def test_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [100.0]
    monkeypatch.setattr(render.time, "monotonic", lambda: now[0])
    stream = Terminal()
    progress = TerminalProgress(stream)
    progress.start(10)
    now[0] += 1.0
    progress.update(2, 40)
    progress.update(3, 60)  # too soon after the last: not drawn
    now[0] += 0.25
    progress.update(4, 80)
    progress.close()
    assert stream.getvalue().split("\r\x1b[K")[1:] == [
        "2/10 blocks  2 blocks/s  40 tx/s  ETA 4s",
        "4/10 blocks  3 blocks/s  64 tx/s  ETA 2s",
        "",
    ]
    silent = io.StringIO()
    progress = TerminalProgress(silent)
    progress.start(10)
    progress.update(10, 10)
    assert silent.getvalue() == ""


def test_a_data_directory_in_use_is_named(
    produced_dir: tuple[DataDir, Produced],
    tmp_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = produced_dir[0]
    with LevelDBKV(data.db, create=False):
        for argv in (("export", "--data", data.path, "--out", tmp_path / "x"), ("replay", "--data", data.path)):
            code, report = run(capsys, *argv)
            assert code == 2 and "is in use by another process (is a node running?)" in report["error"], argv
            assert "stop the node first" in report["error"]
