"""The state transition: what a transaction and a block do to the state.

Plain functions over the state, named after the protocol's steps, in the
manner of ethereum/execution-specs' ``fork.py``:

- ``validate_transaction``: every check that can refuse a transaction
  before it runs (``InvalidTransaction``: no fee, no nonce, no change);
- ``apply_transaction``: charge the maximum fee and advance the nonce,
  execute in a checkpoint, keep or revert the execution, refund unused gas;
- ``apply_body``: the transactions of a block in order, an invalid one
  getting an ``invalid`` receipt and changing nothing (as CometBFT expects
  of a block it did not build);
- ``apply_overrides``: the balances a devnet block sets outright, before
  its transactions (only where genesis allows it);
- ``simulate_transaction``: a dry run without a signature, for estimates (``validate_unsigned``);
- ``apply_block``: a block built elsewhere, verified by executing it on its
  parent's state: ``check_header`` against the parent and the body, then
  ``execute_block``, then ``check_results`` compares each computed root
  with the header (``InvalidBlock`` names the field and both values);
- ``build_block``: the next block made from transactions, its header filled in;
- ``genesis_block``: block 0 and the genesis state.

The store (``wasmchain.store.chain``) keeps the blocks and the state and
commits each block in one atomic write; what a block does, and whether a
block is valid, is decided here.

Fees are burned: the devnet has no block producer to pay, and burning
keeps "total supply = genesis supply - fees" checkable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wasmchain.protocol import smt
from wasmchain.protocol.blocks import BalanceOverride, Block, Header, Receipt, merkle_root, overrides_root
from wasmchain.protocol.errors import (
    ArgsTooLarge,
    BadSignature,
    BlockGasExceeded,
    ContractExists,
    GasLimitTooHigh,
    GasPriceTooLow,
    GenesisError,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidBlock,
    InvalidDeployModule,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
    TransactionTooLarge,
    UnknownContract,
    UnknownMethod,
    WrongChainId,
)
from wasmchain.protocol.genesis import Genesis
from wasmchain.protocol.keys import contract_address, format_address
from wasmchain.protocol.state import State, debit_fee, increment_nonce, move_balance, refund, set_balance, set_code
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.vm import BlockEnv, InvalidModule, Message, Outcome, Runtime
from wasmchain.vm.errors import quote
from wasmchain.vm.host import Hash32
from wasmchain.vm.trace import Tracer


@dataclass(frozen=True, slots=True)
class Context:
    """What the transition needs besides the state: the rules, the VM and the block."""

    genesis: Genesis
    runtime: Runtime
    env: BlockEnv


def intrinsic_gas(signed: SignedTransaction, context: Context) -> int:
    """Gas a transaction costs before any execution: its bytes, and compiling its code.

    For a deploy the module must already have passed ``_validate_deploy``.
    """
    compiled_size = 0
    if signed.tx.kind is TxKind.DEPLOY:
        compiled_size = len(context.runtime.validate(signed.tx.code).code)
    return _intrinsic(signed, context, compiled_size)


def _intrinsic(signed: SignedTransaction, context: Context, compiled_size: int) -> int:
    """The transaction's bytes, plus compiling ``compiled_size`` bytes of code."""
    gas = context.genesis.vm.gas
    return gas.tx_base + gas.tx_byte * len(signed.encoded) + context.runtime.deploy_gas(compiled_size)


def validate_transaction(state: State, signed: SignedTransaction, context: Context, block_gas_left: int) -> int:
    """Refuse a transaction that may not run; return its intrinsic gas."""
    check_envelope(signed, context, block_gas_left)
    tx = signed.tx
    account = state.account(tx.sender)
    if tx.nonce < account.nonce:
        raise NonceTooLow(f"nonce {tx.nonce} was already used: the account's next nonce is {account.nonce}")
    if tx.nonce > account.nonce:
        raise NonceTooHigh(f"nonce {tx.nonce} is ahead: the account's next nonce is {account.nonce}")
    check_affordable(account.balance, tx)
    intrinsic = check_payload(signed, context)
    check_target(state, signed, context)
    return intrinsic


def check_envelope(
    signed: SignedTransaction, context: Context, block_gas_left: int, *, signed_by_sender: bool = True
) -> None:
    """The checks that need no state: size, chain id, signature, gas price and gas limit.

    ``signed_by_sender=False`` skips the signature, for a simulation only.
    """
    tx = signed.tx
    genesis = context.genesis
    size = len(signed.encoded)
    if size > genesis.chain.max_tx_size:
        raise TransactionTooLarge(f"transaction is {size} bytes, over max_tx_size ({genesis.chain.max_tx_size})")
    if tx.chain_id != genesis.chain_id:
        raise WrongChainId(
            f"wrong chain id: transaction is for {quote(tx.chain_id)}, this chain is {quote(genesis.chain_id)}"
        )
    if signed_by_sender and not signed.signature_valid():
        raise BadSignature(f"bad signature: not signed by the key of {format_address(tx.sender)}")
    if tx.gas_price < genesis.chain.min_gas_price:
        raise GasPriceTooLow(f"gas price {tx.gas_price} is below the minimum {genesis.chain.min_gas_price}")
    if tx.gas_limit > genesis.chain.block_gas_limit:
        raise GasLimitTooHigh(f"gas limit {tx.gas_limit} is above the block gas limit {genesis.chain.block_gas_limit}")
    if tx.gas_limit > block_gas_left:
        raise BlockGasExceeded(f"gas limit {tx.gas_limit} is above the gas left in this block ({block_gas_left})")


def max_cost(tx: Transaction) -> int:
    """What the sender must hold for the transaction to run: its value plus its maximum fee."""
    return tx.value + tx.gas_limit * tx.gas_price


def check_affordable(balance: int, tx: Transaction) -> None:
    cost = max_cost(tx)
    if balance < cost:
        raise InsufficientFunds(
            f"balance {balance} is below value plus maximum fee ({tx.value} + {tx.gas_limit} x {tx.gas_price} = {cost})"
        )


def check_payload(signed: SignedTransaction, context: Context) -> int:
    """The module of a deploy, the arguments' size, and the gas limit against the intrinsic cost."""
    tx = signed.tx
    if tx.kind is TxKind.DEPLOY:
        # The module pass costs real time: only a sender who could pay for
        # compiling at least the code as sent gets it.
        floor = _intrinsic(signed, context, len(tx.code))  # instrumenting only adds bytes
        if tx.gas_limit < floor:
            raise IntrinsicGasTooLow(f"gas limit {tx.gas_limit} is below the intrinsic cost {floor}")
        _validate_deploy(signed, context)
    intrinsic = intrinsic_gas(signed, context)
    if tx.gas_limit < intrinsic:
        raise IntrinsicGasTooLow(f"gas limit {tx.gas_limit} is below the intrinsic cost {intrinsic}")
    max_input = context.genesis.vm.limits.max_input_size
    if len(tx.args) > max_input:
        raise ArgsTooLarge(f"args of {len(tx.args)} bytes are over max_input_size ({max_input})")
    return intrinsic


def check_target(state: State, signed: SignedTransaction, context: Context) -> None:
    """A call's contract and method exist; a deploy's address is free."""
    tx = signed.tx
    if tx.kind is TxKind.CALL:
        _validate_call(state, signed, context)
    elif tx.kind is TxKind.DEPLOY and state.account(contract_address(tx.sender, tx.nonce)).is_contract:
        raise ContractExists(f"a contract already exists at {format_address(contract_address(tx.sender, tx.nonce))}")


def _validate_deploy(signed: SignedTransaction, context: Context) -> None:
    tx = signed.tx
    try:
        prepared = context.runtime.validate(tx.code)
    except InvalidModule as error:
        raise InvalidDeployModule(f"invalid module: {error}") from None
    if tx.method and tx.method not in prepared.methods:
        raise UnknownMethod(
            f"the module has no init method {quote(tx.method)} (methods: {', '.join(prepared.methods) or 'none'})"
        )


def _validate_call(state: State, signed: SignedTransaction, context: Context) -> None:
    tx = signed.tx
    code_hash = state.code_hash(tx.to)
    if code_hash is None:
        raise UnknownContract(f"no contract at {format_address(tx.to)}")
    methods = context.runtime.compile_stored(code_hash, lambda: state.code(code_hash)).prepared.methods
    if tx.method not in methods:
        raise UnknownMethod(
            f"contract {format_address(tx.to)} has no method {quote(tx.method)}"
            f" (methods: {', '.join(methods) or 'none'})"
        )


def apply_transaction(state: State, signed: SignedTransaction, context: Context, block_gas_left: int) -> Receipt:
    """Run one transaction; a failed execution reverts everything but the nonce and the fee."""
    intrinsic = validate_transaction(state, signed, context, block_gas_left)
    return execute_transaction(state, signed, context, intrinsic)


def execute_transaction(
    state: State, signed: SignedTransaction, context: Context, intrinsic: int, *, tracer: Tracer | None = None
) -> Receipt:
    """Charge the maximum fee, advance the nonce, execute, and refund unused gas.

    The transaction must have passed ``validate_transaction`` (or, for a
    simulation, everything but its signature and nonce).  A ``tracer`` records
    the call tree (``protocol/tracing.py``); the receipt is the same.
    """
    tx = signed.tx
    sender = tx.sender
    debit_fee(state, sender, tx.gas_limit * tx.gas_price)
    increment_nonce(state, sender)

    state.checkpoint()
    new_contract = b""
    if tx.kind is TxKind.TRANSFER:
        # validate_transaction checked the balance; a refusal here is the
        # recipient's balance passing 2**128 - 1 (possible after an override).
        moved = move_balance(state, sender, tx.to, tx.value)
        outcome = (
            Outcome(status="ok", gas_used=0)
            if moved
            else Outcome(status="abort", gas_used=0, error="the recipient's balance would pass 2**128 - 1")
        )
    elif tx.kind is TxKind.DEPLOY:
        new_contract = contract_address(sender, tx.nonce)
        outcome = _deploy(state, signed, context, new_contract, tx.gas_limit - intrinsic, tracer)
    else:
        message = Message(
            caller=sender,
            contract=tx.to,
            method=tx.method,
            input=tx.args,
            gas_limit=tx.gas_limit - intrinsic,
            value=tx.value,
            origin=sender,
        )
        outcome = context.runtime.execute(state, context.env, message, tracer=tracer)
    # Every refusal the runtime could make ("invalid": no contract, no
    # method, input too large, value above the balance) was checked above,
    # so an execution either ran or the validation has a hole.
    assert outcome.status != "invalid", f"validate_transaction let through: {outcome.error}"
    if outcome.ok:
        state.commit()
    else:
        state.revert()
        new_contract = b""

    gas_used = intrinsic + outcome.gas_used
    refund(state, sender, (tx.gas_limit - gas_used) * tx.gas_price)
    return Receipt.from_outcome(signed.hash, outcome, gas_used, new_contract)


def simulate_transaction(state: State, signed: SignedTransaction, context: Context) -> Receipt:
    """Run a transaction without checking its signature: the basis of gas estimation.

    Every other check of ``validate_transaction`` applies (``validate_unsigned``), so a
    simulation says ``invalid`` where the real transaction would be refused.  The caller
    throws the state away.
    """
    try:
        intrinsic = validate_unsigned(state, signed, context)
    except InvalidTransaction as error:
        return Receipt(signed.hash, "invalid", 0, error=str(error))
    return execute_transaction(state, signed, context, intrinsic)


def validate_unsigned(state: State, signed: SignedTransaction, context: Context) -> int:
    """``validate_transaction`` but for the signature, against a whole block's gas; the intrinsic gas."""
    check_envelope(signed, context, context.genesis.chain.block_gas_limit, signed_by_sender=False)
    tx = signed.tx
    account = state.account(tx.sender)
    if tx.nonce != account.nonce:
        refusal = NonceTooLow if tx.nonce < account.nonce else NonceTooHigh
        raise refusal(f"nonce {tx.nonce} is not the account's next nonce {account.nonce}")
    check_affordable(account.balance, tx)
    intrinsic = check_payload(signed, context)
    check_target(state, signed, context)
    return intrinsic


def _deploy(
    state: State, signed: SignedTransaction, context: Context, address: bytes, gas_limit: int, tracer: Tracer | None
) -> Outcome:
    tx = signed.tx
    # The address is predictable, so it may hold native tokens already: they stay.
    set_code(state, address, tx.code)
    if not tx.method:
        if not move_balance(state, tx.sender, address, tx.value):
            return Outcome(status="abort", gas_used=0, error="the new contract's balance would pass 2**128 - 1")
        return Outcome(status="ok", gas_used=0)
    message = Message(
        caller=tx.sender,
        contract=address,
        method=tx.method,
        input=tx.args,
        gas_limit=gas_limit,
        value=tx.value,
        origin=tx.sender,
    )
    return context.runtime.execute(state, context.env, message, tracer=tracer)


def apply_overrides(state: State, overrides: Sequence[BalanceOverride]) -> None:
    """Set balances outright, before the transactions (a devnet's ``set_balance``)."""
    for address, balance in overrides:
        set_balance(state, address, balance)


def apply_body(state: State, transactions: Sequence[SignedTransaction], context: Context) -> list[Receipt]:
    """Apply a block's transactions in order; an invalid one gets an ``invalid`` receipt and no effect."""
    receipts = []
    gas_left = context.genesis.chain.block_gas_limit
    for signed in transactions:
        try:
            receipt = apply_transaction(state, signed, context, gas_left)
        except InvalidTransaction as error:
            receipt = Receipt(signed.hash, "invalid", 0, error=str(error))
        gas_left -= receipt.gas_used
        receipts.append(receipt)
    return receipts


# -- blocks --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockOutput:
    """What executing a block on its parent's state gives."""

    receipts: tuple[Receipt, ...]
    changes: dict[bytes, bytes | None]
    """The state changes, state key -> value after the block (``None``: deleted), sorted by key."""
    state_root: Hash32
    nodes: dict[bytes, bytes]
    """The new Merkle tree nodes, by hash."""


def apply_block(
    state: State,
    parent: Header,
    block: Block,
    context: Context,
    read_node: smt.NodeReader,
    *,
    executed: Callable[[], object] | None = None,
) -> BlockOutput:
    """Verify a block built elsewhere against its parent by executing it.

    The header must follow from the parent and the body (``check_header``);
    the body runs on ``state``, the parent's; then each root the execution
    computes must be the header's (``check_results``).  ``InvalidBlock``
    names the first field that differs and both values.  ``context.env``
    must be the block's own height and timestamp (``block_context``).
    """
    check_header(parent, block, context.genesis)
    output = execute_block(state, parent, block.transactions, block.overrides, context, read_node, executed=executed)
    check_results(block.header, output.receipts, output.state_root)
    return output


def build_block(
    state: State,
    parent: Header,
    transactions: Sequence[SignedTransaction],
    overrides: Sequence[BalanceOverride],
    context: Context,
    read_node: smt.NodeReader,
    *,
    executed: Callable[[], object] | None = None,
) -> tuple[Block, BlockOutput]:
    """Make the block after ``parent`` from ``transactions``: execute them, then fill in the header.

    ``context.env`` is the new block's height and timestamp (``block_context``).
    """
    output = execute_block(state, parent, transactions, overrides, context, read_node, executed=executed)
    header = Header(
        chain_id=context.genesis.chain_id,
        height=context.env.height,
        parent_hash=parent.hash,
        timestamp=context.env.timestamp,
        tx_root=merkle_root([tx.hash for tx in transactions]),
        receipts_root=receipts_root(output.receipts),
        state_root=output.state_root,
        gas_used=sum(receipt.gas_used for receipt in output.receipts),
        overrides_root=overrides_root(overrides),
    )
    return Block(header, tuple(transactions), tuple(overrides)), output


def block_context(parent: Header, timestamp: int, genesis: Genesis, runtime: Runtime) -> Context:
    """The context of the block after ``parent``: the next height, and a timestamp never earlier than the parent's."""
    return Context(genesis, runtime, BlockEnv(parent.height + 1, max(timestamp, parent.timestamp)))


def execute_block(
    state: State,
    parent: Header,
    transactions: Sequence[SignedTransaction],
    overrides: Sequence[BalanceOverride],
    context: Context,
    read_node: smt.NodeReader,
    *,
    executed: Callable[[], object] | None = None,
) -> BlockOutput:
    """The balance overrides, then the transactions; then the state root over the changes.

    ``state`` must have no pending changes.  ``executed``, if given, is called
    between the execution and the root (the store times the two).
    """
    apply_overrides(state, overrides)
    receipts = apply_body(state, transactions, context)
    changes = state.journal.flush()
    if executed is not None:
        executed()
    root, nodes = smt.update(read_node, parent.state_root, changes.items())
    return BlockOutput(tuple(receipts), changes, root, nodes)


def genesis_block(
    state: State, genesis: Genesis, runtime: Runtime, read_node: smt.NodeReader
) -> tuple[Block, BlockOutput]:
    """Block 0 and its state: the genesis accounts, then its contracts (each must compile).

    Block 0's parent hash is the genesis document's commitment (``Genesis.commitment``), so its hash,
    and every later block's, commits to the chain's whole genesis: VM version, limits, gas schedule,
    chain parameters, accounts and contracts.
    """
    for address, balance in genesis.accounts:
        set_balance(state, address, balance)
    for contract in genesis.contracts:
        try:
            runtime.compile(contract.code)
        except Exception as error:
            raise GenesisError(f"genesis contract at 0x{contract.address.hex()}: {error}") from None
        set_code(state, contract.address, contract.code)
        set_balance(state, contract.address, contract.balance)
        for key, value in contract.storage:
            state.storage_write(contract.address, key, value)
    changes = state.journal.flush()
    root, nodes = smt.update(read_node, smt.EMPTY_ROOT, changes.items())
    empty = merkle_root([])
    header = Header(genesis.chain_id, 0, genesis.commitment, genesis.genesis_time, empty, empty, root, 0, empty)
    return Block(header, ()), BlockOutput((), changes, root, nodes)


def check_header(parent: Header, block: Block, genesis: Genesis) -> None:
    """The fields of a header that follow from its parent and its body alone."""
    header, transactions = block.header, block.transactions
    if block.overrides and not genesis.chain.allow_balance_overrides:
        raise InvalidBlock("the block carries balance overrides, which this chain's genesis does not allow")
    _same("overrides_root", overrides_root(block.overrides), header.overrides_root)
    _same("chain_id", parent.chain_id, header.chain_id)
    _same("height", parent.height + 1, header.height)
    _same("parent_hash", parent.hash, header.parent_hash)
    if header.timestamp < parent.timestamp:
        raise InvalidBlock(f"timestamp {header.timestamp} is earlier than the parent's {parent.timestamp}")
    _same("tx_root", merkle_root([tx.hash for tx in transactions]), header.tx_root)


def check_results(header: Header, receipts: Sequence[Receipt], state_root: bytes) -> None:
    """The fields of a header that only executing the block can confirm."""
    _same("receipts_root", receipts_root(receipts), header.receipts_root)
    _same("gas_used", sum(receipt.gas_used for receipt in receipts), header.gas_used)
    check_state_root(header, state_root)


def check_state_root(header: Header, state_root: bytes) -> None:
    """The state root computed for a block's state is the header's."""
    _same("state_root", state_root, header.state_root)


def receipts_root(receipts: Sequence[Receipt]) -> bytes:
    return merkle_root([receipt.hash for receipt in receipts])


def _same(field: str, expected: object, found: object) -> None:
    if expected != found:
        raise InvalidBlock(f"{field} mismatch: computed {_show(expected)}, block has {_show(found)}")


def _show(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else repr(value)
