"""The journal against a slow, obviously-right reference: a stack of full dict copies."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wasmchain.protocol.errors import ChainError
from wasmchain.store.journal import Journal, JournalError
from wasmchain.store.kv import KVStore, LevelDBKV, MemoryKV

ALPHABET = (b"a", b"b", b"\xff")
UNIVERSE = [b"".join(letters) for size in (1, 2, 3) for letters in itertools.product(ALPHABET, repeat=size)]
"""Every key the machine may touch: few enough to collide often, with shared prefixes."""
PREFIXES = (b"", b"a", b"ab", b"\xff", b"b\xff", b"aaa")
KEYS = st.sampled_from((b"a", b"ab", b"b\xff")) | st.sampled_from(UNIVERSE)
"""Half the writes go to three hot keys, so that nested scopes often touch the same key."""
VALUES = st.binary(max_size=4)
MAX_DEPTH = 3
"""Checkpoints nest at most this deep: deep enough for every case, shallow enough that scopes get closed."""

MACHINE_SETTINGS = settings(max_examples=200, stateful_step_count=50, deadline=None, derandomize=True, database=None)


def applied(base: dict[bytes, bytes], changes: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
    result = dict(base)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


class JournalMachine(RuleBasedStateMachine):
    """Every operation on the journal and on the reference; after each, they must agree.

    There are few rules on purpose: hypothesis enables a random subset of
    the rules in each run, and the interesting runs need all of them.

    The reference is ``views``: ``views[0]`` is the view with no checkpoint
    open, and each checkpoint pushes a full copy of the view below it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.base = self.open_base()
        self.journal = Journal(self.base)
        self.flushed: dict[bytes, bytes] = {}
        """What the base holds."""
        self.views: list[dict[bytes, bytes]] = [{}]

    def open_base(self) -> KVStore:
        return MemoryKV()

    def teardown(self) -> None:
        self.base.close()

    @property
    def view(self) -> dict[bytes, bytes]:
        return self.views[-1]

    @rule(writes=st.lists(st.tuples(KEYS, st.none() | VALUES), min_size=1, max_size=6))
    def write(self, writes: list[tuple[bytes, bytes | None]]) -> None:
        """A few sets and deletes (``None``), in order, as a contract call makes them."""
        for key, value in writes:
            if value is None:
                self.journal.delete(key)
                self.view.pop(key, None)
            else:
                self.journal.set(key, value)
                self.view[key] = value

    @precondition(lambda self: len(self.views) <= MAX_DEPTH)
    @rule()
    def checkpoint(self) -> None:
        self.journal.checkpoint()
        self.views.append(dict(self.view))

    @precondition(lambda self: len(self.views) > 1)
    @rule(keep=st.booleans())
    def close_checkpoint(self, keep: bool) -> None:
        """Commit (keep) or revert the innermost checkpoint."""
        if keep:
            self.journal.commit()
            kept = self.views.pop()
            self.views[-1] = kept
        else:
            self.journal.revert()
            self.views.pop()

    @rule(keep=st.booleans())
    def end_block(self, keep: bool) -> None:
        """Flush into the base (refused while checkpoints are open), or discard everything."""
        if not keep:
            self.journal.discard()
            self.views = [dict(self.flushed)]
        elif len(self.views) > 1:
            with pytest.raises(JournalError, match="open checkpoint"):
                self.journal.flush()
        else:
            changes = self.journal.flush()
            assert list(changes) == sorted(changes)
            self.base.write(changes)
            self.flushed = dict(self.view)
            assert self.journal.pending() == {}

    @invariant()
    def depth_matches(self) -> None:
        assert self.journal.depth == len(self.views) - 1

    @invariant()
    def every_key_reads_as_the_reference(self) -> None:
        for key in UNIVERSE:
            assert self.journal.get(key) == self.view.get(key), key

    @invariant()
    def pending_applied_to_the_base_is_the_view(self) -> None:
        pending = self.journal.pending()
        assert list(pending) == sorted(pending)
        assert applied(self.flushed, pending) == self.view
        assert dict(self.base.iterate()) == self.flushed  # nothing leaked into the base early

    @invariant()
    def iterate_is_the_view_sorted(self) -> None:
        for prefix in PREFIXES:
            expected = sorted((key, value) for key, value in self.view.items() if key.startswith(prefix))
            assert list(self.journal.iterate(prefix)) == expected, prefix


class LevelDBJournalMachine(JournalMachine):
    """The same machine over a LevelDB base in a fresh directory."""

    def open_base(self) -> KVStore:
        self.directory = Path(tempfile.mkdtemp(prefix="journal-"))
        return LevelDBKV(self.directory / "db", create=True)

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.directory)


TestJournalOverMemoryKV = JournalMachine.TestCase
TestJournalOverMemoryKV.settings = MACHINE_SETTINGS
TestJournalOverLevelDBKV = LevelDBJournalMachine.TestCase
TestJournalOverLevelDBKV.settings = settings(MACHINE_SETTINGS, max_examples=100)


# -- units -----------------------------------------------------------------------


def test_commit_and_revert_without_a_checkpoint_are_refused_clearly() -> None:
    journal = Journal(MemoryKV())
    with pytest.raises(JournalError, match=r"^commit with no open checkpoint: call checkpoint\(\) first$"):
        journal.commit()
    with pytest.raises(JournalError, match=r"^revert with no open checkpoint: call checkpoint\(\) first$"):
        journal.revert()
    assert issubclass(JournalError, ChainError)


def test_flush_with_open_checkpoints_is_refused_and_keeps_everything() -> None:
    journal = Journal(MemoryKV())
    journal.set(b"k", b"v")
    journal.checkpoint()
    journal.checkpoint()
    with pytest.raises(JournalError, match=r"^flush with 2 open checkpoint\(s\): commit or revert them first$"):
        journal.flush()
    assert (journal.depth, journal.pending()) == (2, {b"k": b"v"})


def test_reads_fall_through_and_writes_wait_for_flush() -> None:
    base = MemoryKV({b"a": b"base", b"b": b"base"})
    journal = Journal(base)
    journal.set(b"a", b"new")
    journal.delete(b"b")
    journal.set(b"c", b"new")
    assert [journal.get(key) for key in (b"a", b"b", b"c", b"d")] == [b"new", None, b"new", None]
    assert base.get(b"a") == b"base" and base.get(b"c") is None
    assert list(journal.iterate(b"")) == [(b"a", b"new"), (b"c", b"new")]
    changes = journal.flush()
    assert changes == {b"a": b"new", b"b": None, b"c": b"new"}
    base.write(changes)
    assert dict(base.iterate()) == {b"a": b"new", b"c": b"new"}


def test_nested_scopes_revert_only_their_own_changes() -> None:
    journal = Journal(MemoryKV({b"k": b"0"}))
    journal.checkpoint()
    journal.set(b"k", b"1")
    journal.checkpoint()
    journal.set(b"k", b"2")
    journal.delete(b"j")
    journal.commit()  # the inner changes now belong to the outer scope
    journal.checkpoint()
    journal.delete(b"k")
    journal.revert()
    assert journal.get(b"k") == b"2"
    journal.revert()  # the outer scope takes the committed inner changes with it
    assert (journal.get(b"k"), journal.pending(), journal.depth) == (b"0", {}, 0)


def test_committing_a_small_scope_into_a_larger_one_keeps_the_older_undo_record() -> None:
    journal = Journal(MemoryKV({b"k": b"0"}))
    journal.checkpoint()
    journal.set(b"k", b"1")
    journal.set(b"j", b"1")
    journal.checkpoint()
    journal.set(b"k", b"2")  # the inner scope is smaller than the outer one
    journal.commit()
    journal.revert()
    assert (journal.get(b"k"), journal.get(b"j"), journal.pending()) == (b"0", None, {})


def test_discard_drops_pending_changes_and_checkpoints() -> None:
    journal = Journal(MemoryKV({b"k": b"0"}))
    journal.set(b"k", b"1")
    journal.checkpoint()
    journal.discard()
    assert (journal.get(b"k"), journal.pending(), journal.depth) == (b"0", {}, 0)


def test_read_holds_what_the_base_answered_and_not_the_journals_own_values() -> None:
    base = MemoryKV()
    base.write({b"a": b"1", b"b": b"2"})
    journal = Journal(base)
    assert journal.get(b"a") == b"1" and journal.get(b"missing") is None
    journal.set(b"a", b"changed")
    journal.set(b"c", b"new")
    assert journal.get(b"a") == b"changed" and journal.get(b"c") == b"new"  # (from the overlay: not recorded)
    assert journal.read == {b"a": b"1", b"missing": None}
    journal.discard()
    assert journal.read == {}
