"""A full mempool, as a JSON-RPC caller sees it (``-32003``).

Not against the process: ``wasmchain devnet`` has no option for the
mempool's capacity, and filling the default 10,000 takes ~150 funded
accounts at 65 queued nonces each.  So the node is built here with a
small pool and the request bytes go through ``Dispatcher.handle``, the
same code the server hands each body to.  (tests/chain/test_node.py
covers the node's side.)
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.tools import GENESIS, call, native_transfer, tx_hex
from wasmchain.node.mempool import Mempool
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.keys import dev_key
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

MEMPOOL_FULL = -32003


def handle(dispatcher: Dispatcher, request: Any) -> Any:
    answer = dispatcher.handle(json.dumps(request).encode())
    assert answer is not None
    return json.loads(answer)


def test_mempool_full() -> None:
    node = Node(
        Chain.create(MemoryKV(), load_genesis(GENESIS)), block_time=1.0, clock=None, mempool=Mempool(capacity=3)
    )
    dispatcher = Dispatcher(node)
    target = dev_key(9).address
    queued = [native_transfer(dev_key(0), nonce, target, 1) for nonce in range(3)]
    for signed in queued:
        assert handle(dispatcher, call("submit_transaction", {"tx": tx_hex(signed)}))["result"]["status"] == "pending"

    extra = native_transfer(dev_key(1), 0, target, 1)
    answer = handle(dispatcher, call("submit_transaction", {"tx": tx_hex(extra)}, 5))
    assert answer["id"] == 5
    assert answer["error"]["code"] == MEMPOOL_FULL
    assert "the mempool is full (3 transactions); try again after the next block" in answer["error"]["message"]
    # A batch: each call on its own, the full pool refusing just the one.
    answers = handle(
        dispatcher, [call("chain_info", request_id=1), call("submit_transaction", {"tx": tx_hex(extra)}, 2)]
    )
    assert answers[0]["result"]["pending"] == 3
    assert answers[1]["error"]["code"] == MEMPOOL_FULL

    node.produce_block()  # the interval's block takes all three
    assert handle(dispatcher, call("submit_transaction", {"tx": tx_hex(extra)}))["result"]["status"] == "pending"
    assert handle(dispatcher, call("chain_info"))["result"]["pending"] == 1
