"""The benchmarks run: each, with tiny parameters, prints its table and a last JSON line with its figures.

Not timed tests: nothing here looks at a figure's size, only that the run checked its own results
(every receipt ok, the final state as planned, the same root with and without the speed-ups).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ABI1_TOKEN_ROOT = "270b24b56a68c0e6f6393dc74f782d069369e4fc4156bc7e1b94b29c7dc18e1f"
"""``transfer_tps.py --transfers 120 --senders 10 --recipients 30 --per-block 40``'s token root at 2b620c6."""


def bench(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) > 2, "a human-readable table comes before the JSON line"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_transfer_tps_runs_every_workload_and_compares_the_paths() -> None:
    result = bench(
        "transfer_tps.py",
        "--transfers",
        "120",
        "--senders",
        "10",
        "--recipients",
        "30",
        "--per-block",
        "40",
        "--repeat",
        "1",
        "--levers",
    )
    workloads = result["workloads"]
    assert set(workloads) == {
        "token",
        "native",
        "counter",
        "token_abi1",
        "token_straightforward",
        "token_without",
        "token_speedup",
    }
    # The ABI 1 token's chain is the token workload's before ABI 2: the root the code at 2b620c6 (before
    # issue 18's ABI 2) computed for these parameters.
    assert workloads["token_abi1"]["state_root"] == ABI1_TOKEN_ROOT
    assert result["token_transfer_tx_per_s"] == workloads["token"]["tx_per_s"] > 0
    assert workloads["token_straightforward"]["state_root"] == workloads["token"]["state_root"]
    assert {figures["state_root"] for figures in workloads["token_without"].values()} == {
        workloads["token"]["state_root"]
    }
    assert set(workloads["token"]["us_per_tx"]) == {"decode_verify", "execute", "root", "commit"}
    assert len({workloads[kind]["state_root"] for kind in ("token", "native", "counter", "token_abi1")}) == 4


def test_the_workload_is_fixed_by_its_seeds() -> None:
    arguments = ("--transfers", "60", "--per-block", "30", "--repeat", "1", "--no-compare", "--workloads", "token")
    first = bench("transfer_tps.py", *arguments)
    second = bench("transfer_tps.py", *arguments)
    assert first["workloads"]["token"]["state_root"] == second["workloads"]["token"]["state_root"]


def test_state_scale_reports_each_size() -> None:
    result = bench("state_scale.py", "--sizes", "50,200", "--transfers", "40", "--per-block", "20")
    assert set(result["sizes"]) == {"50", "200"}
    assert result["sizes"]["200"]["state_entries"] > result["sizes"]["50"]["state_entries"]
    assert result["sizes"]["200"]["db_mb_after"] > 0


def test_trace_times_a_traced_and_an_untraced_transfer() -> None:
    result = bench("trace.py", "--iterations", "3")
    assert set(result) == {"trace_rpc_ms", "trace_ms", "untraced_ms", "iterations", "target_ms"}
    assert result["trace_rpc_ms"] >= result["trace_ms"] > 0


def test_network_commits_through_a_real_localnet() -> None:
    """bench/network.py against real CometBFT processes: every receipt ok, the validators agree."""
    from tests.helpers.network import cometbft_binary

    cometbft = cometbft_binary()  # a skip without it (a failure under WASMCHAIN_REQUIRE_COMETBFT=1)
    result = bench(
        "network.py", "--validators", "1", "--transactions", "40", "--senders", "2", "--latency-count", "3",
        "--cometbft", str(cometbft),
    )  # fmt: skip
    (network,) = result["networks"]
    assert result["cometbft"] == "0.38.26" and network["validators"] == 1
    assert network["transactions"] == 40 and network["committed_tx_per_s"] > 0
    assert 0 < network["latency_ms_p50"] <= network["latency_ms_p99"]


def test_rpc_reports_the_node_loops_cpu_and_its_kernel_share() -> None:
    """bench/rpc.py against a devnet of its own: every receipt ok, and the node's event-loop CPU per
    transaction with its kernel (system) part, which cannot exceed the whole."""
    result = bench(
        "rpc.py", "--latency-count", "3", "--threads", "2", "--transactions", "5", "--batch", "2", "--block-time", "0"
    )
    for phase in ("throughput", "throughput_batch"):
        figures = result[phase]
        assert figures["transactions"] == 10 and figures["tx_per_s"] > 0
        assert 0 <= figures["node_main_thread_sys_ms_per_tx"] <= figures["node_main_thread_ms_per_tx"]
        assert figures["node_main_thread_ms_per_tx"] <= figures["node_cpu_ms_per_tx"]
    assert result["latency"]["count"] == 3


def test_abi_compares_the_examples_and_prices_the_host_functions() -> None:
    result = bench("abi.py", "--rounds", "1", "--calls", "3", "--k", "5")
    transfer = result["examples"]["token transfer"]
    # The crossings are counted from verbose traces: ABI 2's io area and apply_effects halve the transfer's.
    assert (transfer["crossings_abi1"], transfer["crossings_abi2"]) == (8, 4)
    assert transfer["gas_abi2"] < transfer["gas_abi1"]
    rows = result["host_functions"]
    assert {"ABI 2 write record (8-byte key and value)", "ABI 2 io area (empty input)"} <= set(rows)
    assert all(row["gas"] > 0 for row in rows.values())
