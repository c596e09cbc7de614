"""The sparse Merkle tree against a from-scratch reference, its proofs, and its failure modes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wasmchain.protocol.errors import InvalidEncoding
from wasmchain.protocol.smt import (
    EMPTY_ROOT,
    MissingNode,
    Proof,
    collect,
    get,
    prove,
    update,
    verify,
)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- the slow, obviously-right reference --------------------------------------


def bit(key_hash: bytes, depth: int) -> int:
    """Bit ``depth`` of a key hash, most significant bit of the first byte first."""
    return (key_hash[depth // 8] >> (7 - depth % 8)) & 1


def reference_root(entries: dict[bytes, bytes], depth: int = 0) -> bytes:
    """The root of {key_hash: value_hash}, straight from the definition."""
    if not entries:
        return bytes(32)
    if len(entries) == 1:
        [(key_hash, value_hash)] = entries.items()
        return sha256(b"\x00" + key_hash + value_hash)
    left = {k: v for k, v in entries.items() if bit(k, depth) == 0}
    right = {k: v for k, v in entries.items() if bit(k, depth) == 1}
    return sha256(b"\x01" + reference_root(left, depth + 1) + reference_root(right, depth + 1))


def hashed(state: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """A state {state_key: value} as the tree sees it: {key_hash: value_hash}."""
    return {sha256(key): sha256(value) for key, value in state.items()}


def commit(store: dict[bytes, bytes], root: bytes, changes: Iterable[tuple[bytes, bytes | None]]) -> bytes:
    """Apply a batch through a read-only view of the store, then write its new nodes."""
    before = dict(store)
    new_root, new_nodes = update(MappingProxyType(store).get, root, changes)
    assert store == before, "update wrote to the store"
    store.update(new_nodes)
    return new_root


def build(state: dict[bytes, bytes]) -> tuple[dict[bytes, bytes], bytes]:
    store: dict[bytes, bytes] = {}
    return store, commit(store, EMPTY_ROOT, state.items())


def reachable(store: dict[bytes, bytes], root: bytes) -> set[bytes]:
    """Hashes of every stored node under ``root``."""
    seen: set[bytes] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if node == bytes(32) or node in seen:
            continue
        seen.add(node)
        encoding = store[node]
        if encoding[0] == 0x01:
            pending += [encoding[1:33], encoding[33:]]
    return seen


def key_with_prefix(bits: str, avoid: Iterable[bytes] = ()) -> bytes:
    """The first state key ``b"k<n>"`` whose key hash starts with ``bits`` (brute force)."""
    avoid = set(avoid)
    n = 0
    while True:
        key = b"k%d" % n
        key_hash = sha256(key)
        if key not in avoid and all(bit(key_hash, i) == int(b) for i, b in enumerate(bits)):
            return key
        n += 1


def _cluster() -> list[bytes]:
    """Keys whose hashes share their first 12 bits, to grow deep chains of internal nodes."""
    groups: dict[int, list[bytes]] = {}
    for n in range(20_000):
        key = b"c%d" % n
        groups.setdefault(int.from_bytes(sha256(key)[:2], "big") >> 4, []).append(key)
    return max(groups.values(), key=len)[:4]


NO_NODES: dict[bytes, bytes] = {}
"""A node store with nothing in it (read-only use)."""

POOL = [b"key-%d" % n for n in range(40)] + _cluster() + [b""]
pool_keys = st.sampled_from(POOL)
values = st.binary(max_size=6)

DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)
"""Every property test runs the same examples on every run and machine."""


# --- update against the reference ---------------------------------------------


class TreeMachine(RuleBasedStateMachine):
    """Random inserts, overwrites and deletes, committed in random batches."""

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[bytes, bytes] = {}
        self.root = EMPTY_ROOT
        self.state: dict[bytes, bytes] = {}
        self.pending: list[tuple[bytes, bytes | None]] = []
        self.history: list[tuple[bytes, dict[bytes, bytes]]] = [(EMPTY_ROOT, {})]

    @rule(key=pool_keys, value=values)
    def put(self, key: bytes, value: bytes) -> None:
        self.pending.append((key, value))

    @precondition(lambda self: self.state)
    @rule(data=st.data(), value=values)
    def overwrite(self, data: st.DataObject, value: bytes) -> None:
        self.pending.append((data.draw(st.sampled_from(sorted(self.state))), value))

    @precondition(lambda self: self.state)
    @rule(data=st.data())
    def delete_present(self, data: st.DataObject) -> None:
        self.pending.append((data.draw(st.sampled_from(sorted(self.state))), None))

    @rule(key=pool_keys)
    def delete_any(self, key: bytes) -> None:
        self.pending.append((key, None))

    @rule()
    def commit_batch(self) -> None:
        old_store = set(self.store)
        self.root = commit(self.store, self.root, self.pending)
        for key, value in self.pending:  # in order: the last change to a key wins
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        self.pending.clear()
        self.history.append((self.root, dict(self.state)))
        new_nodes = set(self.store) - old_store
        assert new_nodes <= reachable(self.store, self.root), "update returned nodes outside the new tree"

    @invariant()
    def root_is_the_reference_root(self) -> None:
        assert self.root == reference_root(hashed(self.state))

    @invariant()
    def tree_holds_exactly_the_state(self) -> None:
        assert collect(self.store.get, self.root) == hashed(self.state)

    def teardown(self) -> None:
        for root, state in self.history:  # nodes are immutable: every old root still answers
            for key in POOL:
                expected = sha256(state[key]) if key in state else None
                assert get(self.store.get, root, key) == expected


TestTreeMachine = TreeMachine.TestCase
TestTreeMachine.settings = settings(DETERMINISTIC, max_examples=150, stateful_step_count=40)


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[bytes, bytes], list[list[tuple[bytes, bytes | None]]]]:
    """A final state and batches of changes that reach it through detours (stale values, deleted keys)."""
    final = draw(st.dictionaries(pool_keys, values, max_size=30))
    detour_keys = draw(st.lists(pool_keys, max_size=15, unique=True))
    sequences: dict[bytes, list[bytes | None]] = {}
    for key in set(final) | set(detour_keys):
        detour = draw(st.lists(st.one_of(st.none(), values), max_size=3)) if key in detour_keys else []
        sequences[key] = [*detour, final.get(key)]
    slots = [key for key, sequence in sequences.items() for _ in sequence]
    order = draw(st.permutations(sorted(slots)))
    taken: dict[bytes, int] = {}
    changes: list[tuple[bytes, bytes | None]] = []
    for key in order:  # the i-th occurrence of a key takes the i-th value of its sequence
        changes.append((key, sequences[key][taken.get(key, 0)]))
        taken[key] = taken.get(key, 0) + 1
    cuts = sorted(draw(st.lists(st.integers(0, len(changes)), max_size=6)))
    batches = [changes[a:b] for a, b in zip([0, *cuts], [*cuts, len(changes)])]
    return final, batches


@DETERMINISTIC
@given(histories())
def test_root_is_independent_of_order_and_batching(
    history: tuple[dict[bytes, bytes], list[list[tuple[bytes, bytes | None]]]],
) -> None:
    final, batches = history
    store: dict[bytes, bytes] = {}
    root = EMPTY_ROOT
    for batch in batches:
        root = commit(store, root, batch)
    one_batch = commit({}, EMPTY_ROOT, [change for batch in batches for change in batch])
    from_scratch = commit({}, EMPTY_ROOT, sorted(final.items()))
    assert root == one_batch == from_scratch == reference_root(hashed(final))


def test_known_root() -> None:
    """Pinned: a change of hashing or layout changes every state root of the chain."""
    state = {b"alice": b"1", b"bob": b"2", b"carol": b"3"}
    _, root = build(state)
    assert root == reference_root(hashed(state))
    assert root.hex() == "8e0538a8f7d7d490cb03f94bcc29326f897ba6b003b0dada58aa63ee034a2fec"


def test_empty_batch_and_single_entry() -> None:
    assert update(NO_NODES.get, EMPTY_ROOT, []) == (EMPTY_ROOT, {})
    root, new_nodes = update(NO_NODES.get, EMPTY_ROOT, [(b"a", b"1")])
    leaf = b"\x00" + sha256(b"a") + sha256(b"1")
    assert root == sha256(leaf) and new_nodes == {root: leaf}


def test_last_change_to_a_key_wins() -> None:
    assert commit({}, EMPTY_ROOT, [(b"a", b"1"), (b"a", b"2")]) == commit({}, EMPTY_ROOT, [(b"a", b"2")])
    assert commit({}, EMPTY_ROOT, [(b"a", b"1"), (b"a", None)]) == EMPTY_ROOT
    assert commit({}, EMPTY_ROOT, [(b"a", None), (b"a", b"1")]) == commit({}, EMPTY_ROOT, [(b"a", b"1")])


def test_deleting_everything_gives_the_empty_root() -> None:
    state = {key: key * 2 for key in POOL}
    store, root = build(state)
    half = POOL[: len(POOL) // 2]
    root = commit(store, root, [(key, None) for key in half])
    assert root == reference_root(hashed({k: v for k, v in state.items() if k not in half}))
    assert commit(store, root, [(key, None) for key in POOL]) == EMPTY_ROOT


def test_a_change_that_changes_nothing_writes_nothing() -> None:
    state = {key: b"v" for key in POOL}
    store, root = build(state)
    same = [(key, b"v") for key in POOL[::3]] + [(b"absent-%d" % n, None) for n in range(10)]
    assert update(store.get, root, same) == (root, {})


def test_a_lone_leaf_moves_up_after_deletes() -> None:
    cluster = _cluster()
    store, root = build({key: b"x" for key in cluster})
    root = commit(store, root, [(key, None) for key in cluster[1:]])
    assert root == sha256(b"\x00" + sha256(cluster[0]) + sha256(b"x"))


# --- reading and failure modes ------------------------------------------------


def test_missing_node_is_reported_with_its_hash() -> None:
    store, root = build({key: b"v" for key in POOL})
    child = store[root][1:33]
    del store[child]
    key = next(k for k in POOL if bit(sha256(k), 0) == 0)
    for call in (
        lambda: get(store.get, root, key),
        lambda: prove(store.get, root, key),
        lambda: collect(store.get, root),
        lambda: update(store.get, root, [(key, b"w")]),
    ):
        with pytest.raises(MissingNode, match=child.hex()):
            call()
    assert get(NO_NODES.get, EMPTY_ROOT, key) is None  # the empty tree needs no node


def test_malformed_node_is_an_encoding_error() -> None:
    store, root = build({b"a": b"1", b"b": b"2"})
    store[root] = b"\x02" + store[root][1:]
    with pytest.raises(InvalidEncoding, match=root.hex()):
        get(store.get, root, b"a")
    store[root] = b"\x01"
    with pytest.raises(InvalidEncoding, match="found 1 bytes"):
        update(store.get, root, [(b"a", b"2")])


# --- proofs -------------------------------------------------------------------


def tampered(proof: Proof) -> Iterable[Proof]:
    """Every proof that differs from ``proof`` in one byte of a sibling or of the leaf, or in length."""
    for i, sibling in enumerate(proof.siblings):
        for j in range(32):
            changed = sibling[:j] + bytes([sibling[j] ^ 0x01]) + sibling[j + 1 :]
            yield Proof(proof.siblings[:i] + (changed,) + proof.siblings[i + 1 :], proof.leaf)
    if proof.leaf is not None:
        flat = proof.leaf[0] + proof.leaf[1]
        for j in range(64):
            changed = flat[:j] + bytes([flat[j] ^ 0x80]) + flat[j + 1 :]
            yield Proof(proof.siblings, (changed[:32], changed[32:]))
    yield Proof(proof.siblings[:-1], proof.leaf)
    yield Proof(proof.siblings + (bytes(32),), proof.leaf)
    yield Proof((bytes(32),) + proof.siblings, proof.leaf)


@settings(DETERMINISTIC, max_examples=60)
@given(
    state=st.dictionaries(st.binary(max_size=8), values, max_size=40),
    absent=st.lists(st.binary(min_size=9, max_size=12), max_size=10),
    other=values,
)
def test_proofs_verify_exactly_the_stored_value(state: dict[bytes, bytes], absent: list[bytes], other: bytes) -> None:
    store, root = build(state)
    for key, value in state.items():
        proof = prove(store.get, root, key)
        assert proof.leaf is None
        assert verify(root, key, value, proof)
        assert not verify(root, key, None, proof)
        assert not verify(root, key, value + b"!", proof)
        assert verify(root, key, other, proof) == (other == value)
        assert Proof.from_json(proof.to_json()) == proof
    for key in absent:
        proof = prove(store.get, root, key)
        assert verify(root, key, None, proof)
        assert not verify(root, key, other, proof)
        if proof.leaf is not None:
            assert not verify(root, key, b"", proof)
    for key in list(state)[:3]:  # an inclusion proof is only good for its own key and root
        proof = prove(store.get, root, key)
        for stranger in POOL[:5] + absent:
            if stranger != key:
                assert not verify(root, stranger, state[key], proof)
        assert not verify(sha256(root), key, state[key], proof)
    for key in absent[:3]:  # an exclusion proof never shows a present key absent
        proof = prove(store.get, root, key)
        for present in state:
            assert not verify(root, present, None, proof)
        if state:
            assert not verify(sha256(root), key, None, proof)


def test_every_tampered_proof_fails() -> None:
    state = {key: key + b"!" for key in POOL}
    store, root = build(state)
    probes = [(key, state[key]) for key in POOL] + [(b"absent-%d" % n, None) for n in range(20)]
    kinds = set()
    for key, value in probes:
        proof = prove(store.get, root, key)
        kinds.add("inclusion" if value is not None else "other leaf" if proof.leaf else "empty")
        assert verify(root, key, value, proof)
        for forged in tampered(proof):
            assert not verify(root, key, value, forged)
    assert kinds == {"inclusion", "other leaf", "empty"}


def test_exclusion_where_the_path_ends_in_an_empty_subtree() -> None:
    a = key_with_prefix("00")
    b = key_with_prefix("01")
    c = key_with_prefix("1")
    store, root = build({a: b"1", b: b"2"})
    proof = prove(store.get, root, c)
    assert proof.leaf is None and len(proof.siblings) == 1
    assert verify(root, c, None, proof)
    assert not verify(root, c, b"1", proof)
    assert not verify(root, a, None, proof)


def test_exclusion_where_the_path_ends_in_another_leaf() -> None:
    a = key_with_prefix("0")
    b = key_with_prefix("1")
    c = key_with_prefix("0", avoid=[a])
    store, root = build({a: b"1", b: b"2"})
    proof = prove(store.get, root, c)
    assert proof.leaf == (sha256(a), sha256(b"1")) and len(proof.siblings) == 1
    assert verify(root, c, None, proof)
    assert not verify(root, c, b"1", proof)
    assert not verify(root, a, b"1", proof)  # not an inclusion proof for the leaf it names


def test_a_present_key_cannot_be_proved_absent() -> None:
    a = key_with_prefix("0")
    b = key_with_prefix("1")
    store, root = build({a: b"1", b: b"2"})
    inclusion = prove(store.get, root, a)
    assert not verify(root, a, None, inclusion)  # an inclusion proof used as exclusion
    as_other_leaf = Proof(inclusion.siblings, (sha256(a), sha256(b"1")))
    assert not verify(root, a, None, as_other_leaf)  # the "different" leaf is our own


def test_a_leaf_off_the_path_is_refused() -> None:
    """A root where a leaf sits on the wrong side: only the prefix check can refuse it."""
    a = key_with_prefix("1")
    c = key_with_prefix("0")
    leaf_a = sha256(b"\x00" + sha256(a) + sha256(b"1"))
    wrong_root = sha256(b"\x01" + leaf_a + bytes(32))
    proof = Proof((bytes(32),), (sha256(a), sha256(b"1")))
    assert not verify(wrong_root, c, None, proof)


def test_too_many_siblings_are_refused() -> None:
    key = b"k"
    proof = Proof((bytes(32),) * 257, None)
    assert not verify(EMPTY_ROOT, key, None, proof)
    assert not verify(EMPTY_ROOT, key, b"v", proof)


def test_empty_tree_proofs() -> None:
    proof = prove(NO_NODES.get, EMPTY_ROOT, b"k")
    assert proof == Proof((), None)
    assert verify(EMPTY_ROOT, b"k", None, proof)
    assert not verify(EMPTY_ROOT, b"k", b"", proof)
    assert not verify(sha256(b"x"), b"k", None, proof)


def test_proof_against_another_root_fails() -> None:
    store, old_root = build({b"a": b"1", b"b": b"2"})
    new_root = commit(store, old_root, [(b"b", b"3")])  # a keeps its value, its sibling changes
    old_proof = prove(store.get, old_root, b"a")
    assert verify(old_root, b"a", b"1", old_proof)
    assert not verify(new_root, b"a", b"1", old_proof)
    assert verify(new_root, b"a", b"1", prove(store.get, new_root, b"a"))
    assert not verify(EMPTY_ROOT, b"a", None, old_proof)


def test_proof_json() -> None:
    store, root = build({b"a": b"1", b"b": b"2", b"c": b"3"})
    proof = next(p for n in range(100) if (p := prove(store.get, root, b"x%d" % n)).leaf is not None)
    data = proof.to_json()
    assert set(data) == {"siblings", "leaf"} and all(len(s) == 64 for s in data["siblings"])
    assert Proof.from_json(data) == proof
    bad: object
    for bad in (
        None,
        {"siblings": []},
        {"siblings": ["00" * 31], "leaf": None},
        {"siblings": ["zz" * 32], "leaf": None},
        {"siblings": ["00" * 32] * 257, "leaf": None},
        {"siblings": [], "leaf": {"key_hash": "00" * 32}},
        {"siblings": [], "leaf": None, "extra": 1},
    ):
        with pytest.raises(InvalidEncoding):
            Proof.from_json(bad)
