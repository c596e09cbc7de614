"""The divergence model (``history/divergence.py``): the one comparison of receipts and of state changes
that replay and the follower both report from, checked against a plain reference and through both users."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from wasmchain.history.archive import ArchiveReader, Record
from wasmchain.history.divergence import (
    MAX_STATE_DIFFS,
    RECEIPT_FIELDS,
    Divergence,
    StateDiff,
    compare_states,
    first_receipt_difference,
    listed,
    state_diffs,
)
from wasmchain.history.follow import receipt_difference
from wasmchain.history.replay import check_block, load_genesis_document
from wasmchain.protocol.blocks import Receipt
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV
from wasmchain.vm import Event

A = Receipt(b"\x01" * 32, "ok", 10, b"\x90", (Event(b"\x02" * 20, "Transfer", b"\x80"),), "", b"")


# --- receipts -----------------------------------------------------------------------------------


def test_the_first_transaction_that_differs_is_named_with_its_fields_and_both_values() -> None:
    changed = dataclasses.replace(A, gas_used=11, error="trap")
    found = first_receipt_difference([A, A, A], [A, changed, A])
    assert found is not None
    assert (found.index, found.recorded, found.replayed) == (1, A, changed)
    assert found.fields == ("gas_used", "error")
    assert found.to_json() == {
        "gas_used": {"recorded": 10, "replayed": 11},
        "error": {"recorded": "", "replayed": "trap"},
    }
    assert first_receipt_difference([A, A], [A, A]) is None
    assert first_receipt_difference([], []) is None


def test_a_missing_receipt_differs_in_every_field_on_either_side() -> None:
    extra = first_receipt_difference([A], [A, A])
    assert extra is not None and (extra.index, extra.recorded, extra.replayed) == (1, None, A)
    assert extra.fields == RECEIPT_FIELDS == tuple(field.name for field in dataclasses.fields(Receipt))
    assert extra.to_json()["tx_hash"] == {"recorded": None, "replayed": "0x" + "01" * 32}
    assert extra.to_json()["events"] == {
        "recorded": None,
        "replayed": [{"contract": "0x" + "02" * 20, "name": "Transfer", "data": "0x80"}],
    }
    missing = first_receipt_difference([A, A], [A])
    assert missing is not None and (missing.index, missing.recorded, missing.replayed) == (1, A, None)
    assert set(missing.to_json()) == set(RECEIPT_FIELDS)
    assert missing.event_difference() is None


def test_the_first_event_that_differs_is_named_with_its_field() -> None:
    first, second = Event(b"\x02" * 20, "Transfer", b"\x80"), Event(b"\x03" * 20, "Approval", b"\x81")
    recorded = dataclasses.replace(A, events=(first, second))
    renamed = dataclasses.replace(A, events=(first, dataclasses.replace(second, name="Other", data=b"")))
    found = first_receipt_difference([recorded], [renamed])
    assert found is not None and found.fields == ("events",)
    assert found.event_difference() == (1, "name")
    fewer = first_receipt_difference([recorded], [dataclasses.replace(A, events=(first,))])
    assert fewer is not None and fewer.fields == ("events",) and fewer.event_difference() is None


receipts = st.builds(
    Receipt,
    st.sampled_from([b"\x01" * 32, b"\x02" * 32]),
    st.sampled_from(["ok", "trap"]),
    st.integers(0, 2),
    st.sampled_from([b"", b"\x01"]),
    st.lists(
        st.builds(Event, st.just(b"\x02" * 20), st.sampled_from(["a", "b"]), st.sampled_from([b"", b"\x01"])),
        max_size=2,
    ).map(tuple),
    st.sampled_from(["", "boom"]),
    st.just(b""),
)


@given(st.lists(receipts, max_size=3), st.lists(receipts, max_size=3))
def test_the_receipt_comparison_agrees_with_a_plain_one(recorded: list[Receipt], replayed: list[Receipt]) -> None:
    """Against the obviously right comparison: position by position, attribute by attribute."""
    positions = [
        index
        for index in range(max(len(recorded), len(replayed)))
        if index >= len(recorded) or index >= len(replayed) or recorded[index] != replayed[index]
    ]
    found = first_receipt_difference(recorded, replayed)
    follower = receipt_difference(recorded, replayed)
    if not positions:
        assert found is None and follower is None
        return
    assert found is not None and found.index == positions[0]
    old = recorded[found.index] if found.index < len(recorded) else None
    new = replayed[found.index] if found.index < len(replayed) else None
    assert (found.recorded, found.replayed) == (old, new)
    if old is None or new is None:
        assert found.fields == RECEIPT_FIELDS
        assert follower == f"the remote has {len(recorded)} receipts, replay made {len(replayed)}"
        return
    differing = tuple(name for name in RECEIPT_FIELDS if getattr(old, name) != getattr(new, name))
    assert found.fields == differing and differing
    assert set(found.to_json()) == set(differing)
    # The follower words the same finding: the same transaction, and the first field that differs.
    assert follower is not None and follower.startswith(f"transaction {found.index} {differing[0]}")


def test_replay_reports_the_receipt_difference_of_the_model(exported: Path) -> None:
    """``check_block``'s divergence carries the model's transaction and fields, as the follower's words do."""
    with ArchiveReader(exported) as reader:
        genesis = load_genesis_document(reader.header.genesis_document, any_vm_version=False, where="test")
        chain = Chain.create(MemoryKV(), genesis)
        first, second = list(reader.records())[:2]
    chain.commit(check_block(chain, first))  # type: ignore[arg-type]
    altered = list(second.receipts)
    altered[1] = dataclasses.replace(altered[1], gas_used=altered[1].gas_used + 1)
    divergence = check_block(chain, Record(second.block, tuple(altered), second.changes))
    assert isinstance(divergence, Divergence) and divergence.check == "receipts"
    model = first_receipt_difference(altered, second.receipts)
    assert model is not None and model.fields == ("gas_used",)
    assert (divergence.tx_index, divergence.receipt) == (model.index, model.to_json())
    assert receipt_difference(altered, second.receipts) == (
        f"transaction 1 gas_used: remote {altered[1].gas_used}, replayed {second.receipts[1].gas_used}"
    )


# --- state ----------------------------------------------------------------------------------------


def test_state_changes_are_compared_key_by_key_with_the_value_before_for_a_key_one_side_left() -> None:
    before = {b"a": b"1", b"b": b"2", b"c": b"3"}
    recorded = {b"a": b"9", b"b": None, b"d": b"4"}
    replayed = {b"a": b"9", b"c": b"3", b"d": b"5", b"e": b"6"}
    assert state_diffs(before.get, recorded, replayed) == [
        StateDiff(b"b", None, b"2"),  # deleted by the record, left by the replay
        StateDiff(b"d", b"4", b"5"),
        StateDiff(b"e", None, b"6"),
    ]
    assert state_diffs(before.get, recorded, dict(recorded)) == []
    assert state_diffs(before.get, {b"c": b"3"}, {}) == []  # rewritten to the value it had


def test_whole_states_are_compared_and_a_divergence_lists_at_most_the_first_hundred() -> None:
    recorded = {bytes([i]): b"x" for i in range(MAX_STATE_DIFFS + 5)}
    replayed = {bytes([i]): b"y" for i in range(1, MAX_STATE_DIFFS + 6)}
    diffs = compare_states(recorded, replayed)
    assert diffs[0] == StateDiff(b"\x00", b"x", None) and diffs[-1] == StateDiff(
        bytes([MAX_STATE_DIFFS + 5]), None, b"y"
    )
    assert len(diffs) == MAX_STATE_DIFFS + 6
    shown, omitted = listed(diffs)
    assert shown == tuple(diffs[:MAX_STATE_DIFFS]) and omitted == 6
    assert listed(diffs[:3]) == (tuple(diffs[:3]), 0)
    assert compare_states(recorded, dict(recorded)) == []
