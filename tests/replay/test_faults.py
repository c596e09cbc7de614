"""Fault injection: each kind of damage is found at exactly the block it was made in, with the right report.

One chain is produced and exported once (``recorded``); each test copies
the file (or the data directory), damages it in one known way, runs
``wasmchain replay ... --json`` in a fresh process with its own hash seed,
and checks the report against what it damaged: the height, the check, the
transaction, the receipt fields and the state keys.  Every expected value
comes from the producer's own record and from the damage done (with the
file read and rewritten by ``archive_file.py``, not by ``chain.archive``),
never from running the replay code.

The chain: a prelude whose first block that runs contract code is known
(a transfer block, an empty block, a deploy without init, a balance
override, then two transfers and a counter call), the generator's setup
and coverage blocks, and two trailing transfer blocks.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.keys import dev_key
from wasmchain.protocol.transactions import SignedTransaction, TxKind
from wasmchain.store.kv import LevelDBKV

from .archive_file import (
    B_HEADER,
    B_TRANSACTIONS,
    H_GENESIS_DOCUMENT,
    H_GENESIS_DOCUMENT_HASH,
    H_LAST_HASH,
    H_VM_VERSION,
    HEADER_FIELDS,
    LENGTH,
    TX_FIELDS,
    TX_SIGNATURE,
    ArchiveFile,
    merkle_root,
    pack,
    sha256,
    unpack,
)
from .chains import (
    CODE,
    CODE_HASH,
    COVERAGE,
    EXTRA,
    NO_ARGS,
    SETUP,
    CallPlan,
    DeployPlan,
    Gas,
    OverridePlan,
    Production,
    Target,
    TransferPlan,
    TxBlockPlan,
    produce,
)
from .conftest import Run, run_wasmchain

_dev = [Target("account", index) for index in range(5)]
PRELUDE = (
    TxBlockPlan((TransferPlan(0, _dev[1], 10), TransferPlan(1, _dev[2], 20))),
    TxBlockPlan(()),
    TxBlockPlan((DeployPlan(1, "counter", "none", NO_ARGS, Gas()),)),  # stores code, runs none
    OverridePlan(_dev[3], 10**21),
    TxBlockPlan(
        (
            TransferPlan(2, _dev[0], 1),
            TransferPlan(3, _dev[0], 2),
            CallPlan(1, Target("counter", 0), "increment", {}, Gas()),
        )
    ),
)
TRAILER = (TxBlockPlan((TransferPlan(0, _dev[1], 3),)), TxBlockPlan((TransferPlan(1, _dev[0], 4),)))
PLAN = PRELUDE + SETUP + COVERAGE + TRAILER

_seeds = itertools.count(100_003, 7_919)
"""A different ``PYTHONHASHSEED`` for every process these tests start."""


@dataclass(frozen=True)
class Recorded:
    production: Production
    archive: Path
    """The export of the whole chain, as written; tests copy it before damaging it."""

    @property
    def head(self) -> int:
        return self.production.head.height

    def file(self) -> ArchiveFile:
        return ArchiveFile.read(self.archive)


@pytest.fixture(scope="module")
def recorded(genesis: Genesis, module_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    work = tmp_path_factory.mktemp("faults")
    production = produce(PLAN, work / "data", genesis, module_cache)
    assert len(production.blocks) == len(PLAN) and production.rejected == 0 and production.skipped == 0
    archive = work / "pristine.wcb"
    done = run_wasmchain("export", "--data", production.data_dir, "--out", archive, hash_seed=next(_seeds), cwd=work)
    assert done.returncode == 0, done.describe()
    return Recorded(production, archive)


def replay(*args: str | Path, cwd: Path) -> tuple[Run, dict[str, Any]]:
    done = run_wasmchain("replay", *args, "--json", hash_seed=next(_seeds), cwd=cwd)
    report: dict[str, Any] = done.json()
    return done, report


def replay_file(archive: ArchiveFile, tmp_path: Path, *options: str) -> tuple[Run, dict[str, Any]]:
    path = tmp_path / "damaged.wcb"
    archive.write(path)
    return replay(path, *options, cwd=tmp_path)


def diverged(done: Run, report: dict[str, Any], height: int, check: str) -> dict[str, Any]:
    """The divergence, checked to be at ``height`` by ``check``, with every block before it matched."""
    assert (done.returncode, report["status"]) == (1, "diverged"), done.describe()
    divergence: dict[str, Any] = report["divergence"]
    assert (divergence["height"], divergence["check"]) == (height, check), done.describe()
    assert report["blocks"] == height - 1, done.describe()
    return divergence


def refused(done: Run, report: dict[str, Any]) -> str:
    assert (done.returncode, report["status"]) == (2, "refused"), done.describe()
    assert report["divergence"] is None
    error: str = report["error"]
    return error


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def account_key(address: bytes) -> str:
    return hex0x(b"a" + address)


def token_balance_key(token: bytes, owner: bytes) -> str:
    """The token's balance entry of ``owner`` (contracts/token/README.md) as a state key (chain/state.py)."""
    return hex0x(b"s" + token + b"b" + owner)


def find_tx(production: Production, wanted: Any) -> tuple[int, int, SignedTransaction]:
    """The first transaction for which ``wanted(signed, receipt)`` holds: its height, index and itself."""
    for produced in production.blocks:
        for index, (signed, receipt) in enumerate(zip(produced.block.transactions, produced.receipts)):
            if wanted(signed, receipt):
                return produced.block.height, index, signed
    raise AssertionError("the recorded chain has no such transaction")


def record_index(archive: ArchiveFile, height: int) -> int:
    index = height - 1
    assert archive.height_of(index) == height
    return index


# --- the baseline ------------------------------------------------------------------------------


def test_the_undamaged_file_and_data_directory_replay_to_a_match(recorded: Recorded, tmp_path: Path) -> None:
    done, report = replay(recorded.archive, cwd=tmp_path)
    assert (done.returncode, report["status"], report["blocks"]) == (0, "match", recorded.head), done.describe()
    data = tmp_path / "data"
    shutil.copytree(recorded.production.data_dir, data)
    done, report = replay("--data", data, cwd=tmp_path)
    assert (done.returncode, report["status"], report["blocks"]) == (0, "match", recorded.head), done.describe()
    assert report["transactions"] == recorded.production.transactions


# --- a tampered transaction ------------------------------------------------------------------


def test_a_flipped_signature_byte_is_found_by_the_tx_root_naming_the_transaction(
    recorded: Recorded, tmp_path: Path
) -> None:
    height, index, signed = find_tx(recorded.production, lambda signed, receipt: signed.tx.kind is TxKind.CALL)
    assert index > 0  # a transaction after others in its block
    archive = recorded.file()
    record = record_index(archive, height)
    archive.flip_in_block(record, signed.signature, position=17)
    tampered = archive.block(record)[B_TRANSACTIONS][index]
    assert tampered[TX_FIELDS] == unpack(pack(tampered))[TX_FIELDS] and tampered[TX_SIGNATURE] != signed.signature

    divergence = diverged(*replay_file(archive, tmp_path), height, "tx_root")
    assert divergence["tx_index"] == index
    assert divergence["receipt"] == {
        "tx_hash": {"recorded": hex0x(signed.hash), "replayed": hex0x(sha256(pack(tampered)))}
    }
    assert "signature is not valid" in divergence["message"]


def test_a_flipped_byte_in_call_arguments_is_found_by_the_tx_root(recorded: Recorded, tmp_path: Path) -> None:
    recipient = dev_key(3).address
    height, index, signed = find_tx(
        recorded.production,
        lambda signed, receipt: (
            signed.tx.method == "transfer" and signed.tx.args == pack({"to": recipient, "amount": 10**6})
        ),
    )
    archive = recorded.file()
    record = record_index(archive, height)
    archive.flip_in_block(record, recipient, position=7)  # the recipient inside the msgpack args

    divergence = diverged(*replay_file(archive, tmp_path), height, "tx_root")
    assert divergence["tx_index"] == index
    assert divergence["receipt"]["tx_hash"]["recorded"] == hex0x(signed.hash)
    assert "signature is not valid" in divergence["message"]


def test_a_validly_re_signed_transaction_under_a_matching_tx_root_is_found_by_its_receipt_and_state(
    recorded: Recorded, tmp_path: Path
) -> None:
    """The strongest forgery a file allows: other arguments, signed by the sender's own key, and a header whose
    tx_root commits to them.  Only executing the block shows that its outcome is not the recorded one."""
    sender, recipient, other = dev_key(0), dev_key(3).address, EXTRA.address
    height, index, signed = find_tx(
        recorded.production,
        lambda signed, receipt: (
            signed.tx.method == "transfer" and signed.tx.args == pack({"to": recipient, "amount": 10**6})
        ),
    )
    assert signed.tx.public_key == sender.public_key
    forged = dataclasses.replace(signed.tx, args=pack({"to": other, "amount": 10**6})).sign(sender)
    archive = recorded.file()
    record = record_index(archive, height)
    block = archive.block(record)
    block[B_TRANSACTIONS][index] = [forged.tx.fields(), forged.signature]
    block[B_HEADER][HEADER_FIELDS.index("tx_root")] = merkle_root([sha256(pack(tx)) for tx in block[B_TRANSACTIONS]])
    archive.replace_block(record, block)

    divergence = diverged(*replay_file(archive, tmp_path), height, "receipts")
    assert divergence["tx_index"] == index
    # Neither recipient held tokens before, so the gas, the status and the return data are the same;
    # the hash differs, and the Transfer event names the other recipient.
    assert set(divergence["receipt"]) == {"tx_hash", "events"}
    assert divergence["receipt"]["tx_hash"] == {"recorded": hex0x(signed.hash), "replayed": hex0x(forged.hash)}
    token = next(contract for contract in recorded.production.contracts if contract.kind == "token")
    assert signed.tx.to == token.address
    amount = hex0x((10**6).to_bytes(8, "little"))
    assert [(entry["key"], entry["recorded"], entry["replayed"]) for entry in divergence["state"]] == sorted(
        [
            (token_balance_key(token.address, recipient), amount, None),
            (token_balance_key(token.address, other), None, amount),
        ]
    )


# --- a changed byte of contract code in the state ---------------------------------------------


def tamper_code(recorded: Recorded, data: Path, kind: str) -> tuple[bytes, bytes]:
    """Copy the producer's data directory to ``data`` and flip one byte of ``kind``'s stored code; the
    original and the damaged code.  Only the state entry changes: the tree and the headers do not."""
    shutil.copytree(recorded.production.data_dir, data)
    key = b"S" + b"c" + CODE_HASH[kind]
    with LevelDBKV(data / "db", create=False) as kv:
        original = kv.get(key)
        assert original == CODE[kind]
        damaged = original[:1000] + bytes([original[1000] ^ 0x40]) + original[1001:]
        kv.write({key: damaged})
    return original, damaged


def test_a_changed_byte_of_contract_code_in_the_state_is_named_by_its_key(recorded: Recorded, tmp_path: Path) -> None:
    """Every block re-executes from its transactions (the deploy carries the code), so every block matches;
    what differs is the database's state at the head, in exactly the code's entry."""
    original, damaged = tamper_code(recorded, tmp_path / "data", "vault")
    done, report = replay("--data", tmp_path / "data", cwd=tmp_path)
    assert (done.returncode, report["status"]) == (1, "diverged"), done.describe()
    divergence = report["divergence"]
    assert (divergence["height"], divergence["check"]) == (recorded.head, "stored_state"), done.describe()
    assert report["blocks"] == recorded.head  # every block matched
    code_key = hex0x(b"c" + CODE_HASH["vault"])
    assert [(entry["key"], entry["recorded"], entry["replayed"]) for entry in divergence["state"]] == [
        (code_key, hex0x(damaged), hex0x(original))
    ]
    assert CODE_HASH["vault"].hex() in divergence["state"][0]["what"]


def test_a_changed_byte_of_contract_code_is_found_when_replaying_from_a_later_height(
    recorded: Recorded, tmp_path: Path
) -> None:
    """From ``--from N`` the state at N is rebuilt from the database and checked against header N's state
    root: the damaged code entry is found there, before any block runs (values shown as their hashes)."""
    original, damaged = tamper_code(recorded, tmp_path / "data", "vault")
    vault = next(contract for contract in recorded.production.contracts if contract.kind == "vault")
    start = vault.height + 1  # the code is in the state from the vault's block on
    done, report = replay("--data", tmp_path / "data", "--from", str(start), cwd=tmp_path)
    assert (done.returncode, report["status"], report["blocks"]) == (1, "diverged", 0), done.describe()
    divergence = report["divergence"]
    assert (divergence["height"], divergence["check"]) == (start, "start_state"), done.describe()
    assert [(entry["key"], entry["recorded"], entry["replayed"]) for entry in divergence["state"]] == [
        (hex0x(b"c" + CODE_HASH["vault"]), hex0x(sha256(original)), hex0x(sha256(damaged)))
    ]


def test_replaying_from_before_the_code_was_stored_still_finds_it_at_the_head(
    recorded: Recorded, tmp_path: Path
) -> None:
    original, damaged = tamper_code(recorded, tmp_path / "data", "vault")
    vault = next(contract for contract in recorded.production.contracts if contract.kind == "vault")
    done, report = replay("--data", tmp_path / "data", "--from", str(vault.height - 1), cwd=tmp_path)
    assert (done.returncode, report["status"]) == (1, "diverged"), done.describe()
    assert report["blocks"] == recorded.head - vault.height + 1
    divergence = report["divergence"]
    assert (divergence["height"], divergence["check"]) == (recorded.head, "stored_state")
    assert [entry["key"] for entry in divergence["state"]] == [hex0x(b"c" + CODE_HASH["vault"])]


# --- another gas schedule, another VM -----------------------------------------------------------


def first_wasm_transaction(production: Production) -> tuple[int, int, SignedTransaction]:
    """The first transaction that ran a contract frame and was charged what it used (``ok`` or ``abort``;
    out of gas and traps are charged their whole limit, whatever the schedule): docs/gas.md."""
    return find_tx(
        production,
        lambda signed, receipt: (
            receipt.status in ("ok", "abort")
            and (signed.tx.kind is TxKind.CALL or (signed.tx.kind is TxKind.DEPLOY and signed.tx.method != ""))
        ),
    )


def with_other_instantiate_cost(recorded: Recorded) -> ArchiveFile:
    """The file with ``vm.gas.instantiate`` one higher in its genesis document (and that document's hash
    updated, so that the gas schedule is the only thing that does not match the header)."""
    archive = recorded.file()
    header = archive.header_fields()
    document = json.loads(header[H_GENESIS_DOCUMENT])
    document["vm"]["gas"]["instantiate"] += 1
    header[H_GENESIS_DOCUMENT] = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    header[H_GENESIS_DOCUMENT_HASH] = sha256(header[H_GENESIS_DOCUMENT])
    archive.replace_header(header)
    return archive


def test_another_gas_schedule_is_refused(recorded: Recorded, tmp_path: Path) -> None:
    done, report = replay_file(with_other_instantiate_cost(recorded), tmp_path)
    error = refused(done, report)
    assert "gas schedule" in error and "--allow-version-mismatch" in error
    assert report["blocks"] == 0


def test_another_gas_schedule_allowed_diverges_at_the_first_contract_call_in_gas_used(
    recorded: Recorded, tmp_path: Path
) -> None:
    height, index, signed = first_wasm_transaction(recorded.production)
    assert (height, index) == (len(PRELUDE), 2)  # the prelude's counter call: no block before runs wasm
    receipt = recorded.production.block(height).receipts[index]
    done, report = replay_file(with_other_instantiate_cost(recorded), tmp_path, "--allow-version-mismatch")
    divergence = diverged(done, report, height, "receipts")
    assert any("gas schedule" in warning for warning in report["warnings"])
    assert divergence["tx_index"] == index
    # One contract frame, one more gas; the sender is refunded one less (gas price 1).
    assert divergence["receipt"] == {"gas_used": {"recorded": receipt.gas_used, "replayed": receipt.gas_used + 1}}
    assert signed.tx.gas_price == 1
    [entry] = divergence["state"]
    assert entry["key"] == account_key(signed.tx.sender)


def test_another_vm_version_is_refused_and_allowed_replays_with_a_warning(recorded: Recorded, tmp_path: Path) -> None:
    archive = recorded.file()
    header = archive.header_fields()
    assert header[H_VM_VERSION].startswith("wasmtime-")
    header[H_VM_VERSION] = "wasmtime-49.0.0/abi-1"
    archive.replace_header(header)
    error = refused(*replay_file(archive, tmp_path))
    assert "wasmtime-49.0.0/abi-1" in error and "--allow-version-mismatch" in error
    done, report = replay_file(archive, tmp_path, "--allow-version-mismatch")
    # This VM computes what the file records (it is, in fact, the same VM): a match, with the warning.
    assert (done.returncode, report["status"], report["blocks"]) == (0, "match", recorded.head), done.describe()
    assert any("wasmtime-49.0.0/abi-1" in warning for warning in report["warnings"])


# --- reordered, dropped, replaced and missing blocks ---------------------------------------------


def test_two_swapped_blocks_are_found_at_the_first_of_them(recorded: Recorded, tmp_path: Path) -> None:
    height = len(PRELUDE) + len(SETUP) + 2
    archive = recorded.file()
    first = record_index(archive, height)
    archive.records[first], archive.records[first + 1] = archive.records[first + 1], archive.records[first]
    # The first check of a header against its parent that fails (chain/transition.py: check_header checks
    # the overrides, the chain id, the height, then the parent hash) is the height.
    divergence = diverged(*replay_file(archive, tmp_path), height, "height")
    assert (divergence["recorded"], divergence["replayed"]) == (height + 1, height)


def test_a_dropped_block_is_found_where_it_is_missing(recorded: Recorded, tmp_path: Path) -> None:
    height = len(PRELUDE) + 3
    archive = recorded.file()
    del archive.records[record_index(archive, height)]
    divergence = diverged(*replay_file(archive, tmp_path), height, "height")
    assert (divergence["recorded"], divergence["replayed"]) == (height + 1, height)


def test_a_block_replaced_by_another_valid_one_is_found_by_the_next_blocks_parent_hash(
    recorded: Recorded, tmp_path: Path
) -> None:
    """A later timestamp makes another valid block (no contract here reads the time): it re-executes to the
    same roots, and the next block, whose parent hash names the original, is where the chain breaks."""
    height = len(PRELUDE) + len(SETUP) + 1
    archive = recorded.file()
    record = record_index(archive, height)
    block = archive.block(record)
    block[B_HEADER][HEADER_FIELDS.index("timestamp")] += 1
    archive.replace_block(record, block)
    divergence = diverged(*replay_file(archive, tmp_path), height + 1, "parent_hash")
    assert divergence["recorded"] == hex0x(recorded.production.block(height).block.hash)
    assert divergence["replayed"] == hex0x(sha256(pack(block[B_HEADER])))


def test_a_changed_timestamp_in_the_last_block_is_found_by_the_hash_the_file_records(
    recorded: Recorded, tmp_path: Path
) -> None:
    """The last block has no next block to name its hash: the file's header does (``last_hash``)."""
    archive = recorded.file()
    record = record_index(archive, recorded.head)
    block = archive.block(record)
    block[B_HEADER][HEADER_FIELDS.index("timestamp")] += 1
    archive.replace_block(record, block)
    divergence = diverged(*replay_file(archive, tmp_path), recorded.head, "block_hash")
    assert divergence["recorded"] == hex0x(recorded.production.head.hash)
    assert divergence["replayed"] == hex0x(sha256(pack(block[B_HEADER])))


def test_a_changed_last_hash_in_the_files_header_is_found_at_the_last_block(recorded: Recorded, tmp_path: Path) -> None:
    archive = recorded.file()
    header = archive.header_fields()
    assert header[H_LAST_HASH] == recorded.production.head.hash
    header[H_LAST_HASH] = header[H_LAST_HASH][:5] + bytes([header[H_LAST_HASH][5] ^ 4]) + header[H_LAST_HASH][6:]
    archive.replace_header(header)
    divergence = diverged(*replay_file(archive, tmp_path), recorded.head, "block_hash")
    assert (divergence["recorded"], divergence["replayed"]) == (
        hex0x(header[H_LAST_HASH]),
        hex0x(recorded.production.head.hash),
    )


def test_a_changed_genesis_document_is_refused_before_any_block(recorded: Recorded, tmp_path: Path) -> None:
    archive = recorded.file()
    header = archive.header_fields()
    document = json.loads(header[H_GENESIS_DOCUMENT])
    document["chain"]["min_gas_price"] = 2
    header[H_GENESIS_DOCUMENT] = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    archive.replace_header(header)
    error = refused(*replay_file(archive, tmp_path))
    assert "genesis document" in error and hex0x(sha256(header[H_GENESIS_DOCUMENT])) in error


def test_a_file_cut_inside_a_block_is_refused_after_the_blocks_before_it_matched(
    recorded: Recorded, tmp_path: Path
) -> None:
    height = len(PRELUDE) + len(SETUP) + 4
    archive = recorded.file()
    record = record_index(archive, height)
    cut = archive.offset_of_record(record) + LENGTH.size + len(archive.records[record]) // 2
    path = tmp_path / "cut.wcb"
    path.write_bytes(archive.to_bytes()[:cut])
    done, report = replay(path, cwd=tmp_path)
    error = refused(done, report)
    assert "truncated" in error and f"block {height}," in error
    assert report["blocks"] == height - 1


def test_a_file_cut_between_blocks_is_refused_naming_the_first_missing_one(recorded: Recorded, tmp_path: Path) -> None:
    height = recorded.head - 1
    archive = recorded.file()
    path = tmp_path / "cut.wcb"
    path.write_bytes(archive.to_bytes()[: archive.offset_of_record(record_index(archive, height))])
    done, report = replay(path, cwd=tmp_path)
    error = refused(done, report)
    assert "truncated" in error and f"block {height}," in error and "missing" in error
    assert report["blocks"] == height - 1


def test_the_first_of_two_faults_is_the_one_reported(recorded: Recorded, tmp_path: Path) -> None:
    """A damaged block, and further on a damaged record: the blocks are read ahead, but the report is the
    first fault in chain order, not the first one read."""
    height = len(PRELUDE) + 2
    archive = recorded.file()
    record = record_index(archive, height)
    block = archive.block(record)
    block[B_HEADER][HEADER_FIELDS.index("gas_used")] += 1
    archive.replace_block(record, block)
    later = record + 5
    archive.records[later] = archive.records[later][:-1] + b"\xc1"  # 0xc1: never valid msgpack
    divergence = diverged(*replay_file(archive, tmp_path), height, "gas_used")
    produced = recorded.production.block(height).block
    assert (divergence["recorded"], divergence["replayed"]) == (produced.header.gas_used + 1, produced.header.gas_used)


# --- any one flipped bit ---------------------------------------------------------------------------


def expected_report(recorded: Recorded, archive: ArchiveFile, record: int) -> tuple[int, str | None]:
    """Where a flip inside ``record`` must be reported: its own block, by any check, unless the flip left a
    well-formed block differing only in its timestamp (which re-executes the same here): then by its own
    timestamp check if it went back before the parent's, else by the next block's parent hash, or for the
    last block by the hash the file's header records."""
    height = record + 1
    produced = recorded.production.block(height).block
    try:
        damaged = unpack(archive.records[record])
        block = unpack(damaged[0])
        header = block[B_HEADER]
        original = unpack(produced.encode())
        same_but_time = (
            damaged[1:] == unpack(recorded.file().records[record])[1:]
            and block[1:] == original[1:]
            and len(header) == len(original[B_HEADER])
            and [field for field, (a, b) in zip(HEADER_FIELDS, zip(header, original[B_HEADER])) if a != b]
            == ["timestamp"]
        )
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError, IndexError):
        same_but_time = False
    if not same_but_time:
        return height, None
    timestamp = header[HEADER_FIELDS.index("timestamp")]
    parent = recorded.production.block(height - 1).block.header.timestamp if height > 1 else None
    if parent is not None and isinstance(timestamp, int) and timestamp < parent:
        return height, "timestamp"
    if height == recorded.head:
        return height, "block_hash"
    return height + 1, "parent_hash"


@settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=10,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_flipped_bit_in_the_blocks_is_reported_at_its_block(
    recorded: Recorded, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_one_flip(recorded, data, tmp_path_factory)


@pytest.mark.slow
@settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_many_flipped_bits_in_the_blocks_are_each_reported_at_their_block(
    recorded: Recorded, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_one_flip(recorded, data, tmp_path_factory)


def parts_of(item: bytes) -> dict[str, range]:
    """Byte ranges of a record item (length prefix, then msgpack ``[block, receipts, changes]``): where each
    part's payload lies, so that a flip can be aimed at each part equally (a deploy's code would otherwise
    take most of them)."""
    record = unpack(item[LENGTH.size :])
    position = LENGTH.size + 1  # the prefix, then the one-byte header of a 3-array
    ranges = {"length prefix": range(0, LENGTH.size)}
    for name, value in (("block", record[0]), ("receipts", record[1])):
        encoded = pack(value)
        ranges[name] = range(position + len(encoded) - len(value), position + len(encoded))
        position += len(encoded)
    ranges["state changes"] = range(position, len(item))
    ranges["anywhere"] = range(0, len(item))
    return ranges


def check_one_flip(recorded: Recorded, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    archive = recorded.file()
    record = data.draw(st.integers(0, len(archive.records) - 1), label="record")
    item = LENGTH.pack(len(archive.records[record])) + archive.records[record]
    parts = {name: span for name, span in parts_of(item).items() if span}
    part = data.draw(st.sampled_from(sorted(parts)), label="part")
    offset = data.draw(st.sampled_from(parts[part]), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    flipped = bytearray(item)
    flipped[offset] ^= 1 << bit
    whole = archive.to_bytes()
    start = archive.offset_of_record(record)
    damaged_bytes = whole[:start] + bytes(flipped) + whole[start + len(item) :]
    if offset >= LENGTH.size:
        archive.records[record] = bytes(flipped[LENGTH.size :])
        expected = expected_report(recorded, archive, record)
    else:
        expected = (record + 1, None)  # a damaged length: the record cannot be read as written
    height, check = expected
    work = tmp_path_factory.mktemp("flip")
    path = work / "flipped.wcb"
    path.write_bytes(damaged_bytes)
    done, report = replay(path, cwd=work)
    assert report["status"] != "match", done.describe()
    event(f"{part}: {report['status']} {report['divergence']['check'] if report['divergence'] else ''}".strip())
    if report["status"] == "diverged":
        diverged(done, report, height, check or report["divergence"]["check"])
    else:
        error = refused(done, report)
        assert check is None and f"(block {height}," in error, done.describe()
        assert report["blocks"] == height - 1, done.describe()
