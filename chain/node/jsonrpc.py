"""What a node's JSON-RPC interface promises its callers: the error codes, the error and the limits.

The server (``node.rpc``) and every client (``client``) share these; the module imports nothing
of the node, so a client that uses it loads no VM and no database.
"""

from __future__ import annotations

from typing import Any

from wasmchain.protocol.errors import ChainError

JSONRPC = "2.0"
MAX_BATCH = 1_000
MAX_RAW_BLOCKS = 100
"""Blocks one ``get_raw_blocks`` call returns at most."""

# The JSON-RPC 2.0 codes, and ours (-32000 to -32099 are for the server).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TX_REJECTED = -32000
NOT_FOUND = -32001
DEVNET_REFUSED = -32002
MEMPOOL_FULL = -32003
STORE_ERROR = -32004
FOLLOWER_REFUSED = -32005


def changes_chain(method: str) -> bool:
    """Whether a method adds transactions or blocks, or controls the devnet: what a follower refuses."""
    return method == "submit_transaction" or method.startswith("devnet_")


class RPCError(ChainError):
    """A JSON-RPC error object: a code (above) and a message that names what was wrong."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


MAX_EVENT_BLOCK_RANGE = 10_000
"""Blocks one events query may scan."""
MAX_EVENTS = 10_000
"""Events one query may return."""
