"""Errors of the ``chain`` package, under one root.

Two branches matter to the protocol: ``InvalidTransaction`` rejects a
transaction before it executes (no state change, no fee), and
``InvalidBlock`` rejects a whole block.  A transaction that executes and
fails is not an error: it is a receipt with a failure status.
"""

from __future__ import annotations

from typing import ClassVar


class ChainError(Exception):
    """Root of every error raised by the ``chain`` package."""

    reason: ClassVar[str] = "chain_error"
    """What went wrong as a stable machine-readable name: JSON-RPC returns it in an error's ``data``,
    the client exposes it, and callers and tests branch on it (or on the class), never on the text."""


class InvalidEncoding(ChainError):
    """Bytes that are not the canonical encoding of what was expected."""


class InvalidTransaction(ChainError):
    """A transaction refused before execution; the message names the problem."""


class InvalidBlock(ChainError):
    """A block that does not follow from its parent; the message names the field and both values."""


class GenesisError(ChainError):
    """genesis.json is missing, unreadable or wrong; the message says where."""


class KeystoreError(ChainError):
    """A key that does not exist, already exists, or cannot be read."""


class NotFound(ChainError):
    """A block, transaction, account or contract that the chain does not have."""
