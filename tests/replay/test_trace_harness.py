"""Every transaction of a random chain traces to its receipt (``Chain.trace_transaction``).

The chains are the determinism harness's (``chains.py``): transfers, deploys, calls that abort, run out
of gas or call another contract, several transactions per block, balance overrides and re-included
transactions.  Each transaction the chain indexes is traced by re-executing its block from the parent
state: the trace must match its stored receipt (``trace_transaction`` raises otherwise), and its gas must
add up: the top frame's gas plus the intrinsic gas is the receipt's ``gas_used``, and in every frame its
own gas plus its nested frames' is its ``gas_used``.  Each is also profiled: the profile's total is the top
frame's gas, and in every frame the gas of its wasm call stacks adds up to the frame's own gas exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.tracing import TransactionTrace
from wasmchain.store.chain import Chain
from wasmchain.store.kv import LevelDBKV
from wasmchain.vm.trace import TraceFrame

from .chains import COVERAGE, SETUP, BlockPlan, Production, plans, produce
from .test_harness import HARNESS


def check_gas(frame: TraceFrame) -> None:
    assert frame.gas_self + sum(child.gas_used for child in frame.calls) == frame.gas_used
    assert frame.gas_self >= 0
    for child in frame.calls:
        check_gas(child)


def check_trace(trace: TransactionTrace) -> None:
    receipt = trace.receipt
    assert trace.matches_receipt is True
    if trace.frame is not None:
        assert trace.frame.gas_used + trace.intrinsic_gas == receipt.gas_used
        check_gas(trace.frame)
    elif receipt.status != "invalid":
        assert trace.intrinsic_gas == receipt.gas_used  # a native transfer, a deploy without init
    assert trace.fee == receipt.gas_used * trace.signed.tx.gas_price
    if trace.frame is None:
        return
    profile = trace.profile
    assert profile is not None and profile["gas"] == trace.frame.gas_used
    assert sum(frame["gas_self"] for frame in profile["frames"]) == profile["gas"]
    for shown in profile["frames"]:
        frame = trace.frame
        for index in shown["path"]:
            frame = frame.calls[index]
        assert (shown["method"], shown["gas_self"]) == (frame.method, frame.gas_self)
        assert sum(stack["gas"] for stack in shown["stacks"]) == frame.gas_self


def trace_every_transaction(production: Production) -> int:
    traced = 0
    with LevelDBKV(production.data_dir / "db", create=False) as kv:
        chain = Chain.load(kv)
        for produced in production.blocks:
            for index, signed in enumerate(produced.block.transactions):
                block, at, receipt = chain.transaction(signed.hash)
                if (block.height, at) != (produced.block.height, index):
                    continue  # an invalid re-inclusion: the hash names the inclusion that executed
                trace = chain.trace_transaction(signed.hash, profile=True)
                assert trace.receipt == receipt == produced.receipts[index]
                assert trace.location is not None and (trace.location.height, trace.location.index) == (
                    block.height,
                    at,
                )
                check_trace(trace)
                traced += 1
    return traced


@settings(HARNESS, max_examples=4)
@given(plan=plans(min_blocks=10, max_blocks=30))
def test_every_transaction_of_a_random_chain_traces_to_its_receipt(
    plan: tuple[BlockPlan, ...], genesis: Genesis, module_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    production = produce(plan, tmp_path_factory.mktemp("trace") / "data", genesis, module_cache)
    # Each executed transaction is traced (an invalid re-inclusion's hash names the one that executed).
    executed = sum(1 for produced in production.blocks for receipt in produced.receipts if receipt.status != "invalid")
    traced = trace_every_transaction(production)
    assert traced >= executed


def test_every_outcome_of_the_coverage_chain_traces_to_its_receipt(
    genesis: Genesis, module_cache: Path, tmp_path: Path
) -> None:
    """The harness's setup and coverage blocks: every kind of outcome at least once."""
    production = produce(SETUP + COVERAGE, tmp_path / "data", genesis, module_cache)
    assert trace_every_transaction(production) >= production.transactions - production.statuses()["invalid"]
