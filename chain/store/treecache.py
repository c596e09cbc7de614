"""The upper levels of the state tree in memory, by position: a hint that is checked on every use.

A read of a Merkle node from LevelDB costs 4-8 µs, and an update reads
every node on the path of every changed key: at a million accounts the
paths are ~22 levels deep, 7 more than at ten thousand, and after a
restart each of those nodes is a cold read.  ``UpperTree`` keeps, for each
depth ``d`` from 1 to ``levels``, one ``bytearray`` of ``2**d`` 32-byte
slots: the hash last seen at each position (the top ``d`` bits of a path).
The two children of the position ``p`` at depth ``d - 1`` are side by side
(slots ``2p`` and ``2p + 1``), so an internal node there is
``0x01 || 64 bytes`` of its children's level.

The slots are never trusted.  ``get`` returns that candidate encoding
only when its SHA-256 is the hash the tree asks for, so a stale slot
(after a block, a rollback, a block finalized and dropped, another root
read) is a miss, never a wrong node: a hit is the node itself, as surely
as the tree's hashes bind their children.  So nothing needs invalidating,
and the cache can only change how fast a root is computed, never what it
is.  Leaves are not held (their key and value hashes are not in the
slots): they are read as before.

The slots are filled from the nodes read through ``Chain``'s reader (each
internal node read at a known position writes its children's slots) and
by ``warm``, which reads the head tree's upper levels breadth-first when
the chain opens.  A level's array is allocated once internal nodes were seen at
a sixteenth of the positions of the level above it (the first 12 levels always), so a small tree
allocates little; with ``levels=20`` the most is ``32 * (2**21 - 2)``
bytes, 64 MiB, reached by trees of about a million entries and more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from wasmchain.protocol.smt import EMPTY, INTERNAL, KEY_BITS

LEVELS = 20
"""Depths with slots (1..LEVELS): internal nodes down to depth ``LEVELS - 1`` are held; at most 64 MiB."""
WARM_NODES = 1 << 19
"""At most this many nodes read by ``warm`` (the levels that fit whole): depths 0-18 at a million accounts,
32 MiB of slots, read in ~3 s."""
_ALWAYS = 12
"""Levels whose array is allocated whatever the density: ``32 * 2**12`` bytes at the deepest."""
_DENSE = 16
"""A deeper level's array is allocated once internal nodes were seen at one position in this many above it."""

_sha256 = hashlib.sha256
_INTERNAL_TAG = bytes([INTERNAL])


class UpperTree:
    """Hashes by position for depths 1..``levels``; ``get`` checks each candidate against the hash asked for."""

    def __init__(self, levels: int = LEVELS) -> None:
        self.levels = levels
        self._slots: list[bytearray | None] = [None] * (levels + 1)
        """Per depth, ``2**depth`` slots of 32 bytes (``None`` until allocated; depth 0, the root, has none)."""
        self._seen = [0] * levels
        """Per depth, how many internal nodes were recorded there (with repeats): the density rule's count."""
        self.hits = 0
        """Reads answered from the slots (for benchmarks and tests; never read by anything that decides)."""

    def get(self, node_hash: bytes, depth: int, path: int) -> bytes | None:
        """The internal node ``node_hash`` at ``depth`` on ``path`` if the slots hold its children, else ``None``."""
        if depth >= self.levels:
            return None
        children = self._slots[depth + 1]
        if children is None:
            return None
        offset = (path >> (KEY_BITS - depth)) << 6  # the position's two child slots, 64 bytes
        encoding = _INTERNAL_TAG + children[offset : offset + 64]
        if _sha256(encoding).digest() != node_hash:
            return None
        self.hits += 1
        return encoding

    def put(self, depth: int, path: int, encoding: bytes) -> None:
        """Record the internal node ``encoding`` read at ``depth`` on ``path``: its children's slots."""
        if depth >= self.levels:
            return
        children = self._slots[depth + 1]
        if children is None:
            self._seen[depth] += 1
            children = self._allocate(depth + 1)
            if children is None:
                return
        offset = (path >> (KEY_BITS - depth)) << 6
        children[offset : offset + 64] = encoding[1:]

    def _allocate(self, level: int) -> bytearray | None:
        """The slots of ``level``, allocated if the level above is dense enough (``_seen``) to be worth them."""
        if level > _ALWAYS and self._seen[level - 1] * _DENSE < 1 << (level - 1):
            return None
        slots = self._slots[level] = bytearray(32 << level)
        return slots

    def warm(self, root: bytes, read_node: Callable[[bytes], bytes | None], budget: int = WARM_NODES) -> int:
        """Read the tree under ``root`` breadth-first, a whole level at a time while the nodes read stay
        within ``budget``, recording every internal node; returns the number of nodes read.

        Each level is read in hash order, so that neighbouring reads share LevelDB's blocks.  A node
        that is missing is skipped (the tree's own reads will report it)."""
        level: list[tuple[bytes, int]] = [] if root == EMPTY else [(root, 0)]
        depth = read = 0
        while level and depth < self.levels and read + len(level) <= budget:
            below: list[tuple[bytes, int]] = []
            internal = []
            for node, position in sorted(level):
                encoding = read_node(node)
                if encoding is not None and encoding[0] == INTERNAL:
                    internal.append((position, encoding))
            if self._slots[depth + 1] is None:
                self._seen[depth] += len(internal)
                self._allocate(depth + 1)
            for position, encoding in internal:
                path = position << (KEY_BITS - depth) if depth else 0
                self.put(depth, path, encoding)
                left, right = encoding[1:33], encoding[33:]
                if left != EMPTY:
                    below.append((left, position << 1))
                if right != EMPTY:
                    below.append((right, (position << 1) | 1))
            read += len(level)
            level = below
            depth += 1
        return read

    def memory(self) -> int:
        """Bytes held by the slots."""
        return sum(len(slots) for slots in self._slots if slots is not None)
