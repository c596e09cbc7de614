"""Opening a data directory (chain/node/datadir.py): create, resume, start over, refuse, and never leave it open."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.helpers import GENESIS
from wasmchain.node.datadir import DataDir, create_chain, load_chain, open_chain, open_database
from wasmchain.node.devnet import DevnetOptions, open_devnet_chain
from wasmchain.protocol.errors import ChainError, GenesisError
from wasmchain.protocol.genesis import Genesis
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import DatabaseLocked, DatabaseMissing

G = load_genesis(GENESIS)


def test_create_then_load_the_same_chain(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    assert not data.initialized
    created = create_chain(data, G)
    head = created.head
    created.kv.close()
    assert data.initialized and data.cache.parent == data.path
    loaded = load_chain(data)
    try:
        assert loaded.head == head and loaded.genesis.document == G.document
    finally:
        loaded.kv.close()


def test_create_refuses_a_directory_that_holds_a_chain(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    create_chain(data, G).kv.close()
    with pytest.raises(ChainError, match=f"{tmp_path} is already initialized; remove it or choose another --data"):
        create_chain(data, G)


def test_load_refuses_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing, match="run `wasmchain init`") as caught:
        load_chain(DataDir(tmp_path / "none"))
    assert caught.value.reason == "database_missing"


def test_a_refused_genesis_leaves_the_database_closed(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    create_chain(data, G).kv.close()

    def refuse(genesis: Genesis) -> None:
        raise GenesisError(f"not {genesis.chain_id}")

    with pytest.raises(GenesisError, match="not wasmchain-devnet"):
        load_chain(data, check=refuse)
    load_chain(data).kv.close()  # not left locked


def test_open_chain_creates_once_then_resumes_and_starts_over_when_fresh(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    asked: list[str] = []

    def genesis() -> Genesis:
        asked.append("genesis")
        return G

    chain, created = open_chain(data, genesis)
    assert created and asked == ["genesis"]
    chain.produce([], G.genesis_time + 1, [])
    chain.kv.close()
    chain, created = open_chain(data, genesis)
    assert not created and chain.head.height == 1 and asked == ["genesis"]  # the genesis is asked for only to create
    chain.kv.close()
    chain, created = open_chain(data, genesis, fresh=True)
    assert created and chain.head.height == 0 and asked == ["genesis", "genesis"]
    chain.kv.close()


def test_a_directory_in_use_is_refused_with_the_callers_hint(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    chain = create_chain(data, G)
    try:
        with pytest.raises(DatabaseLocked) as plain:
            open_database(data)
        assert str(plain.value).endswith("(is a node running? use --rpc to talk to it)")  # the store's own words
        with pytest.raises(DatabaseLocked, match=f"data directory {tmp_path} is in use by another process") as hinted:
            open_database(data, exclusive="stop the node first")
        assert str(hinted.value).endswith(": stop the node first") and hinted.value.reason == "database_locked"
    finally:
        chain.kv.close()


def test_the_devnet_resumes_its_chain_and_refuses_another_genesis(tmp_path: Path) -> None:
    options = DevnetOptions(DataDir(tmp_path / "data"), GENESIS)
    chain, created = open_devnet_chain(options)
    chain.kv.close()
    assert created
    chain, created = open_devnet_chain(options)
    chain.kv.close()
    assert not created
    other = tmp_path / "other.json"
    other.write_text(GENESIS.read_text().replace('"wasmchain-devnet"', '"elsewhere"', 1))
    with pytest.raises(GenesisError, match="holds a chain from a different genesis than .*use --fresh to start over"):
        open_devnet_chain(dataclasses.replace(options, genesis=other))
    chain, created = open_devnet_chain(dataclasses.replace(options, genesis=other, fresh=True))
    assert created and chain.genesis.chain_id == "elsewhere"
    chain.kv.close()


def test_a_validator_resumes_its_chain_and_refuses_another_genesis(tmp_path: Path) -> None:
    from wasmchain.node.network import NetworkOptions, open_network_chain

    options = NetworkOptions(DataDir(tmp_path / "data"), GENESIS)
    for created in (True, False):
        chain, was_created = open_network_chain(options)
        chain.kv.close()
        assert was_created == created
    other = tmp_path / "other.json"
    other.write_text(GENESIS.read_text().replace('"wasmchain-devnet"', '"elsewhere"', 1))
    message = (
        f"{tmp_path / 'data'} holds a chain from a different genesis than {other} "
        "(chain id 'wasmchain-devnet'): give this network's genesis, or another --data"
    )
    with pytest.raises(GenesisError) as refused:
        open_network_chain(dataclasses.replace(options, genesis=other))
    assert str(refused.value) == message
