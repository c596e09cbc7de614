"""The ABCI 2.0 application (``wasmchain.node.abci.app``) on an in-memory chain, request by request."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from tests.helpers import CONTRACTS, GENESIS
from wasmchain.node import errors as node_errors
from wasmchain.node.abci import app as abci_app
from wasmchain.node.abci.app import (
    CODES,
    CODESPACE,
    PROOF_TYPE,
    AbciApp,
    code_for,
    code_name,
    tx_data_size,
    verify_proof,
)
from wasmchain.node.abci.proto.tendermint.abci import types_pb2
from wasmchain.protocol import errors as protocol_errors
from wasmchain.protocol import smt
from wasmchain.protocol.errors import GenesisError, InvalidBlock, InvalidTransaction
from wasmchain.protocol.genesis import Genesis, genesis_from_document
from wasmchain.protocol.keys import KeyPair, contract_address, dev_key
from wasmchain.protocol.state import Account, account_key, storage_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

DEV0, DEV1 = dev_key(0), dev_key(1)
POOR = dev_key(99)
"""A key with no balance in the devnet genesis."""
TOKEN_CODE = (CONTRACTS / "token" / "token.wasm").read_bytes()
TIME = 1_800_000_000
GAS = 10**8


def signed(
    nonce: int, kind: TxKind = TxKind.TRANSFER, key: KeyPair = DEV0, gas: int = GAS, price: int = 1, **fields: Any
) -> SignedTransaction:
    chain_id = fields.pop("chain_id", "wasmchain-devnet")
    if kind is TxKind.TRANSFER:
        fields.setdefault("to", DEV1.address)
        fields.setdefault("value", 5)
    return Transaction(chain_id, nonce, gas, price, key.public_key, kind, **fields).sign(key)


def tx(nonce: int, kind: TxKind = TxKind.TRANSFER, **fields: Any) -> bytes:
    return signed(nonce, kind, **fields).encoded


def deploy_token(nonce: int = 0, supply: int = 100) -> bytes:
    return tx(nonce, TxKind.DEPLOY, code=TOKEN_CODE, method="init", args=msgpack.packb({"supply": supply}))


def token_transfer(nonce: int, amount: int, token: bytes | None = None) -> bytes:
    token = token or contract_address(DEV0.address, 0)
    args = msgpack.packb({"to": DEV1.address, "amount": amount}, use_bin_type=True)
    return tx(nonce, TxKind.CALL, to=token, method="transfer", args=args)


@pytest.fixture(scope="module")
def genesis() -> Genesis:
    return load_genesis(GENESIS)


def new_app(genesis: Genesis) -> AbciApp:
    return AbciApp(Chain.create(MemoryKV(), genesis))


@pytest.fixture
def app(genesis: Genesis) -> AbciApp:
    return new_app(genesis)


def check(app: AbciApp, raw: bytes, recheck: bool = False) -> types_pb2.ResponseCheckTx:
    kind = types_pb2.CheckTxType.RECHECK if recheck else types_pb2.CheckTxType.NEW
    return app.check_tx(types_pb2.RequestCheckTx(tx=raw, type=kind))


def finalize(app: AbciApp, height: int, txs: list[bytes], seconds: int = TIME, nanos: int = 0) -> Any:
    request = types_pb2.RequestFinalizeBlock(height=height, txs=txs)
    request.time.seconds, request.time.nanos = seconds, nanos
    return app.finalize_block(request)


def block(app: AbciApp, txs: list[bytes], seconds: int = TIME) -> Any:
    """FinalizeBlock then Commit at the next height; the FinalizeBlock response."""
    response = finalize(app, app.chain.head.height + 1, txs, seconds)
    app.commit(types_pb2.RequestCommit())
    return response


# -- info and InitChain ---------------------------------------------------------------------------


def test_info_reports_the_head(app: AbciApp) -> None:
    info = app.info(types_pb2.RequestInfo(version="0.38.26", abci_version="2.0.0"))
    assert (info.last_block_height, info.last_block_app_hash) == (0, app.chain.head.state_root)
    assert info.app_version == 1 and info.data == "wasmchain"
    assert "wasmtime-50.0.1/abi-2" in info.version


def init_request(genesis: Genesis, **fields: Any) -> types_pb2.RequestInitChain:
    values: dict[str, Any] = {"chain_id": genesis.chain_id, "app_state_bytes": genesis.document, "initial_height": 1}
    values.update(fields)
    return types_pb2.RequestInitChain(**values)


def test_init_chain_agrees_and_answers_the_genesis_state_root(app: AbciApp, genesis: Genesis) -> None:
    response = app.init_chain(init_request(genesis))
    assert response.app_hash == app.chain.header(0).state_root
    assert not response.validators and not response.HasField("consensus_params")
    # The document as genesis.json has it (spaces, key order) is the same genesis.
    assert app.init_chain(init_request(genesis, app_state_bytes=GENESIS.read_bytes())).app_hash == response.app_hash
    # No app_state: the chain ids are checked, the data directory's genesis used.
    assert app.init_chain(init_request(genesis, app_state_bytes=b"")).app_hash == response.app_hash


def other_genesis(change: Callable[[dict[str, Any]], object]) -> bytes:
    document = json.loads(GENESIS.read_text())
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"chain_id": "other"}, "CometBFT's chain id 'other' is not this chain's 'wasmchain-devnet'"),
        (
            {"app_state_bytes": other_genesis(lambda d: d["accounts"][0].update(balance=1))},
            r"is not the genesis this data directory was created from \(chain 'wasmchain-devnet', document sha256",
        ),
        (
            {"chain_id": "x", "app_state_bytes": other_genesis(lambda d: d.update(chain_id="x"))},
            "CometBFT's chain id 'x' is not this chain's",
        ),
        (
            {"app_state_bytes": other_genesis(lambda d: d.update(chain_id="x"))},
            "app_state is the genesis of chain 'x', but CometBFT's chain id is 'wasmchain-devnet'",
        ),
        ({"app_state_bytes": b"{not json"}, "app_state is not JSON"),
        ({"app_state_bytes": b"[1, 2]"}, "must be the wasmchain genesis document"),
        ({"app_state_bytes": other_genesis(lambda d: d.pop("vm"))}, "missing field 'vm'"),
        ({"initial_height": 5}, "initial_height is 5"),
    ],
)
def test_init_chain_refusals_name_both_sides(
    app: AbciApp, genesis: Genesis, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(GenesisError, match=message):
        app.init_chain(init_request(genesis, **fields))


def test_init_chain_refuses_a_chain_that_has_blocks(app: AbciApp, genesis: Genesis) -> None:
    block(app, [])
    with pytest.raises(GenesisError, match="chain is at height 1: use a fresh data directory"):
        app.init_chain(init_request(genesis))


# -- CheckTx --------------------------------------------------------------------------------------


def test_the_code_table_is_stable_and_complete() -> None:
    assert CODES["invalid_transaction"] == 1 and CODES["nonce_too_low"] == 11 and CODES["out_of_gas"] == 32
    assert len(set(CODES.values())) == len(CODES) and 0 not in CODES.values()
    reasons = {
        cls.reason
        for module in (protocol_errors, node_errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, InvalidTransaction)
    }
    assert reasons <= set(CODES), reasons - set(CODES)
    for name, code in CODES.items():
        assert code_for(name) == code and code_name(code) == name
    assert code_for("some_new_reason") == 1 and code_name(0) == "ok"
    # The module's docstring lists the same table.
    documented = dict(re.findall(r"(\d+) ([a-z_]+)", (abci_app.__doc__ or "").split("Codes (")[1]))
    assert {name: int(code) for code, name in documented.items()} == {"ok": 0, **CODES}


def small_tx_genesis() -> Genesis:
    document = json.loads(GENESIS.read_text())
    document["chain"]["max_tx_size"] = 400
    return genesis_from_document(document)


BAD_SIGNATURE = SignedTransaction(signed(0).tx, bytes(64)).encoded
CHECK_CASES: list[tuple[str, Callable[[], bytes]]] = [
    ("malformed_transaction", lambda: b"\x93\x01\x02"),
    ("wrong_chain_id", lambda: tx(0, chain_id="other-chain")),
    ("bad_signature", lambda: BAD_SIGNATURE),
    ("gas_price_too_low", lambda: signed(0, price=0).encoded),
    ("gas_limit_too_high", lambda: signed(0, gas=2_000_000_001).encoded),
    ("intrinsic_gas_too_low", lambda: signed(0, gas=1).encoded),
    ("nonce_too_high", lambda: tx(5)),
    ("insufficient_funds", lambda: signed(0, key=POOR).encoded),
    ("invalid_module", lambda: tx(0, TxKind.DEPLOY, code=b"\x00asm\x01\x00\x00\x00garbage")),
    ("unknown_contract", lambda: tx(0, TxKind.CALL, to=bytes(20), method="transfer")),
    ("transaction_too_large", lambda: tx(0, TxKind.CALL, to=bytes(20), method="m", args=b"\xc4\xff" + bytes(255))),
]


@pytest.mark.parametrize(("reason", "make"), CHECK_CASES, ids=[reason for reason, _ in CHECK_CASES])
def test_check_tx_answers_the_stable_code_of_each_refusal(reason: str, make: Callable[[], bytes]) -> None:
    app = AbciApp(Chain.create(MemoryKV(), small_tx_genesis()))
    raw = make()
    response = check(app, raw)
    assert code_name(response.code) == reason, response.log
    assert response.codespace == CODESPACE and response.log
    try:
        assert response.gas_wanted == SignedTransaction.decode(raw).tx.gas_limit
    except InvalidTransaction:
        assert response.gas_wanted == 0


def test_check_tx_refuses_a_used_nonce_an_unknown_method_and_an_existing_contract(app: AbciApp) -> None:
    block(app, [deploy_token(0)])
    assert code_name(check(app, tx(0)).code) == "nonce_too_low"
    token = contract_address(DEV0.address, 0)
    assert code_name(check(app, tx(1, TxKind.CALL, to=token, method="nope")).code) == "unknown_method"
    accepted = check(app, tx(1))
    assert (accepted.code, accepted.gas_wanted, accepted.log) == (0, GAS, "")


def test_check_tx_admits_a_senders_next_nonces_while_the_first_waits(app: AbciApp) -> None:
    assert check(app, tx(0)).code == 0
    assert check(app, tx(1)).code == 0  # ahead of the state, next after the admitted one
    assert check(app, tx(2)).code == 0
    taken = check(app, tx(1, value=6))
    assert code_name(taken.code) == "nonce_taken" and "next nonce is 3" in taken.log
    gap = check(app, tx(4))
    assert code_name(gap.code) == "nonce_too_high" and "holds its transactions up to 2" in gap.log
    assert code_name(check(app, tx(0, value=7)).code) == "nonce_taken"
    # Another sender is unaffected.
    assert check(app, tx(0, key=DEV1, to=DEV0.address)).code == 0
    # A block holds the first one; Commit forgets what was admitted, and CometBFT rechecks its mempool in order.
    block(app, [tx(0)])
    assert code_name(check(app, tx(0), recheck=True).code) == "nonce_too_low"
    assert check(app, tx(1), recheck=True).code == 0
    assert check(app, tx(2), recheck=True).code == 0
    assert check(app, tx(3)).code == 0


def test_check_tx_needs_no_recheck_after_a_block(app: AbciApp) -> None:
    """With CometBFT's ``recheck = false`` nothing is checked again after a block: what a block took leaves the
    pending nonces, the rest stays, and a sender's next nonce after them is admitted (before, Commit forgot every
    admitted one and only a recheck brought them back)."""
    assert [check(app, tx(nonce)).code for nonce in range(3)] == [0, 0, 0]
    block(app, [tx(0)])
    assert check(app, tx(3)).code == 0
    assert code_name(check(app, tx(2, value=9)).code) == "nonce_taken"
    gap = check(app, tx(5))
    assert code_name(gap.code) == "nonce_too_high" and "holds its transactions up to 3" in gap.log
    # A recheck after the block still admits the ones left, in their place, and refuses the one taken.
    assert code_name(check(app, tx(0), recheck=True).code) == "nonce_too_low"
    assert [check(app, tx(nonce), recheck=True).code for nonce in (1, 2, 3)] == [0, 0, 0]


def test_check_tx_between_finalize_block_and_commit_still_counts_the_block_s_transactions(app: AbciApp) -> None:
    """CometBFT may send a CheckTx between FinalizeBlock and Commit: it reads the state before the block, so the
    block's transactions must still count as pending until Commit."""
    assert check(app, tx(0)).code == check(app, tx(1)).code == 0
    finalize(app, 1, [tx(0)])
    assert check(app, tx(2)).code == 0
    app.commit(types_pb2.RequestCommit())
    assert check(app, tx(3)).code == 0


def test_a_transaction_a_block_took_without_its_nonce_is_forgotten(app: AbciApp) -> None:
    """Nonce 1 in a block before nonce 0 runs invalid and takes no nonce: it left CometBFT's mempool all the same,
    so its nonce is free again for the sender's next transaction."""
    assert check(app, tx(0)).code == 0
    assert check(app, tx(1)).code == 0
    response = block(app, [tx(1)])
    assert response.tx_results[0].code == CODES["invalid_transaction"]
    assert check(app, tx(1, value=9)).code == 0  # (nonce 0 still pending, nonce 1 free)


def test_a_transaction_refused_on_a_recheck_is_forgotten(genesis: Genesis) -> None:
    """Another transaction of the sender's drains its balance in a block; the recheck of its pending nonce 1
    refuses it (CometBFT drops it), and a new nonce 1 is then checked on its own (not ``nonce_taken``)."""
    document = json.loads(GENESIS.read_text())
    rich = KeyPair(bytes(range(32)))
    document["accounts"].append({"address": "0x" + rich.address.hex(), "balance": 3 * GAS})
    app = AbciApp(Chain.create(MemoryKV(), genesis_from_document(document)))
    first, second = signed(0, key=rich, value=0).encoded, signed(1, key=rich, value=0).encoded
    assert check(app, first).code == check(app, second).code == 0
    block(app, [signed(0, key=rich, value=2 * GAS - 1).encoded])
    assert code_name(check(app, second, recheck=True).code) == "insufficient_funds"
    assert code_name(check(app, signed(1, key=rich, value=1).encoded).code) == "insufficient_funds"


def test_an_admitted_transaction_no_block_takes_is_forgotten_after_pending_blocks(
    app: AbciApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wasmchain.node.abci.app as abci_app

    monkeypatch.setattr(abci_app, "PENDING_BLOCKS", 2)
    assert check(app, tx(0)).code == 0
    block(app, [])
    assert code_name(check(app, tx(0, value=9)).code) == "nonce_taken"
    block(app, [])
    block(app, [])
    assert check(app, tx(0, value=9)).code == 0  # (CometBFT may have dropped the first: it is no longer held)


def test_check_tx_counts_the_admitted_transactions_against_the_balance(genesis: Genesis) -> None:
    document = json.loads(GENESIS.read_text())
    rich = KeyPair(bytes(range(32)))
    document["accounts"].append({"address": "0x" + rich.address.hex(), "balance": 3 * GAS})
    app = AbciApp(Chain.create(MemoryKV(), genesis_from_document(document)))
    assert check(app, signed(0, key=rich, value=GAS).encoded).code == 0  # costs 2 x GAS at most
    refused = check(app, signed(1, key=rich, value=1).encoded)  # GAS + 1 more: over by 1
    assert code_name(refused.code) == "insufficient_funds" and "already in the mempool (200000000)" in refused.log
    assert check(app, signed(1, key=rich, value=0).encoded).code == 0


# -- proposals ------------------------------------------------------------------------------------


def prepare(app: AbciApp, txs: list[bytes], max_tx_bytes: int) -> list[bytes]:
    request = types_pb2.RequestPrepareProposal(txs=txs, max_tx_bytes=max_tx_bytes, height=1)
    return list(app.prepare_proposal(request).txs)


def process(app: AbciApp, txs: list[bytes]) -> str:
    response = app.process_proposal(types_pb2.RequestProcessProposal(txs=txs, height=1))
    return str(types_pb2.ResponseProcessProposal.ProposalStatus.Name(response.status))


def test_prepare_proposal_keeps_the_order_and_the_byte_limit(app: AbciApp) -> None:
    txs = [tx(0), b"\xc1garbage", tx(1), tx(2)]
    assert prepare(app, txs, 10**6) == [txs[0], txs[2], txs[3]]
    two = tx_data_size(txs[0]) + tx_data_size(txs[2])
    assert tx_data_size(txs[0]) == 1 + 2 + len(txs[0])  # a tag, a 2-byte length, the bytes
    assert prepare(app, txs, two) == [txs[0], txs[2]]
    assert prepare(app, txs, two - 1) == [txs[0]]
    assert prepare(app, txs, 0) == []
    assert prepare(app, [], 100) == []


def test_prepare_proposal_stops_at_the_block_gas_limit(app: AbciApp) -> None:
    half = 1_000_000_000  # the devnet's block gas limit is 2e9
    txs = [signed(n, gas=half).encoded for n in range(3)] + [signed(3, gas=1).encoded]
    assert prepare(app, txs, 10**6) == txs[:2]


def test_process_proposal_refuses_only_block_level_breaks(app: AbciApp) -> None:
    assert process(app, []) == "ACCEPT"
    assert process(app, [tx(0), tx(1)]) == "ACCEPT"
    # An invalid transaction is the block's business (an invalid receipt), not the proposal's.
    assert process(app, [tx(7), tx(0, key=POOR)]) == "ACCEPT"
    assert process(app, [tx(0), b"\xc1"]) == "REJECT"
    assert process(app, [signed(n, gas=1_000_000_000).encoded for n in range(3)]) == "REJECT"
    assert app.proposal_refusal([signed(n, gas=1_000_000_000).encoded for n in range(3)]) == (
        "the gas limits add up to 3000000000, over the block gas limit 2000000000"
    )


# -- FinalizeBlock and Commit ---------------------------------------------------------------------


def test_finalize_and_commit_make_the_block_our_own_node_makes(app: AbciApp, genesis: Genesis) -> None:
    txs = [deploy_token(0), token_transfer(1, 30), tx(2)]
    response = finalize(app, 1, txs, TIME, 999_999_999)
    assert app.chain.head.height == 0  # nothing written before Commit
    commit = app.commit(types_pb2.RequestCommit())
    assert commit.retain_height == 0
    own = Chain.create(MemoryKV(), genesis)
    own.produce([SignedTransaction.decode(raw) for raw in txs], TIME)
    assert response.app_hash == own.head.state_root == app.chain.head.state_root
    assert app.chain.block(1).encode() == own.block(1).encode()
    assert app.chain.receipts(1) == own.receipts(1)
    assert app.chain.head.timestamp == TIME  # floored to whole seconds
    assert [result.code for result in response.tx_results] == [0, 0, 0]
    deployed, transfer, _ = response.tx_results
    token = contract_address(DEV0.address, 0)
    assert deployed.info == f"ok contract_address=0x{token.hex()}"
    assert (transfer.gas_wanted, transfer.gas_used) == (GAS, own.receipts(1)[1].gas_used)
    (event,) = transfer.events
    assert event.type == "Transfer"
    data = "0x" + own.receipts(1)[1].events[0].data.hex()
    assert [(a.key, a.value, a.index) for a in event.attributes] == [
        ("contract", "0x" + token.hex(), True),
        ("data", data, True),
    ]
    info = app.info(types_pb2.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == (1, response.app_hash)


def test_results_of_failing_invalid_and_undecodable_transactions(app: AbciApp) -> None:
    block(app, [deploy_token(0)])
    response = finalize(app, 2, [token_transfer(1, 101), b"\xc1not a tx", tx(1), tx(2)])
    overdraft, garbage, reused, ok = response.tx_results
    assert code_name(overdraft.code) in {"abort", "trap"} and "insufficient balance" in overdraft.log
    assert overdraft.gas_used > 0 and overdraft.codespace == CODESPACE and not overdraft.events
    assert code_name(garbage.code) == "malformed_transaction" and garbage.log and garbage.gas_wanted == 0
    assert code_name(reused.code) == "invalid_transaction" and "nonce 1 was already used" in reused.log
    assert reused.info == "invalid" and reused.gas_used == 0
    assert ok.code == 0 and ok.codespace == ""
    app.commit(types_pb2.RequestCommit())
    # The undecodable transaction is not in our block; the other three are, at CometBFT's height.
    assert [t.encoded for t in app.chain.block(2).transactions] == [token_transfer(1, 101), tx(1), tx(2)]


def test_the_block_time_is_the_requests_never_before_the_head(app: AbciApp) -> None:
    block(app, [], seconds=TIME)
    block(app, [], seconds=TIME - 50)  # a proposer whose clock is behind
    assert app.chain.head.timestamp == TIME
    block(app, [], seconds=TIME + 7)
    assert [app.chain.header(h).timestamp for h in (1, 2, 3)] == [TIME, TIME, TIME + 7]


def test_finalize_refuses_another_height_and_commit_needs_a_finalized_block(app: AbciApp) -> None:
    with pytest.raises(InvalidBlock, match="height mismatch: computed 1, block has 3"):
        finalize(app, 3, [])
    with pytest.raises(Exception, match="commit without finalize_block"):
        app.commit(types_pb2.RequestCommit())


# -- Query ----------------------------------------------------------------------------------------


def query(app: AbciApp, path: str, data: bytes, prove: bool = True, height: int = 0) -> Any:
    return app.query(types_pb2.RequestQuery(path=path, data=data, prove=prove, height=height))


def test_query_proves_against_the_app_hash(app: AbciApp) -> None:
    root = block(app, [deploy_token(0, supply=7)]).app_hash
    account = query(app, "/account", DEV0.address)
    assert account.code == 0 and account.height == 1 and account.key == DEV0.address
    assert Account.decode(account.value).nonce == 1
    (op,) = account.proof_ops.ops
    assert op.type == PROOF_TYPE and op.key == account_key(DEV0.address)
    assert smt.verify(root, account_key(DEV0.address), account.value, smt.Proof.from_json(json.loads(op.data)))
    assert verify_proof(root, "/account", DEV0.address, account)
    assert not verify_proof(root, "/account", DEV1.address, account)  # not a proof for another account
    token = contract_address(DEV0.address, 0)
    missing = query(app, "/storage", token + b"no such key")
    assert (missing.code, missing.log, missing.value) == (0, "absent", b"")
    assert verify_proof(root, "/storage", token + b"no such key", missing)
    assert smt.verify(
        root, storage_key(token, b"no such key"), None, smt.Proof.from_json(json.loads(missing.proof_ops.ops[0].data))
    )
    assert not query(app, "/account", DEV0.address, prove=False).proof_ops.ops


def test_query_blocks_and_refusals(app: AbciApp) -> None:
    block(app, [tx(0)])
    found = query(app, "/block", (1).to_bytes(8, "big"))
    assert found.code == 0 and found.value == app.chain.block(1).encode()
    cases = [
        (("/block", (9).to_bytes(8, "big")), "not_found"),
        (("/nonsense", b""), "unknown_query"),
        (("/account", b"short"), "unknown_query"),
    ]
    for (path, data), name in cases:
        response = query(app, path, data)
        assert code_name(response.code) == name and response.codespace == CODESPACE and response.log
    old = query(app, "/account", DEV0.address, height=0)
    assert old.code == 0
    assert query(app, "/account", DEV0.address, height=1).code == 0
    assert code_name(query(app, "/account", DEV0.address, height=5).code) == "height_unavailable"


# -- the rest, the dispatch, determinism ----------------------------------------------------------


def test_state_sync_is_refused_and_vote_extensions_are_empty(app: AbciApp) -> None:
    assert not app.list_snapshots(types_pb2.RequestListSnapshots()).snapshots
    offer = app.offer_snapshot(types_pb2.RequestOfferSnapshot())
    assert offer.result == types_pb2.ResponseOfferSnapshot.Result.REJECT
    assert app.load_snapshot_chunk(types_pb2.RequestLoadSnapshotChunk()).chunk == b""
    applied = app.apply_snapshot_chunk(types_pb2.RequestApplySnapshotChunk())
    assert applied.result == types_pb2.ResponseApplySnapshotChunk.Result.REJECT_SNAPSHOT
    assert app.extend_vote(types_pb2.RequestExtendVote()).vote_extension == b""
    verified = app.verify_vote_extension(types_pb2.RequestVerifyVoteExtension())
    assert verified.status == types_pb2.ResponseVerifyVoteExtension.VerifyStatus.ACCEPT


def test_respond_answers_each_request_in_its_own_field(app: AbciApp) -> None:
    response = app.respond(types_pb2.Request(info=types_pb2.RequestInfo()))
    assert response.WhichOneof("value") == "info" and response.info.last_block_height == 0
    response = app.respond(types_pb2.Request(check_tx=types_pb2.RequestCheckTx(tx=tx(0))))
    assert response.WhichOneof("value") == "check_tx" and response.check_tx.code == 0


def session(genesis: Genesis) -> list[bytes]:
    """A fixed run of requests through ``respond``; every response, serialized."""
    app = new_app(genesis)
    requests = [
        types_pb2.Request(init_chain=init_request(genesis)),
        types_pb2.Request(check_tx=types_pb2.RequestCheckTx(tx=deploy_token(0))),
        types_pb2.Request(check_tx=types_pb2.RequestCheckTx(tx=token_transfer(1, 5))),
        types_pb2.Request(prepare_proposal=types_pb2.RequestPrepareProposal(txs=[deploy_token(0)], max_tx_bytes=10**6)),
    ]
    first = types_pb2.RequestFinalizeBlock(height=1, txs=[deploy_token(0), token_transfer(1, 5), b"\x00"])
    first.time.seconds, first.time.nanos = TIME, 5
    second = types_pb2.RequestFinalizeBlock(height=2, txs=[token_transfer(2, 500), tx(3), tx(9)])
    second.time.seconds = TIME + 1
    for finalize_request in (first, second):
        requests += [
            types_pb2.Request(process_proposal=types_pb2.RequestProcessProposal(txs=finalize_request.txs)),
            types_pb2.Request(finalize_block=finalize_request),
            types_pb2.Request(commit=types_pb2.RequestCommit()),
            types_pb2.Request(check_tx=types_pb2.RequestCheckTx(tx=tx(3), type=types_pb2.CheckTxType.RECHECK)),
        ]
    requests += [
        types_pb2.Request(info=types_pb2.RequestInfo()),
        types_pb2.Request(query=types_pb2.RequestQuery(path="/account", data=DEV1.address, prove=True)),
    ]
    return [app.respond(request).SerializeToString(deterministic=True) for request in requests]


def test_two_fresh_apps_fed_the_same_requests_answer_the_same_bytes(genesis: Genesis) -> None:
    first, second = session(genesis), session(genesis)
    assert first == second
    responses = [types_pb2.Response.FromString(data) for data in first]
    hashes = [r.finalize_block.app_hash for r in responses if r.WhichOneof("value") == "finalize_block"]
    assert len(set(hashes)) == 2 and all(len(h) == 32 for h in hashes)


# -- one decoding and one signature check per transaction ---------------------------------------


def test_a_transaction_is_verified_once_from_check_tx_to_its_block(
    app: AbciApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CheckTx decodes a transaction and verifies its signature; the recheck, the proposal and FinalizeBlock take
    the same decoded transaction, so the signature is not verified again (Ed25519 is most of a CheckTx)."""
    from wasmchain.protocol import transactions

    verified: list[bytes] = []
    real = transactions.verify_signature

    def counting(public_key: bytes, signature: bytes, message: bytes) -> bool:
        verified.append(signature)
        return real(public_key, signature, message)

    monkeypatch.setattr(transactions, "verify_signature", counting)
    raws = [tx(nonce) for nonce in range(3)]
    assert [check(app, raw).code for raw in raws] == [0, 0, 0]
    assert len(verified) == 3
    assert check(app, raws[2], recheck=True).code == 0  # (the same bytes again: admitted in their place)
    proposal = app.prepare_proposal(types_pb2.RequestPrepareProposal(txs=raws, max_tx_bytes=1 << 20))
    assert list(proposal.txs) == raws
    response = block(app, raws)
    assert [result.code for result in response.tx_results] == [0, 0, 0]
    assert len(verified) == 3


def test_a_bad_signature_stays_bad_whatever_was_decoded_before(app: AbciApp) -> None:
    """The cache is keyed by the whole bytes, signature included: a transaction whose signature is not its
    sender's is refused by CheckTx and gets an invalid receipt in a block, after its valid twin was admitted."""
    good = signed(0)
    forged = SignedTransaction(good.tx, bytes(64)).encoded
    assert check(app, good.encoded).code == 0
    assert check(app, forged).code == CODES["bad_signature"]
    assert check(app, forged).code == CODES["bad_signature"]  # (decoded once, refused every time)
    response = block(app, [forged, good.encoded])
    assert [result.code for result in response.tx_results] == [CODES["invalid_transaction"], 0]
    assert "bad signature" in response.tx_results[0].log


def test_the_decoded_cache_is_bounded(app: AbciApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(abci_app, "DECODED_CACHE", 2)
    raws = [tx(nonce) for nonce in range(4)]
    for raw in raws:
        check(app, raw)
    assert list(app._decoded) == raws[2:]
