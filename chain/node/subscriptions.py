"""Live subscriptions: what a node pushes to its subscribers as it happens (docs/rpc.md, "Subscriptions").

One ``Hub`` per node (``Node.hub``).  A subscriber (the WebSocket server's
connection, for one) asks ``Hub.subscribe(kind, params)`` for a
``Subscription`` and reads its queued results with ``take()``, waiting on its
``wakeup`` event between reads.  Three kinds:

- ``"blocks"``: each committed block, as ``get_block`` reports it (its
  transactions' hashes);
- ``"events"``: each event of a committed block, as a ``get_events`` entry,
  optionally only one contract's (``contract``: ``0x`` and 40 hex digits)
  and of one name (``name``);
- ``"pending"``: each transaction the node's mempool admits: its hash, sender,
  recipient (``None`` for a deploy), method (``None`` for a transfer) and nonce.

The node calls ``block_committed`` after each block it commits (instant and
interval mining, ``devnet_mine``, ``devnet_set_balance``, a validator's
``Commit``) and ``transaction_pending`` on each admission.  Everything runs on
the node's one thread (the server's event loop), so nothing here locks.

Bounded, and never in the way of block production: publishing appends to a
queue per subscription and sets its event, nothing else; with no subscriber
of a kind, nothing is even reported.  A subscription with ``QUEUE_LIMIT``
results waiting is *dropped* at the next one: its queue is emptied, its
``dropped`` says why, its ``wakeup`` is set so that its reader learns it, and
the hub forgets it (the reader tells its client and stops).

A revert (``devnet_revert``) un-sends nothing: subscribers saw the blocks that
were reverted, and the next block at a reused height is sent as any other
(its hash differs; a client that keys by height replaces what it had).

The results are shared by the subscriptions that receive them: read them,
do not change them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Sequence
from typing import Any

from wasmchain.node.jsonrpc import INVALID_PARAMS, LIMIT_EXCEEDED, RPCError, bad, to_address
from wasmchain.node.reports import Interfaces, Report, block_report, event_report, untyped
from wasmchain.protocol.blocks import Block, Receipt
from wasmchain.protocol.keys import format_address
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.vm.host import Address

KINDS = ("blocks", "events", "pending")
"""What one can subscribe to."""
QUEUE_LIMIT = 1024
"""Results one subscription may have waiting; one more drops it."""
MAX_SUBSCRIPTIONS = 10_000
"""Subscriptions one hub keeps at once (a server bounds each connection's further)."""
FILTERS = {"blocks": (), "events": ("contract", "name"), "pending": ()}
"""The parameters each kind takes, besides ``kind`` itself."""


class Subscription:
    """One subscriber's queue of results, oldest first; ``take`` empties it."""

    __slots__ = ("_queue", "contract", "dropped", "id", "kind", "limit", "name", "wakeup")

    def __init__(self, subscription_id: str, kind: str, contract: Address | None, name: str | None, limit: int) -> None:
        self.id = subscription_id
        """``0x`` and 16 hex digits, from ``secrets``: only its subscriber knows it."""
        self.kind = kind
        self.contract = contract
        """The events kind's filters (``None``: any)."""
        self.name = name
        self.limit = limit
        self.dropped: str | None = None
        """Why the hub dropped this subscription (its queue overflowed); ``None`` while it is live."""
        self.wakeup: asyncio.Event | None = None
        """Set when a result is queued or the subscription is dropped; cleared by ``take``.  Created by
        ``Hub.subscribe`` when it runs on an event loop (a subscriber may create it later, on its loop)."""
        self._queue: deque[Report] = deque()

    def take(self) -> list[Report]:
        """The queued results, oldest first, and an empty queue (never blocks)."""
        taken = list(self._queue)
        self._queue.clear()
        if self.wakeup is not None:
            self.wakeup.clear()
        return taken

    def __len__(self) -> int:
        return len(self._queue)

    def _put(self, result: Report) -> bool:
        """Queue a result; ``False`` if that dropped the subscription (it was full)."""
        if len(self._queue) >= self.limit:
            self._queue.clear()
            self.dropped = (
                f"it fell behind: {self.limit} notifications were waiting to be sent when block production "
                "went on (a subscriber must read as fast as the chain grows)"
            )
            self._wake()
            return False
        self._queue.append(result)
        self._wake()
        return True

    def _wake(self) -> None:
        if self.wakeup is not None:
            self.wakeup.set()

    def matches(self, contract: Address, name: str) -> bool:
        return (self.contract is None or self.contract == contract) and (self.name is None or self.name == name)


class Hub:
    """The subscriptions of one node, by kind; ``interfaces`` decode event data as the reports do."""

    def __init__(
        self,
        interfaces: Interfaces = untyped,
        *,
        queue_limit: int = QUEUE_LIMIT,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
    ) -> None:
        self.interfaces = interfaces
        self.queue_limit = queue_limit
        self.max_subscriptions = max_subscriptions
        self._all: dict[str, Subscription] = {}
        self._by_kind: dict[str, dict[str, Subscription]] = {kind: {} for kind in KINDS}

    def __len__(self) -> int:
        return len(self._all)

    @property
    def publishes_blocks(self) -> bool:
        """Whether a committed block would reach anyone (a blocks or an events subscription)."""
        return bool(self._by_kind["blocks"] or self._by_kind["events"])

    def get(self, subscription_id: str) -> Subscription | None:
        return self._all.get(subscription_id)

    def subscribe(self, kind: str, params: dict[str, Any] | None = None) -> Subscription:
        """A new subscription; ``params`` are its filters (``kind`` may be among them, as sent over the wire).

        Raises ``RPCError`` (``-32602``) for an unknown kind or a bad filter, ``-32006`` past ``max_subscriptions``.
        """
        if not isinstance(kind, str) or kind not in KINDS:
            raise bad("kind", "one of " + ", ".join(repr(known) for known in KINDS), kind)
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise bad("params", "an object", params)
        allowed = FILTERS[kind]
        unknown = sorted(key for key in params if key not in allowed and key != "kind")
        if unknown:
            takes = f"take {' and '.join(allowed)}" if allowed else "take no filters"
            raise RPCError(
                INVALID_PARAMS, f"invalid params: {kind} subscriptions {takes}, found {', '.join(map(repr, unknown))}"
            )
        if params.get("kind", kind) != kind:
            raise bad("kind", repr(kind), params["kind"])
        contract_given, name = params.get("contract"), params.get("name")
        contract = None if contract_given is None else to_address(contract_given, "contract")
        if name is not None and not isinstance(name, str):
            raise bad("name", "a string", name)
        if len(self._all) >= self.max_subscriptions:
            raise RPCError(
                LIMIT_EXCEEDED,
                f"this node has {self.max_subscriptions} subscriptions already: unsubscribe some first",
                "too_many_subscriptions",
            )
        subscription_id = "0x" + secrets.token_hex(8)
        while subscription_id in self._all:
            subscription_id = "0x" + secrets.token_hex(8)
        subscription = Subscription(subscription_id, kind, contract, name, self.queue_limit)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # (no loop here: its subscriber creates the event on its own, if it waits on one)
        else:
            subscription.wakeup = asyncio.Event()
        self._all[subscription_id] = subscription
        self._by_kind[kind][subscription_id] = subscription
        return subscription

    def unsubscribe(self, subscription_id: str) -> bool:
        """Forget a subscription; whether there was one by that id."""
        subscription = self._all.pop(subscription_id, None)
        if subscription is None:
            return False
        del self._by_kind[subscription.kind][subscription_id]
        return True

    def _put(self, subscription: Subscription, result: Report) -> None:
        if not subscription._put(result):
            self.unsubscribe(subscription.id)

    # -- what the node calls -------------------------------------------------------------------------

    def block_committed(self, block: Block, receipts: Sequence[Receipt]) -> None:
        """Publish a committed block to the blocks subscriptions, and its events to the matching events ones."""
        blocks, events = self._by_kind["blocks"], self._by_kind["events"]
        if blocks:
            report = block_report(block)
            for subscription in list(blocks.values()):
                self._put(subscription, report)
        if not events:
            return
        height, interfaces = block.height, self.interfaces
        for tx_index, receipt in enumerate(receipts):
            for log_index, event in enumerate(receipt.events):
                found: Report | None = None
                for subscription in list(events.values()):
                    if not subscription.matches(event.contract, event.name):
                        continue
                    if found is None:
                        found = {
                            "block_height": height,
                            "tx_hash": "0x" + receipt.tx_hash.hex(),
                            "tx_index": tx_index,
                            "log_index": log_index,
                            **event_report(event, interfaces),
                        }
                    self._put(subscription, found)

    def transaction_pending(self, signed: SignedTransaction) -> None:
        """Publish a transaction the mempool admitted to the pending subscriptions."""
        pending = self._by_kind["pending"]
        if not pending:
            return
        tx = signed.tx
        report: Report = {
            "hash": "0x" + signed.hash.hex(),
            "from": format_address(tx.sender),
            "to": format_address(tx.to) if tx.to else None,
            "method": tx.method or None,
            "nonce": tx.nonce,
        }
        for subscription in list(pending.values()):
            self._put(subscription, report)
