"""Errors of the ``chain`` package, under one root.

Two branches matter to the protocol: ``InvalidTransaction`` rejects a
transaction before it executes (no state change, no fee), and
``InvalidBlock`` rejects a whole block.  A transaction that executes and
fails is not an error: it is a receipt with a failure status.

Each class names what went wrong in ``reason``, a stable snake_case name:
JSON-RPC answers it in an error's ``data``, the client exposes it, and
callers and tests branch on it (or on the class), never on the message.
Each refusal of a transaction has its own subclass of
``InvalidTransaction``; the messages are unchanged by the typing (an
``invalid`` receipt records the message, and receipts are under the state
root).
"""

from __future__ import annotations


class ChainError(Exception):
    """Root of every error raised by the ``chain`` package."""

    reason: str = "chain_error"
    """What went wrong as a stable machine-readable name: JSON-RPC returns it in an error's ``data``,
    the client exposes it, and callers and tests branch on it (or on the class), never on the text."""


class InvalidEncoding(ChainError):
    """Bytes that are not the canonical encoding of what was expected."""

    reason = "invalid_encoding"


class InvalidTransaction(ChainError):
    """A transaction refused before execution; the message names the problem."""

    reason = "invalid_transaction"


class MalformedTransaction(InvalidTransaction):
    """Bytes that do not decode to a well-formed transaction: not canonical, a field of the wrong
    type or size, fields its kind does not use, args that are not msgpack."""

    reason = "malformed_transaction"


class WrongSigningKey(InvalidTransaction):
    """Signing with a key other than the one the transaction names as its sender."""

    reason = "wrong_signing_key"


class TransactionTooLarge(InvalidTransaction):
    """The encoded transaction is over the chain's ``max_tx_size``."""

    reason = "transaction_too_large"


class WrongChainId(InvalidTransaction):
    """The transaction is for another chain."""

    reason = "wrong_chain_id"


class BadSignature(InvalidTransaction):
    """The signature is not the sender's over the transaction's fields."""

    reason = "bad_signature"


class GasPriceTooLow(InvalidTransaction):
    """The gas price is below the chain's ``min_gas_price``."""

    reason = "gas_price_too_low"


class GasLimitTooHigh(InvalidTransaction):
    """The gas limit is above the chain's ``block_gas_limit``: no block could hold the transaction."""

    reason = "gas_limit_too_high"


class BlockGasExceeded(InvalidTransaction):
    """The gas limit is above the gas left in the block being built (another block could hold it)."""

    reason = "block_gas_exceeded"


class IntrinsicGasTooLow(InvalidTransaction):
    """The gas limit does not cover the intrinsic cost: the bytes, and compiling a deploy's code."""

    reason = "intrinsic_gas_too_low"


class NonceTooLow(InvalidTransaction):
    """The nonce was already used: it is below the account's next nonce."""

    reason = "nonce_too_low"


class NonceTooHigh(InvalidTransaction):
    """The nonce is ahead of the account's next nonce."""

    reason = "nonce_too_high"


class InsufficientFunds(InvalidTransaction):
    """The sender's balance is below the value plus the maximum fee (gas limit x gas price)."""

    reason = "insufficient_funds"


class ArgsTooLarge(InvalidTransaction):
    """The arguments are over the VM's ``max_input_size``."""

    reason = "args_too_large"


class InvalidDeployModule(InvalidTransaction):
    """A deploy's code is not a module the VM accepts (``wasmchain.vm.InvalidModule`` says why)."""

    reason = "invalid_module"


class UnknownContract(InvalidTransaction):
    """A call to an address that holds no contract."""

    reason = "unknown_contract"


class UnknownMethod(InvalidTransaction):
    """A call to a method the contract does not export, or a deploy naming an init method its module lacks."""

    reason = "unknown_method"


class ContractExists(InvalidTransaction):
    """A deploy whose address already holds a contract."""

    reason = "contract_exists"


class InvalidBlock(ChainError):
    """A block that does not follow from its parent; the message names the field and both values."""

    reason = "invalid_block"


class GenesisError(ChainError):
    """genesis.json is missing, unreadable or wrong; the message says where."""

    reason = "genesis_error"


class KeystoreError(ChainError):
    """A key that does not exist, already exists, or cannot be read."""

    reason = "keystore_error"


class NotFound(ChainError):
    """A block, transaction, account or contract that the chain does not have."""

    reason = "not_found"
