"""Determinism: the same blocks give the same roots and receipts, everywhere, every time.

Two recorded blocks (deploys, token transfers with events, a vault calling
the token, an abort, a call out of gas, an invalid transaction) are
re-applied by ten fresh chains, then by fresh processes with different
hash seeds; each must reach the roots the producer recorded, and the state
root must equal a from-scratch recomputation of the sparse Merkle tree
over the stored state.  Tampering with a recorded block must make
``apply_block`` refuse it, naming the field, and leave the chain untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.helpers import reference_merkle_root
from wasmchain.protocol.blocks import Block, Header, Receipt
from wasmchain.protocol.errors import InvalidBlock
from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.keys import KeyPair, dev_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.protocol.transition import apply_block, block_context, build_block
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import KVStore, MemoryKV

ROOT = Path(__file__).resolve().parents[2]
GENESIS_PATH = ROOT / "genesis.json"
CODE = {name: (ROOT / "contracts" / name / f"{name}.wasm").read_bytes() for name in ("token", "counter", "vault")}
RUNS = 10


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def packed(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)


def contract_address_of(deployer: bytes, nonce: int) -> bytes:
    return sha256(b"wasmchain/contract" + deployer + nonce.to_bytes(8, "big"))[:20]


# --- slow, obviously-right references -------------------------------------------------


def reference_state_root(entries: dict[bytes, bytes]) -> bytes:
    """The sparse Merkle root of ``{state_key: value}``, straight from the definition in ``smt.py``."""

    def bit(path: bytes, depth: int) -> int:
        return (path[depth // 8] >> (7 - depth % 8)) & 1

    def subtree(leaves: dict[bytes, bytes], depth: int) -> bytes:
        if not leaves:
            return bytes(32)
        if len(leaves) == 1:
            [(path, value_hash)] = leaves.items()
            return sha256(b"\x00" + path + value_hash)
        left = {p: v for p, v in leaves.items() if bit(p, depth) == 0}
        right = {p: v for p, v in leaves.items() if bit(p, depth) == 1}
        return sha256(b"\x01" + subtree(left, depth + 1) + subtree(right, depth + 1))

    return subtree({sha256(key): sha256(value) for key, value in entries.items()}, 0)


def stored_state(kv: KVStore) -> dict[bytes, bytes]:
    return {key[1:]: value for key, value in kv.iterate(b"S")}


# --- the recorded blocks ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recording:
    genesis: Genesis
    blocks: list[bytes]
    """``Block.encode()`` of each block, from height 1."""
    headers: list[Header]
    receipts: list[tuple[Receipt, ...]]


class Signer:
    def __init__(self, genesis: Genesis, key: KeyPair) -> None:
        self.genesis, self.key, self.nonce = genesis, key, 0

    def __call__(
        self, kind: TxKind, gas_limit: int = 3_000_000, *, nonce: int | None = None, **fields: Any
    ) -> SignedTransaction:
        tx = Transaction(
            self.genesis.chain_id,
            self.nonce if nonce is None else nonce,
            gas_limit,
            1,
            self.key.public_key,
            kind,
            **fields,
        )
        if nonce is None:
            self.nonce += 1
        return tx.sign(self.key)


@pytest.fixture(scope="module")
def recording() -> Recording:
    genesis = load_genesis(GENESIS_PATH)
    alice, bob, carol = (Signer(genesis, dev_key(i)) for i in range(3))
    token = contract_address_of(alice.key.address, 0)
    vault = contract_address_of(alice.key.address, 1)
    counter = contract_address_of(bob.key.address, 0)
    chain = Chain.create(MemoryKV(), genesis)
    bodies = [
        [
            alice(TxKind.DEPLOY, 10**8, code=CODE["token"], method="init", args=packed(supply=10**9)),
            alice(TxKind.DEPLOY, 10**8, code=CODE["vault"], method="init", args=packed(token=token)),
            bob(TxKind.DEPLOY, 10**8, code=CODE["counter"], value=5),
            carol(TxKind.TRANSFER, to=bob.key.address, value=10**18),
        ],
        [
            alice(TxKind.CALL, method="transfer", to=token, args=packed(to=vault, amount=1000)),
            alice(TxKind.CALL, method="withdraw", to=vault, args=packed(to=carol.key.address, amount=300)),
            alice(TxKind.CALL, method="withdraw", to=vault, args=packed(to=carol.key.address, amount=10**6)),
            carol(TxKind.CALL, method="transfer", to=token, args=packed(to=bob.key.address, amount=301)),
            carol(TxKind.CALL, method="transfer", to=token, args=packed(to=bob.key.address, amount=100)),
            bob(TxKind.CALL, method="increment", to=counter, value=3),
            bob(TxKind.CALL, 60_000, method="increment", to=counter),
            bob(TxKind.TRANSFER, nonce=0, to=carol.key.address, value=1),
            carol(TxKind.TRANSFER, to=alice.key.address, value=12345),
        ],
    ]
    blocks, headers, receipts = [], [], []
    for height, body in enumerate(bodies, start=1):
        block, block_receipts = chain.produce(body, genesis.genesis_time + 10 * height)
        blocks.append(block.encode())
        headers.append(block.header)
        receipts.append(block_receipts)
    statuses = [receipt.status for receipt in receipts[1]]
    # The recording covers what it claims to: nested success, nested abort, abort, out of gas, invalid.
    assert statuses == ["ok", "ok", "abort", "abort", "ok", "ok", "out_of_gas", "invalid", "ok"], receipts[1]
    assert all(receipt.ok for receipt in receipts[0])
    assert reference_state_root(stored_state(chain.kv)) == chain.head.state_root
    return Recording(genesis, blocks, headers, receipts)


def replay(recording: Recording, cache_dir: Path | None = None) -> tuple[Chain, list[tuple[Receipt, ...]]]:
    kv = MemoryKV()
    chain = Chain.create(kv, recording.genesis, cache_dir=cache_dir)
    receipts = [chain.apply_block(Block.decode(data)) for data in recording.blocks]
    return chain, receipts


# --- ten times, one root ---------------------------------------------------------------


def test_the_same_blocks_applied_ten_times_give_one_state(recording: Recording, tmp_path: Path) -> None:
    results = set()
    for run in range(RUNS):
        # Half the runs load compiled modules from a disk cache written by the first of them.
        chain, receipts = replay(recording, cache_dir=tmp_path / "cache" if run % 2 else None)
        state_root = chain.head.state_root
        assert reference_state_root(stored_state(chain.kv)) == state_root
        encoded = tuple(receipt.encode() for block_receipts in receipts for receipt in block_receipts)
        receipts_roots = tuple(
            reference_merkle_root([sha256(receipt.encode()) for receipt in block_receipts])
            for block_receipts in receipts
        )
        results.add((state_root, receipts_roots, encoded))
    assert len(results) == 1
    [(state_root, receipts_roots, encoded)] = results
    assert state_root == recording.headers[-1].state_root
    assert receipts_roots == tuple(header.receipts_root for header in recording.headers)
    assert encoded == tuple(receipt.encode() for block_receipts in recording.receipts for receipt in block_receipts)


# --- another process, another hash seed ------------------------------------------------

REPLAY_SCRIPT = """
import hashlib, json, sys
from pathlib import Path
from wasmchain.protocol.blocks import Block, encode_receipts
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import KVStore, MemoryKV

genesis_path, blocks_path = sys.argv[1:]
chain = Chain.create(MemoryKV(), load_genesis(Path(genesis_path)))
print(json.dumps({"hash_of_a_string": hash("wasmchain")}))
for line in Path(blocks_path).read_text().split():
    receipts = chain.apply_block(Block.decode(bytes.fromhex(line)))
    head = chain.head
    print(json.dumps({"height": head.height, "state_root": head.state_root.hex(),
                      "receipts": hashlib.sha256(encode_receipts(receipts)).hexdigest()}))
"""


def test_a_fresh_process_with_any_hash_seed_replays_to_the_same_roots(recording: Recording, tmp_path: Path) -> None:
    blocks_path = tmp_path / "blocks.hex"
    blocks_path.write_text("\n".join(data.hex() for data in recording.blocks))
    expected = [
        {
            "height": header.height,
            "state_root": header.state_root.hex(),
            "receipts": sha256(msgpack.packb([r.fields() for r in receipts], use_bin_type=True)).hex(),
        }
        for header, receipts in zip(recording.headers, recording.receipts)
    ]
    string_hashes = set()
    for seed in ("0", "1", "2718281828"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", REPLAY_SCRIPT, str(GENESIS_PATH), str(blocks_path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        first, *rows = [json.loads(line) for line in done.stdout.splitlines()]
        string_hashes.add(first["hash_of_a_string"])
        assert rows == expected, f"PYTHONHASHSEED={seed}"
    assert len(string_hashes) == 3, "the children did not run under different hash seeds"


# --- tampered blocks are refused, naming the field, and change nothing --------------------


def with_header(block: Block, **fields: Any) -> Block:
    return Block(dataclasses.replace(block.header, **fields), block.transactions)


def with_transactions(block: Block, transactions: list[SignedTransaction], *, fix_tx_root: bool) -> Block:
    header = block.header
    if fix_tx_root:
        header = dataclasses.replace(header, tx_root=reference_merkle_root([sha256(tx.encoded) for tx in transactions]))
    return Block(header, tuple(transactions))


def flip_signature(block: Block, index: int, *, fix_tx_root: bool) -> Block:
    transactions = list(block.transactions)
    signature = bytearray(transactions[index].signature)
    signature[7] ^= 0x80
    transactions[index] = SignedTransaction(transactions[index].tx, bytes(signature))
    return with_transactions(block, transactions, fix_tx_root=fix_tx_root)


def swap_first_two(block: Block, *, fix_tx_root: bool) -> Block:
    first, second, *rest = block.transactions
    return with_transactions(block, [second, first, *rest], fix_tx_root=fix_tx_root)


def show(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else repr(value)


FAKE_HASH = sha256(b"not the real one")
TAMPERINGS: dict[str, tuple[Callable[[Block], Block], str]] = {
    "signature byte": (lambda b: flip_signature(b, 3, fix_tx_root=False), "tx_root"),
    "signature byte, tx_root recomputed": (lambda b: flip_signature(b, 3, fix_tx_root=True), "receipts_root"),
    "transaction order": (lambda b: swap_first_two(b, fix_tx_root=False), "tx_root"),
    "transaction order, tx_root recomputed": (lambda b: swap_first_two(b, fix_tx_root=True), "receipts_root"),
    "dropped transaction, tx_root recomputed": (
        lambda b: with_transactions(b, list(b.transactions[:-1]), fix_tx_root=True),
        "receipts_root",
    ),
    "state_root": (lambda b: with_header(b, state_root=FAKE_HASH), "state_root"),
    "receipts_root": (lambda b: with_header(b, receipts_root=FAKE_HASH), "receipts_root"),
    "gas_used": (lambda b: with_header(b, gas_used=b.header.gas_used - 1), "gas_used"),
    "parent_hash": (lambda b: with_header(b, parent_hash=FAKE_HASH), "parent_hash"),
    "height": (lambda b: with_header(b, height=b.header.height + 1), "height"),
    "chain_id": (lambda b: with_header(b, chain_id="another-chain"), "chain_id"),
    "timestamp before the parent's": (lambda b: with_header(b, timestamp=0), "timestamp"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_tampered_block_is_refused_naming_the_field(recording: Recording, tampering: str) -> None:
    tamper, field = TAMPERINGS[tampering]
    chain = Chain.create(MemoryKV(), recording.genesis)
    chain.apply_block(Block.decode(recording.blocks[0]))
    original = Block.decode(recording.blocks[1])
    tampered = Block.decode(tamper(original).encode())  # through bytes, as a block arrives
    before = list(chain.kv.iterate())
    head = chain.head

    with pytest.raises(InvalidBlock) as refused:
        chain.apply_block(tampered)

    message = str(refused.value)
    assert message.startswith(field), message
    if "mismatch" in message:
        computed, claimed = message.split(": computed ", 1)[1].split(", block has ")
        assert claimed.removeprefix("0x") == show(getattr(tampered.header, field)), message
        if field == "tx_root":
            hashes = [sha256(tx.encoded) for tx in tampered.transactions]
            assert computed.removeprefix("0x") == reference_merkle_root(hashes).hex()
        if field in ("state_root", "receipts_root", "gas_used") and field == tampering:
            assert computed.removeprefix("0x") == show(getattr(original.header, field)), message
    assert chain.head == head and list(chain.kv.iterate()) == before
    # Nothing of the refused block stayed behind: the real one still applies, to the recorded state.
    chain.apply_block(original)
    assert chain.head.state_root == recording.headers[1].state_root


def test_the_protocols_apply_block_agrees_with_build_block_and_names_a_wrong_root(recording: Recording) -> None:
    """``protocol.transition.apply_block`` on its own, over a plain state: the block ``build_block``
    made from the same body passes it with the same output, and a wrong state root is named."""
    chain = Chain.create(MemoryKV(), recording.genesis)
    recorded = Block.decode(recording.blocks[0])
    parent, header = chain.head, recorded.header
    context = block_context(parent, header.timestamp, chain.genesis, chain.runtime)
    built, output = build_block(
        chain.state(), parent, recorded.transactions, recorded.overrides, context, chain._read_node
    )
    assert built == recorded
    assert apply_block(chain.state(), parent, recorded, context, chain._read_node) == output
    wrong = dataclasses.replace(recorded, header=dataclasses.replace(header, state_root=bytes(32)))
    with pytest.raises(InvalidBlock, match="^state_root mismatch: computed 0x") as refused:
        apply_block(chain.state(), parent, wrong, context, chain._read_node)
    assert refused.value.reason == "invalid_block" and f"0x{header.state_root.hex()}" in str(refused.value)
