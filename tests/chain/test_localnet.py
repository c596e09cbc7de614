"""``wasmchain localnet``'s pieces, without running a network (tests/network/ runs one): finding cometbft and
its version, the directory's set-up and resumption, the config edits, the addresses."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from tests.helpers.network import GENESIS, cometbft_binary
from wasmchain.cli.main import main
from wasmchain.node.localnet import (
    CONSENSUS,
    INSTALL_COMETBFT,
    LocalnetError,
    check_cometbft,
    check_layout,
    consensus_settings,
    edit_config,
    find_cometbft,
    node_config,
    set_up,
)
from wasmchain.store.genesis_file import load_genesis


def _fake_cometbft(where: Path, version: str) -> Path:
    script = where / "cometbft"
    script.write_text(f"#!/bin/sh\necho {version}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _no_cometbft(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("WASMCHAIN_COMETBFT", "GOBIN", "GOPATH"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_a_missing_cometbft_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_cometbft(monkeypatch, tmp_path)
    assert main(["localnet", "--dir", str(tmp_path / "net")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: cometbft is not installed")
    assert f"`{INSTALL_COMETBFT}`" in error and "go install github.com/cometbft/cometbft/cmd/cometbft@v0.38.26" in error
    assert not (tmp_path / "net").exists()


def test_cometbft_is_found_where_go_installs_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_cometbft(monkeypatch, tmp_path)
    (tmp_path / "go/bin").mkdir(parents=True)
    installed = _fake_cometbft(tmp_path / "go/bin", "0.38.26")
    assert find_cometbft() == installed
    gobin = tmp_path / "gobin"
    gobin.mkdir()
    monkeypatch.setenv("GOBIN", str(gobin))
    assert find_cometbft() == installed  # (an empty $GOBIN: on to ~/go/bin)
    assert find_cometbft(_fake_cometbft(gobin, "0.38.26")) == gobin / "cometbft"
    with pytest.raises(LocalnetError, match="is not an executable file"):
        find_cometbft(tmp_path / "nothing")


def test_another_cometbft_release_is_refused_and_another_patch_warned_about(tmp_path: Path) -> None:
    assert check_cometbft(_fake_cometbft(tmp_path, "0.38.26")) is None
    warning = check_cometbft(_fake_cometbft(tmp_path, "0.38.19"))
    assert warning is not None and "tested with 0.38.26" in warning
    with pytest.raises(LocalnetError, match=r"is CometBFT 0\.37\.4, but wasmchain speaks ABCI 2\.0"):
        check_cometbft(_fake_cometbft(tmp_path, "0.37.4"))


def test_the_addresses_follow_the_first_on_loopback(tmp_path: Path) -> None:
    layout = check_layout(tmp_path, 3, "127.0.0.254")
    assert [layout.address(index) for index in range(3)] == ["127.0.0.254", "127.0.0.255", "127.0.1.0"]
    assert layout.rpc_url(1) == "http://127.0.0.255:8545"
    assert layout.cometbft_url(2) == "http://127.0.1.0:26657"
    assert layout.abci(0) == "tcp://127.0.0.254:26658"
    command = layout.node_command(1)
    assert command[:4] == [sys.executable, "-m", "wasmchain.cli.main", "node"]
    assert command[command.index("--host") + 1] == "127.0.0.255"
    for validators, first, message in (
        (0, "127.0.0.1", "between 1 and 64"),
        (65, "127.0.0.1", "between 1 and 64"),
        (2, "10.0.0.1", "loopback"),
        (3, "127.255.255.254", "loopback"),
        (2, "localhost", "an IPv4 address"),
    ):
        with pytest.raises(LocalnetError, match=message):
            check_layout(tmp_path, validators, first)


def test_config_edits_replace_values_in_their_sections() -> None:
    text = 'proxy_app = "tcp://127.0.0.1:26658"\n[rpc]\nladdr = "a"\n[p2p]\nladdr = "b"\n'
    edited = edit_config(text, {("", "proxy_app"): '"x"', ("p2p", "laddr"): '"y"'})
    assert edited == 'proxy_app = "x"\n[rpc]\nladdr = "a"\n[p2p]\nladdr = "y"\n'
    with pytest.raises(LocalnetError, match=r"no timeout_commit in \[consensus\]"):
        edit_config(text, {("consensus", "timeout_commit"): '"1s"'})


def test_set_up_makes_the_validators_and_resumes(tmp_path: Path) -> None:
    cometbft = cometbft_binary()
    layout = check_layout(tmp_path / "net", 3, "127.0.9.1")
    out = tmp_path / "out.txt"
    with out.open("w") as file:
        assert set_up(layout, cometbft, GENESIS, file) is True
    assert out.read_text() == f"set up 3 validators in {layout.dir} (chain id wasmchain-devnet)\n"
    genesis = load_genesis(GENESIS)
    assert json.loads(layout.genesis.read_text()) == json.loads(genesis.document)
    documents = [json.loads((layout.home(index) / "config/genesis.json").read_text()) for index in range(3)]
    assert all(document == documents[0] for document in documents)
    assert documents[0]["chain_id"] == "wasmchain-devnet" and documents[0]["initial_height"] == "1"
    assert documents[0]["app_state"] == json.loads(genesis.document) and len(documents[0]["validators"]) == 3
    config = (layout.home(2) / "config/config.toml").read_text()
    for line in (
        'proxy_app = "tcp://127.0.9.3:26658"',
        'laddr = "tcp://127.0.9.3:26657"',
        'laddr = "tcp://127.0.9.3:26656"',
        "allow_duplicate_ip = true",
        *(f"{key} = {value}" for key, value in CONSENSUS.items()),  # (3 validators: timeout_commit 200 ms)
        "recheck = false",
    ):
        assert f"\n{line}\n" in config, line
    peers = next(line for line in config.splitlines() if line.startswith("persistent_peers ="))
    assert all(f"@127.0.9.{index}:26656" in peers for index in (1, 2, 3))
    assert not (tmp_path / "net.setting-up").exists()

    assert set_up(layout, cometbft, GENESIS, sys.stdout) is False  # resumed: nothing touched
    with pytest.raises(LocalnetError, match="holds a localnet of 3 validators from 127.0.9.1"):
        set_up(check_layout(tmp_path / "net", 4, "127.0.9.1"), cometbft, GENESIS, sys.stdout)
    (tmp_path / "other").mkdir()
    (tmp_path / "other/file").write_text("mine")
    with pytest.raises(LocalnetError, match="is not a localnet"):
        set_up(check_layout(tmp_path / "other", 1, "127.0.9.1"), cometbft, GENESIS, sys.stdout)


def test_one_validator_commits_every_100_ms_and_more_every_200_ms() -> None:
    """One validator has no gossip to wait for: ``timeout_commit`` 100 ms; several keep 200 ms (a transaction
    sent to one validator must reach the next proposer first).  Neither rechecks its mempool."""
    one = node_config(check_layout(Path("net"), 1, "127.0.9.1"), 0)
    four = node_config(check_layout(Path("net"), 4, "127.0.9.1"), 0)
    assert one[("consensus", "timeout_commit")] == '"100ms"' and consensus_settings(1)["timeout_commit"] == '"100ms"'
    assert four[("consensus", "timeout_commit")] == CONSENSUS["timeout_commit"] == '"200ms"'
    assert one[("mempool", "recheck")] == four[("mempool", "recheck")] == "false"
