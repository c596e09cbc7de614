"""The state root: a sparse Merkle tree over 256-bit keys.

Every state entry ``(state_key, value)`` sits on the path
``key_hash = sha256(state_key)``, read most significant bit first: bit
``d`` of the path chooses the left (0) or right (1) child at depth ``d``.
The tree over a set of entries is defined by what lies under each
position (a prefix of ``d`` bits):

- no entry: the empty subtree, whose hash is ``EMPTY`` (32 zero bytes);
- exactly one entry: a leaf, ``sha256(0x00 || key_hash || value_hash)``
  with ``value_hash = sha256(value)``.  A leaf therefore sits at the
  highest position where it is alone (the "leaf shortcut" of Diem's
  Jellyfish Merkle Tree), never at the bottom of a chain of single-child
  nodes;
- two entries or more: an internal node,
  ``sha256(0x01 || left_hash || right_hash)``.

This definition is canonical: an internal node never has two empty
children, nor an empty child beside a leaf, so one set of entries has
exactly one root, whatever the order or batching of the updates that
built it.  A leaf's hash does not depend on its depth, so when a delete
leaves a leaf alone in its subtree, the leaf simply moves up.

Storage.  Nodes are content-addressed and immutable: a node is stored
under its hash, and its stored encoding is exactly the 65-byte preimage
of that hash, so ``hash = sha256(encoding)``:

- leaf: ``0x00 || key_hash || value_hash``;
- internal: ``0x01 || left_hash || right_hash``.

The empty subtree is never stored.  ``update`` writes nothing: it returns
the new nodes, which the caller stores in the block's atomic batch.  Old
nodes are never changed, so every earlier root stays readable (pruning
them is a separate concern).  The tree stores value hashes only; the
values themselves live in the state store.  A reader may also be told
where each node sits (``PositionalReader``), for a cache keyed by position
(the store's ``treecache.py``); where a node sits is never stored.

Proofs.  A ``Proof`` for a key lists the sibling hashes along the key's
path, top-down, down to the terminal position: the key's own leaf
(inclusion), the empty subtree, or a different leaf whose key shares the
path so far (both exclusion).  ``verify`` needs only ``hashlib``.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from wasmchain.protocol.errors import ChainError, InvalidEncoding
from wasmchain.protocol.hexstr import from_hex
from wasmchain.vm.host import Hash32

EMPTY = bytes(32)
"""The hash of the empty subtree; never stored."""

EMPTY_ROOT: Hash32 = EMPTY
"""The root of a tree with no entries."""

KEY_BITS = 256
"""The length of a path in bits; a proof never holds more siblings."""

LEAF = 0x00
"""First byte of a leaf's encoding (and of its hash preimage)."""

INTERNAL = 0x01
"""First byte of an internal node's encoding (and of its hash preimage)."""

NODE_SIZE = 65
"""Length of every node encoding: one kind byte and two 32-byte hashes."""

_LEAF_TAG = bytes([LEAF])
_INTERNAL_TAG = bytes([INTERNAL])
_sha256 = hashlib.sha256


class MissingNode(ChainError):
    """A node that the tree refers to is not in the node store."""

    reason = "missing_node"


class NodeReader(Protocol):
    """Reads a node's stored encoding by its hash; ``None`` when it is not stored."""

    def __call__(self, node_hash: bytes, /) -> bytes | None: ...


class PositionalReader(NodeReader, Protocol):
    """A ``NodeReader`` that is also told where the node sits, for a cache keyed by position.

    ``update`` calls ``read_at`` instead of the reader itself when the reader
    has it: ``depth`` is the node's depth and ``path`` any 256-bit path
    through it (its top ``depth`` bits are the node's position).  The answer
    must be the node's encoding (or ``None``), exactly as ``__call__`` gives
    it: the position is a hint for finding it, never part of what it is.
    """

    def read_at(self, node_hash: bytes, depth: int, path: int, /) -> bytes | None: ...


# --- nodes --------------------------------------------------------------------


def _read(read_node: NodeReader, node: Hash32) -> bytes:
    """The encoding of a stored node, checked for shape; raises ``MissingNode``."""
    return _checked(read_node(node), node)


def _checked(encoding: bytes | None, node: Hash32) -> bytes:
    """``encoding``, read for ``node``, checked for shape; raises ``MissingNode`` when it is ``None``."""
    if encoding is None:
        raise MissingNode(f"node {node.hex()} is referenced by the tree but missing from the node store")
    if len(encoding) != NODE_SIZE or encoding[0] > INTERNAL:
        raise InvalidEncoding(
            f"node {node.hex()}: expected {NODE_SIZE} bytes starting with 0x00 or 0x01, "
            f"found {len(encoding)} bytes starting with {encoding[:1].hex() or 'nothing'}"
        )
    return encoding


def _bit(path: int, depth: int) -> int:
    """Bit ``depth`` (0 = most significant) of a 256-bit path."""
    return (path >> (KEY_BITS - 1 - depth)) & 1


# --- batch update -------------------------------------------------------------


def update(
    read_node: NodeReader, root: Hash32, changes: Iterable[tuple[bytes, bytes | None]]
) -> tuple[Hash32, dict[Hash32, bytes]]:
    """Apply ``changes`` (state key, new value or ``None`` to delete) to the tree at ``root``.

    Returns the new root and the nodes it needs that may not be stored yet
    (hash -> encoding); the caller writes them in the block's atomic batch.
    Nothing is mutated.  The result does not depend on the order of
    ``changes``; when a key appears more than once, its last occurrence
    wins.  Deleting an absent key changes nothing.  The whole batch is
    applied in one descent over the sorted key hashes, visiting only the
    subtrees it touches.
    """
    latest: dict[bytes, bytes | None] = {}
    for state_key, value in changes:
        latest[_sha256(state_key).digest()] = None if value is None else _sha256(value).digest()
    if not latest:
        return root, {}
    key_hashes = sorted(latest)
    batch = _Batch(
        read_node,
        [int.from_bytes(key_hash, "big") for key_hash in key_hashes],
        key_hashes,
        [latest[key_hash] for key_hash in key_hashes],
    )
    new_root = batch.apply(root, 0, 0, len(key_hashes))
    return new_root, batch.new_nodes


class _Batch:
    """One batch update: the sorted changes and the nodes created so far.

    Changes are three parallel lists sorted by path: ``paths`` (key hash
    as an int, for bit tests and splitting), ``key_hashes`` and
    ``value_hashes`` (``None`` = delete).  A range ``[lo, hi)`` of them
    is the part of the batch under one position.
    """

    __slots__ = ("read_node", "read_at", "paths", "key_hashes", "value_hashes", "new_nodes")

    def __init__(
        self,
        read_node: NodeReader,
        paths: list[int],
        key_hashes: list[bytes],
        value_hashes: list[bytes | None],
    ) -> None:
        self.read_node = read_node
        read_at = getattr(read_node, "read_at", None)
        self.read_at: Callable[[bytes, int, int], bytes | None] = (
            read_at if read_at is not None else lambda node, depth, path: read_node(node)
        )
        self.paths = paths
        self.key_hashes = key_hashes
        self.value_hashes = value_hashes
        self.new_nodes: dict[Hash32, bytes] = {}

    def apply(self, node: Hash32, depth: int, lo: int, hi: int) -> Hash32:
        """The new hash of the stored subtree ``node`` at ``depth`` after changes ``[lo, hi)`` (never empty)."""
        if hi - lo == 1:
            return self._apply_one(node, depth, lo)
        if node == EMPTY:
            paths, key_hashes, value_hashes = self._upserts(lo, hi)
            return self._build(paths, key_hashes, value_hashes, depth, 0, len(paths))
        encoding = _checked(self.read_at(node, depth, self.paths[lo]), node)
        if encoding[0] == LEAF:
            return self._apply_to_leaf(node, encoding, depth, lo, hi)
        left, right = encoding[1:33], encoding[33:]
        mid = _split(self.paths, depth, lo, hi)
        new_left = self.apply(left, depth + 1, lo, mid) if mid > lo else left
        new_right = self.apply(right, depth + 1, mid, hi) if hi > mid else right
        if new_left == left and new_right == right:
            return node
        if new_left == EMPTY or new_right == EMPTY:  # rare: a side emptied by deletes
            return self._join_with_empty(new_left, new_right)
        return self._store(_INTERNAL_TAG + new_left + new_right)

    def _apply_one(self, node: Hash32, depth: int, i: int) -> Hash32:
        """``apply`` for the one change ``i``: down its path in a loop, then back up, hashing the new nodes.

        The same nodes and hashes as ``apply``'s recursion, without a split
        or a call per level: below the top few levels of a large tree, every
        change of a batch has a path of its own.
        """
        path = self.paths[i]
        read_at = self.read_at
        top = node
        above: list[tuple[Hash32, Hash32, int]] = []  # per level: the node, the sibling of the path, the path's bit
        while True:
            if node == EMPTY:
                value_hash = self.value_hashes[i]
                new = EMPTY if value_hash is None else self._store(_LEAF_TAG + self.key_hashes[i] + value_hash)
                break
            encoding = _checked(read_at(node, depth, path), node)
            if encoding[0] == LEAF:
                new = self._apply_to_leaf(node, encoding, depth, i, i + 1)
                break
            if (path >> (KEY_BITS - 1 - depth)) & 1:
                above.append((node, encoding[1:33], 1))
                node = encoding[33:]
            else:
                above.append((node, encoding[33:], 0))
                node = encoding[1:33]
            depth += 1
        old = node
        for parent, sibling, bit in reversed(above):
            if new == old:
                return top  # nothing changed from here up
            left, right = (sibling, new) if bit else (new, sibling)
            if new == EMPTY or sibling == EMPTY:  # rare: a side emptied by deletes
                new = self._join_with_empty(left, right)
            else:
                encoding = _INTERNAL_TAG + left + right
                new = _sha256(encoding).digest()
                self.new_nodes[new] = encoding
            old = parent
        return top if new == old else new

    def _apply_to_leaf(self, node: Hash32, encoding: bytes, depth: int, lo: int, hi: int) -> Hash32:
        """Merge the entry of an existing leaf into changes ``[lo, hi)`` and rebuild that subtree."""
        key_hash, value_hash = encoding[1:33], encoding[33:]
        path = int.from_bytes(key_hash, "big")
        paths, key_hashes, value_hashes = self._upserts(lo, hi)
        changed = bisect_left(self.paths, path, lo, hi)
        if changed == hi or self.paths[changed] != path:  # the batch leaves this entry alone
            at = bisect_left(paths, path)
            paths.insert(at, path)
            key_hashes.insert(at, key_hash)
            value_hashes.insert(at, value_hash)
        if len(paths) == 1 and key_hashes[0] == key_hash and value_hashes[0] == value_hash:
            return node
        return self._build(paths, key_hashes, value_hashes, depth, 0, len(paths))

    def _upserts(self, lo: int, hi: int) -> tuple[list[int], list[bytes], list[bytes]]:
        """The inserts and overwrites among changes ``[lo, hi)``, without the deletes."""
        paths: list[int] = []
        key_hashes: list[bytes] = []
        value_hashes: list[bytes] = []
        for i in range(lo, hi):
            value_hash = self.value_hashes[i]
            if value_hash is not None:
                paths.append(self.paths[i])
                key_hashes.append(self.key_hashes[i])
                value_hashes.append(value_hash)
        return paths, key_hashes, value_hashes

    def _build(
        self, paths: list[int], key_hashes: list[bytes], value_hashes: list[bytes], depth: int, lo: int, hi: int
    ) -> Hash32:
        """The subtree at ``depth`` holding exactly entries ``[lo, hi)``, built from scratch."""
        if hi - lo == 1:
            encoding = _LEAF_TAG + key_hashes[lo] + value_hashes[lo]
        elif hi == lo:
            return EMPTY
        else:
            mid = _split(paths, depth, lo, hi)
            left = self._build(paths, key_hashes, value_hashes, depth + 1, lo, mid)
            right = self._build(paths, key_hashes, value_hashes, depth + 1, mid, hi)
            encoding = _INTERNAL_TAG + left + right
        digest = _sha256(encoding).digest()  # inlined _store: this is the hot loop of a batch
        self.new_nodes[digest] = encoding
        return digest

    def _join_with_empty(self, left: Hash32, right: Hash32) -> Hash32:
        """The node over two children, one of them empty: a lone leaf moves up, keeping the tree canonical."""
        other = right if left == EMPTY else left
        if other == EMPTY:
            return EMPTY
        encoding = self.new_nodes.get(other) or _read(self.read_node, other)
        if encoding[0] == LEAF:
            return other
        return self._store(_INTERNAL_TAG + left + right)

    def _store(self, encoding: bytes) -> Hash32:
        """Record a new node; returns its hash."""
        digest = _sha256(encoding).digest()
        self.new_nodes[digest] = encoding
        return digest


def _split(paths: list[int], depth: int, lo: int, hi: int) -> int:
    """The first index in ``[lo, hi)`` whose bit ``depth`` is 1 (all share the bits above it)."""
    shift = KEY_BITS - 1 - depth
    first_right = ((paths[lo] >> shift) | 1) << shift
    return bisect_left(paths, first_right, lo, hi)


# --- reading ------------------------------------------------------------------


def get(read_node: NodeReader, root: Hash32, state_key: bytes) -> Hash32 | None:
    """The value hash stored for ``state_key`` under ``root``, or ``None`` when absent."""
    key_hash = _sha256(state_key).digest()
    path = int.from_bytes(key_hash, "big")
    node, depth = root, 0
    while node != EMPTY:
        encoding = _read(read_node, node)
        if encoding[0] == LEAF:
            return encoding[33:] if encoding[1:33] == key_hash else None
        node = encoding[33:] if _bit(path, depth) else encoding[1:33]
        depth += 1
    return None


def collect(read_node: NodeReader, root: Hash32) -> dict[Hash32, Hash32]:
    """Every entry under ``root``, as key hash -> value hash (for tests and debugging)."""
    entries: dict[Hash32, Hash32] = {}
    pending = [root]
    while pending:
        node = pending.pop()
        if node == EMPTY:
            continue
        encoding = _read(read_node, node)
        if encoding[0] == LEAF:
            entries[encoding[1:33]] = encoding[33:]
        else:
            pending += (encoding[1:33], encoding[33:])
    return entries


# --- proofs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proof:
    """The evidence that a key has a given value, or none, under a root."""

    siblings: tuple[Hash32, ...]
    """Top-down: ``siblings[d]`` is the hash beside the path at depth ``d + 1``
    (the child of the depth-``d`` node that the path does not take).  Its
    length is the depth of the terminal position; at most 256."""
    leaf: tuple[Hash32, Hash32] | None
    """For an exclusion proof whose path ends in a different leaf, that leaf's
    ``(key_hash, value_hash)``; ``None`` for inclusion and for a path that ends
    in the empty subtree."""

    def to_json(self) -> dict[str, Any]:
        """``{"siblings": [hex, ...], "leaf": {"key_hash": hex, "value_hash": hex} | null}``."""
        leaf = None if self.leaf is None else {"key_hash": self.leaf[0].hex(), "value_hash": self.leaf[1].hex()}
        return {"siblings": [sibling.hex() for sibling in self.siblings], "leaf": leaf}

    @classmethod
    def from_json(cls, data: Any) -> Proof:
        """The inverse of ``to_json``; raises ``InvalidEncoding`` on anything else."""
        if not isinstance(data, dict) or set(data) != {"siblings", "leaf"}:
            raise InvalidEncoding(f"proof: expected an object with keys 'siblings' and 'leaf', found {data!r:.80}")
        siblings = data["siblings"]
        if not isinstance(siblings, list) or len(siblings) > KEY_BITS:
            raise InvalidEncoding(f"proof.siblings: expected a list of at most {KEY_BITS} hashes")
        leaf = data["leaf"]
        if leaf is not None and (not isinstance(leaf, dict) or set(leaf) != {"key_hash", "value_hash"}):
            raise InvalidEncoding("proof.leaf: expected null or an object with keys 'key_hash' and 'value_hash'")
        return cls(
            siblings=tuple(_hash_from_hex(sibling, f"proof.siblings[{i}]") for i, sibling in enumerate(siblings)),
            leaf=None
            if leaf is None
            else (
                _hash_from_hex(leaf["key_hash"], "proof.leaf.key_hash"),
                _hash_from_hex(leaf["value_hash"], "proof.leaf.value_hash"),
            ),
        )


def _hash_from_hex(text: Any, what: str) -> Hash32:
    if not isinstance(text, str) or len(text) != 64:
        raise InvalidEncoding(f"{what}: expected 64 hex digits, found {text!r:.80}")
    try:
        return from_hex(text)
    except ValueError:
        raise InvalidEncoding(f"{what}: expected 64 hex digits, found {text!r:.80}") from None


def prove(read_node: NodeReader, root: Hash32, state_key: bytes) -> Proof:
    """An inclusion proof if ``state_key`` is present under ``root``, an exclusion proof otherwise."""
    key_hash = _sha256(state_key).digest()
    path = int.from_bytes(key_hash, "big")
    siblings: list[Hash32] = []
    node = root
    while node != EMPTY:
        encoding = _read(read_node, node)
        if encoding[0] == LEAF:
            other = encoding[1:33]
            leaf = None if other == key_hash else (other, encoding[33:])
            return Proof(tuple(siblings), leaf)
        if _bit(path, len(siblings)):
            siblings.append(encoding[1:33])
            node = encoding[33:]
        else:
            siblings.append(encoding[33:])
            node = encoding[1:33]
    return Proof(tuple(siblings), None)


def verify(root: bytes, state_key: bytes, value: bytes | None, proof: Proof) -> bool:
    """True iff ``proof`` shows that ``state_key`` has exactly ``value`` (``None``: absent) under ``root``.

    Self-contained (hashlib only) so that a client can copy it.
    """
    sha256 = hashlib.sha256
    key_hash = sha256(state_key).digest()
    path = int.from_bytes(key_hash, "big")
    depth = len(proof.siblings)
    if depth > 256 or any(len(sibling) != 32 for sibling in proof.siblings):
        return False
    if value is not None:  # inclusion: the path ends in our own leaf
        if proof.leaf is not None:
            return False
        node = sha256(b"\x00" + key_hash + sha256(value).digest()).digest()
    elif proof.leaf is None:  # exclusion: the path ends in the empty subtree
        node = bytes(32)
    else:  # exclusion: the path ends in another key's leaf, on the same path so far
        other_key, other_value = proof.leaf
        other_path = int.from_bytes(other_key, "big")
        if len(other_key) != 32 or len(other_value) != 32 or other_key == key_hash:
            return False
        if (other_path ^ path) >> (256 - depth) != 0:
            return False
        node = sha256(b"\x00" + other_key + other_value).digest()
    for d in range(depth - 1, -1, -1):
        sibling = proof.siblings[d]
        if (path >> (255 - d)) & 1:
            node = sha256(b"\x01" + sibling + node).digest()
        else:
            node = sha256(b"\x01" + node + sibling).digest()
    return node == root
