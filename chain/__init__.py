"""wasmchain: a deterministic smart-contract engine; this is its public API.

Everything a program that talks to a node needs is importable from here::

    from wasmchain import Client, TransactionFailed

    client = Client.connect("http://127.0.0.1:8545")

Importing it loads no VM and no database.  The rest lives in the layers, each a
subpackage, lowest first (docs/architecture.md; tests/test_layers.py holds them to it):

- ``wasmchain.vm``: deterministic WebAssembly execution (``Runtime``); knows nothing of blocks;
- ``wasmchain.protocol``: encoding, keys, transactions, blocks, genesis, state, the transition;
- ``wasmchain.store``: the key-value stores, the journal, the database schema, the ``Chain`` store;
- ``wasmchain.node``: the node, mempool, JSON-RPC, the HTTP server, the devnet;
- ``wasmchain.client``: this client; ``wasmchain.client.local`` runs a node in this process;
- ``wasmchain.history``: export, import, replay, the follower;
- ``wasmchain.cli``: the ``wasmchain`` command.
"""

from wasmchain.client.client import Account, Client, Contract
from wasmchain.client.results import (
    ArgumentTypeError,
    CallFailed,
    CallResult,
    Event,
    Head,
    LoggedEvent,
    ReceiptTimeout,
    TransactionFailed,
    TxResult,
)
from wasmchain.client.transport import ClientError, HTTPTransport, RPCClientError, Transport
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.keys import DEV_ACCOUNTS, KeyPair, dev_key, format_address, parse_address

__all__ = [
    "DEV_ACCOUNTS",
    "Account",
    "ArgumentTypeError",
    "CallFailed",
    "CallResult",
    "ChainError",
    "Client",
    "ClientError",
    "Contract",
    "Event",
    "HTTPTransport",
    "Head",
    "KeyPair",
    "LoggedEvent",
    "RPCClientError",
    "ReceiptTimeout",
    "TransactionFailed",
    "Transport",
    "TxResult",
    "dev_key",
    "format_address",
    "parse_address",
]
