"""``wasmchain node``: one validator's application, driven by a CometBFT node (docs/network.md).

The process opens (or creates, from ``--genesis``) its data directory's
chain and serves two things on one asyncio loop and thread: the ABCI
socket CometBFT connects to (``abci.server.serve_abci`` over an
``abci.app.AbciApp``), and the node's JSON-RPC (``server.Server``, the
devnet's methods).  Only CometBFT changes the chain here: blocks arrive
through ABCI (``FinalizeBlock``, ``Commit``), one at a time, on the loop's
thread, between JSON-RPC calls.

JSON-RPC on a network (``NetworkDispatcher``):

- ``submit_transaction`` decodes the transaction and checks this node's
  admission policy (typed arguments), then hands it to the local CometBFT
  (``broadcast_tx_async`` on ``--cometbft-rpc``, over kept-alive
  connections), which queues its ``CheckTx`` on the ABCI socket and gossips
  it once admitted.  The answer waits for that ``CheckTx``'s verdict, which
  this same process gives (``Publishing`` hands each new ``CheckTx``'s
  response to ``NetworkNode.checked``).  A refusal comes back as the
  devnet's refusal (``-32000``, the reason ``CheckTx`` gave); an admitted
  one is answered ``pending`` with its hash, and the client waits for its
  receipt (``get_receipt``) as it does with a devnet mining on an interval.
  The forwarding is awaited on the loop (a thread would not help: CometBFT
  calls back into this same loop for ``CheckTx``), so a synchronous call
  here could never finish; the dispatcher forwards the request's
  transactions first (``serve``), then answers the request as usual.
  A request's transactions are handed over one after the other, each once
  CometBFT has queued the one before (so they reach ``CheckTx`` in the
  request's order), and their verdicts awaited together: CometBFT's ABCI
  client sends a ``CheckTx`` only when its buffer fills or every 20 ms
  (``flushThrottleMS``), so ``broadcast_tx_sync`` one at a time took 20 ms
  each, which bounded a client to ~50 transactions a second.
- The node remembers what it forwarded until a block takes its nonce (or
  ``FORWARDED_TTL`` seconds pass), so ``get_next_nonce`` counts it and
  ``get_receipt`` says it is pending rather than unknown.
- The devnet controls are refused (``-32005``, ``network_refused``): a
  network's chain changes only by consensus.
- ``chain_info``'s ``mining`` says ``{"cometbft": URL}``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from wasmchain.node.datadir import DataDir, open_chain, refuse_other_genesis
from wasmchain.node.errors import DuplicateTransaction, FollowerRefused, MempoolFull
from wasmchain.node.jsonrpc import DEFAULT_LIMITS, INTERNAL_ERROR, MAX_BATCH, Limits, RPCError, bind
from wasmchain.node.mempool import Mempool
from wasmchain.node.node import Node, Submitted
from wasmchain.node.rpc import METHODS, Dispatcher, GasBudget
from wasmchain.node.server import HTTPAccess, Server
from wasmchain.protocol.errors import ChainError, InvalidTransaction, MalformedTransaction
from wasmchain.protocol.keys import DEV_ACCOUNTS, dev_key, format_address
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.vm.host import Hash32

if TYPE_CHECKING:  # (protobuf loads for ``wasmchain node`` only)
    from wasmchain.node.abci.proto.tendermint.abci import types_pb2
    from wasmchain.node.abci.server import Responder

DEFAULT_ABCI = "tcp://127.0.0.1:26658"
DEFAULT_COMETBFT_RPC = "http://127.0.0.1:26657"
DEFAULT_PORT = 8545
BROADCAST_TIMEOUT = 15.0
"""Seconds a transaction's forwarding may take in all: the broadcast and its ``CheckTx`` verdict."""
IDLE_CONNECTION = 4.0
"""Seconds a kept-alive connection to CometBFT's RPC is reused after its last answer (CometBFT's server closes
one idle for its ``read_timeout``, 10 s by default)."""
MAX_IDLE_CONNECTIONS = 8
CHECK_TX_NEW = 0
"""``CheckTxType.NEW``: a transaction's first ``CheckTx`` (``RECHECK``, 1, is CometBFT's after each block)."""
BROADCAST_BATCH = 10
"""``broadcast_tx_async`` calls per JSON-RPC batch request to CometBFT: its default ``rpc.max_request_batch_size``
(a request per transaction cost CometBFT and this node an HTTP exchange each)."""
MAX_BROADCAST_ANSWER = 1 << 20
"""Bytes of CometBFT's answer read at most."""
PRUNE_INTERVAL = 1.0
"""Seconds between two scans of the forwarded transactions for the expired ones."""
MIRROR_CAPACITY = 20_000
"""Forwarded transactions the node remembers as pending, at most (CometBFT's mempool holds 5,000 by default)."""
FORWARDED_TTL = 600.0
"""Seconds a forwarded transaction is remembered as pending if no block takes its nonce (CometBFT may evict it)."""


class NetworkRefused(FollowerRefused):
    """A devnet control sent to a validator of a CometBFT network: its chain changes only by consensus."""

    reason = "network_refused"


class CheckTxRefused(InvalidTransaction):
    """CometBFT refused the transaction: ``CheckTx`` said no (its reason), or its mempool did."""

    reason = "check_tx_refused"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class CometBFTUnreachable(RPCError):
    """The local CometBFT's RPC does not answer, or answers something that is not JSON-RPC (``-32603``: the
    node cannot do its job; the transaction was not admitted anywhere)."""

    def __init__(self, message: str) -> None:
        super().__init__(INTERNAL_ERROR, message, "cometbft_unreachable")


# -- the node --------------------------------------------------------------------------------------


class NetworkNode(Node):
    """A ``Node`` whose chain CometBFT drives: no block production, no devnet controls.

    Its mempool holds the transactions this node forwarded to CometBFT and no block has taken yet
    (a mirror for ``get_next_nonce`` and ``get_receipt``; CometBFT's mempool is the real one).
    """

    def __init__(self, chain: Chain, cometbft_rpc: str) -> None:
        # (The mirror takes any nonce gap CometBFT's mempool does: our CheckTx admits a sender's next nonces
        # without a bound, and a transaction the mirror could not place would be "not found" while pending.)
        super().__init__(chain, mempool=Mempool(capacity=MIRROR_CAPACITY, max_nonce_gap=MIRROR_CAPACITY))
        self.cometbft_rpc = cometbft_rpc
        self._forwarded_at: dict[Hash32, float] = {}
        self._pruned_at = -1
        self._scan_after = 0.0
        self._verdicts: dict[bytes, asyncio.Future[tuple[int, str]]] = {}
        """Transactions handed to CometBFT whose ``CheckTx`` has not answered yet, by their bytes."""
        self.rpc = CometRPC(cometbft_rpc)
        self.share: Callable[[SignedTransaction], None] | None = None
        """Given each transaction this node hands to CometBFT, decoded (``AbciApp.remember``)."""

    def expect_check_tx(self, tx: bytes) -> asyncio.Future[tuple[int, str]]:
        """A future that ``checked`` resolves with the code and log of the next new ``CheckTx`` of ``tx``."""
        future = self._verdicts.get(tx)
        if future is None or future.done():
            future = self._verdicts[tx] = asyncio.get_running_loop().create_future()
        return future

    def forget_check_tx(self, tx: bytes) -> None:
        future = self._verdicts.pop(tx, None)
        if future is not None and not future.done():
            future.cancel()

    def prepared(self, signed: list[SignedTransaction]) -> None:
        """Transactions about to be handed to CometBFT, each given to ``share`` (the application's ``remember``):
        their ``CheckTx`` does not decode them again.  (Their signatures are verified there, on this thread:
        sending them to the signature workers while CometBFT queued them cost more CPU in pipes than it moved,
        on two cores: docs/network.md.)"""
        if self.share is not None:
            for one in signed:
                self.share(one)

    def checked(self, tx: bytes, code: int, log: str) -> None:
        """This node's application answered a new ``CheckTx`` of ``tx`` (called by ``Publishing``)."""
        future = self._verdicts.pop(tx, None)
        if future is not None and not future.done():
            future.set_result((code, log))

    def submit(self, signed: SignedTransaction) -> Submitted:
        raise NetworkRefused("this node's transactions go through CometBFT: send them with submit_transaction")

    def admit(self, signed: SignedTransaction) -> None:
        """This node's own checks before forwarding: not in a block already, and its typed arguments."""
        if self.chain.has_transaction(signed.hash):
            raise DuplicateTransaction(f"transaction 0x{signed.hash.hex()} is already in a block")
        if self.check_args:
            self._check_typed_args(signed)

    def forwarded(self, signed: SignedTransaction) -> None:
        """Remember a transaction CometBFT admitted, as pending, until a block takes its nonce; and tell the
        pending subscribers."""
        self.hub.transaction_pending(signed)
        account = self.chain.account(signed.tx.sender)
        try:
            self.mempool.add(signed, account.nonce, account.balance)
        except InvalidTransaction:
            return  # (a nonce this mirror cannot place: CometBFT has it all the same)
        self._forwarded_at[signed.hash] = time.monotonic()

    def prune(self) -> None:
        """Forget what blocks have taken (by nonce; at most once a block), and what waited longer than
        ``FORWARDED_TTL`` (a scan of everything forwarded: at most every ``PRUNE_INTERVAL`` seconds, not at
        every call, which cost a fifth of the node's time with 400 transactions pending)."""
        height = self.chain.head.height
        if height != self._pruned_at:
            self._pruned_at = height
            self.mempool.prune(self._next_nonce)
        now = time.monotonic()
        if now < self._scan_after:
            return
        self._scan_after = now + PRUNE_INTERVAL
        expired = now - FORWARDED_TTL
        for tx_hash, at in list(self._forwarded_at.items()):
            signed = self.mempool.get(tx_hash)
            if signed is None:
                del self._forwarded_at[tx_hash]
            elif at < expired:
                self.mempool.remove(signed)
                del self._forwarded_at[tx_hash]


class Publishing:
    """An ABCI application whose every ``Commit`` is then told to the node's subscribers (``Node.hub``)."""

    def __init__(self, app: Responder, node: Node) -> None:
        self.app = app
        self.node = node

    def respond(self, request: types_pb2.Request) -> types_pb2.Response:
        response = self.app.respond(request)
        kind = request.WhichOneof("value")
        if kind == "commit":
            self.node.publish_committed()
        elif kind == "check_tx" and request.check_tx.type == CHECK_TX_NEW and isinstance(self.node, NetworkNode):
            self.node.checked(bytes(request.check_tx.tx), response.check_tx.code, response.check_tx.log)
        return response


# -- JSON-RPC ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Forwarded:
    report: dict[str, Any] | None = None
    error: ChainError | None = None


class NetworkDispatcher(Dispatcher):
    """The devnet's methods on a validator: ``submit_transaction`` forwarded to CometBFT, controls refused."""

    node: NetworkNode

    def __init__(self, node: NetworkNode, *, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(node, limits=limits)
        self.node = node
        self._outcomes: dict[bytes, _Forwarded] = {}
        self.methods["submit_transaction"] = dataclasses.replace(
            self.methods["submit_transaction"], handler=_submit_transaction
        )
        self.methods["chain_info"] = dataclasses.replace(self.methods["chain_info"], handler=_chain_info)

    def _call(self, name: str, params: Any, budget: GasBudget) -> Any:
        if name.startswith("devnet_") and name in self.methods:
            raise NetworkRefused(
                f"this node is a validator of a CometBFT network and does not take {name}: a network's chain "
                "changes only by the blocks its validators agree on (use a devnet, `wasmchain devnet`, for controls)"
            )
        self.node.prune()
        return super()._call(name, params, budget)

    async def serve(self, body: bytes) -> bytes | None:
        """Forward the request's transactions to CometBFT (awaited on the loop), then answer it as usual.

        They are handed over in JSON-RPC batches of ``BROADCAST_BATCH`` ``broadcast_tx_async`` calls, one batch
        once CometBFT has queued the one before (CometBFT runs a batch's calls in order), so their ``CheckTx``
        calls come in the request's order; then every verdict is awaited."""
        handed: dict[bytes, _Forwarded | tuple[SignedTransaction, asyncio.Future[tuple[int, str]]]] = {}
        outcomes: dict[bytes, _Forwarded] = {}
        try:
            for tx in _submitted(body):
                if tx not in handed:
                    handed[tx] = self._prepare(tx)
            waiting = [tx for tx, outcome in handed.items() if not isinstance(outcome, _Forwarded)]
            self.node.prepared([outcome[0] for outcome in handed.values() if not isinstance(outcome, _Forwarded)])
            for start in range(0, len(waiting), BROADCAST_BATCH):
                chunk = waiting[start : start + BROADCAST_BATCH]
                try:
                    refusals = await broadcast_txs_async(self.node.rpc, chunk)
                except ChainError as error:  # (CometBFT unreachable: none of these was taken)
                    refusals = [error] * len(chunk)
                for tx, refusal in zip(chunk, refusals):
                    if refusal is not None:
                        self.node.forget_check_tx(tx)
                        handed[tx] = _Forwarded(error=refusal)
            for tx, outcome in handed.items():
                outcomes[tx] = outcome if isinstance(outcome, _Forwarded) else await self._verdict(*outcome)
            # (Other requests are served while this one awaits: each keeps its own outcomes until here.)
            self._outcomes.update(outcomes)
            return await super().serve(body)
        finally:
            for tx, outcome in handed.items():
                if not isinstance(outcome, _Forwarded):
                    self.node.forget_check_tx(tx)
            for tx in outcomes:
                self._outcomes.pop(tx, None)

    def _prepare(self, tx: bytes) -> _Forwarded | tuple[SignedTransaction, asyncio.Future[tuple[int, str]]]:
        """This node's checks of one transaction: a refusal, or the transaction and its pending ``CheckTx``
        verdict (to be handed to CometBFT)."""
        node = self.node
        try:
            try:
                signed = SignedTransaction.decode(tx)
            except MalformedTransaction as error:
                raise MalformedTransaction(f"the transaction does not decode: {error}") from None
            node.admit(signed)
        except ChainError as error:
            return _Forwarded(error=error)
        return signed, node.expect_check_tx(tx)

    async def _verdict(self, signed: SignedTransaction, verdict: asyncio.Future[tuple[int, str]]) -> _Forwarded:
        try:
            async with asyncio.timeout(BROADCAST_TIMEOUT):
                code, log = await verdict
        except TimeoutError:
            url = self.node.cometbft_rpc
            return _Forwarded(
                error=CometBFTUnreachable(
                    f"CometBFT at {url} took the transaction but its CheckTx did not reach this node within "
                    f"{BROADCAST_TIMEOUT:g} s: is this validator's CometBFT connected to this node's ABCI address?"
                )
            )
        if code != 0:
            return _Forwarded(error=CheckTxRefused(log or f"CheckTx answered code {code}", check_tx_reason(code)))
        self.node.forwarded(signed)
        return _Forwarded({"tx_hash": "0x" + signed.hash.hex(), "status": "pending", "receipt": None})


def _submitted(body: bytes) -> list[bytes]:
    """The ``tx`` of each well-formed ``submit_transaction`` call in a request (the rest is left to ``serve``)."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        return []
    calls = request if isinstance(request, list) else [request]
    spec = METHODS.table()["submit_transaction"].params
    found = []
    for call in calls[:MAX_BATCH]:
        if isinstance(call, dict) and call.get("method") == "submit_transaction":
            try:
                found.append(bind(call.get("params"), spec, "submit_transaction")["tx"])
            except ChainError:
                continue
    return found


def _submit_transaction(rpc: Dispatcher, tx: bytes) -> dict[str, Any]:
    outcome = rpc._outcomes.get(tx) if isinstance(rpc, NetworkDispatcher) else None
    if outcome is None:
        raise ChainError("submit_transaction is served over HTTP on a network node (it is forwarded to CometBFT)")
    if outcome.error is not None:
        raise outcome.error
    assert outcome.report is not None
    return dict(outcome.report)


def _chain_info(rpc: Dispatcher) -> dict[str, Any]:
    info: dict[str, Any] = METHODS.table()["chain_info"].handler(rpc)
    if isinstance(rpc.node, NetworkNode):
        info["mining"] = {"cometbft": rpc.node.cometbft_rpc}
    return info


# -- CometBFT's RPC ----------------------------------------------------------------------------------


async def broadcast_tx_async(rpc: CometRPC, tx: bytes, timeout: float = BROADCAST_TIMEOUT) -> dict[str, Any]:
    """Hand ``tx`` to CometBFT (``broadcast_tx_async``): answered once its mempool has queued the ``CheckTx``.

    CometBFT's own refusals (a full mempool, a transaction in its cache) raise their classes; no answer
    ``CometBFTUnreachable``.  The ``CheckTx`` verdict comes later, to the application.
    """
    body = {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_async", "params": {"tx": base64.b64encode(tx).decode()}}
    answer = await rpc.post(body, timeout)
    if not isinstance(answer, dict):
        raise CometBFTUnreachable(f"CometBFT at {rpc.url} answered {str(answer)[:200]}, not a JSON-RPC object")
    _raise_refusal(answer)
    result = answer.get("result")
    if not isinstance(result, dict):
        raise CometBFTUnreachable(
            f"CometBFT at {rpc.url} answered broadcast_tx_async without a result: {str(answer)[:200]}"
        )
    return result


async def broadcast_txs_async(
    rpc: CometRPC, txs: Sequence[bytes], timeout: float = BROADCAST_TIMEOUT
) -> list[ChainError | None]:
    """Hand ``txs`` to CometBFT in one request, a JSON-RPC batch of ``broadcast_tx_async`` calls (CometBFT runs
    them one after the other, in order); each one's refusal (as ``broadcast_tx_async`` raises it) or ``None``.

    A CometBFT that does not answer raises ``CometBFTUnreachable``; one that refuses the batch as a whole
    (its ``max_request_batch_size`` below ``len(txs)``) is sent the transactions one at a time."""
    if len(txs) == 1:
        try:
            await broadcast_tx_async(rpc, txs[0], timeout)
        except CometBFTUnreachable:
            raise
        except ChainError as error:
            return [error]
        return [None]
    body = [
        {"jsonrpc": "2.0", "id": index, "method": "broadcast_tx_async", "params": {"tx": base64.b64encode(tx).decode()}}
        for index, tx in enumerate(txs)
    ]
    answers = await rpc.post(body, timeout)
    if not isinstance(answers, list) or len(answers) != len(txs):
        refusals: list[ChainError | None] = []
        for tx in txs:
            refusals.extend(await broadcast_txs_async(rpc, [tx], timeout))
        return refusals
    by_id = {answer.get("id"): answer for answer in answers if isinstance(answer, dict)}
    refusals = []
    for index in range(len(txs)):
        answer = by_id.get(index)
        if answer is None or ("result" not in answer and "error" not in answer):
            raise CometBFTUnreachable(f"CometBFT at {rpc.url} answered a batch without call {index}'s answer")
        try:
            _raise_refusal(answer)
        except ChainError as error:
            refusals.append(error)
        else:
            refusals.append(None)
    return refusals


def _raise_refusal(answer: dict[str, Any]) -> None:
    error = answer.get("error")
    if error is not None:
        text = f"{error.get('message', '')} {error.get('data', '')}".strip() if isinstance(error, dict) else str(error)
        if "already exists in cache" in text:
            raise DuplicateTransaction("CometBFT's mempool has this transaction already (it was sent before)")
        if "mempool is full" in text:
            raise MempoolFull(f"CometBFT's mempool is full: {text}; try again after the next block")
        raise CheckTxRefused(f"CometBFT refused the transaction: {text}")


def check_tx_reason(code: Any) -> str | None:
    """The reason our ``AbciApp`` answers a ``CheckTx`` refusal with ``code`` (``abci.app.CODES``), if it is one."""
    from wasmchain.node.abci.app import CODES  # (protobuf loads for ``wasmchain node`` only)

    for reason, known in CODES.items():
        if known == code:
            return reason
    return None


class CometRPC:
    """CometBFT's RPC at ``url`` over kept-alive HTTP/1.1 connections: one per request in progress, the idle
    ones reused (a connection per transaction cost the node a tenth of its time in ``connect``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, body: Any, timeout: float) -> Any:
        """POST a JSON body and read the JSON answer (an object, or a list for a batch), all within ``timeout``."""
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise CometBFTUnreachable(f"CometBFT's RPC is an http://HOST:PORT URL, found {self.url!r}")
        host, port = parsed.hostname, parsed.port or 80
        payload = json.dumps(body).encode()
        request = (
            f"POST {parsed.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        try:
            async with asyncio.timeout(timeout):
                while True:
                    reused, reader, writer = await self._connection(host, port)
                    try:
                        writer.write(request)
                        head = await reader.readuntil(b"\r\n\r\n")
                    except (OSError, asyncio.IncompleteReadError) as error:
                        await _closed(writer)
                        if reused and not getattr(error, "partial", b""):
                            continue  # closed by CometBFT while idle, before this request was read: a new one
                        raise
                    try:
                        content, keep = await _read_body(reader, head)
                    except BaseException:
                        writer.close()
                        raise
                    if keep and len(self._idle) < MAX_IDLE_CONNECTIONS:
                        self._idle.append((time.monotonic(), reader, writer))
                    else:
                        await _closed(writer)
                    break
        except TimeoutError:
            raise CometBFTUnreachable(f"CometBFT at {self.url} did not answer within {timeout:g} s") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            raise CometBFTUnreachable(
                f"cannot reach CometBFT at {self.url} ({getattr(error, 'strerror', None) or error}): is this "
                "validator's `cometbft start` running, and is --cometbft-rpc its RPC address (rpc.laddr in its "
                "config.toml)?"
            ) from None
        try:
            answer = json.loads(content)
        except ValueError:
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            raise CometBFTUnreachable(f"CometBFT at {self.url} answered {status!r}, not JSON-RPC") from None
        if not isinstance(answer, dict | list):
            raise CometBFTUnreachable(f"CometBFT at {self.url} answered {str(answer)[:200]}, not JSON-RPC")
        return answer

    async def _connection(self, host: str, port: int) -> tuple[bool, asyncio.StreamReader, asyncio.StreamWriter]:
        fresh = time.monotonic() - IDLE_CONNECTION
        while self._idle:
            at, reader, writer = self._idle.pop()
            if at >= fresh and not reader.at_eof() and not writer.is_closing():
                return True, reader, writer
            await _closed(writer)
        reader, writer = await asyncio.open_connection(host, port)
        return False, reader, writer

    async def close(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for _, _, writer in idle:
            await _closed(writer)


async def _closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, asyncio.IncompleteReadError):
        pass


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> tuple[bytes, bool]:
    """An HTTP/1.1 answer's body after its ``head`` (by ``Content-Length``, chunks, or to the end), and whether
    the connection may be used again."""
    lines = head.lower().split(b"\r\n")
    headers = dict(line.split(b":", 1) for line in lines[1:] if b":" in line)
    keep = headers.get(b"connection", b"").strip() != b"close"
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        content = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # (no trailers from CometBFT)
                return content, keep
            if len(content) + size > MAX_BROADCAST_ANSWER:
                raise ValueError(f"an answer of more than {MAX_BROADCAST_ANSWER} bytes")
            content += (await reader.readexactly(size + 2))[:-2]
    if b"content-length" in headers:
        length = int(headers[b"content-length"])
        if length > MAX_BROADCAST_ANSWER:
            raise ValueError(f"an answer of {length} bytes")
        return await reader.readexactly(length), keep
    return await reader.read(MAX_BROADCAST_ANSWER), False


# -- wasmchain node ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkOptions:
    data: DataDir
    genesis: Path
    abci: str = DEFAULT_ABCI
    cometbft_rpc: str = DEFAULT_COMETBFT_RPC
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    durable: bool = False
    access: HTTPAccess = HTTPAccess()
    limits: Limits = DEFAULT_LIMITS


def open_network_chain(options: NetworkOptions) -> tuple[Chain, bool]:
    """The data directory's chain, created from the genesis file if absent; and whether it was created."""
    genesis = load_genesis(options.genesis)

    same_genesis = refuse_other_genesis(
        options.data, genesis, options.genesis, ": give this network's genesis, or another --data"
    )
    # Without fsync by default: a block an OS crash loses is replayed by CometBFT's handshake.
    return open_chain(options.data, lambda: genesis, sync=options.durable, check=same_genesis)


def run_node(options: NetworkOptions, out: TextIO) -> int:
    """Serve ABCI and JSON-RPC until SIGINT or SIGTERM (exit 0)."""
    # (Here, not at the top: the generated protobuf classes load for this command only, not for every CLI command.)
    from wasmchain.node.abci.app import AbciApp
    from wasmchain.node.abci.server import serve_abci

    chain, created = open_network_chain(options)
    try:
        node = NetworkNode(chain, options.cometbft_rpc)
        app = AbciApp(chain)
        node.share = app.remember
        server = Server(
            node,
            options.host,
            options.port,
            dispatcher=NetworkDispatcher(node, limits=options.limits),
            access=options.access,
        )
        urls: list[str] = []

        def banner(abci: str) -> None:
            head = chain.head
            url = urls[0]
            started = f"created from {options.genesis}" if created else f"resumed at height {head.height}"
            print("wasmchain node (a validator's application, driven by CometBFT)", file=out)
            print(f"  chain id   {chain.genesis.chain_id}", file=out)
            print(f"  abci       {abci}  (CometBFT's proxy_app)", file=out)
            print(f"  cometbft   {options.cometbft_rpc}  (transactions are handed to it)", file=out)
            print(f"  rpc        {url}", file=out)
            print(f"  data       {options.data.path} ({started})", file=out)
            print(f"  head       {head.height}  0x{head.hash.hex()}", file=out)
            print("", file=out)
            print("Dev accounts (INSECURE: published keys; for a local network only):", file=out)
            for index in range(DEV_ACCOUNTS):
                address = dev_key(index).address
                print(f"  dev{index}  {format_address(address)}  balance {chain.account(address).balance}", file=out)
            print("", file=out)
            print(f"Listening on {url}  (Ctrl-C to stop)", file=out, flush=True)

        server.run(urls.append, beside=lambda: serve_abci(options.abci, Publishing(app, node), on_listening=banner))
        print(f"stopped at height {chain.head.height}", file=out, flush=True)
    finally:
        chain.kv.close()
    return 0
