"""Signature checks in worker processes (``chain/signatures.py``): the same verdicts as inline, always."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from wasmchain.protocol.keys import dev_key, verify_signature
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store import signatures
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV
from wasmchain.store.signatures import MIN_TRANSACTIONS, SignatureWorkers
from wasmchain.store.tuning import Tuning

ROOT = Path(__file__).resolve().parents[2]
GENESIS = load_genesis(ROOT / "genesis.json")
COUNT = MIN_TRANSACTIONS + 9
BAD = {3, 17, MIN_TRANSACTIONS + 1, COUNT - 1}
"""Indexes of the transactions whose signature has a flipped bit."""


def transactions(count: int = COUNT, bad: set[int] = BAD) -> list[SignedTransaction]:
    """Native transfers from dev1..dev4 in nonce order, freshly decoded (no verdict known); ``bad`` forged."""
    signed = []
    for index in range(count):
        key = dev_key(1 + index % 4)
        tx = Transaction(
            GENESIS.chain_id,
            index // 4,
            100_000,
            1,
            key.public_key,
            TxKind.TRANSFER,
            to=dev_key(9).address,
            value=1 + index,
        )
        one = tx.sign(key)
        if index in bad:
            one = SignedTransaction(one.tx, one.signature[:10] + bytes([one.signature[10] ^ 4]) + one.signature[11:])
        signed.append(SignedTransaction.decode(one.encoded))
    return signed


def inline(signed: SignedTransaction) -> bool:
    return verify_signature(signed.tx.public_key, signed.signature, signed.tx.signing_bytes())


@pytest.fixture
def workers() -> SignatureWorkers:
    pool = SignatureWorkers(2)
    yield pool
    pool.close()


def test_workers_give_the_inline_verdict_on_good_and_forged_signatures(workers: SignatureWorkers) -> None:
    batch = transactions()
    assert not any(signed.signature_known() for signed in batch)
    assert workers.check_ahead(batch) == COUNT
    assert all(signed.signature_known() for signed in batch)
    verdicts = [signed.signature_valid() for signed in batch]
    assert verdicts == [index not in BAD for index in range(COUNT)]
    assert verdicts == [inline(signed) for signed in transactions()]


def test_small_batches_and_known_verdicts_are_left_to_the_executing_thread(workers: SignatureWorkers) -> None:
    few = transactions(MIN_TRANSACTIONS - 1, set())
    assert workers.check_ahead(few) == 0
    assert not any(signed.signature_known() for signed in few)
    batch = transactions()
    for signed in batch[:5]:
        signed.signature_valid()
    assert workers.check_ahead(batch) == COUNT - 5  # the five already verified are not sent again
    assert workers.check_ahead(batch) == 0
    assert [signed.signature_valid() for signed in batch] == [index not in BAD for index in range(COUNT)]


def test_without_workers_nothing_is_sent() -> None:
    batch = transactions()
    assert SignatureWorkers(0).check_ahead(batch) == 0
    assert not any(signed.signature_known() for signed in batch)


def test_a_killed_worker_costs_no_verdict_and_is_replaced(workers: SignatureWorkers) -> None:
    workers.warm_up()
    first = list(workers._pool)
    for worker in first:
        worker.process.kill()
        worker.process.wait()
    batch = transactions()
    workers.check_ahead(batch)  # sent to dead workers: their verdicts come from this process
    assert [signed.signature_valid() for signed in batch] == [index not in BAD for index in range(COUNT)]
    assert not any(worker.alive for worker in first)
    again = transactions()
    assert workers.check_ahead(again) == COUNT
    assert {id(worker) for worker in workers._pool}.isdisjoint(id(worker) for worker in first)
    assert all(worker.process.poll() is None for worker in workers._pool)
    assert [signed.signature_valid() for signed in again] == [index not in BAD for index in range(COUNT)]


def test_a_block_with_forged_signatures_is_the_same_with_and_without_workers() -> None:
    results = []
    for use_workers in (True, False):
        chain = Chain.create(MemoryKV(), GENESIS, tuning=Tuning(signature_workers=use_workers))
        batch = transactions()
        block, receipts = chain.produce(batch, GENESIS.genesis_time + 1)
        assert all(signed.signature_known() for signed in batch)
        results.append((block.encode(), receipts))
    assert results[0] == results[1]
    receipts = results[0][1]
    # A forged transaction is refused; so are its sender's later ones (their nonces are then ahead).
    refused = set()
    for index in range(COUNT):
        if index in BAD or any(bad % 4 == index % 4 and bad < index for bad in BAD):
            refused.add(index)
    assert [index for index, receipt in enumerate(receipts) if receipt.status == "invalid"] == sorted(refused)
    assert all("bad signature" in receipts[index].error for index in BAD)
    assert all("is ahead" in receipts[index].error for index in refused - BAD)
    assert all(receipt.status == "ok" for index, receipt in enumerate(receipts) if index not in refused)


def test_the_worker_loop_answers_each_frame_in_order() -> None:
    good, bad = transactions(2, {1})
    frames = b""
    for batch in ([good, bad], [bad], []):
        body = msgpack.packb([[s.tx.public_key, s.signature, s.tx.signing_bytes()] for s in batch])
        frames += len(body).to_bytes(4, "big") + body
    out = io.BytesIO()
    signatures._serve(io.BytesIO(frames + b"\x00\x00"), out)  # a torn last header ends the loop
    answers, data = [], out.getvalue()
    while data:
        size = int.from_bytes(data[:4], "big")
        answers.append(msgpack.unpackb(data[4 : 4 + size]))
        data = data[4 + size :]
    assert answers == [[True, False], [False], []]


def test_a_worker_loads_no_wasmtime() -> None:
    code = "import sys, wasmchain.store.signatures; print('wasmtime' in sys.modules or 'plyvel' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_workers_import_this_wasmchain_whatever_the_working_directory(
    workers: SignatureWorkers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    impostor = tmp_path / "wasmchain" / "store"
    impostor.mkdir(parents=True)
    (impostor.parent / "__init__.py").write_text("")
    (impostor / "__init__.py").write_text("")
    (impostor / "signatures.py").write_text(  # says yes to everything, if it were ever run
        "import sys, struct, msgpack\n"
        "while (h := sys.stdin.buffer.read(4)):\n"
        "    n = len(msgpack.unpackb(sys.stdin.buffer.read(struct.unpack('>I', h)[0])))\n"
        "    a = msgpack.packb([True] * n); sys.stdout.buffer.write(struct.pack('>I', len(a)) + a)\n"
        "    sys.stdout.buffer.flush()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    batch = transactions()
    assert workers.check_ahead(batch) == COUNT
    assert [signed.signature_valid() for signed in batch] == [index not in BAD for index in range(COUNT)]


def test_a_hung_worker_is_stopped_and_its_transactions_verified_here(
    workers: SignatureWorkers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signatures, "ANSWER_TIMEOUT", 0.5)
    workers.warm_up()
    hung = list(workers._pool)
    for worker in hung:
        os.kill(worker.process.pid, signal.SIGSTOP)
    try:
        batch = transactions()
        assert workers.check_ahead(batch) == COUNT
        assert [signed.signature_valid() for signed in batch] == [index not in BAD for index in range(COUNT)]
        assert not any(worker.alive for worker in hung)
    finally:
        for worker in hung:
            os.kill(worker.process.pid, signal.SIGCONT)


def test_with_no_process_to_be_had_the_executing_thread_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(signatures, "_Worker", refuse)
    workers = SignatureWorkers(1)
    batch = transactions()
    assert workers.check_ahead(batch) == 0
    assert not any(signed.signature_known() for signed in batch)
    assert [signed.signature_valid() for signed in batch] == [index not in BAD for index in range(COUNT)]
