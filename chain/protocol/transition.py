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
- ``check_header``: a header against its parent and its body.

Fees are burned: the devnet has no block producer to pay, and burning
keeps "total supply = genesis supply - fees" checkable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wasmchain.protocol.blocks import BalanceOverride, Block, Header, Receipt, merkle_root, overrides_root
from wasmchain.protocol.errors import (
    ArgsTooLarge,
    BadSignature,
    BlockGasExceeded,
    ContractExists,
    GasLimitTooHigh,
    GasPriceTooLow,
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
from wasmchain.protocol.state import Account, State
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.vm import BlockEnv, InvalidModule, Message, Outcome, Runtime
from wasmchain.vm.errors import quote


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


def execute_transaction(state: State, signed: SignedTransaction, context: Context, intrinsic: int) -> Receipt:
    """Charge the maximum fee, advance the nonce, execute, and refund unused gas.

    The transaction must have passed ``validate_transaction`` (or, for a
    simulation, everything but its signature and nonce).
    """
    tx = signed.tx
    sender = tx.sender
    account = state.account(sender)
    state.set_account(
        sender, Account(account.balance - tx.gas_limit * tx.gas_price, account.nonce + 1, account.code_hash)
    )

    state.checkpoint()
    new_contract = b""
    if tx.kind is TxKind.TRANSFER:
        # validate_transaction checked the balance; a refusal here is the
        # recipient's balance passing 2**128 - 1 (possible after an override).
        moved = state.transfer(sender, tx.to, tx.value)
        outcome = (
            Outcome(status="ok", gas_used=0)
            if moved
            else Outcome(status="abort", gas_used=0, error="the recipient's balance would pass 2**128 - 1")
        )
    elif tx.kind is TxKind.DEPLOY:
        new_contract = contract_address(sender, tx.nonce)
        outcome = _deploy(state, signed, context, new_contract, tx.gas_limit - intrinsic)
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
        outcome = context.runtime.execute(state, context.env, message)
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
    refund = (tx.gas_limit - gas_used) * tx.gas_price
    paid = state.account(sender)
    state.set_account(sender, Account(paid.balance + refund, paid.nonce, paid.code_hash))
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


def _deploy(state: State, signed: SignedTransaction, context: Context, address: bytes, gas_limit: int) -> Outcome:
    tx = signed.tx
    # The address is predictable, so it may hold native tokens already: they stay.
    existing = state.account(address)
    code_hash = state.put_code(tx.code)
    state.set_account(address, Account(existing.balance, existing.nonce, code_hash))
    if not tx.method:
        if not state.transfer(tx.sender, address, tx.value):
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
    return context.runtime.execute(state, context.env, message)


def apply_overrides(state: State, overrides: Sequence[BalanceOverride]) -> None:
    """Set balances outright, before the transactions (a devnet's ``set_balance``)."""
    for address, balance in overrides:
        account = state.account(address)
        state.set_account(address, Account(balance, account.nonce, account.code_hash))


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
    _same("state_root", state_root, header.state_root)


def receipts_root(receipts: Sequence[Receipt]) -> bytes:
    return merkle_root([receipt.hash for receipt in receipts])


def _same(field: str, expected: object, found: object) -> None:
    if expected != found:
        raise InvalidBlock(f"{field} mismatch: computed {_show(expected)}, block has {_show(found)}")


def _show(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else repr(value)
