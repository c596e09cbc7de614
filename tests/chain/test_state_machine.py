"""The chain against a slow, obviously-right reference model of accounts, tokens and counters.

Random blocks of one to four transactions (native transfers, token deploys,
token transfers, counter increments, calls starved of gas, and invalid
transactions of every kind) go through ``Chain.finalize`` / ``commit``.
The model predicts, from the rules alone, which transaction is invalid,
which fails and how, and which succeeds; it takes from the receipts only
the gas figure, to charge the fee.  After each block every balance, nonce,
token balance and counter must equal the model's, and the native supply
must be conserved (fees are burned).

Each transaction is also checked on its own: the block is finalized once
per prefix of its transactions, and adding a failed transaction may change
only its sender's account (nonce and fee), adding an invalid one nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from wasmchain.protocol import state
from wasmchain.protocol.blocks import Receipt
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.protocol.keys import KeyPair, dev_key
from wasmchain.protocol.state import (
    Account,
    account_key,
    debit_fee,
    increment_nonce,
    move_balance,
    refund,
    set_balance,
    set_code,
)
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.store import schema
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV

ROOT = Path(__file__).resolve().parents[2]
TOKEN_CODE = (ROOT / "contracts" / "token" / "token.wasm").read_bytes()
COUNTER_CODE = (ROOT / "contracts" / "counter" / "counter.wasm").read_bytes()

DEVNET = json.loads((ROOT / "genesis.json").read_text())
GAS = DEVNET["vm"]["gas"]
TX_BASE, TX_BYTE, INSTANTIATE = GAS["tx_base"], GAS["tx_byte"], GAS["instantiate"]
"""From the genesis document, not from the code: the intrinsic cost of a transaction and of a call."""
CHAIN_ID = DEVNET["chain_id"]
BLOCK_GAS_LIMIT = DEVNET["chain"]["block_gas_limit"]
MIN_GAS_PRICE = DEVNET["chain"]["min_gas_price"]

KEYS = [dev_key(i) for i in range(4)]
FUNDING = [10**10, 10**9, 3 * 10**8, 0]
"""dev3 starts with nothing (it is not in genesis): it can only receive, until someone pays it."""
GENESIS_SUPPLY = sum(FUNDING)

DEPLOY_GAS = 10**8
"""Enough for compiling the token (about 3 x 10**7) and its init."""
CALL_GAS = 2_000_000
"""Enough for any token transfer or increment (about 3.5 x 10**5)."""
INITIAL_TOKEN_SUPPLY = 10**6


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def address_of(key: KeyPair) -> bytes:
    """The account address, from its definition: SHA-256 of the public key, first 20 bytes."""
    return sha256(key.public_key)[:20]


def contract_address_of(deployer: bytes, nonce: int) -> bytes:
    return sha256(b"wasmchain/contract" + deployer + nonce.to_bytes(8, "big"))[:20]


ADDRESSES = [address_of(key) for key in KEYS]


def packed(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)


def genesis_document() -> dict[str, Any]:
    document = json.loads(json.dumps(DEVNET))
    document["accounts"] = [
        {"address": "0x" + address.hex(), "balance": balance} for address, balance in zip(ADDRESSES, FUNDING) if balance
    ]
    return document


# --- what the state machine draws: plain data, turned into transactions against the model ---

PRICES = st.sampled_from([1, 1, 2, 7])
ACCOUNT = st.integers(0, len(KEYS) - 1)
FRACTION = st.sampled_from(["zero", "some", "all", "one_more", "lots_more"])
"""An amount relative to what the sender holds: the boundary is where bugs live."""
INVALID_FLAVOURS = st.sampled_from(
    [
        "nonce_ahead",
        "nonce_behind",
        "wrong_chain_id",
        "tampered_signature",
        "wrong_signer",
        "unaffordable_gas",
        "below_intrinsic_gas",
        "gas_price_below_minimum",
        "above_block_gas_limit",
        "no_such_contract",
    ]
)

TX_SPECS = st.one_of(
    st.tuples(st.just("native"), ACCOUNT, st.integers(0, len(KEYS) + 1), FRACTION, PRICES),
    st.tuples(
        st.just("token"),
        st.integers(0, 3),
        ACCOUNT,
        st.integers(0, len(KEYS) + 1),
        FRACTION,
        PRICES,
        st.sampled_from([0, 0, 5]),
    ),
    st.tuples(st.just("increment"), ACCOUNT, PRICES, st.sampled_from([0, 0, 3])),
    st.tuples(st.just("starve"), st.sampled_from(["token", "counter"]), ACCOUNT, st.integers(0, INSTANTIATE - 1)),
    st.tuples(st.just("deploy"), ACCOUNT, st.integers(0, 2**64 - 1), st.sampled_from([0, 9]), st.booleans()),
    st.tuples(st.just("invalid"), INVALID_FLAVOURS, ACCOUNT, st.booleans()),
    st.tuples(st.just("replay"), st.integers(0, 2**16)),
)
"""A replay includes again a transaction from an earlier block or from this one: invalid, unless it
was refused before for a nonce ahead and its turn has come.  A deploy may be "prefunded": someone
first pays the (predictable) address of the contract."""


@dataclass(frozen=True)
class Planned:
    """A transaction, and what the model knows about it that the transaction does not say."""

    signed: SignedTransaction
    signature_ok: bool


class Model:
    """Balances, nonces, tokens and counters, updated by the rules as written in the docs."""

    def __init__(self) -> None:
        self.balances = dict(zip(ADDRESSES, FUNDING))
        self.nonces = {address: 0 for address in ADDRESSES}
        self.tokens: dict[bytes, dict[bytes, int]] = {}
        self.supplies: dict[bytes, int] = {}
        self.counters: dict[bytes, int] = {}
        self.fees = 0

    @property
    def contracts(self) -> list[bytes]:
        return [*self.tokens, *self.counters]

    def holders(self) -> list[bytes]:
        """Every address the model knows: the keys, the contracts, and addresses paid ahead of a deploy."""
        return list(self.balances)

    def intrinsic(self, signed: SignedTransaction) -> int:
        return TX_BASE + TX_BYTE * len(signed.encoded)

    def rejection(self, planned: Planned, gas_left: int) -> str | None:
        """Why the transaction is invalid, or None: the validity rules of the docs."""
        tx = planned.signed.tx
        sender = sha256(tx.public_key)[:20]
        if tx.chain_id != CHAIN_ID:
            return "chain id"
        if not planned.signature_ok:
            return "signature"
        if tx.gas_price < MIN_GAS_PRICE:
            return "gas price"
        if tx.gas_limit > min(BLOCK_GAS_LIMIT, gas_left):
            return "block gas limit"
        if tx.kind is not TxKind.DEPLOY and tx.gas_limit < self.intrinsic(planned.signed):
            return "intrinsic gas"
        if tx.nonce != self.nonces.get(sender, 0):
            return "nonce"
        if tx.value + tx.gas_limit * tx.gas_price > self.balances.get(sender, 0):
            return "balance"
        if tx.kind is TxKind.CALL and tx.to not in self.contracts:
            return "no contract"
        return None

    def apply(self, planned: Planned, receipt: Receipt, gas_left: int) -> str:
        """Predict the receipt's status, check its gas, and apply the transaction to the model."""
        signed = planned.signed
        tx = signed.tx
        if self.rejection(planned, gas_left) is not None:
            assert receipt.gas_used == 0, receipt
            return "invalid"
        sender = sha256(tx.public_key)[:20]
        assert receipt.gas_used <= tx.gas_limit, receipt
        if tx.kind is not TxKind.DEPLOY:
            assert receipt.gas_used >= self.intrinsic(signed), receipt
        fee = receipt.gas_used * tx.gas_price
        self.fees += fee
        self.balances[sender] -= fee
        self.nonces[sender] += 1

        if tx.kind is TxKind.TRANSFER:
            assert receipt.gas_used == self.intrinsic(signed), "a transfer costs exactly its intrinsic gas"
            self.move(sender, tx.to, tx.value)
            return "ok"
        if tx.kind is TxKind.DEPLOY:
            address = contract_address_of(sender, tx.nonce)
            assert receipt.contract_address == (address if receipt.ok else b"")
            self.balances.setdefault(address, 0)  # it may have been paid before the deploy: that stays
            self.nonces.setdefault(address, 0)
            if tx.code == TOKEN_CODE:
                supply = msgpack.unpackb(tx.args)["supply"]
                self.tokens[address] = {sender: supply}
                self.supplies[address] = supply
            else:
                self.counters[address] = 0
            self.move(sender, address, tx.value)
            return "ok"
        if tx.gas_limit - self.intrinsic(signed) < INSTANTIATE:
            assert receipt.gas_used == tx.gas_limit, "running out of gas burns the whole limit"
            return "out_of_gas"
        if tx.to in self.counters:
            self.counters[tx.to] += 1
            assert msgpack.unpackb(receipt.return_data) == self.counters[tx.to]
            self.move(sender, tx.to, tx.value)
            return "ok"
        arguments = msgpack.unpackb(tx.args)
        holdings = self.tokens[tx.to]
        have, amount = holdings.get(sender, 0), arguments["amount"]
        if amount > have:
            assert receipt.error == f"insufficient balance: have {have}, need {amount}"
            return "abort"
        holdings[sender] = have - amount
        holdings[arguments["to"]] = holdings.get(arguments["to"], 0) + amount
        self.move(sender, tx.to, tx.value)
        return "ok"

    def move(self, sender: bytes, recipient: bytes, value: int) -> None:
        self.balances[sender] -= value
        self.balances[recipient] = self.balances.get(recipient, 0) + value
        self.nonces.setdefault(recipient, 0)


class ChainMachine(RuleBasedStateMachine):
    """Blocks of random transactions on a MemoryKV chain, checked against ``Model`` after each."""

    def __init__(self) -> None:
        super().__init__()
        self.kv = MemoryKV()
        self.chain = Chain.create(self.kv, genesis_from_document(genesis_document()))
        self.model = Model()
        self.time = self.chain.head.timestamp
        self.history: list[Planned] = []
        """Every transaction included so far, for replays."""
        self.index: dict[bytes, tuple[int, int]] = {}
        """Where a lookup by hash must find each transaction: the inclusion that executed, if any,
        else the first one."""

    # -- building transactions from the model's view at the start of the block ---------

    def plan(self, specs: list[tuple[Any, ...]]) -> list[Planned]:
        nonces = dict(self.model.nonces)
        planned: list[Planned] = []
        for spec in specs:
            if spec[0] == "replay":
                candidates = self.history + planned
                if candidates:
                    planned.append(candidates[spec[1] % len(candidates)])
                continue
            if spec[0] == "deploy" and spec[-1]:
                deployer = ADDRESSES[spec[1]]
                target = contract_address_of(deployer, nonces.get(deployer, 0))
                planned.append(
                    self.sign(
                        KEYS[(spec[1] + 1) % 3],
                        nonces,
                        gas_limit=CALL_GAS,
                        gas_price=1,
                        kind=TxKind.TRANSFER,
                        to=target,
                        value=2,
                    )
                )
            planned.append(self.build(spec, nonces))
        return planned

    def sign(self, key: KeyPair, nonces: dict[bytes, int], **fields: Any) -> Planned:
        sender = address_of(key)
        fields.setdefault("chain_id", CHAIN_ID)
        fields.setdefault("nonce", nonces.get(sender, 0))
        tx = Transaction(public_key=key.public_key, **fields)
        nonces[sender] = tx.nonce + 1
        return Planned(tx.sign(key), True)

    def amount(self, fraction: str, have: int) -> int:
        amounts = {"zero": 0, "some": have // 3, "all": have, "one_more": have + 1, "lots_more": 2 * have + 10**6}
        return amounts[fraction]

    def recipient(self, index: int) -> bytes:
        targets = [*ADDRESSES, *self.model.contracts]
        return targets[index % len(targets)]

    def build(self, spec: tuple[Any, ...], nonces: dict[bytes, int]) -> Planned:
        model = self.model
        kind = spec[0]
        if kind == "native":
            _, who, to, fraction, price = spec
            key = KEYS[who]
            spendable = max(model.balances[address_of(key)] - CALL_GAS * price, 0)
            return self.sign(
                key,
                nonces,
                gas_limit=CALL_GAS,
                gas_price=price,
                kind=TxKind.TRANSFER,
                to=self.recipient(to),
                value=self.amount(fraction, spendable),
            )
        if kind == "token":
            _, token_index, who, to, fraction, price, value = spec
            token = list(model.tokens)[token_index % len(model.tokens)]
            key = KEYS[who]
            amount = min(self.amount(fraction, model.tokens[token].get(address_of(key), 0)), 2**64 - 1)
            return self.sign(
                key,
                nonces,
                gas_limit=CALL_GAS,
                gas_price=price,
                kind=TxKind.CALL,
                to=token,
                value=value,
                method="transfer",
                args=packed(to=self.recipient(to), amount=amount),
            )
        if kind == "increment":
            _, who, price, value = spec
            return self.sign(
                KEYS[who],
                nonces,
                gas_limit=CALL_GAS,
                gas_price=price,
                kind=TxKind.CALL,
                to=next(iter(model.counters)),
                value=value,
                method="increment",
            )
        if kind == "starve":
            _, target, who, slack = spec
            key = KEYS[who]
            if target == "token":
                contract, method, args = next(iter(model.tokens)), "transfer", packed(to=ADDRESSES[0], amount=0)
            else:
                contract, method, args = next(iter(model.counters)), "increment", b""
            fields = dict(gas_price=1, kind=TxKind.CALL, to=contract, method=method, args=args)
            probe = self.sign(key, dict(nonces), gas_limit=CALL_GAS, **fields)
            # A limit under 65536 encodes 2 bytes shorter (intrinsic 40 lower); the budget stays far
            # below one instantiation, and the model reads the real size anyway.
            return self.sign(key, nonces, gas_limit=model.intrinsic(probe.signed) + slack, **fields)
        if kind == "deploy":
            _, who, supply, value, _ = spec
            return self.sign(
                KEYS[who],
                nonces,
                gas_limit=DEPLOY_GAS,
                gas_price=1,
                kind=TxKind.DEPLOY,
                code=TOKEN_CODE,
                value=value,
                method="init",
                args=packed(supply=supply),
            )
        _, flavour, who, as_call = spec
        return self.invalid(flavour, KEYS[who], as_call, nonces)

    def invalid(self, flavour: str, key: KeyPair, as_call: bool, nonces: dict[bytes, int]) -> Planned:
        """A transaction the model expects to be refused (the model decides, not this label)."""
        sender = address_of(key)
        fields: dict[str, Any] = dict(gas_limit=CALL_GAS, gas_price=1, kind=TxKind.TRANSFER, to=ADDRESSES[0], value=1)
        if as_call:
            fields.update(kind=TxKind.CALL, to=next(iter(self.model.counters)), value=0, method="increment")
        expected_nonce = nonces.get(sender, 0)
        scratch = dict(nonces)  # an invalid transaction does not use up the nonce
        if flavour == "nonce_ahead":
            fields["nonce"] = expected_nonce + 1
        elif flavour == "nonce_behind":
            fields["nonce"] = max(expected_nonce - 1, 0) if expected_nonce else expected_nonce + 5
        elif flavour == "wrong_chain_id":
            fields["chain_id"] = CHAIN_ID + "-other"
        elif flavour == "unaffordable_gas":
            fields["gas_price"] = self.model.balances.get(sender, 0) // CALL_GAS + 1
        elif flavour == "below_intrinsic_gas":
            fields["gas_limit"] = TX_BASE
        elif flavour == "gas_price_below_minimum":
            fields["gas_price"] = MIN_GAS_PRICE - 1
        elif flavour == "above_block_gas_limit":
            fields["gas_limit"] = BLOCK_GAS_LIMIT + 1
        elif flavour == "no_such_contract":
            fields.update(kind=TxKind.CALL, to=sha256(b"nobody")[:20], value=0, method="increment")
        planned = self.sign(key, scratch, **fields)
        signed = planned.signed
        if flavour == "tampered_signature":
            signature = bytearray(signed.signature)
            signature[len(signature) // 2] ^= 0x01
            return Planned(SignedTransaction(signed.tx, bytes(signature)), False)
        if flavour == "wrong_signer":
            other = KEYS[(KEYS.index(key) + 1) % len(KEYS)]
            return Planned(SignedTransaction(signed.tx, other.sign(signed.tx.signing_bytes())), False)
        return planned

    # -- running a block --------------------------------------------------------------

    def run_block(self, planned: list[Planned]) -> None:
        self.time += 1
        transactions = [item.signed for item in planned]
        # One finalize per prefix: prefix i+1 minus prefix i is what transaction i did.
        prefixes = [self.chain.finalize(transactions[:n], self.time) for n in range(len(transactions) + 1)]
        final = prefixes[-1]
        receipts = final.receipts
        assert len(receipts) == len(transactions)
        for n, pending in enumerate(prefixes):
            assert pending.receipts == receipts[:n], "a transaction's receipt depends on later transactions"
        changed = [self.changed_keys(before.changes, after.changes) for before, after in zip(prefixes, prefixes[1:])]
        self.chain.commit(final)
        assert self.chain.head == final.block.header

        gas_left = BLOCK_GAS_LIMIT
        for index, (item, receipt) in enumerate(zip(planned, receipts)):
            assert receipt.tx_hash == sha256(item.signed.encoded)
            sender_key = account_key(sha256(item.signed.tx.public_key)[:20])
            status = self.model.apply(item, receipt, gas_left)
            assert receipt.status == status, (index, receipt, item.signed.tx)
            if status == "invalid":
                assert changed[index] == set(), f"an invalid transaction changed {changed[index]}"
            elif status != "ok":
                assert changed[index] == {sender_key}, f"a failed transaction changed {changed[index]}"
            gas_left -= receipt.gas_used
            if status != "invalid" or item.signed.hash not in self.index:
                self.index[item.signed.hash] = (self.chain.head.height, index)
        self.history += planned
        assert self.chain.head.gas_used == sum(receipt.gas_used for receipt in receipts)

    def changed_keys(self, before: dict[bytes, bytes | None], after: dict[bytes, bytes | None]) -> set[bytes]:
        """State keys whose value differs between two block drafts over the same (uncommitted) base."""

        def value(changes: dict[bytes, bytes | None], key: bytes) -> bytes | None:
            return changes[key] if key in changes else self.kv.get(schema.state_db_key(key))

        return {key for key in before.keys() | after.keys() if value(before, key) != value(after, key)}

    # -- rules ----------------------------------------------------------------------------

    @initialize()
    def deploy_token_and_counter(self) -> None:
        deployer, nonces = KEYS[0], dict(self.model.nonces)
        self.run_block(
            [
                self.sign(
                    deployer,
                    nonces,
                    gas_limit=DEPLOY_GAS,
                    gas_price=1,
                    kind=TxKind.DEPLOY,
                    code=TOKEN_CODE,
                    method="init",
                    args=packed(supply=INITIAL_TOKEN_SUPPLY),
                ),
                self.sign(deployer, nonces, gas_limit=DEPLOY_GAS, gas_price=1, kind=TxKind.DEPLOY, code=COUNTER_CODE),
            ]
        )
        assert len(self.model.tokens) == 1 and len(self.model.counters) == 1

    @rule(specs=st.lists(TX_SPECS, min_size=1, max_size=4))
    def block(self, specs: list[tuple[Any, ...]]) -> None:
        self.run_block(self.plan(specs))

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def accounts_match_the_model(self) -> None:
        for address in self.model.holders():
            account = self.chain.account(address)
            assert (account.balance, account.nonce) == (self.model.balances[address], self.model.nonces[address]), (
                f"0x{address.hex()}"
            )
            assert account.is_contract == (address in self.model.contracts)

    @invariant()
    def lookups_by_hash_find_the_executed_inclusion(self) -> None:
        for tx_hash, (height, index) in self.index.items():
            block, at, receipt = self.chain.transaction(tx_hash)
            assert (block.height, at) == (height, index), f"0x{tx_hash.hex()}"
            assert block.transactions[at].hash == receipt.tx_hash == tx_hash

    @invariant()
    def native_supply_is_conserved(self) -> None:
        accounts = {
            key[len(state.ACCOUNT) :]: Account.decode(value)
            for key, value in schema.StateTable(self.kv).iterate(state.ACCOUNT)
        }
        assert set(accounts) <= set(self.model.holders()), "an account appeared that no transaction created"
        assert sum(account.balance for account in accounts.values()) + self.model.fees == GENESIS_SUPPLY

    @invariant()
    def tokens_and_counters_match_the_model(self) -> None:
        for token, holdings in self.model.tokens.items():
            for owner in self.model.holders():
                outcome = self.chain.view(token, "balance_of", packed(owner=owner), CALL_GAS)
                assert outcome.ok, outcome.error
                assert msgpack.unpackb(outcome.return_data) == holdings.get(owner, 0)
            supply = self.chain.view(token, "total_supply", b"", CALL_GAS)
            assert msgpack.unpackb(supply.return_data) == self.model.supplies[token] == sum(holdings.values())
        for counter, count in self.model.counters.items():
            assert msgpack.unpackb(self.chain.view(counter, "get", b"", CALL_GAS).return_data) == count


ChainMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
)
test_chain_against_the_model = ChainMachine.TestCase


# --- receipts with status "invalid" must mean "no effect, no fee" -----------------------


def fresh_chain() -> Chain:
    return Chain.create(MemoryKV(), genesis_from_document(genesis_document()))


def test_deploy_to_a_prefunded_contract_address_succeeds_and_keeps_the_balance() -> None:
    """Anyone can send tokens to the address a deployer's next contract will have.

    As in Ethereum, the deploy must still succeed (the contract keeps what
    was sent); otherwise a 1-unit transfer blocks someone else's deploy and
    burns its fee, under a receipt that says "invalid".
    """
    chain = fresh_chain()
    deployer, griefer = KEYS[0], KEYS[1]
    target = contract_address_of(ADDRESSES[0], 0)
    _, receipts = chain.produce(
        [
            Transaction(CHAIN_ID, 0, CALL_GAS, 1, griefer.public_key, TxKind.TRANSFER, to=target, value=1).sign(
                griefer
            ),
        ],
        chain.head.timestamp + 1,
    )
    assert receipts[0].ok
    deploy = Transaction(
        CHAIN_ID,
        0,
        DEPLOY_GAS,
        1,
        deployer.public_key,
        TxKind.DEPLOY,
        code=TOKEN_CODE,
        method="init",
        args=packed(supply=5),
    ).sign(deployer)
    _, receipts = chain.produce([deploy], chain.head.timestamp + 1)
    assert (receipts[0].status, receipts[0].error) == ("ok", "")
    assert receipts[0].contract_address == target
    assert chain.account(target).balance == 1 and chain.account(target).is_contract


def test_a_receipt_marked_invalid_charged_nothing() -> None:
    """Call arguments over max_input_size: refused, so no nonce, no fee, gas_used 0 (or not 'invalid')."""
    chain = fresh_chain()
    key = KEYS[0]
    _, receipts = chain.produce(
        [Transaction(CHAIN_ID, 0, DEPLOY_GAS, 1, key.public_key, TxKind.DEPLOY, code=COUNTER_CODE).sign(key)],
        chain.head.timestamp + 1,
    )
    counter = receipts[0].contract_address
    before = chain.account(ADDRESSES[0])
    too_big = msgpack.packb(b"x" * (DEVNET["vm"]["limits"]["max_input_size"] + 1))
    call = Transaction(
        CHAIN_ID, 1, 10**8, 1, key.public_key, TxKind.CALL, to=counter, method="increment", args=too_big
    ).sign(key)
    _, receipts = chain.produce([call], chain.head.timestamp + 1)
    after = chain.account(ADDRESSES[0])
    if receipts[0].status == "invalid":
        assert receipts[0].gas_used == 0 and after == before, (receipts[0], before, after)
    else:
        assert receipts[0].status != "ok"


def test_a_replayed_transaction_does_not_take_over_the_index_of_the_original() -> None:
    """A block may carry an old transaction again (it gets an invalid receipt); lookups by hash must
    still find the executed one."""
    chain = fresh_chain()
    key = KEYS[0]
    transfer = Transaction(CHAIN_ID, 0, CALL_GAS, 1, key.public_key, TxKind.TRANSFER, to=ADDRESSES[1], value=7).sign(
        key
    )
    first, _ = chain.produce([transfer], chain.head.timestamp + 1)
    _, replay_receipts = chain.produce([transfer], chain.head.timestamp + 1)
    assert replay_receipts[0].status == "invalid"
    block, index, receipt = chain.transaction(transfer.hash)
    assert (block.height, index, receipt.status) == (first.height, 0, "ok")


def test_a_block_repeating_an_old_transaction_twice_commits_and_keeps_the_index() -> None:
    chain = fresh_chain()
    key = KEYS[0]
    transfer = Transaction(CHAIN_ID, 0, CALL_GAS, 1, key.public_key, TxKind.TRANSFER, to=ADDRESSES[1], value=7).sign(
        key
    )
    first, _ = chain.produce([transfer], chain.head.timestamp + 1)
    _, receipts = chain.produce([transfer, transfer], chain.head.timestamp + 1)
    assert [receipt.status for receipt in receipts] == ["invalid", "invalid"]
    block, index, receipt = chain.transaction(transfer.hash)
    assert (block.height, index, receipt.status) == (first.height, 0, "ok")


def test_a_transaction_refused_then_executed_beside_a_replay_is_indexed_where_it_ran() -> None:
    """Refused once (nonce ahead), then included twice in one block: executed, then refused again."""
    chain = fresh_chain()
    key = KEYS[0]
    first, second = (
        Transaction(CHAIN_ID, nonce, CALL_GAS, 1, key.public_key, TxKind.TRANSFER, to=ADDRESSES[1], value=7).sign(key)
        for nonce in (0, 1)
    )
    _, receipts = chain.produce([second], chain.head.timestamp + 1)
    assert [receipt.status for receipt in receipts] == ["invalid"]
    executed, receipts = chain.produce([first, second, second], chain.head.timestamp + 1)
    assert [receipt.status for receipt in receipts] == ["ok", "ok", "invalid"]
    block, index, receipt = chain.transaction(second.hash)
    assert (block.height, index, receipt.status) == (executed.height, 1, "ok")


def test_the_model_notices_a_wrong_prediction() -> None:
    """The machine's checks can fail: a model that forgets one fee disagrees with the chain."""
    machine = ChainMachine()
    machine.deploy_token_and_counter()
    machine.block([("native", 1, 2, "some", 1)])
    machine.model.balances[ADDRESSES[1]] += 1
    try:
        machine.accounts_match_the_model()
    except AssertionError:
        pass
    else:
        raise AssertionError("a wrong model passed the account check")
    machine.model.balances[ADDRESSES[1]] -= 1
    machine.model.fees += 1
    try:
        machine.native_supply_is_conserved()
    except AssertionError:
        pass
    else:
        raise AssertionError("a wrong fee total passed the supply check")
    machine.teardown()


def test_the_named_state_operations() -> None:
    chain = fresh_chain()
    s = chain.state()
    a, b = ADDRESSES[0], bytes(range(20))
    start = s.account(a)
    debit_fee(s, a, 10)
    increment_nonce(s, a)
    refund(s, a, 3)
    assert s.account(a) == Account(start.balance - 7, start.nonce + 1, start.code_hash)
    set_balance(s, b, 5)
    assert s.account(b) == Account(5)
    assert move_balance(s, b, a, 5) and s.account(b) == Account() and s.get(account_key(b)) is None  # empty: gone
    assert not move_balance(s, b, a, 1)  # short: nothing moves
    set_balance(s, b, (1 << 128) - 1)
    before = s.account(a)
    assert not move_balance(s, a, b, 1) and s.account(a) == before  # the recipient would pass 2**128 - 1
    code_hash = set_code(s, b, COUNTER_CODE)
    assert s.account(b) == Account((1 << 128) - 1, 0, code_hash) and s.code(code_hash) == COUNTER_CODE
