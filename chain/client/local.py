"""A client of a node in this process: no server, no port, the same answers as over HTTP.

``local_client()`` is a fresh chain in memory with its own node (what the pytest fixture gives
each test); ``LocalTransport(dispatcher)`` puts any ``Dispatcher`` behind a ``Client`` (the
embedded CLI does this over a data directory).  This module imports the node, the VM and the
database; ``wasmchain.client.client`` (with its ``transport`` and ``results``) does not, so a
program that only talks to a running node loads none of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wasmchain.client.client import Client
from wasmchain.client.transport import RPCClientError
from wasmchain.node.jsonrpc import RPCError
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.genesis import Genesis
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import default_genesis_path, load_genesis
from wasmchain.store.kv import MemoryKV


class LocalTransport:
    """Calls a dispatcher in this process; results go through JSON as over HTTP."""

    mines_while_waiting = False

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            result = self.dispatcher.call(method, params)
        except RPCError as error:
            raise RPCClientError(error.code, error.message, error.reason) from None
        return json.loads(json.dumps(result))  # the same types a remote caller sees

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | RPCClientError]:
        results: list[Any | RPCClientError] = []
        for method, params in calls:
            try:
                results.append(self.call(method, params))
            except RPCClientError as error:
                results.append(error)
        return results


def local_client(genesis: Genesis | str | os.PathLike[str] | None = None, *, cache_dir: Path | None = None) -> Client:
    """A fresh chain in memory with its own node: no server, no port, instant mining.

    ``genesis`` is a ``Genesis`` or the path of a genesis file (default:
        ``$WASMCHAIN_GENESIS``, else ``./genesis.json``, else the devnet's).
    Block timestamps count up by one second from genesis (no wall clock),
    so the same steps give the same blocks every run.  ``cache_dir`` keeps
    compiled modules on disk, so many chains compile each contract once.
    """
    if not isinstance(genesis, Genesis):
        genesis = load_genesis(default_genesis_path() if genesis is None else Path(genesis))
    node = Node(Chain.create(MemoryKV(), genesis, cache_dir=cache_dir), clock=None)
    return Client(LocalTransport(Dispatcher(node)))
