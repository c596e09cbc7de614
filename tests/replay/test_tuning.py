"""The speed-ups change nothing: every chain the harness makes, re-executed block by block with every
optimization off (``chain.tuning.STRAIGHTFORWARD``) and with every one on, writes the producer's
database byte for byte: blocks, receipts, state, indexes, undo records and tree nodes.

The re-execution decodes each block from its stored bytes, so no signature verdict is known
beforehand: with the optimizations on, blocks of ``chain.signatures.MIN_TRANSACTIONS`` transactions
or more have their signatures checked by worker processes (the plan below has such blocks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from wasmchain.protocol.blocks import Block
from wasmchain.protocol.genesis import Genesis
from wasmchain.store.chain import Chain
from wasmchain.store.kv import LevelDBKV
from wasmchain.store.signatures import MIN_TRANSACTIONS
from wasmchain.store.tuning import OPTIMIZED, STRAIGHTFORWARD, Tuning

from .chains import (
    COVERAGE,
    SENDERS,
    SETUP,
    BlockPlan,
    CallPlan,
    Gas,
    Target,
    TransferPlan,
    TxBlockPlan,
    plans,
    produce,
)
from .test_harness import HARNESS, stored

LARGE_BLOCK = TxBlockPlan(
    tuple(
        CallPlan(
            index % SENDERS,
            Target("token", 0),
            "transfer",
            {"to": Target("account", (index + 1) % SENDERS), "amount": index},
            Gas(),
        )
        if index % 3
        else TransferPlan(index % SENDERS, Target("account", (index + 2) % SENDERS), index)
        for index in range(2 * MIN_TRANSACTIONS)
    )
)
"""Token and native transfers from every sender: enough for the signature workers."""


def reexecute(data_dir: Path, target: Path, tuning: Tuning) -> None:
    """Apply every stored block of ``data_dir`` to a fresh chain with ``tuning``, into ``target``."""
    with LevelDBKV(data_dir / "db", create=False) as source, LevelDBKV(target / "db", create=True) as kv:
        recorded = Chain.load(source)
        chain = Chain.create(kv, recorded.genesis, tuning=tuning)
        for height in range(1, recorded.head.height + 1):
            chain.apply_block(Block.decode(recorded.stored_block(height)[0]))


def check_both_ways(plan: tuple[BlockPlan, ...], genesis: Genesis, module_cache: Path, work: Path) -> None:
    production = produce(plan, work / "data", genesis, module_cache)
    expected = stored(production.data_dir)
    for name, tuning in (("straightforward", STRAIGHTFORWARD), ("optimized", OPTIMIZED)):
        reexecute(production.data_dir, work / name, tuning)
        assert stored(work / name) == expected, f"the {name} re-execution wrote a different database"


def test_a_chain_with_every_outcome_is_the_same_with_and_without_the_speed_ups(
    genesis: Genesis, module_cache: Path, tmp_path: Path
) -> None:
    plan = SETUP + COVERAGE + (LARGE_BLOCK, LARGE_BLOCK)
    assert max(len(block.txs) for block in plan if isinstance(block, TxBlockPlan)) >= MIN_TRANSACTIONS
    check_both_ways(plan, genesis, module_cache, tmp_path)


@settings(HARNESS, max_examples=3)
@given(plan=plans(min_blocks=5, max_blocks=20))
def test_random_chains_are_the_same_with_and_without_the_speed_ups(
    plan: tuple[BlockPlan, ...], genesis: Genesis, module_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_both_ways(plan, genesis, module_cache, tmp_path_factory.mktemp("tuning"))
