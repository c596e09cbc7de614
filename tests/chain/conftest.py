"""Fixtures shared by the chain tests: the devnet genesis and one produced chain, in a data directory and exported.

The chain is the one ``tests.chain.test_archive.produce`` mines (seven blocks, one transaction out of
gas); the archive, replay and CLI replay tests read it, so it is built once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chain.test_archive import Produced, produce
from tests.helpers import GENESIS
from wasmchain.cli.commands import cmd_export
from wasmchain.node.datadir import DataDir
from wasmchain.protocol.genesis import Genesis
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import LevelDBKV


@pytest.fixture(scope="session")
def genesis() -> Genesis:
    """The devnet genesis (genesis.json)."""
    return load_genesis(GENESIS)


@pytest.fixture(scope="session")
def produced_dir(tmp_path_factory: pytest.TempPathFactory, genesis: Genesis) -> tuple[DataDir, Produced]:
    """A data directory holding the chain of ``produce`` (closed: copy it before changing it)."""
    data = DataDir(tmp_path_factory.mktemp("produced") / "node")
    with LevelDBKV(data.db, create=True) as kv:
        produced = produce(Chain.create(kv, genesis))
    return data, produced


@pytest.fixture(scope="session")
def exported(produced_dir: tuple[DataDir, Produced], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole chain of ``produce``, exported (read it, never change it: copy it)."""
    out = tmp_path_factory.mktemp("exported") / "chain.blocks"
    code, report = cmd_export(produced_dir[0], out, None, None)
    assert code == 0, report
    return out
