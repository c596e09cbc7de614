"""The block archive: what the state changes of each block are, export and import round trips, strict reading.

``produce`` mines a small chain with every kind of block a replay must
handle (deploys, nested calls, aborts, out of gas, an invalid transaction,
a balance override, an empty block); the replay tests use it too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmchain.cli.commands import cmd_export, cmd_import
from wasmchain.history.archive import MAGIC, ArchiveError, ArchiveReader, header_for, recorded_params, write_archive
from wasmchain.history.replay import Refused
from wasmchain.node.datadir import DataDir
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.keys import KeyPair, contract_address, dev_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.kv import KVStore, LevelDBKV, MemoryKV
from wasmchain.vm import VM_VERSION

ROOT = Path(__file__).resolve().parents[2]
CODE = {name: (ROOT / "contracts" / name / f"{name}.wasm").read_bytes() for name in ("token", "counter", "vault")}
CODE_ABI1 = {name: (ROOT / "tests" / "fixtures" / "abi1" / f"{name}.wasm").read_bytes() for name in CODE}
"""The examples as ABI 1 modules (built before issue 18), for chains whose VM version predates ABI 2."""
LENGTH = struct.Struct(">I")


def packed(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)  # type: ignore[no-any-return]


class Signer:
    def __init__(self, genesis: Genesis, key: KeyPair) -> None:
        self.genesis, self.key, self.nonce = genesis, key, 0

    def __call__(self, kind: TxKind, gas_limit: int = 3_000_000, **fields: Any) -> SignedTransaction:
        tx = Transaction(self.genesis.chain_id, self.nonce, gas_limit, 1, self.key.public_key, kind, **fields)
        self.nonce += 1
        return tx.sign(self.key)


@dataclasses.dataclass(frozen=True)
class Produced:
    """What the producer saw: the state changes of each block and the whole state after it."""

    changes: dict[int, dict[bytes, bytes | None]]
    states: dict[int, dict[bytes, bytes]]


def stored_state(kv: KVStore) -> dict[bytes, bytes]:
    return {key[1:]: value for key, value in kv.iterate(b"S")}


def produce(chain: Chain, code: dict[str, bytes] = CODE) -> Produced:
    """Mine seven blocks on ``chain`` (heights 1..7); block 2 holds the transaction (index 6) that runs out of gas.

    The examples deployed are ``code``'s: ABI 2 builds by default, ``CODE_ABI1`` for the ABI 1 ones."""
    genesis = chain.genesis
    alice, bob, carol = (Signer(genesis, dev_key(i)) for i in range(3))
    token = contract_address(alice.key.address, 0)
    vault = contract_address(alice.key.address, 1)
    counter = contract_address(bob.key.address, 0)
    bodies: list[tuple[list[SignedTransaction], tuple[tuple[bytes, int], ...]]] = [
        (
            [
                alice(TxKind.DEPLOY, 10**8, code=code["token"], method="init", args=packed(supply=10**9)),
                alice(TxKind.DEPLOY, 10**8, code=code["vault"], method="init", args=packed(token=token)),
                bob(TxKind.DEPLOY, 10**8, code=code["counter"], value=5),
                carol(TxKind.TRANSFER, to=bob.key.address, value=10**18),
            ],
            (),
        ),
        (
            [
                alice(TxKind.CALL, method="transfer", to=token, args=packed(to=vault, amount=1000)),
                alice(TxKind.CALL, method="withdraw", to=vault, args=packed(to=carol.key.address, amount=300)),
                alice(TxKind.CALL, method="withdraw", to=vault, args=packed(to=carol.key.address, amount=10**6)),
                carol(TxKind.CALL, method="transfer", to=token, args=packed(to=bob.key.address, amount=301)),
                carol(TxKind.CALL, method="transfer", to=token, args=packed(to=bob.key.address, amount=100)),
                bob(TxKind.CALL, method="increment", to=counter, value=3),
                bob(TxKind.CALL, 60_000, method="increment", to=counter),
                carol(TxKind.TRANSFER, to=alice.key.address, value=12345),
            ],
            (),
        ),
        ([], ()),
        ([bob(TxKind.CALL, method="increment", to=counter)], ((bytes(range(20)), 777),)),
        ([carol(TxKind.CALL, method="transfer", to=token, args=packed(to=alice.key.address, amount=1))], ()),
        (
            [alice(TxKind.TRANSFER, to=bytes(range(20)), value=1), bob(TxKind.TRANSFER, to=carol.key.address, value=2)],
            (),
        ),
        ([bob(TxKind.CALL, method="increment", to=counter)], ()),
    ]
    changes, states = {}, {0: stored_state(chain.kv)}
    for transactions, overrides in bodies:
        pending = chain.finalize(transactions, chain.head.timestamp + 10, overrides)
        chain.commit(pending)
        height = pending.block.height
        changes[height] = dict(pending.changes)
        states[height] = stored_state(chain.kv)
    statuses = [receipt.status for receipt in chain.receipts(2)]
    assert statuses == ["ok", "ok", "abort", "abort", "ok", "ok", "out_of_gas", "ok"], chain.receipts(2)
    return Produced(changes, states)


HEAD = 7


# --- state changes and states from the undo records --------------------------------------


def test_state_changes_are_what_each_block_wrote(genesis: Genesis) -> None:
    chain = Chain.create(MemoryKV(), genesis)
    produced = produce(chain)
    assert chain.state_changes(1, HEAD) == produced.changes
    for height in range(HEAD + 1):
        assert chain.state_at(height) == produced.states[height], height


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.integers(1, HEAD + 1), length=st.integers(0, HEAD))
def test_state_changes_of_any_range(first: int, length: int, produced_dir: tuple[DataDir, Produced]) -> None:
    data, produced = produced_dir
    last = min(first + length, HEAD + 1) - 1
    with LevelDBKV(data.db, create=False) as kv:
        chain = Chain.load(kv)
        assert chain.state_changes(first, last) == {h: produced.changes[h] for h in range(first, last + 1)}


def test_state_changes_outside_the_chain_are_refused(genesis: Genesis) -> None:
    chain = Chain.create(MemoryKV(), genesis)
    with pytest.raises(ChainError, match="the head is at 0"):
        chain.state_changes(1, 1)
    with pytest.raises(ChainError, match="no state at height 1"):
        chain.state_at(1)


def test_a_chain_from_a_state_checks_its_root(genesis: Genesis) -> None:
    chain = Chain.create(MemoryKV(), genesis)
    produced = produce(chain)
    resumed = Chain.from_state(MemoryKV(), genesis, chain.block(3), produced.states[3])
    assert resumed.head == chain.header(3)
    assert resumed.apply_block(chain.block(4)) == tuple(chain.receipts(4))
    wrong = {**produced.states[3], b"a" + bytes(20): b"\x01"}
    with pytest.raises(ChainError, match="state_root mismatch"):
        Chain.from_state(MemoryKV(), genesis, chain.block(3), wrong)


# --- the file ---------------------------------------------------------------------------


def items(path: Path) -> tuple[bytes, list[bytes]]:
    """The header item and the record items of an archive."""
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    offset, found = len(MAGIC), []
    while offset < len(data):
        (length,) = LENGTH.unpack_from(data, offset)
        found.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return found[0], found[1:]


def assemble(header: bytes, records: list[bytes], magic: bytes = MAGIC) -> bytes:
    return magic + b"".join(LENGTH.pack(len(item)) + item for item in [header, *records])


def test_the_header_names_the_chain_and_its_rules(exported: Path, genesis: Genesis) -> None:
    with ArchiveReader(exported) as reader:
        header = reader.header
        records = list(reader.records())
    assert (header.first, header.last, header.count) == (1, HEAD, HEAD)
    assert header.chain_id == genesis.chain_id and header.vm_version == VM_VERSION
    assert header.genesis_document == genesis.document
    assert header.genesis_document_hash == hashlib.sha256(genesis.document).digest()
    assert header.gas_schedule_hash == genesis.vm.fingerprint() == recorded_params(genesis.document).fingerprint()
    assert header.genesis_hash == Chain.create(MemoryKV(), genesis).head.hash
    assert header.last_hash == records[-1].block.hash and records[-1].block_hash == header.last_hash
    assert all(record.block_hash is None for record in records[:-1])
    assert [record.block.height for record in records] == list(range(1, HEAD + 1))
    raw_header, raw_records = items(exported)
    assert msgpack.unpackb(raw_header)[0] == 1  # the format version comes first


def test_a_vm_section_of_another_version_is_still_read(genesis: Genesis) -> None:
    document = json.loads(genesis.document)
    document["vm"]["version"] = "wasmtime-0.1/abi-9"
    params = recorded_params(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())
    assert params.version == "wasmtime-0.1/abi-9" and params.gas == genesis.vm.gas
    assert params.fingerprint() != genesis.vm.fingerprint()


def test_export_and_import_give_the_same_chain(
    produced_dir: tuple[DataDir, Produced], exported: Path, tmp_path: Path
) -> None:
    source, produced = produced_dir
    target = DataDir(tmp_path / "imported")
    code, report = cmd_import(target, exported)
    assert code == 0, report
    assert (report["imported"], report["created"], report["head"]["height"]) == (HEAD, True, HEAD)
    with LevelDBKV(source.db, create=False) as a, LevelDBKV(target.db, create=False) as b:
        original, copy = Chain.load(a), Chain.load(b)
        for height in range(HEAD + 1):
            assert copy.block(height).hash == original.block(height).hash
            assert copy.header(height).state_root == original.header(height).state_root
            assert copy.receipts(height) == original.receipts(height)
        assert stored_state(b) == stored_state(a) == produced.states[HEAD]
        assert copy.state_changes(1, HEAD) == produced.changes


def test_import_in_two_files_continues_a_matching_chain(produced_dir: tuple[DataDir, Produced], tmp_path: Path) -> None:
    source, produced = produced_dir
    assert cmd_export(source, tmp_path / "a", None, 3)[0] == 0
    assert cmd_export(source, tmp_path / "b", 4, None)[0] == 0
    target = DataDir(tmp_path / "imported")
    with pytest.raises(Refused, match="a fresh data directory needs the blocks from 1"):
        cmd_import(target, tmp_path / "b")
    assert not target.path.exists()
    assert cmd_import(target, tmp_path / "a")[1]["head"]["height"] == 3
    with pytest.raises(Refused, match="the data directory's head is block 3; .* start at 1, so the head must be 0"):
        cmd_import(target, tmp_path / "a")
    code, report = cmd_import(target, tmp_path / "b")
    assert (code, report["imported"], report["created"], report["head"]["height"]) == (0, HEAD - 3, False, HEAD)
    with LevelDBKV(target.db, create=False) as kv:
        assert stored_state(kv) == produced.states[HEAD]


def test_import_refuses_another_chain(exported: Path, tmp_path: Path, genesis: Genesis) -> None:
    other = dataclasses.replace(genesis, genesis_time=genesis.genesis_time + 1)
    target = DataDir(tmp_path / "other")
    with LevelDBKV(target.db, create=True) as kv:
        Chain.create(kv, other)
    with pytest.raises(Refused, match="the data directory holds another chain") as refused:
        cmd_import(target, exported)
    assert refused.value.reason == "replay_refused"


def test_an_empty_export(tmp_path: Path, genesis: Genesis) -> None:
    data = DataDir(tmp_path / "empty")
    with LevelDBKV(data.db, create=True) as kv:
        Chain.create(kv, genesis)
    code, report = cmd_export(data, tmp_path / "none", None, None)
    assert (code, report["blocks"], report["from"], report["to"]) == (0, 0, 1, 0)
    with ArchiveReader(tmp_path / "none") as reader:
        assert list(reader.records()) == []


def test_export_refuses_a_range_outside_the_chain(produced_dir: tuple[DataDir, Produced], tmp_path: Path) -> None:
    data = produced_dir[0]
    for first, last, message in (
        (0, None, "--from must be at least 1"),
        (None, HEAD + 1, "after the head"),
        (5, 4, "--from 5 is after --to 4"),
    ):
        with pytest.raises(ChainError, match=message):
            cmd_export(data, tmp_path / "x", first, last)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_export_writes_through_a_temporary_file(
    produced_dir: tuple[DataDir, Produced], tmp_path: Path, genesis: Genesis
) -> None:
    class Boom(Exception):
        pass

    def explode(blocks: int, transactions: int) -> None:
        if blocks == 3:
            raise Boom

    with LevelDBKV(produced_dir[0].db, create=False) as kv:
        with pytest.raises(Boom):
            write_archive(tmp_path / "out", Chain.load(kv), 1, HEAD, explode)
    assert list(tmp_path.iterdir()) == []


# --- reading strictly -------------------------------------------------------------------------


def read_all(path: Path) -> None:
    with ArchiveReader(path) as reader:
        list(reader.records())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_truncated_file_names_the_record_and_the_offset(
    exported: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    whole = exported.read_bytes()
    cut = data.draw(st.integers(0, len(whole) - 1), label="cut")
    path = tmp_path_factory.mktemp("cut") / "cut.blocks"
    path.write_bytes(whole[:cut])
    header, records = items(exported)
    with pytest.raises(ArchiveError) as caught:
        read_all(path)
    message = str(caught.value)
    if cut < len(MAGIC):
        assert "is not a wasmchain block archive" in message
        return
    assert "truncated" in message
    starts = [len(MAGIC) + 4 + len(header)]
    for record in records:
        starts.append(starts[-1] + 4 + len(record))
    if cut < starts[0]:
        assert "the header" in message
        return
    index = max(i for i, start in enumerate(starts) if start <= cut)
    assert f"record {index} (block {index + 1}, byte offset {starts[index]})" in message


def test_damaged_files_are_refused_with_the_reason(exported: Path, tmp_path: Path) -> None:
    header, records = items(exported)
    fields = msgpack.unpackb(header)
    record = msgpack.unpackb(records[2])

    def pack(value: Any) -> bytes:
        return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]

    def header_with(index: int, value: Any) -> bytes:
        return pack([*fields[:index], value, *fields[index + 1 :]])

    busy = msgpack.unpackb(records[1])  # block 2 changes many keys
    reversed_changes = [*busy[:2], list(reversed(busy[2]))]
    cases = {
        "not a wasmchain block archive": assemble(header, records, magic=b"wasmchain-block\n\n"),
        "format version 2: this node reads version 1": assemble(header_with(0, 2), records),
        "the header has 9 fields, expected 10": assemble(pack(fields[:9]), records),
        "header fields have the wrong types": assemble(header_with(2, "hash"), records),
        "not a range of blocks from 1": assemble(header_with(7, 0), records),
        "not canonical JSON": assemble(header_with(6, fields[6] + b" "), records),
        "not in canonical form": assemble(header, [*records[:1], b"\xdc\x00\x03" + records[1][1:], *records[2:]]),
        "record 2 (block 3, byte offset": assemble(header, [*records[:2], pack([record[0], record[1]]), *records[3:]]),
        "keys must be sorted and unique": assemble(header, [records[0], pack(reversed_changes), *records[2:]]),
        "unexpected byte(s) after the last record (block 7)": assemble(header, records) + b"\x00",
        "is missing; the header promises blocks 1..7": assemble(header, records[:-1]),
        "a block is [header, transactions]": assemble(
            header, [*records[:2], pack([b"\x90", *record[1:]]), *records[3:]]
        ),
    }
    for expected, content in cases.items():
        path = tmp_path / "damaged"
        path.write_bytes(content)
        with pytest.raises(ArchiveError) as caught:
            read_all(path)
        assert expected in str(caught.value), (expected, str(caught.value))


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="cannot read") as caught:
        ArchiveReader(tmp_path / "nothing")
    assert caught.value.reason == "archive_error"


def test_the_header_round_trips(genesis: Genesis) -> None:
    chain = Chain.create(MemoryKV(), genesis)
    header = header_for(chain, 1, 0)
    assert type(header).from_canonical(header.fields()) == header
