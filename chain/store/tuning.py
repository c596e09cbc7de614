"""The speed-ups that can be switched off, to measure each one and to check that none changes a result.

``Tuning()`` (every speed-up on) is what every command and the devnet use.
``STRAIGHTFORWARD`` is the plain path: signatures verified inline, host
functions through wasmtime-py's public API (a ``Caller`` per call, fuel
read and written through ``Store`` on every charge, exports looked up
through ``Instance.exports``), and no caches of decoded accounts or tree
nodes.  ``bench/transfer_tps.py --compare`` runs one workload both ways in
one process; ``tests/chain/test_tuning.py`` requires every receipt, root and
stored byte of a fixed chain to be the same both ways.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    signature_workers: bool = True
    """Verify the signatures of large blocks in worker processes, ahead of execution (``signatures.py``)."""
    vm_fast_paths: bool = True
    """Host calls, fuel and exports through wasmtime's C API directly (``vm.Runtime(fast_paths=...)``)."""
    caches: bool = True
    """Keep decoded accounts and Merkle tree nodes in memory (``state.py``, ``Chain._read_node``)."""
    tree_cache: bool = True
    """Keep the hashes of the state tree's upper levels in memory by position, warmed when the chain opens
    (``treecache.py``: ``Chain.upper_tree``, at most 64 MiB)."""


OPTIMIZED = Tuning()
STRAIGHTFORWARD = Tuning(signature_workers=False, vm_fast_paths=False, caches=False, tree_cache=False)
