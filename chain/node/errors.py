"""The node's own refusals, under the package's root, each with its stable ``reason``.

The mempool's are ``InvalidTransaction``s, as the protocol's own refusals (``protocol.errors``)
are: nothing changed and no fee was paid.  The others are the devnet controls' and the JSON-RPC
interface's.  JSON-RPC answers each with its code (docs/rpc.md) and its ``reason`` in the error's
``data``; the messages say what was expected and what was found.
"""

from __future__ import annotations

from wasmchain.protocol.errors import ChainError, InvalidTransaction, NonceTooHigh


class MempoolFull(InvalidTransaction):
    """The pool holds ``capacity`` transactions already: try again after the next block."""

    reason = "mempool_full"


class DuplicateTransaction(InvalidTransaction):
    """The same transaction (the same hash) is in the mempool or in a block already."""

    reason = "duplicate_transaction"


class NonceTaken(InvalidTransaction):
    """Another pending transaction of the sender has this nonce (the first one stays)."""

    reason = "nonce_taken"


class NonceGapTooLarge(NonceTooHigh):
    """The nonce is further ahead of the sender's next one than the mempool holds (``max_nonce_gap``)."""

    reason = "nonce_gap_too_large"


class TransactionDropped(InvalidTransaction):
    """An admitted transaction that failed when its block was made, and was left out of it."""

    reason = "transaction_dropped"


class InvalidArgs(InvalidTransaction):
    """A call (or a deploy's init) whose arguments do not fit the types its contract's interface declares for the
    method: refused at admission, so that no badly typed call is ever mined through this node (docs/rpc.md)."""

    reason = "invalid_args"


class InvalidInterface(ChainError):
    """A contract whose code carries an interface section that does not parse (possible on a chain whose VM
    version predates ``abi-1.2``, which ignored the section at deploy)."""

    reason = "invalid_interface"


class DevnetError(ChainError):
    """A devnet control refused: an unknown snapshot, a timestamp in the past, controls not allowed."""

    reason = "devnet_refused"


class MethodNotFound(ChainError):
    """A JSON-RPC call of a method the node does not have."""

    reason = "method_not_found"


class FollowerRefused(ChainError):
    """A call that would change the chain, sent to a follower: it takes its blocks from another node."""

    reason = "follower_refused"
