"""Random chains for the determinism harness: a hypothesis strategy of plans, and a builder that mines them.

A *plan* is a list of block plans, drawn by ``plans()``; it says what each
block should hold, with contracts and accounts named indirectly
(``Target``), because which contracts exist is only known while mining.
``produce(plan, data_dir, genesis)`` mines the plan into an on-disk data
directory (the layout ``wasmchain --data`` expects: ``DIR/db``) with the
real node (``chain.node.Node``, interval mining with no wall clock, so
timestamps count up from genesis and a run is the same every time), and
returns a ``Production``: everything the producer recorded, block by block,
for the tests to compare a replay against.

What a chain can hold:

- native transfers, between dev accounts, to contracts, to fresh addresses;
- deploys of the example contracts (counter, token, vault), with their
  proper init, with no init, or with wrong init arguments (an abort: the
  contract is not created);
- calls with well-formed, random (wrong types, missing keys, not a map)
  arguments, random native value, ample or tight gas (out of gas);
- token transfers above the balance (abort), vault withdrawals (vault calls
  token: a cross-contract call, which succeeds or fails in the callee);
- several transactions per block, from one sender or several (nonces in
  sequence), and empty blocks;
- balance overrides (the devnet's ``set_balance``, recorded in the block),
  including funding an account that has no genesis balance;
- a block that includes an already executed transaction again (its
  receipt is ``invalid`` and it changes nothing: a block this node did not
  build, as a BFT engine may propose one);
- jumps of the block clock.

``plans()`` usually starts with ``SETUP`` (a token, a counter, a funded
vault), then mixes some of the ``COVERAGE`` blocks (which between them
reach every outcome above) into random blocks, so that even a handful of
examples exercises everything.

A transaction the node refuses at submission (a call before its contract
exists, a sender with no balance, a gas limit under the intrinsic cost...)
is counted in ``Production.rejected`` and is not in the chain.  The node
admits calls whose arguments do not fit the examples' declared types
(``check_args=False``: that check is a node's policy, not a consensus
rule), so that the contracts' own argument errors are in the chains too.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import strategies as st

from wasmchain.node.node import Node
from wasmchain.protocol.blocks import Block, Receipt
from wasmchain.protocol.errors import InvalidTransaction
from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.keys import KeyPair, dev_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.protocol.transition import intrinsic_gas
from wasmchain.store.chain import Chain
from wasmchain.store.kv import LevelDBKV

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ("counter", "token", "vault")
CODE = {name: (ROOT / "contracts" / name / f"{name}.wasm").read_bytes() for name in CONTRACTS}
CODE_HASH = {name: hashlib.sha256(code).digest() for name, code in CODE.items()}

SENDERS = 4
"""Dev accounts dev0..dev3 send; sender index ``SENDERS`` is ``EXTRA``, a key with no genesis balance."""
EXTRA = KeyPair(hashlib.sha256(b"wasmchain replay harness: an account with no genesis balance").digest())
AMPLE_CALL_GAS = 10_000_000
AMPLE_DEPLOY_GAS = 200_000_000
"""Above compiling the largest example (~22 kB, at most twice that instrumented, 1000 gas a byte) plus its init."""
TIGHT_EXTRA = 300_000
"""A tight gas limit is the intrinsic cost plus at most this: an instantiation alone costs 100,000."""

METHODS = {
    "counter": ("increment", "get"),
    "token": ("init", "transfer", "balance_of", "total_supply"),
    "vault": ("init", "withdraw", "balance", "token"),
}


def sender_key(index: int) -> KeyPair:
    return EXTRA if index == SENDERS else dev_key(index)


# --- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """An address named indirectly: a sender's account, the ``pick``-th contract of a kind, or raw bytes."""

    kind: str
    """``account``, ``counter``, ``token``, ``vault``, or ``raw``."""
    index: int = 0
    raw: bytes = b""


@dataclass(frozen=True)
class Gas:
    tight: bool = False
    extra: int = 0
    """For a tight limit: gas above the transaction's intrinsic cost."""


@dataclass(frozen=True)
class TransferPlan:
    sender: int
    to: Target
    amount: int


@dataclass(frozen=True)
class DeployPlan:
    sender: int
    contract: str
    init: str
    """``proper`` (the init method with good arguments), ``none`` (no init), ``bad`` (init with random arguments)."""
    args: Any
    """The init arguments (for ``proper`` and ``bad``), with ``Target``s in place of addresses."""
    gas: Gas
    value: int = 0


@dataclass(frozen=True)
class CallPlan:
    sender: int
    contract: Target
    method: str
    args: Any
    """The arguments (a ``NO_ARGS`` for none), with ``Target``s in place of addresses."""
    gas: Gas
    value: int = 0


NO_ARGS = ()
"""Args of a call that sends no argument bytes at all."""

TxPlan = TransferPlan | DeployPlan | CallPlan


@dataclass(frozen=True)
class TxBlockPlan:
    txs: tuple[TxPlan, ...]
    """Possibly none: an empty block."""
    time_jump: int = 0
    """Seconds the clock moves forward before this block."""


@dataclass(frozen=True)
class OverridePlan:
    target: Target
    balance: int


@dataclass(frozen=True)
class ReincludePlan:
    pick: int
    """Which earlier executed transaction to include again (modulo how many there are)."""


BlockPlan = TxBlockPlan | OverridePlan | ReincludePlan


# --- strategies ---------------------------------------------------------------------


def _targets(contracts: bool = True) -> st.SearchStrategy[Target]:
    options = [
        st.builds(Target, st.just("account"), st.integers(0, SENDERS)),
        st.builds(Target, st.just("raw"), st.just(0), st.binary(min_size=20, max_size=20)),
    ]
    if contracts:
        options.append(st.builds(Target, st.sampled_from(CONTRACTS), st.integers(0, 3)))
    return st.one_of(options)


_u64 = st.one_of(st.integers(0, 2_000), st.integers(0, 2**64 - 1))
_amounts = st.one_of(_u64, st.sampled_from([-1, -(2**63), 2**64 - 1]))
"""Token amounts: mostly valid u64, sometimes negative (an argument error: msgpack holds no integer above 2**64 - 1)."""

_junk = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.text(max_size=8),
        st.binary(max_size=24),
        st.floats(allow_nan=False, width=64),
        _targets(),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
"""Any msgpack value, for wrong argument types (floats included: args need only be msgpack)."""

_arg_names = st.sampled_from(["to", "amount", "owner", "supply", "token", "x"])


def _random_args() -> st.SearchStrategy[Any]:
    """Arguments that are probably wrong: random maps over plausible keys, or not a map at all."""
    return st.one_of(
        st.dictionaries(_arg_names, _junk, max_size=3),
        st.lists(_junk, max_size=2),
        _junk,
        st.just(NO_ARGS),
    )


def _good_args(contract: str, method: str) -> st.SearchStrategy[Any]:
    address = _targets()
    if (contract, method) == ("token", "init"):
        return st.fixed_dictionaries({"supply": _u64})
    if (contract, method) == ("token", "transfer") or (contract, method) == ("vault", "withdraw"):
        return st.fixed_dictionaries({"to": address, "amount": _amounts})
    if (contract, method) == ("token", "balance_of"):
        return st.fixed_dictionaries({"owner": address})
    if (contract, method) == ("vault", "init"):
        return st.fixed_dictionaries(
            {"token": st.one_of(st.builds(Target, st.just("token"), st.integers(0, 3)), address)}
        )
    return st.one_of(st.just({}), st.just(NO_ARGS))


_tight = st.builds(Gas, st.just(True), st.one_of(st.integers(0, 100_000), st.integers(100_000, TIGHT_EXTRA)))
_gas = st.one_of(st.just(Gas()), st.just(Gas()), _tight)
_senders = st.integers(0, SENDERS)
_native_amounts = st.one_of(st.integers(0, 1_000), st.integers(0, 10**20))
_values = st.one_of(st.just(0), st.just(0), st.just(0), st.integers(1, 1_000))


@st.composite
def _calls(draw: st.DrawFn) -> CallPlan:
    contract = draw(st.sampled_from(CONTRACTS))
    method = draw(st.sampled_from(METHODS[contract]))
    args = draw(st.one_of(_good_args(contract, method), _good_args(contract, method), _random_args()))
    target = Target(contract, draw(st.integers(0, 3)))
    return CallPlan(draw(_senders), target, method, args, draw(_gas), draw(_values))


@st.composite
def _deploys(draw: st.DrawFn) -> DeployPlan:
    contract = draw(st.sampled_from(CONTRACTS))
    init = draw(st.sampled_from(["proper", "proper", "none", "bad"]))
    if init == "proper" and contract != "counter":
        args = draw(_good_args(contract, "init"))
    elif init == "bad" and contract != "counter":
        args = draw(_random_args())
    else:
        init, args = "none", NO_ARGS  # the counter has no init method
    gas = draw(st.one_of(st.just(Gas()), st.just(Gas()), st.just(Gas()), _tight))
    return DeployPlan(draw(_senders), contract, init, args, gas, draw(_values))


_transfers = st.builds(TransferPlan, _senders, _targets(), _native_amounts)
_txs = st.one_of(_transfers, _calls(), _calls(), _calls(), _deploys())

_tx_blocks = st.builds(
    TxBlockPlan,
    st.lists(_txs, max_size=6).map(tuple),
    st.one_of(st.just(0), st.just(0), st.just(0), st.integers(1, 10_000)),
)
_blocks: st.SearchStrategy[BlockPlan] = st.one_of(
    _tx_blocks,
    _tx_blocks,
    _tx_blocks,
    _tx_blocks,
    _tx_blocks,
    _tx_blocks,
    st.builds(TxBlockPlan, st.just(())),  # an empty block
    st.builds(OverridePlan, _targets(), st.one_of(st.integers(0, 10**6), st.integers(0, 10**24))),
    st.builds(ReincludePlan, st.integers(0, 100)),
)

SETUP: tuple[BlockPlan, ...] = (
    TxBlockPlan(
        (
            DeployPlan(0, "token", "proper", {"supply": 10**12}, Gas()),
            DeployPlan(1, "counter", "none", NO_ARGS, Gas()),
            TransferPlan(2, Target("account", SENDERS), 10**20),  # fund the extra account
        )
    ),
    TxBlockPlan(
        (
            DeployPlan(0, "vault", "proper", {"token": Target("token", 0)}, Gas()),
            CallPlan(0, Target("token", 0), "transfer", {"to": Target("account", 3), "amount": 10**6}, Gas()),
        )
    ),
    TxBlockPlan(
        (
            CallPlan(0, Target("token", 0), "transfer", {"to": Target("vault", 0), "amount": 10**5}, Gas()),
            CallPlan(1, Target("counter", 0), "increment", {}, Gas()),
        )
    ),
)
"""Blocks that set up a token, a counter and a funded vault (owned by dev0), so that short chains reach the
interesting calls."""

_token, _vault, _counter = Target("token", 0), Target("vault", 0), Target("counter", 0)
_dev = [Target("account", index) for index in range(SENDERS + 1)]

COVERAGE: tuple[BlockPlan, ...] = (
    # A token transfer above the balance (abort), then the same sender again in the same block.
    TxBlockPlan(
        (
            CallPlan(2, _token, "transfer", {"to": _dev[1], "amount": 5}, Gas()),
            TransferPlan(2, _dev[1], 7),
            CallPlan(3, _token, "transfer", {"to": _dev[2], "amount": 11}, Gas()),
        )
    ),
    # The vault calls the token: a success, then a failure in the callee, then a non-owner.
    TxBlockPlan(
        (
            CallPlan(0, _vault, "withdraw", {"to": _dev[1], "amount": 10}, Gas()),
            CallPlan(0, _vault, "withdraw", {"to": _dev[1], "amount": 10**9}, Gas()),
            CallPlan(1, _vault, "withdraw", {"to": _dev[1], "amount": 1}, Gas()),
            CallPlan(4, _vault, "balance", {}, Gas()),
        )
    ),
    # Out of gas: at instantiation, inside the callee of a nested call, in a deploy's init.
    TxBlockPlan(
        (
            CallPlan(1, _counter, "increment", {}, Gas(True, 1_000)),
            CallPlan(0, _vault, "withdraw", {"to": _dev[2], "amount": 1}, Gas(True, 160_000)),
            DeployPlan(3, "token", "proper", {"supply": 5}, Gas(True, 50_000)),
        )
    ),
    # Wrong arguments: types, a missing one, not a map, no bytes at all.
    TxBlockPlan(
        (
            CallPlan(3, _token, "transfer", {"to": "0x00", "amount": -1}, Gas()),
            CallPlan(3, _token, "transfer", {"amount": 1}, Gas()),
            CallPlan(3, _token, "balance_of", [1, 2], Gas()),
            CallPlan(3, _token, "transfer", NO_ARGS, Gas()),
            DeployPlan(3, "vault", "bad", {"token": 3.5}, Gas()),
        )
    ),
    # Native value into contracts; a second token that later calls can pick.
    TxBlockPlan(
        (
            CallPlan(1, _counter, "increment", {}, Gas(), value=99),
            DeployPlan(2, "token", "proper", {"supply": 77}, Gas(), value=5),
            TransferPlan(4, _vault, 1_000),
        )
    ),
    OverridePlan(_dev[4], 5 * 10**19),
    OverridePlan(Target("raw", 0, b"\x42" * 20), 123),
    TxBlockPlan(()),
    TxBlockPlan((TransferPlan(0, _dev[1], 1),), time_jump=3_600),
    ReincludePlan(0),
)
"""Blocks that between them reach every kind of outcome; a plan holds some of them, in any order."""


@st.composite
def plans(draw: st.DrawFn, min_blocks: int = 5, max_blocks: int = 30) -> tuple[BlockPlan, ...]:
    """A chain of ``min_blocks`` to ``max_blocks`` blocks.

    Usually the ``SETUP`` blocks first; then some of the ``COVERAGE`` blocks,
    in a random order, interleaved with random blocks.
    """
    setup = SETUP if draw(st.integers(0, 4)) else ()
    room = max_blocks - len(setup)
    coverage = draw(st.lists(st.sampled_from(COVERAGE), max_size=min(room, len(COVERAGE))))
    random_blocks = draw(
        st.lists(_blocks, min_size=max(0, min_blocks - len(setup) - len(coverage)), max_size=room - len(coverage))
    )
    merged: list[BlockPlan] = list(random_blocks)
    for block in coverage:
        merged.insert(draw(st.integers(0, len(merged))), block)
    return setup + tuple(merged)


# --- producing a plan -----------------------------------------------------------------


@dataclass(frozen=True)
class ProducedBlock:
    block: Block
    receipts: tuple[Receipt, ...]


@dataclass(frozen=True)
class DeployedContract:
    kind: str
    address: bytes
    height: int
    """The block that deployed it."""


@dataclass
class Production:
    """What the producer recorded: every block from height 1 and its receipts."""

    data_dir: Path
    genesis: Genesis
    genesis_hash: bytes
    blocks: list[ProducedBlock] = field(default_factory=list)
    contracts: list[DeployedContract] = field(default_factory=list)
    rejected: int = 0
    """Transactions the node refused at submission (not in the chain)."""
    skipped: int = 0
    """Planned calls with no contract of their kind to call yet."""

    @property
    def head(self) -> Block:
        return self.blocks[-1].block

    @property
    def transactions(self) -> int:
        return sum(len(produced.block.transactions) for produced in self.blocks)

    def statuses(self) -> Counter[str]:
        return Counter(receipt.status for produced in self.blocks for receipt in produced.receipts)

    def block(self, height: int) -> ProducedBlock:
        produced = self.blocks[height - 1]
        assert produced.block.height == height
        return produced


class _Builder:
    def __init__(self, node: Node, production: Production) -> None:
        self.node = node
        self.chain = node.chain
        self.production = production
        self.executed: list[SignedTransaction] = []
        """Transactions in blocks with a receipt other than ``invalid``, in order."""

    def contracts_of(self, kind: str) -> list[bytes]:
        return [contract.address for contract in self.production.contracts if contract.kind == kind]

    def resolve(self, target: Target) -> bytes | None:
        if target.kind == "account":
            return sender_key(target.index).address
        if target.kind == "raw":
            return target.raw
        found = self.contracts_of(target.kind)
        return found[target.index % len(found)] if found else None

    def address(self, target: Target) -> bytes:
        """An address for an argument: a contract not deployed yet stands in as a hash of its name."""
        resolved = self.resolve(target)
        return resolved if resolved is not None else hashlib.sha256(target.kind.encode()).digest()[:20]

    def args(self, value: Any) -> bytes:
        if value == NO_ARGS:
            return b""
        packed: bytes = msgpack.packb(self._substitute(value), use_bin_type=True)
        return packed

    def _substitute(self, value: Any) -> Any:
        if isinstance(value, Target):
            return self.address(value)
        if isinstance(value, list):
            return [self._substitute(item) for item in value]
        if isinstance(value, tuple):
            return [self._substitute(item) for item in value]
        if isinstance(value, dict):
            return {key: self._substitute(item) for key, item in value.items()}
        return value

    def sign(self, sender: int, kind: TxKind, gas: Gas, default_gas: int, **fields: Any) -> SignedTransaction:
        key = sender_key(sender)
        nonce = self.node.next_nonce(key.address)
        chain_id = self.chain.genesis.chain_id

        def build(gas_limit: int) -> SignedTransaction:
            return Transaction(chain_id, nonce, gas_limit, 1, key.public_key, kind, **fields).sign(key)

        if not gas.tight:
            return build(default_gas)
        context = self.chain.context(self.chain.head.height + 1, self.chain.head.timestamp + 1)
        # The intrinsic cost depends on the encoded size: probe with a limit of the same encoded length
        # (a uint32, as every limit from 2**16 up is) as the real one.
        intrinsic = intrinsic_gas(build(1 << 20), context)
        return build(max(intrinsic + gas.extra, 1 << 16))

    def transaction(self, plan: TxPlan) -> SignedTransaction | None:
        if isinstance(plan, TransferPlan):
            return self.sign(plan.sender, TxKind.TRANSFER, Gas(), 100_000, to=self.address(plan.to), value=plan.amount)
        if isinstance(plan, DeployPlan):
            method = "" if plan.init == "none" else "init"
            args = b"" if plan.init == "none" else self.args(plan.args)
            return self.sign(
                plan.sender,
                TxKind.DEPLOY,
                plan.gas,
                AMPLE_DEPLOY_GAS,
                code=CODE[plan.contract],
                method=method,
                args=args,
                value=plan.value,
            )
        contract = self.resolve(plan.contract)
        if contract is None:
            self.production.skipped += 1
            return None
        return self.sign(
            plan.sender,
            TxKind.CALL,
            plan.gas,
            AMPLE_CALL_GAS,
            to=contract,
            method=plan.method,
            args=self.args(plan.args),
            value=plan.value,
        )

    def record(self, block: Block, receipts: tuple[Receipt, ...]) -> None:
        self.production.blocks.append(ProducedBlock(block, receipts))
        for signed, receipt in zip(block.transactions, receipts):
            if receipt.status != "invalid":
                self.executed.append(signed)
            if receipt.ok and receipt.contract_address:
                kind = next(name for name, code in CODE.items() if code == signed.tx.code)
                self.production.contracts.append(DeployedContract(kind, receipt.contract_address, block.height))

    def mine(self, plan: BlockPlan) -> None:
        node = self.node
        if isinstance(plan, OverridePlan):
            block = node.set_balance(self.address(plan.target), plan.balance)
            self.record(block, ())
            return
        if isinstance(plan, ReincludePlan):
            if self.executed:
                again = self.executed[plan.pick % len(self.executed)]
                block, receipts = self.chain.produce([again], self.chain.head.timestamp + 1)
                assert [receipt.status for receipt in receipts] == ["invalid"], receipts
                self.record(block, receipts)
            else:
                block, receipts = node.produce_block()
                self.record(block, receipts)
            return
        if plan.time_jump:
            node.increase_time(plan.time_jump)
        for tx_plan in plan.txs:
            signed = self.transaction(tx_plan)
            if signed is None:
                continue
            try:
                node.submit(signed)
            except InvalidTransaction:
                self.production.rejected += 1
        block, receipts = node.produce_block()
        self.record(block, receipts)
        # Whatever did not make it in (left out for the block's gas, or stuck
        # behind a transaction dropped at inclusion) is forgotten, so that the
        # next block starts from the chain's nonces.
        self.production.rejected += len(node.mempool)
        node.mempool.clear()


def produce(plan: tuple[BlockPlan, ...], data_dir: Path, genesis: Genesis, cache_dir: Path | None = None) -> Production:
    """Mine ``plan`` into a fresh data directory ``data_dir`` (database in ``data_dir / "db"``); closes it after."""
    kv = LevelDBKV(data_dir / "db", create=True, sync=False)
    try:
        chain = Chain.create(kv, genesis, cache_dir=cache_dir)
        production = Production(data_dir, genesis, chain.head.hash)
        builder = _Builder(Node(chain, block_time=1.0, clock=None, check_args=False), production)
        for block_plan in plan:
            builder.mine(block_plan)
    finally:
        kv.close()
    return production
