"""A single-node devnet: a chain, a mempool, a block producer and the devnet controls.

The node is one driver of the chain (``app.py`` is the ABCI++-shaped
other); the JSON-RPC layer (``rpc.py``) and the embedded CLI both call it.
It is not thread-safe and need not be: the VM runs on one thread, so the
server calls the node from its one event-loop thread.

Mining:

- *instant* (``block_time=None``, the default): every transaction that
  becomes ready gets its own block at once, so its receipt exists when the
  submit call returns;
- *interval*: ``produce_block`` is called every ``block_time`` seconds and
  packs every ready transaction (up to the block gas limit).

Timestamps: a block's timestamp is the one set by
``set_next_block_timestamp`` if any, else the clock plus the offset from
``increase_time``, never earlier than the parent's.  With ``clock=None``
(the in-process test fixture) the clock is the parent's timestamp plus
one, so a test run is the same every time; there ``increase_time`` moves
the next block only (later ones follow it a second apart), as a real
clock moved forward would.  Timestamps stay at most ``MAX_TIMESTAMP``.

Interfaces: a contract's typed interface (its ``wasmchain:wit`` section,
``wasmchain.vm.wit``) is parsed once per code hash and kept in a bounded
cache (``INTERFACE_CACHE`` entries, the least recently used dropped).  The
reports decode results and events with it, and admission refuses a call
whose arguments do not fit the called method's declared types
(``InvalidArgs``): nothing badly typed is mined through this node, whatever
client signed it.  That is this node's policy, not a consensus rule: a block
holding such a call is still valid (``check_args=False`` turns it off).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from wasmchain.node.errors import DevnetError, DuplicateTransaction, InvalidArgs, InvalidInterface
from wasmchain.node.jsonrpc import MAX_EVENT_BLOCK_RANGE, MAX_EVENTS
from wasmchain.node.mempool import Mempool
from wasmchain.node.reports import code_interface, declared
from wasmchain.node.subscriptions import Hub
from wasmchain.protocol.blocks import Block, Header, Receipt
from wasmchain.protocol.errors import ChainError, NotFound
from wasmchain.protocol.genesis import MAX_AMOUNT
from wasmchain.protocol.keys import format_address
from wasmchain.protocol.state import Account
from wasmchain.protocol.tracing import TransactionTrace
from wasmchain.protocol.transactions import SignedTransaction, TxKind
from wasmchain.protocol.transition import check_envelope, check_payload, intrinsic_gas
from wasmchain.store.chain import Chain, PendingBlock
from wasmchain.vm import Event, InvalidModule, Outcome
from wasmchain.vm.host import Address, Hash32
from wasmchain.vm.wit.section import interface_of
from wasmchain.vm.wit.types import Interface, WitError, signature
from wasmchain.vm.wit.values import ArgumentError, check_args

MAX_MINE = 10_000
"""Blocks one ``mine`` call may produce."""
MAX_DROPPED = 10_000
"""Dropped transactions remembered, to answer "what happened to it"."""
MAX_TIMESTAMP = (1 << 63) - 1
"""The latest timestamp the devnet controls may ask for: later blocks still fit the header's 64 bits."""
INTERFACE_CACHE = 256
"""Parsed interfaces (or the reason one cannot be parsed) kept by code hash."""
ACCOUNT_CACHE = 4096
"""Accounts of the head kept by ``Node.account`` (all dropped at a new head, or when this many are kept)."""


def _printable(message: str) -> str:
    """A contract's text for a terminal: every control character (newlines, escapes) shown escaped."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in message)


@dataclass(frozen=True, slots=True)
class Submitted:
    tx_hash: Hash32
    included: bool
    """Whether the transaction is in a block already (instant mining with no nonce gap)."""
    inclusion: tuple[Block, int, Receipt] | None = None
    """When this call mined it: its block, its index there and its receipt (what ``transaction_status`` reads)."""


@dataclass(frozen=True, slots=True)
class FoundEvent:
    height: int
    tx_hash: Hash32
    tx_index: int
    log_index: int
    """The event's position among its transaction's events."""
    event: Event


class Node:
    def __init__(
        self,
        chain: Chain,
        *,
        block_time: float | None = None,
        clock: Callable[[], float] | None = time.time,
        mempool: Mempool | None = None,
        console: Callable[[str], None] | None = None,
        check_args: bool = True,
    ) -> None:
        if block_time is not None and not block_time > 0:
            raise ChainError(f"the block time must be a positive number of seconds, found {block_time}")
        self.chain = chain
        self.block_time = block_time
        self.clock = clock
        self.mempool = mempool if mempool is not None else Mempool()  # an empty one is falsy
        self.time_offset = 0
        self._unapplied_offset = 0
        """Seconds ``increase_time`` added since the last block: with ``clock=None`` they move that block only."""
        self.next_timestamp: int | None = None
        self.snapshots: dict[int, int] = {}
        """Snapshot id -> the head height it was taken at."""
        self._next_snapshot = 1
        self.dropped: dict[Hash32, str] = {}
        """Transactions admitted but left out of a block, and why (they failed at inclusion)."""
        self.console = console
        """Where the ``debug_log`` messages of mined transactions are printed, a line at a time (the devnet's
        console); ``None``: they are not collected."""
        self.check_args = check_args
        """Whether admission refuses a call whose arguments do not fit its method's declared types."""
        self._interfaces: OrderedDict[Hash32, Interface | str | None] = OrderedDict()
        """Code hash -> its parsed interface, ``None`` (untyped) or why its section cannot be read."""
        self.hub = Hub(self.interface_or_none)
        """The live subscriptions (``subscriptions.py``): told of each committed block and admitted transaction."""
        self._published = chain.head.height
        """The height of the newest block the hub was told of."""
        self._accounts: dict[Address, Account] = {}
        self._accounts_head: Header | None = None
        """The head whose accounts ``_accounts`` holds (a header is a new object for every head)."""

    @property
    def instant(self) -> bool:
        return self.block_time is None

    # -- transactions ---------------------------------------------------------------

    def submit(self, signed: SignedTransaction) -> Submitted:
        """Admit a transaction to the mempool; with instant mining, mine what became ready."""
        chain = self.chain
        account = self.account(signed.tx.sender)
        # A block holds a transaction only if it took its nonce (this node mines no invalid one): a nonce not
        # taken yet needs no look-up in the index.
        if signed.tx.nonce < account.nonce and chain.has_transaction(signed.hash):
            raise DuplicateTransaction(f"transaction 0x{signed.hash.hex()} is already in a block")
        context = chain.context(chain.head.height + 1, self._peek_timestamp())
        check_envelope(signed, context, chain.genesis.chain.block_gas_limit)
        check_payload(signed, context)
        if self.check_args:
            self._check_typed_args(signed)
        if signed.tx.nonce == account.nonce:
            chain.check_tx(signed)  # the ready one is checked in full: its call target too
        self.mempool.add(signed, account.nonce, account.balance)
        self.dropped.pop(signed.hash, None)
        self.hub.transaction_pending(signed)
        inclusion = None
        if self.instant:
            while self.mempool.ready(self._next_nonce, limit=1):
                block, receipts = self.produce_block(limit=1)
                for index, included in enumerate(block.transactions):
                    if included.hash == signed.hash:
                        inclusion = block, index, receipts[index]
        return Submitted(signed.hash, not self.mempool.get(signed.hash) and signed.hash not in self.dropped, inclusion)

    def account(self, address: Address) -> Account:
        """``Chain.account`` at the head, kept until the head changes (a block, a rollback): a submission, its
        block and its answer read the same few accounts several times, each a database read and a decoding."""
        head = self.chain.head
        if head is not self._accounts_head or len(self._accounts) >= ACCOUNT_CACHE:
            self._accounts = {}
            self._accounts_head = head
        account = self._accounts.get(address)
        if account is None:
            account = self._accounts[address] = self.chain.account(address)
        return account

    def _check_typed_args(self, signed: SignedTransaction) -> None:
        """Refuse a call (or a deploy's init) of a declared method whose msgpack arguments do not fit its types."""
        tx = signed.tx
        if tx.kind is TxKind.CALL:
            interface = self.interface_or_none(tx.to)
        elif tx.kind is TxKind.DEPLOY and tx.method:
            interface = code_interface(tx.code)
        else:
            return
        method = declared(interface, tx.method)
        if method is None:
            return
        try:
            check_args(method, tx.args)
        except ArgumentError as error:
            raise InvalidArgs(f"the arguments do not fit {signature(method)}: {error}") from None

    def _next_nonce(self, sender: Address) -> int:
        return self.account(sender).nonce

    def next_nonce(self, sender: Address) -> int:
        """The sender's next nonce counting its pending transactions with no gap before them."""
        return self.mempool.next_nonce(sender, self._next_nonce(sender))

    def simulate(self, signed: SignedTransaction) -> Receipt:
        return self.chain.simulate(signed, self._peek_timestamp())

    def trace_call(
        self, signed: SignedTransaction, *, verbose: bool = False, profile: bool = False
    ) -> TransactionTrace:
        """``simulate`` with a trace (``Chain.trace_call``)."""
        return self.chain.trace_call(signed, self._peek_timestamp(), verbose=verbose, profile=profile)

    def intrinsic_gas(self, signed: SignedTransaction) -> int | None:
        """What a transaction costs before it executes (its bytes, compiling a deploy's code), or ``None``
        when it has no such cost because it cannot run (a deploy whose module is refused)."""
        chain = self.chain
        try:
            return intrinsic_gas(signed, chain.context(chain.head.height + 1, chain.head.timestamp))
        except (ChainError, InvalidModule):
            return None

    def view(self, contract: Address, method: str, args: bytes, gas_limit: int, caller: Address) -> Outcome:
        return self.chain.view(contract, method, args, gas_limit, caller)

    # -- blocks ------------------------------------------------------------------------

    def produce_block(self, *, limit: int | None = None) -> tuple[Block, tuple[Receipt, ...]]:
        """Mine the next block with the ready transactions (at most ``limit``), possibly none."""
        chain = self.chain
        candidates = self._packable(self.mempool.ready(self._next_nonce, limit))
        timestamp = self._take_timestamp()
        logs = self.console is not None
        pending = chain.finalize(candidates, timestamp, logs=logs)
        failed = [
            (signed, receipt) for signed, receipt in zip(candidates, pending.receipts) if receipt.status == "invalid"
        ]
        if failed:
            # Something changed between admission and inclusion (an earlier
            # transaction spent the balance, say): leave those out and say why.
            senders: set[Address] = set()
            for signed, receipt in failed:
                if signed.tx.sender in senders:
                    continue  # it failed only for the sender's nonce gap just opened: it waits in the mempool
                senders.add(signed.tx.sender)
                self.mempool.remove(signed)
                self._drop(signed.hash, receipt.error)
            kept = [signed for signed, receipt in zip(candidates, pending.receipts) if receipt.status != "invalid"]
            pending = chain.finalize(kept, timestamp, logs=logs)
        chain.commit(pending)
        if self.console is not None:
            self._print_logs(pending, self.console)
        for signed in pending.block.transactions:
            self.mempool.remove(signed)
        self.mempool.prune(self._next_nonce)
        self.committed(pending.block, pending.receipts)
        return pending.block, pending.receipts

    def committed(self, block: Block, receipts: tuple[Receipt, ...]) -> None:
        """Tell the subscribers of a block this node just committed (and of any committed before it that they
        were not told of)."""
        if block.height > self._published + 1:
            self.publish_committed(block.height - 1)
        self._published = block.height
        self.hub.block_committed(block, receipts)

    def publish_committed(self, last: int | None = None) -> None:
        """Tell the subscribers of the blocks committed since the last one they were told of, up to ``last`` (the
        head): for a chain that changes by another path than this node (a validator's ``Commit``, a follower's
        ``apply_block``), called after it."""
        last = self.chain.head.height if last is None else last
        if last <= self._published:
            return
        first, self._published = self._published + 1, last
        if not self.hub.publishes_blocks:
            return  # (nobody would read them)
        for height in range(first, last + 1):
            self.hub.block_committed(self.chain.block(height), tuple(self.chain.receipts(height)))

    @staticmethod
    def _print_logs(pending: PendingBlock, console: Callable[[str], None]) -> None:
        """Each mined transaction's ``debug_log`` messages, under a line naming it (never stored anywhere)."""
        height = pending.block.height
        for signed, logs in zip(pending.block.transactions, pending.logs):
            if logs:
                console(f"debug_log  block {height}  tx 0x{signed.hash.hex()}")
                for line in logs:
                    console(f"  0x{line.contract.hex()}: {_printable(line.message)}")

    def _packable(self, ready: list[SignedTransaction]) -> list[SignedTransaction]:
        """The ready transactions whose gas limits fit in one block together, in order."""
        room = self.chain.genesis.chain.block_gas_limit
        packed = []
        for signed in ready:
            if signed.tx.gas_limit > room:
                break  # keep each sender's nonce order: nothing after a skipped transaction
            room -= signed.tx.gas_limit
            packed.append(signed)
        return packed

    def _drop(self, tx_hash: Hash32, why: str) -> None:
        self.dropped[tx_hash] = why
        while len(self.dropped) > MAX_DROPPED:  # remember the newest only
            del self.dropped[next(iter(self.dropped))]

    def mine(self, blocks: int = 1, timestamp: int | None = None) -> list[Block]:
        """Mine ``blocks`` blocks now, packing ready transactions; the first at ``timestamp`` if given."""
        if not 1 <= blocks <= MAX_MINE:
            raise DevnetError(f"blocks must be between 1 and {MAX_MINE}, found {blocks}")
        if timestamp is not None:
            self.set_next_block_timestamp(timestamp)
        return [self.produce_block()[0] for _ in range(blocks)]

    def _peek_timestamp(self) -> int:
        parent = self.chain.head.timestamp
        if self.next_timestamp is not None:
            return self.next_timestamp
        if self.clock is None:
            return parent + 1 + self._unapplied_offset
        return max(parent, int(self.clock()) + self.time_offset)

    def _take_timestamp(self) -> int:
        timestamp = self._peek_timestamp()
        self.next_timestamp = None
        self._unapplied_offset = 0
        return timestamp

    # -- devnet controls -------------------------------------------------------------

    def set_next_block_timestamp(self, timestamp: int) -> None:
        parent = self.chain.head.timestamp
        if timestamp < parent:
            raise DevnetError(f"timestamp {timestamp} is earlier than the head block's ({parent})")
        if timestamp > MAX_TIMESTAMP:
            raise DevnetError(f"timestamp {timestamp} is after the latest allowed ({MAX_TIMESTAMP}, 2**63-1)")
        self.next_timestamp = timestamp

    def increase_time(self, seconds: int) -> int:
        """Move the clock forward for every later block; returns the total offset."""
        if seconds < 0:
            raise DevnetError(f"time only moves forward: seconds must not be negative, found {seconds}")
        if self._peek_timestamp() + seconds > MAX_TIMESTAMP:
            raise DevnetError(
                f"increasing the time by {seconds} seconds would take blocks past the latest "
                f"allowed timestamp ({MAX_TIMESTAMP}, 2**63-1)"
            )
        self.time_offset += seconds
        self._unapplied_offset += seconds
        return self.time_offset

    def set_balance(self, address: Address, balance: int) -> Block:
        """Mine a block that sets an account's balance outright (recorded in the block, so it replays)."""
        if not self.chain.genesis.chain.allow_balance_overrides:
            raise DevnetError("this chain's genesis does not allow balance overrides (chain.allow_balance_overrides)")
        if not 0 <= balance <= MAX_AMOUNT:
            raise DevnetError(f"a balance is between 0 and 2**128 - 1, found {balance}")
        block, receipts = self.chain.produce([], self._take_timestamp(), [(address, balance)])
        self.committed(block, receipts)
        return block

    def snapshot(self) -> int:
        """Remember the head; ``revert`` returns to it.  Returns the snapshot's id."""
        snapshot_id = self._next_snapshot
        self._next_snapshot += 1
        self.snapshots[snapshot_id] = self.chain.head.height
        return snapshot_id

    def revert(self, snapshot_id: int) -> int:
        """Roll the chain back to a snapshot, dropping it and every later one, and empty the mempool.

        Returns the head height after the revert.
        """
        height = self.snapshots.get(snapshot_id)
        if height is None:
            raise DevnetError(f"no snapshot with id {snapshot_id} (it may have been reverted already)")
        self.chain.rollback(height)
        self._published = height  # (subscribers are told nothing: the next block at a reused height is sent anew)
        self.snapshots = {key: value for key, value in self.snapshots.items() if key < snapshot_id}
        self.mempool.clear()
        self.dropped.clear()
        self.next_timestamp = None
        return height

    # -- reading ------------------------------------------------------------------------

    def interface(self, address: Address) -> tuple[Hash32, Interface | None]:
        """The code hash of the contract at ``address`` and its interface (``None``: untyped).

        Raises ``NotFound`` when there is no contract there, ``InvalidInterface`` when its section cannot be read.
        """
        account = self.account(address)
        if not account.is_contract:
            raise NotFound(f"no contract at {format_address(address)}")
        found = self._interface_of(account.code_hash)
        if isinstance(found, str):
            raise InvalidInterface(
                f"the contract at {format_address(address)} carries an unreadable interface: {found}"
            )
        return account.code_hash, found

    def interface_or_none(self, address: Address) -> Interface | None:
        """The interface of the contract at ``address``, or ``None`` when there is no contract, no interface or an
        unreadable one: what the reports decode with (falling back to the generic decoding)."""
        account = self.account(address)
        if not account.is_contract:
            return None
        found = self._interface_of(account.code_hash)
        return None if isinstance(found, str) else found

    def _interface_of(self, code_hash: Hash32) -> Interface | str | None:
        cache = self._interfaces
        if code_hash in cache:
            cache.move_to_end(code_hash)
            return cache[code_hash]
        try:
            found: Interface | str | None = interface_of(self.chain.state().code(code_hash))
        except WitError as error:
            found = str(error)
        cache[code_hash] = found
        if len(cache) > INTERFACE_CACHE:
            cache.popitem(last=False)
        return found

    def events(
        self,
        contract: Address | None = None,
        name: str | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        limit: int = MAX_EVENTS,
    ) -> list[FoundEvent]:
        """Events of committed blocks in ``[from_block, to_block]`` (to the head by default), oldest first."""
        if to_block is not None and to_block < from_block:
            raise ChainError(f"from_block {from_block} is after to_block {to_block}")
        if not 1 <= limit <= MAX_EVENTS:
            raise ChainError(f"limit must be between 1 and {MAX_EVENTS}, found {limit}")
        last = self.chain.head.height if to_block is None else min(to_block, self.chain.head.height)
        if last - from_block + 1 > MAX_EVENT_BLOCK_RANGE:
            raise ChainError(
                f"the block range {from_block}..{last} is more than {MAX_EVENT_BLOCK_RANGE} blocks; narrow it"
            )
        found: list[FoundEvent] = []
        for height in range(from_block, last + 1):
            for tx_index, receipt in enumerate(self.chain.receipts(height)):
                for log_index, event in enumerate(receipt.events):
                    if (contract is None or event.contract == contract) and (name is None or event.name == name):
                        found.append(FoundEvent(height, receipt.tx_hash, tx_index, log_index, event))
                        if len(found) >= limit:
                            return found
        return found

    def transaction_status(self, tx_hash: Hash32) -> tuple[Block, int, Receipt] | str:
        """The inclusion of a transaction, or ``"pending"``, or ``"dropped: why"``."""
        try:
            return self.chain.transaction(tx_hash)
        except NotFound:
            if tx_hash in self.mempool:
                return "pending"
            if tx_hash in self.dropped:
                return "dropped: " + self.dropped[tx_hash]
            raise
