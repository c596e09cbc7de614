"""The ABCI++-shaped application surface, and genesis."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from tests.helpers import CONTRACTS, GENESIS
from wasmchain.node.app import CODE_EXECUTION_FAILED, CODE_INVALID_TX, CODE_OK, Application, verify_query
from wasmchain.protocol.errors import GenesisError, InvalidBlock
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.protocol.keys import contract_address, dev_key
from wasmchain.protocol.state import account_key, storage_key
from wasmchain.protocol.transactions import Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

DEV0, DEV1 = dev_key(0), dev_key(1)
TOKEN_CODE = (CONTRACTS / "token" / "token.wasm").read_bytes()


def tx(nonce: int, kind: TxKind, **fields: Any) -> bytes:
    return Transaction("wasmchain-devnet", nonce, 10**8, 1, DEV0.public_key, kind, **fields).sign(DEV0).encoded


@pytest.fixture
def app() -> Application:
    return Application(Chain.create(MemoryKV(), load_genesis(GENESIS)))


def test_info_reports_the_head(app: Application) -> None:
    info = app.info()
    assert (info.chain_id, info.last_block_height) == ("wasmchain-devnet", 0)
    assert info.last_block_app_hash == app.chain.head.state_root
    assert info.vm_version == "wasmtime-50.0.1/abi-2"


def test_check_tx(app: Application) -> None:
    good = app.check_tx(tx(0, TxKind.TRANSFER, to=DEV1.address, value=5))
    assert (good.code, good.gas_wanted) == (CODE_OK, 10**8)
    stale = app.check_tx(tx(3, TxKind.TRANSFER, to=DEV1.address, value=5))
    assert stale.code == CODE_INVALID_TX and "nonce 3 is ahead" in stale.log
    garbage = app.check_tx(b"\x93\x01\x02")
    assert garbage.code == CODE_INVALID_TX and garbage.log


def test_finalize_then_commit_and_results_per_transaction(app: Application) -> None:
    token = contract_address(DEV0.address, 0)
    deploy = tx(0, TxKind.DEPLOY, code=TOKEN_CODE, method="init", args=msgpack.packb({"supply": 100}))
    overdraft = tx(
        1,
        TxKind.CALL,
        to=token,
        method="transfer",
        args=msgpack.packb({"to": DEV1.address, "amount": 101}, use_bin_type=True),
    )
    reused_nonce = tx(1, TxKind.TRANSFER, to=DEV1.address, value=1)
    response = app.finalize_block(1, 1_800_000_000, [deploy, overdraft, b"\xc1not a tx", reused_nonce])
    assert [result.code for result in response.tx_results] == [
        CODE_OK,
        CODE_EXECUTION_FAILED,
        CODE_INVALID_TX,
        CODE_INVALID_TX,
    ]
    assert "insufficient balance" in response.tx_results[1].log
    assert "nonce 1 was already used" in response.tx_results[3].log
    # Nothing is written until commit.
    assert app.info().last_block_height == 0
    assert app.commit() == 1
    info = app.info()
    assert (info.last_block_height, info.last_block_app_hash) == (1, response.app_hash)
    # The undecodable transaction is not in the block; the other three are.
    assert len(app.chain.block(1).transactions) == 3


def test_finalize_refuses_the_wrong_height_and_commit_needs_finalize(app: Application) -> None:
    with pytest.raises(InvalidBlock, match="height mismatch"):
        app.finalize_block(5, 0, [])
    with pytest.raises(Exception, match="commit without finalize_block"):
        app.commit()


def test_query_with_proofs(app: Application) -> None:
    app.finalize_block(1, 0, [tx(0, TxKind.DEPLOY, code=TOKEN_CODE, method="init", args=msgpack.packb({"supply": 7}))])
    app.commit()
    root = app.info().last_block_app_hash
    account = app.query("/account", DEV0.address, prove=True)
    assert account.code == CODE_OK and account.value
    assert verify_query(root, account_key(DEV0.address), account)
    token = contract_address(DEV0.address, 0)
    missing = app.query("/storage", token + b"no such key", prove=True)
    assert missing.log == "absent" and verify_query(root, storage_key(token, b"no such key"), missing)
    # A proof does not verify for another key.
    assert not verify_query(root, account_key(DEV1.address), account)
    assert app.query("/nonsense", b"").code != CODE_OK
    assert app.query("/block", (9).to_bytes(8, "big")).code != CODE_OK


def document() -> dict[str, Any]:
    return json.loads(GENESIS.read_text())


def test_genesis_with_a_predeployed_contract() -> None:
    doc = document()
    counter = "0x" + "c0" * 20
    doc["contracts"] = [
        {"address": counter, "code": "0x" + (CONTRACTS / "counter" / "counter.wasm").read_bytes().hex(), "balance": 5}
    ]
    chain = Chain.create(MemoryKV(), genesis_from_document(doc))
    address = bytes.fromhex("c0" * 20)
    assert chain.account(address).balance == 5 and chain.account(address).is_contract
    assert msgpack.unpackb(chain.view(address, "increment", b"\x80", 10**8).return_data) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("chain_id"), "missing field 'chain_id'"),
        (lambda d: d.update(extra=1), "unknown field(s) extra"),
        (lambda d: d["accounts"].append(d["accounts"][0]), "appears more than once"),
        (lambda d: d["accounts"][0].update(balance=-1), "accounts[0].balance must be a non-negative integer"),
        (lambda d: d["accounts"][0].update(address="0x12"), "accounts[0].address must be 0x followed by 40"),
        (lambda d: d["accounts"][0].update(balance=1 << 128), "more than 2**128 - 1"),
        (lambda d: d["chain"].pop("min_gas_price"), "chain must have block_gas_limit, max_tx_size and min_gas_price"),
        (lambda d: d["chain"].update(allow_balance_overrides=1), "allow_balance_overrides must be true or false"),
        (lambda d: d["vm"]["gas"].update(host_call=1.5), "vm.gas.host_call: expected a non-negative integer"),
        (
            lambda d: d["vm"].update(version="wasmtime-49.0.0/abi-1"),
            "this node runs 'wasmtime-50.0.1/abi-1' or 'wasmtime-50.0.1/abi-1.1' or 'wasmtime-50.0.1/abi-1.2' or "
            "'wasmtime-50.0.1/abi-2', "
            "genesis asks for 'wasmtime-49.0.0/abi-1'",
        ),
        (lambda d: d.update(contracts=[{"address": "0x" + "c1" * 20, "code": "0x00"}]), "genesis contract"),
    ],
)
def test_bad_genesis_is_refused_naming_the_field(change: Any, message: str) -> None:
    doc = document()
    change(doc)
    with pytest.raises(GenesisError) as refused:
        Chain.create(MemoryKV(), genesis_from_document(doc))
    assert message in str(refused.value)
