"""A block producer for the crash test: ``python -m tests.chain.crash_worker DATA_DIR --until HEIGHT``.

Opens (or creates) a chain in a LevelDB directory and produces blocks until
the head reaches ``--until``.  Every block is a function of its height and
of the state below it (which is itself a function of the heights below),
so the whole history is reproducible: ``next_block`` is also what the test
uses to build the expected chain.

It reports on stdout, one line each, flushed:

- ``open H``: the chain is open, its head at height H;
- ``commit H``: block H is finalized and its one atomic write starts now;
- ``done H``: the write of block H returned (the block must survive a crash);
- ``stop``: the head reached ``--until``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import msgpack

from wasmchain.protocol.errors import GenesisError
from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.keys import KeyPair, contract_address, dev_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import LevelDBKV

ROOT = Path(__file__).resolve().parents[2]
GENESIS_PATH = ROOT / "genesis.json"
TOKEN_CODE = (ROOT / "contracts" / "token" / "token.wasm").read_bytes()
KEYS = [dev_key(i) for i in range(4)]
TOKEN = contract_address(KEYS[0].address, 0)
"""dev0's first transaction (block 1) deploys the token."""


def next_block(chain: Chain) -> tuple[list[SignedTransaction], int]:
    """The transactions and timestamp of the block after the head: token and native transfers."""
    height = chain.head.height + 1
    nonces: dict[bytes, int] = {}

    def sign(key: KeyPair, kind: TxKind, gas_limit: int = 2_000_000, **fields: Any) -> SignedTransaction:
        nonce = nonces.setdefault(key.address, chain.account(key.address).nonce)
        nonces[key.address] = nonce + 1
        return Transaction(chain.genesis.chain_id, nonce, gas_limit, 1, key.public_key, kind, **fields).sign(key)

    def token_transfer(key: KeyPair, to: bytes, amount: int) -> SignedTransaction:
        args = msgpack.packb({"to": to, "amount": amount}, use_bin_type=True)
        return sign(key, TxKind.CALL, to=TOKEN, method="transfer", args=args)

    holder, other = KEYS[1 + height % 3], KEYS[1 + (height + 1) % 3]
    fresh = hashlib.sha256(b"crash test account" + height.to_bytes(8, "big")).digest()[:20]
    transactions = []
    if height == 1:
        transactions.append(
            sign(
                KEYS[0],
                TxKind.DEPLOY,
                10**8,
                code=TOKEN_CODE,
                method="init",
                args=msgpack.packb({"supply": 10**12}, use_bin_type=True),
            )
        )
    else:
        transactions += [
            token_transfer(KEYS[0], holder.address, height),
            token_transfer(holder, other.address, height * 37 % 200),  # aborts when the holder has too little
            token_transfer(other, fresh, 1),
        ]
    transactions += [
        sign(KEYS[height % 4], TxKind.TRANSFER, to=KEYS[(height + 1) % 4].address, value=height * 1000 + 1),
        sign(KEYS[3], TxKind.TRANSFER, to=fresh, value=height),
    ]
    return transactions, chain.genesis.genesis_time + height


def report(*words: object) -> None:
    """One line in one write, so that a kill never leaves half of it (stdout may be unbuffered)."""
    sys.stdout.write(" ".join(map(str, words)) + "\n")
    sys.stdout.flush()


def open_chain(kv: LevelDBKV, genesis: Genesis) -> Chain:
    try:
        return Chain.load(kv)
    except GenesisError:  # killed before the genesis write, or never started: the store holds no chain
        return Chain.create(kv, genesis)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--until", type=int, required=True)
    options = parser.parse_args(argv)

    kv = LevelDBKV(options.data_dir, create=True)
    chain = open_chain(kv, load_genesis(GENESIS_PATH))
    report("open", chain.head.height)
    while chain.head.height < options.until:
        transactions, timestamp = next_block(chain)
        pending = chain.finalize(transactions, timestamp)
        report("commit", pending.block.height)
        chain.commit(pending)
        report("done", pending.block.height)
    report("stop")
    kv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
