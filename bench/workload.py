"""The fixed transfer workload of ``transfer_tps.py`` and ``state_scale.py``: its genesis and its transactions.

Everything is derived from fixed seeds, so two runs (and two machines) sign
byte-identical transactions and produce identical chains:

- senders: ``KeyPair(sha256("wasmchain bench sender" + i))``, each funded in
  genesis with native tokens and, in the token's genesis storage, tokens;
- recipients: a pool of addresses ``sha256("wasmchain bench recipient" + i)[:20]``;
- transfer ``j``: from sender ``j mod senders``, in nonce order; the recipient
  is ``pool[h mod len(pool)]`` and the amount ``1 + h' mod 100``, where ``h``
  and ``h'`` are read from ``sha256(seed + j)``.

The token (``contracts/token``) and the counter (``contracts/counter``) are
genesis contracts, so no set-up transaction runs before the measured ones.
The ``token_abi1`` workload runs the same plan on their ABI 1 builds
(``tests/fixtures/abi1``, the examples before issue 18): its genesis and
its final state root are those of the token workload before ABI 2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgpack
from common import GENESIS, ROOT

from wasmchain.protocol.genesis import Genesis, genesis_from_document  # noqa: E402
from wasmchain.protocol.keys import KeyPair  # noqa: E402
from wasmchain.protocol.transactions import Transaction, TxKind  # noqa: E402
from wasmchain.store.genesis_file import load_genesis_document

COUNTER = ROOT / "contracts" / "counter" / "counter.wasm"
TOKEN_CODE = ROOT / "contracts" / "token" / "token.wasm"
ABI1 = ROOT / "tests" / "fixtures" / "abi1"
"""The ABI 1 builds of the examples (``token_abi1``)."""
TOKEN_ADDRESS = hashlib.sha256(b"wasmchain bench token").digest()[:20]
COUNTER_ADDRESS = hashlib.sha256(b"wasmchain bench counter").digest()[:20]
NATIVE_FUNDS = 10**24
TOKEN_FUNDS = 10**12
"""Tokens each sender holds at genesis (the token's amounts are u64)."""
GAS_LIMIT = 1_000_000
"""Every transaction's gas limit: several times what any of them uses."""
SEED = b"wasmchain bench workload v1"
KINDS = ("token", "native", "counter", "token_abi1")


def sender_keys(count: int) -> list[KeyPair]:
    return [
        KeyPair(hashlib.sha256(b"wasmchain bench sender" + index.to_bytes(4, "big")).digest()) for index in range(count)
    ]


def recipient_pool(count: int) -> list[bytes]:
    return [
        hashlib.sha256(b"wasmchain bench recipient" + index.to_bytes(4, "big")).digest()[:20] for index in range(count)
    ]


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _u64(value: int) -> str:
    return _hex(value.to_bytes(8, "little"))


def genesis(senders: list[KeyPair], holders: Iterable[bytes] = (), *, abi1: bool = False) -> Genesis:
    """The devnet genesis (``genesis.json``'s rules and gas schedule), with the senders funded instead of
    dev0..dev9, the token and counter as genesis contracts (their ABI 1 builds with ``abi1``), and
    ``holders``: further accounts holding 1 native token and 1 token each (``state_scale.py``'s filler)."""
    token_code = ABI1 / "token.wasm" if abi1 else TOKEN_CODE
    counter_code = ABI1 / "counter.wasm" if abi1 else COUNTER
    document: dict[str, Any] = load_genesis_document(GENESIS)
    document["chain_id"] = "wasmchain-bench"
    holders = list(holders)
    document["accounts"] = [{"address": _hex(key.address), "balance": NATIVE_FUNDS} for key in senders]
    document["accounts"] += [{"address": _hex(address), "balance": 1} for address in holders]
    storage = {_hex(b"b" + key.address): _u64(TOKEN_FUNDS) for key in senders}
    storage.update({_hex(b"b" + address): _u64(1) for address in holders})
    storage[_hex(b"supply")] = _u64(TOKEN_FUNDS * len(senders) + len(holders))
    document["contracts"] = [
        {"address": _hex(TOKEN_ADDRESS), "code": _hex(token_code.read_bytes()), "storage": storage},
        {"address": _hex(COUNTER_ADDRESS), "code": _hex(counter_code.read_bytes())},
    ]
    return genesis_from_document(document, "bench genesis")


@dataclass(frozen=True)
class Transfer:
    sender: int
    nonce: int
    recipient: bytes
    amount: int


def transfers(count: int, senders: int, pool: list[bytes], seed: bytes = SEED) -> list[Transfer]:
    plan = []
    for index in range(count):
        digest = hashlib.sha256(seed + index.to_bytes(8, "big")).digest()
        plan.append(
            Transfer(
                index % senders,
                index // senders,
                pool[int.from_bytes(digest[:8], "big") % len(pool)],
                1 + int.from_bytes(digest[8:16], "big") % 100,
            )
        )
    return plan


def sign(kind: str, plan: list[Transfer], keys: list[KeyPair], chain_id: str) -> list[bytes]:
    """Each planned transfer as the encoded bytes of a signed transaction of ``kind``."""
    encoded = []
    for step in plan:
        key = keys[step.sender]
        common: dict[str, Any] = dict(
            chain_id=chain_id, nonce=step.nonce, gas_limit=GAS_LIMIT, gas_price=1, public_key=key.public_key
        )
        if kind in ("token", "token_abi1"):
            tx = Transaction(
                **common,
                kind=TxKind.CALL,
                to=TOKEN_ADDRESS,
                method="transfer",
                args=msgpack.packb({"to": step.recipient, "amount": step.amount}),
            )
        elif kind == "native":
            tx = Transaction(**common, kind=TxKind.TRANSFER, to=step.recipient, value=step.amount)
        elif kind == "counter":
            tx = Transaction(**common, kind=TxKind.CALL, to=COUNTER_ADDRESS, method="increment", args=msgpack.packb({}))
        else:
            raise ValueError(f"unknown workload {kind!r}")
        encoded.append(tx.sign(key).encoded)
    return encoded
