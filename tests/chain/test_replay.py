"""Replay: a faithful record matches, and each kind of tampering is found at its block, by the right check."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chain.test_archive import HEAD, Produced, assemble, items, produce
from wasmchain.cli.commands import cmd_export
from wasmchain.cli.render import describe_report
from wasmchain.history import replay
from wasmchain.history.archive import MAGIC, ArchiveReader, Record, encode_changes
from wasmchain.history.divergence import describe_key, first_receipt_difference
from wasmchain.history.replay import (
    MEMORY_STORE_BLOCKS,
    Divergence,
    ReplayResult,
    check_block,
    fresh_store,
    prefetch_signatures,
    replay_archive,
    replay_database,
)
from wasmchain.node.datadir import DataDir
from wasmchain.protocol.blocks import Block, Receipt, decode_receipts, encode_receipts, merkle_root
from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.state import account_key, code_key, storage_key
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.store import schema, signatures
from wasmchain.store.chain import Chain
from wasmchain.store.kv import LevelDBKV, MemoryKV
from wasmchain.store.signatures import SignatureWorkers


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


class Tamper:
    """An exported file taken apart into its header and records, to change and write back."""

    def __init__(self, path: Path) -> None:
        self.header, self.records = items(path)

    def record(self, height: int) -> list[Any]:
        return msgpack.unpackb(self.records[height - 1])  # type: ignore[no-any-return]

    def set_record(
        self,
        height: int,
        block: Block | None = None,
        receipts: list[Receipt] | None = None,
        changes: dict[bytes, bytes | None] | None = None,
    ) -> None:
        old = self.record(height)
        self.records[height - 1] = pack(
            [
                old[0] if block is None else block.encode(),
                old[1] if receipts is None else encode_receipts(receipts),
                old[2] if changes is None else encode_changes(changes),
            ]
        )

    def block(self, height: int) -> Block:
        return Block.decode(self.record(height)[0])

    def receipts(self, height: int) -> list[Receipt]:
        return decode_receipts(self.record(height)[1])

    def changes(self, height: int) -> dict[bytes, bytes | None]:
        return {entry[0]: entry[1] if len(entry) == 2 else None for entry in self.record(height)[2]}

    def genesis_document(self) -> dict[str, Any]:
        return json.loads(msgpack.unpackb(self.header)[6])  # type: ignore[no-any-return]

    def set_genesis_document(self, document: dict[str, Any]) -> None:
        fields = msgpack.unpackb(self.header)
        fields[6] = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        self.header = pack(fields)

    def set_header_field(self, index: int, value: Any) -> None:
        fields = msgpack.unpackb(self.header)
        fields[index] = value
        self.header = pack(fields)

    def write(self, path: Path) -> Path:
        path.write_bytes(assemble(self.header, self.records))
        return path


def diverged(result: ReplayResult) -> Divergence:
    assert result.status == "diverged", result.to_json()
    assert result.divergence is not None and result.exit_code == 1
    json.dumps(result.to_json())  # the report is JSON as it is
    return result.divergence


# --- a faithful record matches ---------------------------------------------------------------


def test_an_exported_chain_replays_to_a_match(exported: Path) -> None:
    result = replay_archive(exported)
    assert result.to_json() | {"seconds": 0, "tx_per_second": 0} == {
        "status": "match",
        "source": str(exported),
        "blocks": HEAD,
        "transactions": 17,
        "from": 1,
        "to": HEAD,
        "seconds": 0,
        "tx_per_second": 0,
        "divergence": None,
        "error": None,
        "warnings": [],
    }
    assert "match: 7 blocks, 17 transactions" in describe_report(result.to_json())


def test_a_data_directory_replays_to_a_match(produced_dir: tuple[DataDir, Produced]) -> None:
    with LevelDBKV(produced_dir[0].db, create=False) as kv:
        result = replay_database(kv)
    assert (result.status, result.blocks, result.first, result.last) == ("match", HEAD, 1, HEAD)


def test_a_temporary_leveldb_store_replays_the_same(exported: Path) -> None:
    assert replay_archive(exported, store="leveldb").status == "match"


def test_the_store_for_a_long_chain_is_a_temporary_leveldb() -> None:
    with ExitStack() as stack:
        assert isinstance(fresh_store(stack, "auto", MEMORY_STORE_BLOCKS), MemoryKV)
        store = fresh_store(stack, "auto", MEMORY_STORE_BLOCKS + 1)
        assert isinstance(store, LevelDBKV)
        directory = store.path.parent
        assert directory.exists()
    assert not directory.exists()


@pytest.mark.parametrize("start", [1, 2, 3, 6, HEAD])
def test_replay_from_a_verified_state(produced_dir: tuple[DataDir, Produced], start: int) -> None:
    with LevelDBKV(produced_dir[0].db, create=False) as kv:
        result = replay_database(kv, start=start)
    assert (result.status, result.blocks, result.first, result.last) == ("match", HEAD - start, start + 1, HEAD)


def test_replay_up_to_a_block(produced_dir: tuple[DataDir, Produced], exported: Path) -> None:
    with LevelDBKV(produced_dir[0].db, create=False) as kv:
        result = replay_database(kv, start=2, to=5)
    assert (result.status, result.blocks, result.first, result.last) == ("match", 3, 3, 5)
    result = replay_archive(exported, to=4)
    assert (result.status, result.blocks, result.last) == ("match", 4, 4)


def test_ranges_outside_the_source_are_refused(produced_dir: tuple[DataDir, Produced], exported: Path) -> None:
    with LevelDBKV(produced_dir[0].db, create=False) as kv:
        result = replay_database(kv, start=5, to=4)
    assert result.status == "refused" and result.exit_code == 2 and "--from must not be after --to" in str(result.error)
    result = replay_archive(exported, to=HEAD + 1)
    assert result.status == "refused" and "outside the file's blocks 1..7" in str(result.error)


def test_a_file_that_does_not_start_at_block_1_is_refused(
    produced_dir: tuple[DataDir, Produced], tmp_path: Path
) -> None:
    cmd_export(produced_dir[0], tmp_path / "later", 3, None)
    result = replay_archive(tmp_path / "later")
    assert result.status == "refused" and "the file starts at block 3" in str(result.error)


# --- tampering with the file ----------------------------------------------------------------


def test_a_tampered_signature_is_named_by_block_and_transaction(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    block = tamper.block(2)
    transactions = list(block.transactions)
    signature = bytearray(transactions[3].signature)
    signature[5] ^= 0x01
    transactions[3] = SignedTransaction(transactions[3].tx, bytes(signature))
    tamper.set_record(2, block=dataclasses.replace(block, transactions=tuple(transactions)))
    divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
    assert (divergence.height, divergence.check, divergence.tx_index) == (2, "tx_root", 3)
    assert set(divergence.receipt) == {"tx_hash"}
    assert "its signature is not valid" in divergence.message


def test_a_tampered_signature_under_a_fixed_tx_root_is_an_invalid_receipt(exported: Path, tmp_path: Path) -> None:
    """A forger who also fixes the tx root changes the block hash, but the signature check still catches it."""
    tamper = Tamper(exported)
    block = tamper.block(HEAD)
    [signed] = block.transactions
    forged = SignedTransaction(signed.tx, bytes(64))
    header = dataclasses.replace(block.header, tx_root=merkle_root([forged.hash]))
    receipts = tamper.receipts(HEAD)
    tamper.set_record(
        HEAD, block=Block(header, (forged,)), receipts=[dataclasses.replace(receipts[0], tx_hash=forged.hash)]
    )
    divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
    assert (divergence.height, divergence.check, divergence.tx_index) == (HEAD, "receipts", 0)
    assert divergence.receipt["status"] == {"recorded": "ok", "replayed": "invalid"}
    assert "bad signature" in divergence.receipt["error"]["replayed"]


def test_a_changed_receipt_is_named_with_its_fields(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    receipts = tamper.receipts(2)
    receipts[4] = dataclasses.replace(receipts[4], gas_used=receipts[4].gas_used + 1, return_data=b"\x01")
    tamper.set_record(2, receipts=receipts)
    divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
    assert (divergence.height, divergence.check, divergence.tx_index) == (2, "receipts", 4)
    assert set(divergence.receipt) == {"gas_used", "return_data"}
    assert divergence.receipt["return_data"] == {"recorded": "0x01", "replayed": "0x"}
    assert divergence.state == () and "they were altered" in divergence.message


def test_a_changed_state_change_is_named_by_its_key(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    changes = tamper.changes(2)
    key = next(key for key in changes if key.startswith(b"s"))
    true_value = changes[key]
    changes[key] = b"\x07"
    tamper.set_record(2, changes=changes)
    divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
    assert (divergence.height, divergence.check, divergence.tx_index) == (2, "state_changes", None)
    [diff] = divergence.state
    assert (diff.key, diff.recorded, diff.replayed) == (key, b"\x07", true_value)
    assert diff.to_json()["what"].startswith(f"storage of contract 0x{key[1:21].hex()}, key 0x")


def test_reordered_records_are_found_at_the_first_out_of_place(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    tamper.records[3], tamper.records[4] = tamper.records[4], tamper.records[3]
    divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
    assert (divergence.height, divergence.check, divergence.recorded, divergence.replayed) == (4, "height", 5, 4)


def test_a_flipped_state_root_in_a_header(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    block = tamper.block(HEAD)
    root = bytes([block.header.state_root[0] ^ 1]) + block.header.state_root[1:]
    tamper.set_record(HEAD, block=dataclasses.replace(block, header=dataclasses.replace(block.header, state_root=root)))
    divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
    assert (divergence.height, divergence.check, divergence.recorded) == (HEAD, "state_root", "0x" + root.hex())
    assert divergence.state == ()  # the recorded changes agree with the replay: the root is what was altered


def test_another_gas_schedule_is_refused_unless_allowed(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    document = tamper.genesis_document()
    document["vm"]["gas"]["tx_byte"] += 1
    tamper.set_genesis_document(document)
    path = tamper.write(tmp_path / "t")
    refused = replay_archive(path)
    assert (refused.status, refused.exit_code, refused.blocks) == ("refused", 2, 0)
    assert "another gas schedule" in str(refused.error) and "--allow-version-mismatch" in str(refused.error)
    result = replay_archive(path, allow_version_mismatch=True)
    divergence = diverged(result)
    assert len(result.warnings) == 2  # the document is not the one exported, and its gas schedule differs
    assert (divergence.height, divergence.check, divergence.tx_index) == (1, "receipts", 0)
    assert set(divergence.receipt) == {"gas_used"}
    # The deployer paid another fee: its account is among the keys that differ.
    deployer = Tamper(exported).block(1).transactions[0].tx.sender
    assert account_key(deployer) in {diff.key for diff in divergence.state}


def test_another_vm_version_is_refused_unless_allowed(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    tamper.set_header_field(4, "wasmtime-49.0.0/abi-1")
    path = tamper.write(tmp_path / "t")
    refused = replay_archive(path)
    assert refused.status == "refused"
    assert (
        "exported by VM 'wasmtime-49.0.0/abi-1'; this node runs 'wasmtime-50.0.1/abi-1' or 'wasmtime-50.0.1/abi-1.1' "
        "or 'wasmtime-50.0.1/abi-1.2' or 'wasmtime-50.0.1/abi-2'" in str(refused.error)
    )
    assert replay_archive(path, allow_version_mismatch=True).status == "match"


def test_a_genesis_under_another_vm_version_replays_when_allowed(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    document = tamper.genesis_document()
    document["vm"]["version"] = "wasmtime-49.0.0/abi-1"
    tamper.set_genesis_document(document)
    path = tamper.write(tmp_path / "t")
    assert "the genesis names VM 'wasmtime-49.0.0/abi-1'" in str(replay_archive(path).error)
    assert replay_archive(path, allow_version_mismatch=True).status == "match"


def test_a_genesis_with_other_accounts_diverges_at_block_0(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    document = tamper.genesis_document()
    document["accounts"][0]["balance"] += 1
    tamper.set_genesis_document(document)
    result = replay_archive(tamper.write(tmp_path / "t"), allow_version_mismatch=True)
    divergence = diverged(result)
    assert (divergence.height, divergence.check) == (0, "genesis_hash")


def test_a_damaged_file_midway_is_refused_after_the_blocks_before(exported: Path, tmp_path: Path) -> None:
    tamper = Tamper(exported)
    tamper.records[4] = b"\xc1" + tamper.records[4][1:]  # never valid msgpack
    result = replay_archive(tamper.write(tmp_path / "t"))
    assert (result.status, result.blocks) == ("refused", 4)
    assert "record 4 (block 5, byte offset" in str(result.error)
    # A block before the damage that diverges is the finding, though the damaged record was read ahead.
    tamper.set_record(2, receipts=[dataclasses.replace(r, error="x") for r in tamper.receipts(2)])
    divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
    assert (divergence.height, divergence.check, divergence.tx_index) == (2, "receipts", 0)


# --- tampering with the database ---------------------------------------------------------------


@pytest.fixture
def copied(produced_dir: tuple[DataDir, Produced], tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "copy")
    shutil.copytree(produced_dir[0].path, data.path)
    return data


def change(data: DataDir, edit: Callable[[LevelDBKV], None]) -> None:
    with LevelDBKV(data.db, create=False) as kv:
        edit(kv)


def token_code_key(data: DataDir) -> bytes:
    with LevelDBKV(data.db, create=False) as kv:
        deploy = Chain.load(kv).block(1).transactions[0]
    return code_key(hashlib.sha256(deploy.tx.code).digest())


def test_a_changed_byte_of_stored_code_is_found_in_the_stored_state(copied: DataDir) -> None:
    key = token_code_key(copied)

    def flip(kv: LevelDBKV) -> None:
        code = bytearray(kv.get(b"S" + key) or b"")
        code[100] ^= 0x01
        kv.write({b"S" + key: bytes(code)})

    change(copied, flip)
    with LevelDBKV(copied.db, create=False) as kv:
        divergence = diverged(replay_database(kv))
        assert (divergence.height, divergence.check) == (HEAD, "stored_state")
        [diff] = divergence.state
        assert diff.key == key and diff.to_json()["what"] == f"code 0x{key[1:].hex()}"
        assert diff.recorded is not None and diff.replayed is not None and diff.recorded[100] != diff.replayed[100]
        # From a later height, the rebuilt state at that height no longer has its header's root.
        divergence = diverged(replay_database(kv, start=4))
        assert (divergence.height, divergence.check) == (4, "start_state")
        [diff] = divergence.state
        assert diff.key == key and diff.to_json()["what"].startswith("(value hashes) code 0x")


def test_a_changed_receipt_in_the_database(copied: DataDir) -> None:
    def edit(kv: LevelDBKV) -> None:
        key = b"R" + (5).to_bytes(8, "big")
        receipts = decode_receipts(kv.get(key) or b"")
        receipts[0] = dataclasses.replace(receipts[0], status="trap", error="boom")
        kv.write({key: encode_receipts(receipts)})

    change(copied, edit)
    with LevelDBKV(copied.db, create=False) as kv:
        divergence = diverged(replay_database(kv))
    assert (divergence.height, divergence.check, divergence.tx_index) == (5, "receipts", 0)
    assert set(divergence.receipt) == {"status", "error"}


def test_another_gas_schedule_in_the_database_names_the_keys(copied: DataDir) -> None:
    def edit(kv: LevelDBKV) -> None:
        document = json.loads(kv.get(schema.genesis_key()) or b"")
        document["vm"]["gas"]["tx_base"] += 7
        kv.write({schema.genesis_key(): json.dumps(document, sort_keys=True, separators=(",", ":")).encode()})

    change(copied, edit)
    with LevelDBKV(copied.db, create=False) as kv:
        # Block 0 commits to the genesis document (issue 12): an edited one is refused, and replayed when allowed.
        assert "not the one block 0 commits to" in str(replay_database(kv).error)
        divergence = diverged(replay_database(kv, allow_version_mismatch=True))
        deployer = Chain.load(kv).block(1).transactions[0].tx.sender
    assert (divergence.height, divergence.check, divergence.tx_index) == (1, "receipts", 0)
    assert divergence.receipt["gas_used"]["replayed"] == divergence.receipt["gas_used"]["recorded"] + 7
    # The recorded values come from the undo records, with no archive.
    [diff] = [diff for diff in divergence.state if diff.key == account_key(deployer)]
    assert diff.recorded is not None and diff.replayed is not None


def test_another_vm_version_in_the_database_is_refused(copied: DataDir) -> None:
    def edit(kv: LevelDBKV) -> None:
        document = json.loads(kv.get(schema.genesis_key()) or b"")
        document["vm"]["version"] = "wasmtime-49.0.0/abi-1"
        kv.write({schema.genesis_key(): json.dumps(document, sort_keys=True, separators=(",", ":")).encode()})

    change(copied, edit)
    with LevelDBKV(copied.db, create=False) as kv:
        refused = replay_database(kv)
        assert refused.status == "refused"
        assert "the chain's genesis names VM 'wasmtime-49.0.0/abi-1'" in str(refused.error)
        assert replay_database(kv, allow_version_mismatch=True).status == "match"


# --- the parts ------------------------------------------------------------------------------------


def test_check_block_is_apply_block_with_names(genesis: Genesis) -> None:
    recorded = Chain.create(MemoryKV(), genesis)
    produce(recorded)
    chain = Chain.create(MemoryKV(), genesis)
    for height in range(1, HEAD + 1):
        record = Record(recorded.block(height), tuple(recorded.receipts(height)), None)
        pending = check_block(chain, record)
        assert not isinstance(pending, Divergence)
        chain.commit(pending)
    assert chain.head == recorded.head


class RecordingWorkers:
    """Stands in for ``SignatureWorkers``: records what it is handed, and marks it as being verified."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []

    def check_ahead(self, batch: list[SignedTransaction]) -> int:
        self.batches.append([signed.hash for signed in batch])
        for signed in batch:
            signed.expect_signature_verdict(lambda: True)
        return len(batch)


def test_read_ahead_blocks_go_to_the_workers_in_batches_and_records_keep_their_order(exported: Path) -> None:
    workers = RecordingWorkers()
    seen = []
    with ArchiveReader(exported) as reader:
        for record in prefetch_signatures(reader.records(), workers, depth=2):  # type: ignore[arg-type]
            # Every transaction of a record is handed over before the record comes out.
            handed = {tx_hash for batch in workers.batches for tx_hash in batch}
            assert all(signed.hash in handed for signed in record.block.transactions)
            seen.append(record.block)
    assert [block.height for block in seen] == list(range(1, HEAD + 1))
    everything = [signed.hash for block in seen for signed in block.transactions]
    assert [tx_hash for batch in workers.batches for tx_hash in batch] == everything  # each once, in order
    with_transactions = sum(1 for block in seen if block.transactions)
    assert len(workers.batches) < with_transactions  # small blocks are gathered into larger batches


def test_read_ahead_signatures_are_verified_by_worker_processes(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signatures, "MIN_TRANSACTIONS", 1)
    monkeypatch.setattr(replay, "MIN_TRANSACTIONS", 1)
    workers = SignatureWorkers(1)
    try:
        with ArchiveReader(exported) as reader:
            for record in prefetch_signatures(reader.records(), workers, depth=2):
                for signed in record.block.transactions:
                    assert signed.signature_known()  # handed to the worker before the record came out
                    assert signed.signature_valid()
        assert all(worker.alive for worker in workers._pool) and workers._pool
    finally:
        workers.close()


def test_keys_read_for_humans() -> None:
    contract = bytes(range(20))
    assert describe_key(account_key(contract)) == "account 0x" + contract.hex()
    assert describe_key(code_key(bytes(32))) == "code 0x" + "00" * 32
    assert describe_key(storage_key(contract, b"total")) == (
        f'storage of contract 0x{contract.hex()}, key 0x746f74616c "total"'
    )
    assert describe_key(storage_key(contract, b"\x00\x01")) == f"storage of contract 0x{contract.hex()}, key 0x0001"
    assert describe_key(b"zz") == "unknown state key"


def test_a_missing_receipt_differs_in_every_field() -> None:
    receipt = Receipt(bytes(32), "ok", 5)
    missing = first_receipt_difference([receipt], [])
    assert missing is not None and missing.index == 0
    assert set(missing.to_json()) == {
        "tx_hash",
        "status",
        "gas_used",
        "return_data",
        "events",
        "error",
        "contract_address",
    }
    assert first_receipt_difference([receipt], [receipt]) is None


def test_a_changed_timestamp_of_the_last_block_is_found_by_its_hash(exported: Path, tmp_path: Path) -> None:
    """Execution need not read the timestamp; the next header commits to it, and for the last block, the file's."""
    for height, expected in ((HEAD - 1, (HEAD, "parent_hash")), (HEAD, (HEAD, "block_hash"))):
        tamper = Tamper(exported)
        block = tamper.block(height)
        header = dataclasses.replace(block.header, timestamp=block.header.timestamp + 1)
        tamper.set_record(height, block=dataclasses.replace(block, header=header))
        divergence = diverged(replay_archive(tamper.write(tmp_path / "t")))
        assert (divergence.height, divergence.check) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_is_found(
    exported: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Every byte of a file is checked: a flip is refused, or diverges at the block it is in (or the next)."""
    header, records = items(exported)
    starts = [len(MAGIC) + 4 + len(header)]
    for record in records:
        starts.append(starts[-1] + 4 + len(record))
    region = data.draw(st.integers(-1, len(records) - 1), label="record (-1: the magic and header)")
    low, high = (0, starts[0]) if region < 0 else (starts[region], starts[region + 1])
    position = data.draw(st.integers(low, high - 1), label="position")
    bit = data.draw(st.integers(0, 7), label="bit")
    content = bytearray(exported.read_bytes())
    content[position] ^= 1 << bit
    path = tmp_path_factory.mktemp("flip") / "flipped.blocks"
    path.write_bytes(bytes(content))
    result = replay_archive(path)
    assert result.status != "match", (region, position, bit)
    if result.status == "diverged" and region >= 0:
        assert result.divergence is not None and result.divergence.height in (region + 1, region + 2)
