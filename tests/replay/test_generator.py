"""The chain generator does what the harness relies on: it reaches every kind of outcome, and is repeatable."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from wasmchain.protocol.genesis import Genesis

from .chains import COVERAGE, SETUP, BlockPlan, Production, TxBlockPlan, plans, produce


def _kinds(production: Production) -> set[str]:
    """What happened in a chain, as the names the generator's docstring promises."""
    seen: set[str] = set()
    vaults = {contract.address for contract in production.contracts if contract.kind == "vault"}
    for produced in production.blocks:
        block, receipts = produced.block, produced.receipts
        if not block.transactions and not block.overrides:
            seen.add("empty block")
        if block.overrides:
            seen.add("balance override")
        if len(block.transactions) > 1:
            seen.add("several transactions")
        senders = [signed.tx.sender for signed in block.transactions]
        if len(senders) != len(set(senders)):
            seen.add("one sender twice in a block")
        for signed, receipt in zip(block.transactions, receipts):
            seen.add(f"{signed.tx.kind.name.lower()} {receipt.status}")
            if (
                signed.tx.to in vaults
                and receipt.ok
                and any(event.contract != signed.tx.to for event in receipt.events)
            ):
                seen.add("cross-contract call with the callee's event")
            if signed.tx.to in vaults and receipt.status == "abort" and "token transfer failed" in receipt.error:
                seen.add("cross-contract call failing in the callee")
            if "insufficient balance" in receipt.error:
                seen.add("insufficient token balance")
            if "must be" in receipt.error or "missing argument" in receipt.error:
                seen.add("wrong arguments")
    return seen


def test_the_setup_and_coverage_blocks_reach_every_outcome(
    genesis: Genesis, module_cache: Path, tmp_path: Path
) -> None:
    production = produce(SETUP + COVERAGE, tmp_path / "data", genesis, module_cache)
    assert len(production.blocks) == len(SETUP) + len(COVERAGE)
    assert production.rejected == 0 and production.skipped == 0
    assert _kinds(production) >= {
        "empty block",
        "balance override",
        "several transactions",
        "one sender twice in a block",
        "transfer ok",
        "deploy ok",
        "deploy abort",
        "deploy out_of_gas",
        "call ok",
        "call abort",
        "call out_of_gas",
        "deploy invalid",
        "cross-contract call with the callee's event",
        "cross-contract call failing in the callee",
        "insufficient token balance",
        "wrong arguments",
    }
    assert {contract.kind for contract in production.contracts} == {"counter", "token", "vault"}


def test_the_same_plan_gives_the_same_chain(genesis: Genesis, module_cache: Path, tmp_path: Path) -> None:
    plan = SETUP + COVERAGE + (TxBlockPlan(()),)
    first = produce(plan, tmp_path / "one", genesis, module_cache)
    second = produce(plan, tmp_path / "two", genesis, None)  # compiling afresh changes nothing either
    assert [produced.block.encode() for produced in first.blocks] == [
        produced.block.encode() for produced in second.blocks
    ]
    assert [produced.receipts for produced in first.blocks] == [produced.receipts for produced in second.blocks]


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans(min_blocks=5, max_blocks=30))
def test_generated_chains_have_the_planned_length_and_valid_links(
    plan: tuple[BlockPlan, ...], genesis: Genesis, module_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    production = produce(plan, tmp_path_factory.mktemp("generated") / "data", genesis, module_cache)
    assert 5 <= len(production.blocks) == len(plan) <= 30
    parent = production.genesis_hash
    for height, produced in enumerate(production.blocks, start=1):
        assert produced.block.height == height and produced.block.header.parent_hash == parent
        assert len(produced.receipts) == len(produced.block.transactions)
        parent = produced.block.hash
