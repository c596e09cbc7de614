"""The determinism harness: random chains, produced here, replayed in other processes with other hash seeds.

Each generated chain (``chains.py``) is mined in this process into a
LevelDB data directory, exported with ``wasmchain export``, then

- replayed with ``wasmchain replay FILE --json`` in a fresh process with a
  different ``PYTHONHASHSEED``: it must report ``match`` for every block and
  transaction the producer made (the replay compares every receipt, root
  and state change itself);
- replayed from its data directory with ``wasmchain replay --data DIR
  --json`` (which also compares the database's whole state at the head
  with the replayed one);
- imported with ``wasmchain import`` into a fresh data directory, in
  another process with another seed: every stored block, every receipt and
  the whole state must then be byte for byte the producer's (compared here,
  from the two databases, without the replay code).

And one chain is imported by ten processes with ten hash seeds: each
reports the producer's state root, and each writes the producer's state.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmchain.protocol.genesis import Genesis
from wasmchain.store.chain import Chain
from wasmchain.store.kv import LevelDBKV

from .chains import COVERAGE, SETUP, BlockPlan, Production, TxBlockPlan, plans, produce
from .conftest import hash_seeds, run_wasmchain

HARNESS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def export(production: Production, out: Path, hash_seed: int) -> None:
    done = run_wasmchain("export", "--data", production.data_dir, "--out", out, hash_seed=hash_seed, cwd=out.parent)
    assert done.returncode == 0, done.describe()
    assert out.is_file()


def stored(data_dir: Path) -> dict[bytes, bytes]:
    """Every key of a data directory's database."""
    with LevelDBKV(data_dir / "db", create=False) as kv:
        return dict(kv.iterate())


def stored_state(data_dir: Path) -> dict[bytes, bytes]:
    """The state entries of a data directory's database (``b"S"`` + state key)."""
    with LevelDBKV(data_dir / "db", create=False) as kv:
        return dict(kv.iterate(b"S"))


def assert_same_chain(production: Production, imported_dir: Path) -> None:
    """The imported database holds the producer's chain: every block, receipt, index and state entry."""
    with LevelDBKV(imported_dir / "db", create=False) as kv:
        chain = Chain.load(kv)
        assert chain.head.height == production.head.height
        assert chain.head.hash == production.head.hash
        assert chain.head.state_root == production.head.header.state_root
        for produced in production.blocks:
            block, receipts = chain.stored_block(produced.block.height)
            assert block == produced.block.encode()
            assert tuple(chain.receipts(produced.block.height)) == produced.receipts
    assert stored_state(imported_dir) == stored_state(production.data_dir)
    # And everything else: indexes, undo records, tree nodes, the genesis document, the head pointer.
    assert stored(imported_dir) == stored(production.data_dir)


def assert_match(production: Production, *args: str | Path, hash_seed: int, cwd: Path) -> None:
    replayed = run_wasmchain("replay", *args, "--json", hash_seed=hash_seed, cwd=cwd)
    assert replayed.returncode == 0, replayed.describe()
    report = replayed.json()
    assert report["status"] == "match", replayed.describe()
    assert report["divergence"] is None and report["error"] is None and report["warnings"] == []
    assert (report["from"], report["to"]) == (1, production.head.height)
    assert report["blocks"] == len(production.blocks)
    assert report["transactions"] == production.transactions


def check_replays(production: Production, work: Path, seeds: tuple[int, int, int, int]) -> None:
    archive = work / "chain.wcb"
    export(production, archive, seeds[0])
    assert_match(production, archive, hash_seed=seeds[1], cwd=work)
    # The data directory itself: its blocks re-executed, then its whole state compared with the replayed one.
    assert_match(production, "--data", production.data_dir, hash_seed=seeds[2], cwd=work)

    imported_dir = work / "imported"
    done = run_wasmchain("import", archive, "--data", imported_dir, "--json", hash_seed=seeds[3], cwd=work)
    assert done.returncode == 0, done.describe()
    imported = done.json()
    assert imported["imported"] == len(production.blocks) and imported["error"] is None
    assert imported["head"]["state_root"] == "0x" + production.head.header.state_root.hex()
    assert_same_chain(production, imported_dir)


@settings(HARNESS, max_examples=4)
@given(plan=plans(min_blocks=5, max_blocks=30), seeds=st.tuples(hash_seeds(), hash_seeds(), hash_seeds(), hash_seeds()))
def test_a_random_chain_replays_and_imports_identically_in_other_processes(
    plan: tuple[BlockPlan, ...],
    seeds: tuple[int, int, int, int],
    genesis: Genesis,
    module_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    work = tmp_path_factory.mktemp("harness")
    production = produce(plan, work / "data", genesis, module_cache)
    check_replays(production, work, seeds)


@pytest.mark.slow
@settings(HARNESS, max_examples=15)
@given(
    plan=plans(min_blocks=20, max_blocks=80), seeds=st.tuples(hash_seeds(), hash_seeds(), hash_seeds(), hash_seeds())
)
def test_many_longer_random_chains_replay_and_import_identically(
    plan: tuple[BlockPlan, ...],
    seeds: tuple[int, int, int, int],
    genesis: Genesis,
    module_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    work = tmp_path_factory.mktemp("harness-long")
    production = produce(plan, work / "data", genesis, module_cache)
    check_replays(production, work, seeds)


RUNS = 10


def test_ten_processes_with_ten_hash_seeds_reach_one_state_root(
    genesis: Genesis, module_cache: Path, tmp_path: Path
) -> None:
    plan = SETUP + COVERAGE + (TxBlockPlan(()),)
    production = produce(plan, tmp_path / "data", genesis, module_cache)
    archive = tmp_path / "chain.wcb"
    export(production, archive, hash_seed=1)
    seeds = [1_000_003 * run + 17 for run in range(1, RUNS + 1)]
    assert len(set(seeds)) == RUNS
    state = stored_state(production.data_dir)

    def import_and_read_head(seed: int) -> str:
        data = tmp_path / f"run-{seed}"
        done = run_wasmchain("import", archive, "--data", data, "--json", hash_seed=seed, cwd=tmp_path)
        assert done.returncode == 0, done.describe()
        head = done.json()["head"]
        assert head["height"] == production.head.height
        # The import checked every root against the recorded one; its state, written by that process,
        # must also be the producer's, byte for byte.
        assert stored_state(data) == state
        state_root: str = head["state_root"]
        return state_root

    with ThreadPoolExecutor(max_workers=4) as pool:
        roots = set(pool.map(import_and_read_head, seeds))
    assert roots == {"0x" + production.head.header.state_root.hex()}
