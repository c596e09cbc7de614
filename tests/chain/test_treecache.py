"""The state tree's upper levels by position (``store/treecache.py``): they change how fast a root is
computed, never what it is.

The tree's own correctness against a from-scratch reference is ``test_smt.py``'s; here the same batches
go through a positional reader, with slots that are right, stale or garbage, and must give the same
root and the same new nodes as the plain reader; a chain with the cache and one without make the same
blocks, roll back alike, and a fresh process opening the data directory sees the same roots.
"""

from __future__ import annotations

import hashlib
import random
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chain.test_smt import POOL, histories
from tests.chain.test_smt import commit as plain_commit
from tests.helpers import GENESIS
from wasmchain.protocol import smt
from wasmchain.protocol.state import account_key
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import LevelDBKV, MemoryKV
from wasmchain.store.treecache import UpperTree
from wasmchain.store.tuning import OPTIMIZED, Tuning

G = load_genesis(GENESIS)
WITHOUT = Tuning(tree_cache=False)
DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)


class Positional:
    """A positional reader over a dict of nodes, as ``Chain``'s: the slots first, then the dict."""

    def __init__(self, store: dict[bytes, bytes], upper: UpperTree) -> None:
        self.store = store
        self.upper = upper
        self.by_hash = 0

    def __call__(self, node_hash: bytes, /) -> bytes | None:
        return self.store.get(node_hash)

    def read_at(self, node_hash: bytes, depth: int, path: int, /) -> bytes | None:
        encoding = self.upper.get(node_hash, depth, path)
        if encoding is None:
            self.by_hash += 1
            encoding = self.store.get(node_hash)
            if encoding is not None and encoding[0] == smt.INTERNAL:
                self.upper.put(depth, path, encoding)
        return encoding


def scribble(upper: UpperTree, rng: random.Random) -> None:
    """Overwrite some slots with garbage or with other slots' hashes (stale)."""
    for slots in upper._slots:
        if slots is None:
            continue
        for _ in range(rng.randrange(4)):
            at = rng.randrange(len(slots) // 32) * 32
            source = rng.randrange(len(slots) // 32) * 32
            slots[at : at + 32] = rng.randbytes(32) if rng.random() < 0.5 else bytes(slots[source : source + 32])


@DETERMINISTIC
@given(history=histories(), levels=st.integers(1, 14), seed=st.integers(0, 2**32), warm=st.booleans())
def test_a_positional_reader_gives_the_same_roots_and_nodes(
    history: tuple[dict[bytes, bytes], list[list[tuple[bytes, bytes | None]]]], levels: int, seed: int, warm: bool
) -> None:
    _, batches = history
    rng = random.Random(seed)
    store: dict[bytes, bytes] = {}
    root = smt.EMPTY_ROOT
    upper = UpperTree(levels)
    for batch in batches:
        if warm:
            upper.warm(root, store.get)
        if rng.random() < 0.5:
            scribble(upper, rng)
        expected_root, expected_nodes = smt.update(MappingProxyType(store).get, root, batch)
        found_root, found_nodes = smt.update(Positional(store, upper), root, batch)
        assert found_root == expected_root
        assert found_nodes == expected_nodes
        assert plain_commit(store, root, batch) == expected_root
        root = expected_root


def test_the_slots_answer_and_garbage_in_them_is_only_a_miss() -> None:
    store: dict[bytes, bytes] = {}
    keys = [b"account-%d" % n for n in range(3000)]
    root = plain_commit(store, smt.EMPTY_ROOT, [(key, b"1") for key in keys])
    changes = [(key, b"2") for key in keys[::50]] + [(b"new-%d" % n, b"3") for n in range(20)]
    expected = smt.update(store.get, root, changes)

    upper = UpperTree(16)
    assert upper.warm(root, store.get) > 3000  # every internal node: the tree is ~12 levels deep
    warmed = Positional(store, upper)
    assert smt.update(warmed, root, changes) == expected
    assert upper.hits > 300 and warmed.by_hash < 200  # the leaves and the new keys' empty positions

    for slots in upper._slots:  # every slot wrong: nothing is answered from them, and nothing changes
        if slots is not None:
            slots[:] = bytes(range(256)) * (len(slots) // 256) if len(slots) >= 256 else bytes(len(slots))
    hits = upper.hits
    assert smt.update(Positional(store, upper), root, changes) == expected
    assert upper.hits == hits


def test_a_small_tree_allocates_little() -> None:
    store: dict[bytes, bytes] = {}
    root = plain_commit(store, smt.EMPTY_ROOT, [(key, b"v") for key in POOL])
    upper = UpperTree()
    upper.warm(root, store.get)
    assert upper.memory() < 300_000  # the first levels only, however deep a chain of single children goes


# --- a chain with the cache and one without -------------------------------------------------------


def addresses(count: int) -> list[bytes]:
    return [hashlib.sha256(b"treecache test %d" % n).digest()[:20] for n in range(count)]


def grow(chain: Chain, count: int = 2000) -> None:
    """A block that creates ``count`` accounts (balance overrides): a tree ~11 levels deep."""
    chain.produce([], chain.head.timestamp + 1, [(address, 1) for address in addresses(count)])


def some_blocks(chain: Chain, seed: int, blocks: int = 3) -> list[bytes]:
    """Blocks that change, add and zero balances at random; their state roots."""
    rng = random.Random(seed)
    pool = addresses(2400)
    roots = []
    for _ in range(blocks):
        chosen = sorted(set(rng.sample(pool, 120)))
        chain.produce([], chain.head.timestamp + 1, [(address, rng.choice([0, 5, 10**6])) for address in chosen])
        roots.append(chain.head.state_root)
    return roots


def test_a_chain_with_the_cache_makes_the_same_blocks_and_rolls_back_alike() -> None:
    with_kv, without_kv = MemoryKV(), MemoryKV()
    with_cache, without = Chain.create(with_kv, G), Chain.create(without_kv, G, tuning=WITHOUT)
    assert with_cache.upper_tree is not None and without.upper_tree is None
    for chain in (with_cache, without):
        grow(chain)
    assert with_cache.head == without.head
    assert some_blocks(with_cache, 1) == some_blocks(without, 1)
    assert with_cache.upper_tree.hits > 0
    assert dict(with_kv.iterate()) == dict(without_kv.iterate())
    for chain in (with_cache, without):
        chain.rollback(2)  # the slots now describe a later tree: stale, so misses
    assert some_blocks(with_cache, 2) == some_blocks(without, 2)
    assert with_cache.head == without.head
    # Proofs are read from the store, the same whatever the cache held.
    for address in addresses(2400)[::97]:
        assert with_cache.prove(account_key(address)) == without.prove(account_key(address))


def test_a_reopened_data_directory_is_warmed_and_gives_the_same_roots(tmp_path) -> None:  # noqa: ANN001
    with LevelDBKV(tmp_path / "a", create=True, sync=False) as kv:
        chain = Chain.create(kv, G)
        grow(chain)
        head = chain.head
    with LevelDBKV(tmp_path / "a", create=False, sync=False) as kv:
        reopened = Chain.load(kv)  # a fresh chain: the slots come from the warm-up alone
        assert reopened.head == head and reopened.upper_tree is not None
        assert reopened.upper_tree.memory() > 0
        roots = some_blocks(reopened, 3)
        assert reopened.upper_tree.hits > 0
    plain = Chain.create(MemoryKV(), G, tuning=WITHOUT)
    grow(plain)
    assert some_blocks(plain, 3) == roots
    assert OPTIMIZED.tree_cache
