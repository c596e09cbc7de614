"""The embedded CLI's chain commands: each works directly on a data directory.

Every state-changing command applies one block holding its one
transaction (the embedded default, as SQLite is to a database server).
Each handler returns ``(exit code, report)``; ``cli.py`` prints the report
as JSON or as text.  Exit codes: 0 success, 1 a transaction was included
but failed, 2 it was rejected or the arguments were bad.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from vm.args import decode_value, parse_args
from vm.host import Address

from . import smt
from .chain import Chain
from .errors import ChainError, NotFound
from .genesis import load_genesis
from .keys import KeyPair, format_address, parse_address
from .keystore import Keystore
from .kv import LevelDBKV
from .state import Account, account_key, storage_key
from .reports import Report, account_report, block_report, event_report, receipt_report, transaction_report
from .transactions import Transaction, TxKind

DEFAULT_GAS = 100_000_000
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


@dataclass(frozen=True)
class DataDir:
    """A node's data directory: the database, the compiled-module cache and the keystore."""

    path: Path

    @property
    def db(self) -> Path:
        return self.path / "db"

    @property
    def cache(self) -> Path:
        return self.path / "cache"

    @property
    def keystore(self) -> Keystore:
        return Keystore(self.path / "keys")


@contextmanager
def open_chain(data: DataDir) -> Iterator[Chain]:
    kv = LevelDBKV(data.db, create=False)
    try:
        yield Chain.load(kv, cache_dir=data.cache)
    finally:
        kv.close()


def resolve_address(data: DataDir, text: str) -> Address:
    """An address as ``0x`` + 40 hex digits, or the name of a key."""
    named = data.keystore.address_of(text)
    if named is not None:
        return named
    return parse_address(text)


# -- init and keys ---------------------------------------------------------------


def cmd_init(data: DataDir, genesis_path: Path) -> tuple[int, Report]:
    genesis = load_genesis(genesis_path)
    if data.db.exists():
        raise ChainError(f"{data.path} is already initialized; remove it or choose another --data")
    data.path.mkdir(parents=True, exist_ok=True)
    kv = LevelDBKV(data.db, create=True)
    try:
        chain = Chain.create(kv, genesis, cache_dir=data.cache)
        head = chain.head
    finally:
        kv.close()
    return EXIT_OK, {"data": str(data.path), "chain_id": genesis.chain_id, "genesis_hash": "0x" + head.hash.hex(),
                     "state_root": "0x" + head.state_root.hex(), "accounts": len(genesis.accounts)}


def _key_report(name: str, key: KeyPair) -> Report:
    return {"name": name, "address": format_address(key.address), "public_key": "0x" + key.public_key.hex()}


def cmd_keys_new(data: DataDir, name: str) -> tuple[int, Report]:
    return EXIT_OK, _key_report(name, data.keystore.new(name))


def cmd_keys_show(data: DataDir, name: str) -> tuple[int, Report]:
    return EXIT_OK, _key_report(name, data.keystore.get(name))


def cmd_keys_list(data: DataDir) -> tuple[int, Report]:
    store = data.keystore
    return EXIT_OK, {"keys": [_key_report(name, store.get(name)) for name in store.names()]}


# -- transactions ----------------------------------------------------------------------


@dataclass(frozen=True)
class TxOptions:
    sender: str
    gas: int = DEFAULT_GAS
    value: int = 0


def _submit(data: DataDir, options: TxOptions, kind: TxKind, **fields: Any) -> tuple[int, Report]:
    if not 0 < options.gas < 1 << 64:
        raise ChainError(f"--gas must be between 1 and 2**64-1, found {options.gas}")
    if options.value < 0:
        raise ChainError(f"--value must not be negative, found {options.value}")
    key = data.keystore.get(options.sender)
    with open_chain(data) as chain:
        tx = Transaction(
            chain_id=chain.genesis.chain_id,
            nonce=chain.account(key.address).nonce,
            gas_limit=options.gas,
            gas_price=chain.genesis.chain.min_gas_price,
            public_key=key.public_key,
            kind=kind,
            value=options.value,
            **fields,
        )
        signed = tx.sign(key)
        chain.check_tx(signed)
        block, receipts = chain.produce([signed], int(time.time()))
        report = receipt_report(block, 0, receipts[0])
    return (EXIT_OK if receipts[0].ok else EXIT_FAILED), report


def cmd_deploy(data: DataDir, options: TxOptions, file: Path, init: str | None, args: str | None) -> tuple[int, Report]:
    try:
        code = file.read_bytes()
    except OSError as error:
        raise ChainError(f"cannot read {file}: {error.strerror}") from None
    if args is not None and not init:
        raise ChainError("--args needs --init METHOD")
    encoded = parse_args(args) if args is not None else (parse_args("{}") if init else b"")
    return _submit(data, options, TxKind.DEPLOY, code=code, method=init or "", args=encoded)


def cmd_call(data: DataDir, options: TxOptions, contract: str, method: str, args: str | None) -> tuple[int, Report]:
    return _submit(data, options, TxKind.CALL, to=resolve_address(data, contract), method=method,
                   args=parse_args(args if args is not None else "{}"))


def cmd_transfer(data: DataDir, options: TxOptions, to: str, amount: int) -> tuple[int, Report]:
    if amount < 0:
        raise ChainError(f"the amount must not be negative, found {amount}")
    return _submit(data, TxOptions(options.sender, options.gas, amount), TxKind.TRANSFER, to=resolve_address(data, to))


# -- reads ---------------------------------------------------------------------------------


def cmd_view(data: DataDir, contract: str, method: str, args: str | None, gas: int) -> tuple[int, Report]:
    if not 0 < gas < 1 << 63:
        raise ChainError(f"--gas must be between 1 and 2**63-1, found {gas}")
    address = resolve_address(data, contract)
    with open_chain(data) as chain:
        if not chain.account(address).is_contract:
            raise NotFound(f"no contract at {format_address(address)}")
        outcome = chain.view(address, method, parse_args(args if args is not None else "{}"), gas)
        height = chain.head.height
    report = {
        "block_height": height,
        "status": outcome.status,
        "result": decode_value(outcome.return_data),
        "return_hex": outcome.return_data.hex(),
        "gas_used": outcome.gas_used,
        "events": [event_report(event) for event in outcome.events],
        "error": outcome.error,
    }
    if outcome.ok:
        return EXIT_OK, report
    return (EXIT_INVALID if outcome.status == "invalid" else EXIT_FAILED), report


def cmd_balance(data: DataDir, who: str) -> tuple[int, Report]:
    address = resolve_address(data, who)
    with open_chain(data) as chain:
        return EXIT_OK, {"address": format_address(address), "balance": chain.account(address).balance}


def cmd_account(data: DataDir, who: str) -> tuple[int, Report]:
    address = resolve_address(data, who)
    with open_chain(data) as chain:
        return EXIT_OK, account_report(address, chain.account(address))


def cmd_tx(data: DataDir, tx_hash: str) -> tuple[int, Report]:
    raw = _hex32(tx_hash, "transaction hash")
    with open_chain(data) as chain:
        block, index, receipt = chain.transaction(raw)
    report = receipt_report(block, index, receipt)
    report["transaction"] = transaction_report(block.transactions[index])
    return EXIT_OK, report


def cmd_block(data: DataDir, which: str) -> tuple[int, Report]:
    with open_chain(data) as chain:
        if which == "latest":
            block = chain.block(chain.head.height)
        elif which.isascii() and which.isdigit():
            height = int(which)
            if height >= 1 << 64:
                raise NotFound(f"no block at height {height}")
            block = chain.block(height)
        else:
            block = chain.block_by_hash(_hex32(which, "block height or hash"))
    return EXIT_OK, block_report(block)


def cmd_proof(data: DataDir, who: str, key: str | None) -> tuple[int, Report]:
    address = resolve_address(data, who)
    state_key = account_key(address) if key is None else storage_key(address, _storage_key(key))
    with open_chain(data) as chain:
        value, proof = chain.prove(state_key)
        root = chain.head.state_root
        height = chain.head.height
    report: Report = {
        "block_height": height,
        "state_root": "0x" + root.hex(),
        "state_key": "0x" + state_key.hex(),
        "value": None if value is None else "0x" + value.hex(),
        "proof": proof.to_json(),
        "verified": smt.verify(root, state_key, value, proof),
    }
    if key is None and value is not None:
        report["account"] = account_report(address, Account.decode(value))
    return EXIT_OK, report


def _storage_key(text: str) -> bytes:
    """A storage key as ``0x`` hex, or else as its UTF-8 text."""
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise ChainError(f"storage key {text!r} starts with 0x but is not hex") from None
    return text.encode()


def _hex32(text: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ChainError(f"a {what} is 0x followed by 64 hex digits, found {text!r}")
    return raw
