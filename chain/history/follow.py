"""``wasmchain follow``: a node that takes its blocks from another and re-executes every one.

The follower trusts nothing the followed node (the *remote*) says.  Each
block arrives as the bytes of its canonical encoding (``get_raw_blocks``),
is decoded strictly, and goes through ``Chain.apply_block``: the parent
hash, height, timestamp, transaction root and overrides root against its
parent, then every transaction re-executed (signatures checked), then the
receipts root, the gas used and the state root against the header.  The
receipts the remote sent must also be the ones replay made; where they
differ, the refusal names the first transaction and field that differ.
A block that fails any check is refused, naming its height, the field and
both values, and the follower stops (``BlockRefused``): every block before
it stays committed, one atomic write each.

The genesis comes from the remote too (``get_genesis``): the document is
checked field by field and its block 0 must hash to the remote's genesis
hash (``--genesis FILE`` also holds it to a local file: the genesis hash
commits to the accounts and contracts but not to the VM and chain
parameters).  On a restart, and at every poll, the remote's block at the
follower's head height must be the follower's head: a remote that was
reverted (``devnet_revert``) or reset is reported (``Diverged``), never
followed onto a different chain.

Threads: the follower runs on the server's one asyncio loop
(``Server.run(beside=...)``), so every block is applied on the loop's
thread, one at a time, between RPC calls.  Only the remote calls run in a
worker thread (``fetch_genesis``, ``fetch_page``: plain functions of the
transport that never touch the chain), a daemon thread: a signal stops
the follower at once, whatever call is in flight (the transport is
aborted, and nothing waits for the thread).

A hostile remote can neither bloat nor freeze it: every call ends within
``--timeout`` seconds in all and reads at most ``--max-answer`` bytes
(``HTTPTransport``).  A remote that cannot be reached is retried with
back-off (``poll`` doubling up to ``MAX_BACKOFF``), with one line at most
every ``RETRY_NOTICE`` seconds, for as long as it takes; an answer too
slow, too large or malformed is retried the same way, and after
``BAD_ANSWERS`` in a row the follower stops with the last one's message
(exit 1).  A page too large is first asked for again with half as many
blocks, down to one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from wasmchain.client.transport import (
    DEFAULT_MAX_ANSWER,
    LARGE_ANSWER,
    NO_ANSWER,
    HTTPTransport,
    RPCClientError,
    Transport,
    describe,
)
from wasmchain.history.divergence import first_receipt_difference
from wasmchain.node.datadir import DataDir, open_chain
from wasmchain.node.jsonrpc import DEFAULT_LIMITS, MAX_RAW_BLOCKS, NOT_FOUND, Limits
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.node.server import HTTPAccess, Server
from wasmchain.protocol.blocks import Block, Receipt, decode_receipts
from wasmchain.protocol.errors import ChainError, GenesisError, InvalidBlock, InvalidEncoding
from wasmchain.protocol.genesis import Genesis, genesis_from_document
from wasmchain.protocol.transition import check_header, receipts_root
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV
from wasmchain.vm.host import Hash32

DEFAULT_PORT = 8546
DEFAULT_POLL = 0.5
"""Seconds between two polls of the remote's head once caught up."""
FETCH_TIMEOUT = 10.0
"""Seconds one call to the remote may take in all, from connecting to the answer's last byte (``--timeout``)."""
RETRY_NOTICE = 5.0
"""Seconds between two lines about a remote that cannot be reached."""
MAX_BACKOFF = 5.0
"""Seconds between two tries at most, however many failed before."""
BAD_ANSWERS = 5
"""Answers in a row too slow, too large or malformed after which the follower gives up (exit 1)."""

T = TypeVar("T")


class FollowError(ChainError):
    """The follower cannot go on; the message says why (``wasmchain follow`` exits 1)."""

    reason = "follow_error"


class BlockRefused(FollowError):
    """A block from the remote that does not verify: its height, the check, both values."""

    reason = "block_refused"

    def __init__(self, height: int, problem: str, difference: str | None = None) -> None:
        message = f"block {height} refused: {problem}"
        if difference is not None:
            message += f"; the first receipt that differs: {difference}"
        super().__init__(message)
        self.height = height
        self.problem = problem
        """What is wrong with the block: the check and both values (``reason`` is the class's stable name)."""
        self.difference = difference
        """The first difference between the remote's receipts and the replayed ones, if any."""


class Diverged(FollowError):
    """The remote no longer holds the chain this follower has: it was reverted or reset, or is another chain."""

    reason = "remote_diverged"


_STAY = "A follower does not follow a node onto another chain: start it again with a new --data to follow this one."


# -- what the remote answers (fetched in a worker thread; no chain here) --------------------------


@dataclass(frozen=True, slots=True)
class RemoteGenesis:
    genesis_hash: Hash32
    """The remote's block 0 hash, as it says."""
    document: dict[str, Any]
    """Its genesis document, as it says (checked by ``Follower.check_genesis`` or ``genesis_from_remote``)."""


@dataclass(frozen=True, slots=True)
class RawBlock:
    height: int
    """The height the remote gave it (the decoded header must agree)."""
    block: bytes
    receipts: bytes


@dataclass(frozen=True, slots=True)
class Page:
    """One poll: the remote's block at the follower's head height, and the blocks after it."""

    height: int
    """The follower's head height when it asked."""
    hash_at_height: Hash32 | None
    """The hash of the remote's block at ``height``; ``None`` when the remote has no block there."""
    remote_head: int
    blocks: tuple[RawBlock, ...]
    """From ``height + 1`` on, at most ``MAX_RAW_BLOCKS``."""

    @property
    def caught_up(self) -> bool:
        return self.height + len(self.blocks) >= self.remote_head


def fetch_genesis(remote: Transport) -> RemoteGenesis:
    answer = remote.call("get_genesis", {})
    if not (isinstance(answer, dict) and isinstance(answer.get("document"), dict)):
        raise FollowError(f"get_genesis answered {_show(answer)}, not a genesis_hash and a document")
    return RemoteGenesis(_hash(answer.get("genesis_hash"), "get_genesis: genesis_hash"), answer["document"])


def fetch_page(remote: Transport, height: int, count: int = MAX_RAW_BLOCKS) -> Page:
    """One round trip (a batch, answered in one go): the remote's block at ``height`` and up to
    ``count`` blocks after it."""
    at_height, raw = remote.batch(
        [("get_block", {"block": height}), ("get_raw_blocks", {"from_height": height + 1, "count": count})]
    )
    if isinstance(raw, RPCClientError):
        raise raw
    if isinstance(at_height, RPCClientError):
        if at_height.code != NOT_FOUND:
            raise at_height
        hash_at_height = None
    elif isinstance(at_height, dict):
        hash_at_height = _hash(at_height.get("hash"), f"get_block {height}: hash")
    else:
        raise FollowError(f"get_block answered {_show(at_height)}, not a block")
    if not (isinstance(raw, dict) and isinstance(raw.get("head"), int) and isinstance(raw.get("blocks"), list)):
        raise FollowError(f"get_raw_blocks answered {_show(raw)}, not a head and a list of blocks")
    blocks = []
    for entry in raw["blocks"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("height"), int)):
            raise FollowError(f"get_raw_blocks answered a block entry {_show(entry)} with no height")
        where = f"get_raw_blocks: block {entry['height']}"
        blocks.append(
            RawBlock(entry["height"], _hex(entry.get("block"), where), _hex(entry.get("receipts"), where + " receipts"))
        )
    return Page(height, hash_at_height, raw["head"], tuple(blocks))


def _hex(value: Any, what: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise FollowError(f"{what} is {_show(value)}, not 0x hex")


def _hash(value: Any, what: str) -> Hash32:
    raw = _hex(value, what)
    if len(raw) != 32:
        raise FollowError(f"{what} is {_show(value)}, not a 32-byte hash")
    return raw


def _show(value: Any) -> str:
    return describe(value, 120)


# -- checking a genesis ----------------------------------------------------------------------


def genesis_hash(genesis: Genesis) -> Hash32:
    """Block 0's hash for a genesis, computed in memory."""
    return Chain.create(MemoryKV(), genesis).header(0).hash


def genesis_from_remote(answer: RemoteGenesis, url: str) -> Genesis:
    """The remote's genesis document, checked field by field, whose block 0 must hash to what the remote says."""
    genesis = genesis_from_document(answer.document, f"the genesis of {url}")
    computed = genesis_hash(genesis)
    if computed != answer.genesis_hash:
        raise FollowError(
            f"the genesis of {url} does not hash to the genesis hash it gives: its document makes "
            f"block 0 0x{computed.hex()}, it says 0x{answer.genesis_hash.hex()}"
        )
    return genesis


# -- comparing receipts -------------------------------------------------------------------------


def receipt_difference(remote: Sequence[Receipt], replayed: Sequence[Receipt]) -> str | None:
    """The first difference between two blocks' receipts: the transaction's index, the field, both values."""
    found = first_receipt_difference(remote, replayed)
    if found is None:
        return None
    if found.recorded is None or found.replayed is None:
        return f"the remote has {len(remote)} receipts, replay made {len(replayed)}"
    name = found.fields[0]
    theirs, ours = getattr(found.recorded, name), getattr(found.replayed, name)
    if name != "events":
        return f"transaction {found.index} {name}: remote {_value(theirs)}, replayed {_value(ours)}"
    event = found.event_difference()
    if event is None:
        return f"transaction {found.index} events: the remote has {len(theirs)}, replay made {len(ours)}"
    index, field = event
    return (
        f"transaction {found.index} events[{index}].{field}: "
        f"remote {_value(getattr(theirs[index], field))}, replayed {_value(getattr(ours[index], field))}"
    )


def _value(value: Any) -> str:
    text = "0x" + value.hex() if isinstance(value, bytes) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- the follower ---------------------------------------------------------------------------------


class Follower:
    """A chain that grows only by the remote's blocks, each verified by re-executing it."""

    def __init__(self, chain: Chain, remote: Transport, url: str, node: Node | None = None) -> None:
        self.chain = chain
        self.remote = remote
        self.url = url
        self.node = node
        """The node serving this chain's RPC, whose subscribers (``node.hub``) are told of each block taken."""
        self.page_size = MAX_RAW_BLOCKS
        """Blocks asked for in a page: halved while the answer is too large, doubled back after each page."""

    def fetch_page(self, height: int) -> Page:
        """``fetch_page`` with this follower's page size (read in the worker thread at each try)."""
        return fetch_page(self.remote, height, self.page_size)

    def check_genesis(self, answer: RemoteGenesis) -> None:
        """The remote must be on this chain's genesis: the same block 0 and the same document."""
        ours = self.chain.header(0).hash
        if answer.genesis_hash != ours:
            raise Diverged(
                f"{self.url} is on another chain: its genesis block is 0x{answer.genesis_hash.hex()}, "
                f"ours is 0x{ours.hex()} (was it reset with another genesis?)"
            )
        try:
            theirs = genesis_from_document(answer.document, f"the genesis of {self.url}")
        except GenesisError as error:
            raise FollowError(str(error)) from None
        if theirs.document != self.chain.genesis.document:
            raise Diverged(
                f"{self.url} has the same genesis block as ours but another genesis document: "
                "the VM or chain parameters differ"
            )

    def check_page(self, page: Page) -> None:
        """The remote still holds our head, and sent the blocks after it in order."""
        head = self.chain.head
        assert page.height == head.height, "a page asked for at another head"
        if page.hash_at_height is None:
            raise Diverged(
                f"{self.url} has no block at height {head.height} any more (its head is at "
                f"{page.remote_head}): it was reverted (devnet_revert) or reset since we took that block. "
                f"{_STAY}"
            )
        if page.hash_at_height != head.hash:
            raise Diverged(
                f"the block at height {head.height} of {self.url} is 0x{page.hash_at_height.hex()}, ours is "
                f"0x{head.hash.hex()}: it was reverted (devnet_revert) or reset since we took ours. {_STAY}"
            )
        if not page.blocks and not page.caught_up:
            raise FollowError(
                f"{self.url} says its head is at {page.remote_head} but sent no block after {head.height}"
            )
        for offset, raw in enumerate(page.blocks, start=1):
            if raw.height != head.height + offset:
                raise FollowError(
                    f"{self.url} sent block {raw.height} where block {head.height + offset} was asked for"
                )

    def apply(self, raw: RawBlock) -> Block:
        """Decode, verify by re-executing, and commit the next block; or refuse it, committing nothing."""
        try:
            block = Block.decode(raw.block)
        except InvalidBlock as error:
            raise BlockRefused(raw.height, f"it does not decode: {error}") from None
        try:
            remote_receipts = decode_receipts(raw.receipts)
        except InvalidEncoding as error:
            raise BlockRefused(raw.height, f"its receipts from the remote do not decode: {error}") from None
        try:
            # The remote's receipts must be the block's (its header commits to
            # them), and replay's must be too: then they are the same receipts.
            sent = receipts_root(remote_receipts)
            if sent != block.header.receipts_root:
                raise InvalidBlock(
                    f"the receipts the remote sent have root 0x{sent.hex()}, "
                    f"the block's receipts_root is 0x{block.header.receipts_root.hex()}"
                )
            self.chain.apply_block(block)
        except InvalidBlock as error:
            raise BlockRefused(raw.height, str(error), self._difference(block, remote_receipts)) from None
        return block

    def _difference(self, block: Block, remote_receipts: Sequence[Receipt]) -> str | None:
        """Re-execute a refused block (nothing written) to name the first receipt that differs."""
        try:
            check_header(self.chain.head, block, self.chain.genesis)
        except InvalidBlock:
            return None  # the block does not follow our head: its receipts say nothing
        pending = self.chain.finalize(block.transactions, block.header.timestamp, block.overrides)
        return receipt_difference(remote_receipts, pending.receipts)

    def sync(self) -> int:
        """Check the genesis, then take blocks until caught up, in this thread; the blocks applied."""
        self.check_genesis(fetch_genesis(self.remote))
        applied = 0
        while True:
            page = fetch_page(self.remote, self.chain.head.height)
            self.check_page(page)
            for raw in page.blocks:
                self.apply(raw)
                applied += 1
            if page.caught_up:
                return applied

    async def run(self, poll: float, out: TextIO, err: TextIO) -> None:
        """Follow until cancelled (a signal) or refused: the loop beside the server."""
        worker = _Worker()
        notices = _Notices(self.url, err)

        async def ask(call: Callable[[], T]) -> T:
            failures = bad = 0
            while True:
                try:
                    result = await worker.run(call)
                except RPCClientError as error:
                    if error.reason == LARGE_ANSWER and self.page_size > 1:  # over our limit, or the remote's
                        self.page_size //= 2
                        notices.smaller(error.message, self.page_size)
                        continue
                    if error.code is not None:  # it answered, with an error: not worth retrying
                        raise FollowError(f"{self.url} answered an error: {error.message}") from None
                    delay = min(poll * 2**failures, MAX_BACKOFF)
                    failures += 1
                    if error.reason == NO_ANSWER:
                        notices.unreachable(error.message)
                    else:
                        bad += 1
                        if bad >= BAD_ANSWERS:
                            raise FollowError(f"{error.message} ({bad} times in a row: giving up)") from None
                        notices.bad(error.message, delay, bad)
                    await asyncio.sleep(delay)
                    continue
                notices.reached()
                return result

        try:
            self.check_genesis(await ask(functools.partial(fetch_genesis, self.remote)))
            while True:
                page = await ask(functools.partial(self.fetch_page, self.chain.head.height))
                self.check_page(page)
                for raw in page.blocks:
                    self.apply(raw)
                    if self.node is not None:
                        self.node.publish_committed()  # the block, and its events, to the WebSocket subscribers
                    await asyncio.sleep(0)  # answer waiting RPC calls between blocks
                if page.blocks:
                    self.page_size = min(self.page_size * 2, MAX_RAW_BLOCKS)
                    blocks = f"{len(page.blocks)} block{'s' if len(page.blocks) > 1 else ''}"
                    print(
                        f"synced to height {self.chain.head.height} (+{blocks}; the remote's head is at "
                        f"{page.remote_head})",
                        file=out,
                        flush=True,
                    )
                if page.caught_up:
                    await asyncio.sleep(poll)
        finally:
            worker.stop()


class _Worker:
    """The thread that makes the follower's remote calls, one at a time (one kept-alive connection).

    A daemon thread, unlike a ``concurrent.futures`` pool's (joined at exit): a call in flight when
    the follower stops never keeps the process alive.  Its answer, arriving after the loop stopped
    waiting, is dropped.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]] | None]
        self._calls = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="follow", daemon=True).start()

    async def run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((call, loop, future))
        return await future

    def stop(self) -> None:
        self._calls.put(None)

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, loop, future = item
            try:
                outcome = (future.set_result, call())
            except Exception as error:  # handed to the loop, which raises it in ``run``
                outcome = (future.set_exception, error)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:
                return  # the loop is closed: the follower stopped


def _settle(future: asyncio.Future[Any], settle: Callable[[Any], None], value: Any) -> None:
    if not future.done():  # (cancelled: the follower stopped waiting)
        settle(value)


class _Notices:
    """Lines about a remote that fails: at most one every ``RETRY_NOTICE`` seconds while it cannot be
    reached, and one when it is back; one for each answer it cannot use."""

    def __init__(self, url: str, err: TextIO) -> None:
        self.url = url
        self.err = err
        self.last: float | None = None
        """When the last line about this outage was printed; ``None``: no outage."""

    def unreachable(self, message: str) -> None:
        now = time.monotonic()
        if self.last is None or now - self.last >= RETRY_NOTICE:
            print(f"{message}; retrying", file=self.err, flush=True)
            self.last = now

    def bad(self, message: str, delay: float, count: int) -> None:
        print(f"{message}; retrying in {delay:g} s ({count} of {BAD_ANSWERS})", file=self.err, flush=True)

    def smaller(self, message: str, count: int) -> None:
        print(f"{message}; asking for {count} block{'s' if count > 1 else ''} at a time", file=self.err, flush=True)

    def reached(self) -> None:
        if self.last is not None:
            print(f"reached {self.url} again", file=self.err, flush=True)
            self.last = None


# -- wasmchain follow -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowOptions:
    rpc: str
    data: DataDir
    genesis: Path | None = None
    """A genesis file the remote's must equal; without it the remote's is taken (and checked against its hash)."""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    poll: float = DEFAULT_POLL
    timeout: float = FETCH_TIMEOUT
    """Seconds one call to the remote may take in all."""
    max_answer: int = DEFAULT_MAX_ANSWER
    """Bytes one answer of the remote may have."""
    access: HTTPAccess = HTTPAccess()
    """Who besides this machine's own tools may call the follower (``--allowed-hosts``, ``--cors-origins``)."""
    limits: Limits = DEFAULT_LIMITS
    """What one JSON-RPC request to the follower may cost (the ``--rpc-*`` flags, as a devnet's)."""


def open_follower_chain(options: FollowOptions, remote: Transport) -> tuple[Chain, bool]:
    """The chain in the data directory, created from the remote's genesis if absent; and whether it was created."""
    data = options.data
    expected = load_genesis(options.genesis) if options.genesis is not None else None

    def check(genesis: Genesis, whose: str) -> None:
        if expected is not None and genesis.document != expected.document:
            raise GenesisError(f"{whose} is not {options.genesis} (chain id {genesis.chain_id!r})")

    def remote_genesis() -> Genesis:
        genesis = genesis_from_remote(fetch_genesis(remote), options.rpc)
        check(genesis, f"the genesis of {options.rpc}")
        return genesis

    # Without fsync, as a devnet: a block an OS crash loses is fetched again.
    return open_chain(data, remote_genesis, sync=False, check=lambda genesis: check(genesis, f"{data.path}'s genesis"))


def run_follow(options: FollowOptions, out: TextIO, err: TextIO = sys.stderr) -> int:
    """Serve the read-only RPC and follow the remote until a signal (0) or a refusal (1)."""
    remote = HTTPTransport(options.rpc, timeout=options.timeout, max_answer=options.max_answer)
    try:
        chain, created = open_follower_chain(options, remote)
    except KeyboardInterrupt:  # SIGINT while asking for the genesis (the server's signal handlers come later)
        print(f"stopped before following {options.rpc}: nothing created", file=out, flush=True)
        return 0
    try:
        node = Node(chain)
        follower = Follower(chain, remote, options.rpc, node)
        server = Server(
            node,
            options.host,
            options.port,
            dispatcher=Dispatcher(node, follows=options.rpc, limits=options.limits),
            access=options.access,
        )

        def banner(url: str) -> None:
            head = chain.head
            started = f"created from the genesis of {options.rpc}" if created else f"resumed at height {head.height}"
            print("wasmchain follow", file=out)
            print(f"  chain id   {chain.genesis.chain_id}", file=out)
            print(f"  following  {options.rpc}", file=out)
            print(f"  rpc        {url}  (read-only: send transactions to the node followed)", file=out)
            print(f"  data       {options.data.path} ({started})", file=out)
            print(f"  head       {head.height}  0x{head.hash.hex()}", file=out)
            print(f"Listening on {url}  (Ctrl-C to stop)", file=out, flush=True)

        try:
            server.run(banner, beside=lambda: follower.run(options.poll, out, err))
        except FollowError as error:
            print(f"error: {error}", file=err, flush=True)
            print(f"stopped at height {chain.head.height}", file=out, flush=True)
            return 1
        print(f"stopped at height {chain.head.height}", file=out, flush=True)
    finally:
        remote.abort()  # a call in flight in the worker thread ends now
        chain.kv.close()
    return 0
