"""The ABCI 2.0 application: CometBFT's requests (``tendermint.abci``, v0.38) over our ``Chain``.

``AbciApp(chain).respond(request)`` answers one ``Request`` with its ``Response`` (``server.py`` calls
it for every request but ``echo`` and ``flush``); each method below also takes and returns the
request's and response's own message.  Everything runs on one thread, one request at a time.  A
CometBFT block at height H is our block H, in our store, so every tool that reads a chain (blocks,
receipts, events, export, replay, follow) reads a network's history unchanged.

Method by method
----------------
``Info``
    ``data`` "wasmchain", ``version`` our package's version and the VM's (``wasmtime-50.0.1/abi-2``),
    ``app_version`` ``APP_VERSION`` (1), ``last_block_height`` our head's height and
    ``last_block_app_hash`` its state root.  CometBFT's handshake compares them with its own store and
    replays (FinalizeBlock + Commit) every block we do not have, so a node that crashed between
    CometBFT's commit and ours catches up on restart.  At height 0 CometBFT sends ``InitChain``.
``InitChain``
    ``chain_id`` must be our genesis's chain id; ``app_state_bytes``, when not empty, must be our
    genesis document (the JSON object of genesis.json), the same document as the data directory's
    chain was created from (compared in canonical form; an error names both chain ids and document
    hashes); ``initial_height`` must be 1 (CometBFT's block H is our block H) and our chain must be at
    height 0.  The answer: ``app_hash`` = the genesis state root; no validators and no consensus
    parameters, so CometBFT keeps its genesis's.  A refusal is an exception: CometBFT stops with it.
``CheckTx`` (``NEW`` and ``RECHECK`` alike)
    Decode, then our admission against the committed state: a transaction whose nonce is the
    account's next is checked in full (``Chain.check_tx``: envelope, nonce, balance, payload, the
    call's target).  CometBFT's mempool holds a sender's later transactions too, so the app keeps, per
    sender, the transactions it admitted that no block has taken (their bytes and maximum cost, by
    nonce): a transaction with the first nonce not held is admitted after the envelope, the payload
    and the balance less the held ones' maximum cost (its call target is checked when it runs); a
    nonce held by other bytes is ``nonce_taken``, a gap ``nonce_too_high``; the same bytes again
    (CometBFT's recheck after a block) are checked afresh in their place, and forgotten if refused.
    ``Commit`` forgets the block's transactions (valid or not: they left the mempool) and nonces below
    the account's; one held ``PENDING_BLOCKS`` blocks is forgotten too (CometBFT may have dropped it).
    So CometBFT's ``recheck`` is not needed (the localnet turns it off), and with it on the rechecks
    admit each sender's remaining transactions again from the new state.  A refusal's ``code``
    is ``CODES[reason]`` (``reason``: the error's stable name, ``protocol/errors.py``,
    ``node/errors.py``), ``log`` the message, ``codespace`` ``CODESPACE``; ``gas_wanted`` is the gas
    limit (CometBFT's ``block.max_gas`` counts it).  The decoded transaction is kept by its bytes
    (``DECODED_CACHE``), so a recheck, a proposal and ``FinalizeBlock`` neither decode it nor verify its
    signature again.
``PrepareProposal``
    The transactions in the order CometBFT gives them (its mempool's: arrival, which is each sender's
    nonce order), dropping those that do not decode, and stopping at the first that would take the
    block over ``max_tx_bytes`` (counted as CometBFT counts a block's data: each transaction's
    protobuf field, ``1 + len(uvarint(len(tx))) + len(tx)``) or the sum of gas limits over our
    genesis's ``block_gas_limit``, as CometBFT's own reaping stops (a sender's later nonces stay out
    with the one that did not fit).
``ProcessProposal``
    ``REJECT`` a proposal with a transaction that does not decode or whose gas limits add up to more
    than ``block_gas_limit`` (no honest ``PrepareProposal`` makes one); ``ACCEPT`` anything else: a
    transaction that turns out invalid when it runs gets an ``invalid`` receipt and changes nothing,
    as our blocks always allowed.  The byte limit is CometBFT's own check of every proposal.
``FinalizeBlock``
    ``height`` must be our head's + 1.  The block time is ``time`` floored to whole seconds
    (``Timestamp.seconds``), never earlier than our head's timestamp (``max(head, floor)``, the rule
    every block of ours follows, so a block from a skewed proposer is still ours); the wall clock is
    never read.  The transactions run in order (``Chain.finalize``); one ``ExecTxResult`` each:
    ``code`` 0 or ``CODES``' ``malformed_transaction`` (does not decode: left out of our block),
    ``invalid_transaction`` (refused when it ran: in the block with an ``invalid`` receipt, no effect,
    the receipt's error in ``log``), ``out_of_gas`` / ``trap`` / ``abort`` (ran and failed: nonce and fee
    taken); ``data`` the return data, ``log`` the error, ``info`` the receipt status (and the new
    contract's address for a deploy), ``gas_wanted`` the gas limit, ``gas_used`` the receipt's, and one
    event per contract event (``type`` the event's name, attributes ``contract`` and ``data`` as 0x hex,
    both indexed).  ``app_hash`` = the block's state root.  Nothing is written yet.
``Commit``
    Writes the finalized block, its receipts and the state in one atomic write (``Chain.commit``), as
    every block of ours; ``retain_height`` 0 (CometBFT keeps all blocks).  Resets CheckTx's maps.
``Query``
    ``path`` ``/account`` (``data``: 20-byte address; the value is the encoded account), ``/storage``
    (``data``: contract address + storage key), ``/block`` (``data``: 8-byte big-endian height; the
    encoded block).  State is read at our head only: ``height`` 0 or the head's (else
    ``height_unavailable``).  With ``prove``, ``proof_ops`` holds one ``ProofOp`` of type ``wasmchain:smt``
    whose ``key`` is the state key and ``data`` the sparse Merkle proof as canonical JSON
    (``smt.Proof.to_json``), checked by ``smt.verify`` against the state root (``verify_proof``); an
    absent key answers code 0, an empty value, ``log`` "absent" and an exclusion proof.  The response's
    ``height`` is our head's: its state root is that block's ``app_hash``, which CometBFT's header
    H + 1 carries.
``ListSnapshots`` / ``OfferSnapshot`` / ``LoadSnapshotChunk`` / ``ApplySnapshotChunk``
    No snapshots, every offer ``REJECT``: state sync is not supported yet (a node syncs by replaying blocks).
``ExtendVote`` / ``VerifyVoteExtension``
    An empty extension; every extension ``ACCEPT``.

Codes (``CODES``, stable: a code is never reused or renumbered)
---------------------------------------------------------------
0 ok; 1 invalid_transaction (any refusal without a code of its own; a block's invalid receipt);
2 malformed_transaction; 3 wrong_signing_key; 4 transaction_too_large; 5 wrong_chain_id;
6 bad_signature; 7 gas_price_too_low; 8 gas_limit_too_high; 9 block_gas_exceeded;
10 intrinsic_gas_too_low; 11 nonce_too_low; 12 nonce_too_high; 13 insufficient_funds; 14 args_too_large;
15 invalid_module; 16 unknown_contract; 17 unknown_method; 18 contract_exists; 19 nonce_taken;
20 duplicate_transaction; 21 mempool_full; 22 nonce_gap_too_large; 23 transaction_dropped; 24 invalid_args;
32 out_of_gas; 33 trap; 34 abort; 64 unknown_query; 65 not_found; 66 height_unavailable.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from wasmchain.node.abci.framing import encode_uvarint
from wasmchain.node.abci.proto.tendermint.abci import types_pb2
from wasmchain.node.abci.proto.tendermint.crypto import proof_pb2
from wasmchain.node.app import Application
from wasmchain.node.errors import NonceTaken
from wasmchain.protocol import smt
from wasmchain.protocol.blocks import Receipt
from wasmchain.protocol.errors import (
    ChainError,
    GenesisError,
    InsufficientFunds,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
    NotFound,
)
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.protocol.keys import ADDRESS_SIZE
from wasmchain.protocol.state import account_key, storage_key
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.protocol.transition import check_envelope, check_payload, max_cost
from wasmchain.store.chain import Chain
from wasmchain.vm.host import Address

CODESPACE = "wasmchain"
APP_VERSION = 1
"""The application's protocol version (CometBFT's ``Header.Version.App``)."""
PROOF_TYPE = "wasmchain:smt"
PENDING_BLOCKS = 100
"""Blocks after which CheckTx forgets a transaction it admitted that no block took (CometBFT may have dropped it:
a mempool that filled between its CheckTx and its callback); a recheck admits it afresh."""
DECODED_CACHE = 20_000
"""Transactions kept decoded (with their signature verdicts) by their bytes, the least recently used dropped:
about as many as CometBFT's mempool holds (``size`` 5,000) several times over."""

CODE_OK = 0
CODES: dict[str, int] = {
    # Refusals of a transaction (the ``reason`` of an ``InvalidTransaction``).
    "invalid_transaction": 1,
    "malformed_transaction": 2,
    "wrong_signing_key": 3,
    "transaction_too_large": 4,
    "wrong_chain_id": 5,
    "bad_signature": 6,
    "gas_price_too_low": 7,
    "gas_limit_too_high": 8,
    "block_gas_exceeded": 9,
    "intrinsic_gas_too_low": 10,
    "nonce_too_low": 11,
    "nonce_too_high": 12,
    "insufficient_funds": 13,
    "args_too_large": 14,
    "invalid_module": 15,
    "unknown_contract": 16,
    "unknown_method": 17,
    "contract_exists": 18,
    "nonce_taken": 19,
    "duplicate_transaction": 20,
    "mempool_full": 21,
    "nonce_gap_too_large": 22,
    "transaction_dropped": 23,
    "invalid_args": 24,
    # Executed and failed (a receipt's status): nonce and fee taken.
    "out_of_gas": 32,
    "trap": 33,
    "abort": 34,
    # Queries.
    "unknown_query": 64,
    "not_found": 65,
    "height_unavailable": 66,
}
"""Name -> the stable nonzero code CometBFT sees (a refusal's ``reason``, a failed receipt's status, a
query's error); ``code_name`` is the inverse."""

_NAMES = {code: name for name, code in CODES.items()}


def code_for(name: str) -> int:
    """The code of a reason, status or query error; ``invalid_transaction``'s for a refusal without its own."""
    return CODES.get(name, CODES["invalid_transaction"])


def code_name(code: int) -> str:
    """The name of a code (``ok`` for 0); ``KeyError`` for a code the table does not have."""
    return "ok" if code == CODE_OK else _NAMES[code]


def tx_data_size(tx: bytes) -> int:
    """The bytes a transaction counts for in CometBFT's ``max_tx_bytes``: its field in the block's ``Data``."""
    return 1 + len(encode_uvarint(len(tx))) + len(tx)


def _package_version() -> str:
    try:
        return metadata.version("wasmchain")
    except metadata.PackageNotFoundError:
        return "unknown"


class AbciApp:
    """CometBFT's ABCI 2.0 application over a ``Chain`` (the module's docstring says what each method does)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.application = Application(chain)
        """Finalize and commit go through the ABCI-shaped surface (it holds the one pending block)."""
        self._pending: dict[Address, dict[int, tuple[bytes, int, int]]] = {}
        """CheckTx's state: per sender, the transactions it admitted that no block has taken yet, by nonce: their
        bytes, maximum cost (value + gas limit x price) and the height at which they were admitted."""
        self._finalized: list[bytes] = []
        """The transactions of the block finalized and not yet committed."""
        self._decoded: OrderedDict[bytes, SignedTransaction] = OrderedDict()
        """Bytes -> their transaction, as ``CheckTx`` decoded it: a recheck, the proposal and ``FinalizeBlock``
        take it from here, so a transaction is decoded and its signature verified once, not at every step
        (the verdict is a function of the bytes alone, so a kept one is the one verifying again would give)."""
        self._handlers: dict[str, Callable[[Any], Any]] = {
            "info": self.info,
            "init_chain": self.init_chain,
            "query": self.query,
            "check_tx": self.check_tx,
            "commit": self.commit,
            "list_snapshots": self.list_snapshots,
            "offer_snapshot": self.offer_snapshot,
            "load_snapshot_chunk": self.load_snapshot_chunk,
            "apply_snapshot_chunk": self.apply_snapshot_chunk,
            "prepare_proposal": self.prepare_proposal,
            "process_proposal": self.process_proposal,
            "extend_vote": self.extend_vote,
            "verify_vote_extension": self.verify_vote_extension,
            "finalize_block": self.finalize_block,
        }

    def respond(self, request: types_pb2.Request) -> types_pb2.Response:
        """The response to any request but ``echo`` and ``flush`` (the server's); raises on a failure."""
        kind = request.WhichOneof("value")
        handler = self._handlers.get(kind)
        if handler is None:
            raise ChainError(f"unsupported ABCI request {kind!r}")
        return types_pb2.Response(**{kind: handler(getattr(request, kind))})

    # -- info and genesis -------------------------------------------------------------------------

    def info(self, request: types_pb2.RequestInfo) -> types_pb2.ResponseInfo:
        head = self.chain.head
        return types_pb2.ResponseInfo(
            data="wasmchain",
            version=f"{_package_version()} ({self.chain.genesis.vm.version})",
            app_version=APP_VERSION,
            last_block_height=head.height,
            last_block_app_hash=head.state_root,
        )

    def init_chain(self, request: types_pb2.RequestInitChain) -> types_pb2.ResponseInitChain:
        genesis = self.chain.genesis
        if request.chain_id != genesis.chain_id:
            raise GenesisError(
                f"CometBFT's chain id {request.chain_id!r} is not this chain's {genesis.chain_id!r}: "
                "the CometBFT genesis's chain_id must be the wasmchain genesis's"
            )
        if request.app_state_bytes:
            try:
                document = json.loads(request.app_state_bytes)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise GenesisError(f"CometBFT's app_state is not JSON: {error}") from None
            if not isinstance(document, dict):
                raise GenesisError("CometBFT's app_state must be the wasmchain genesis document, a JSON object")
            offered = genesis_from_document(document, "CometBFT's app_state")
            if offered.chain_id != request.chain_id:
                raise GenesisError(
                    f"CometBFT's app_state is the genesis of chain {offered.chain_id!r}, "
                    f"but CometBFT's chain id is {request.chain_id!r}"
                )
            if offered.document != genesis.document:
                raise GenesisError(
                    f"CometBFT's app_state (chain {offered.chain_id!r}, document sha256 "
                    f"{offered.document_hash.hex()}) is not the genesis this data directory was created from "
                    f"(chain {genesis.chain_id!r}, document sha256 {genesis.document_hash.hex()}): "
                    "start from a data directory initialized with the network's genesis"
                )
        if request.initial_height not in (0, 1):
            raise GenesisError(
                f"CometBFT's initial_height is {request.initial_height}: wasmchain numbers CometBFT's blocks as "
                "its own, from 1"
            )
        head = self.chain.head
        if head.height != 0:
            raise GenesisError(
                f"CometBFT is starting the chain from genesis, but this data directory's chain is at height "
                f"{head.height}: use a fresh data directory, or CometBFT's data that goes with this one"
            )
        return types_pb2.ResponseInitChain(app_hash=head.state_root)

    # -- the mempool ------------------------------------------------------------------------------

    def check_tx(self, request: types_pb2.RequestCheckTx) -> types_pb2.ResponseCheckTx:
        gas_wanted = 0
        try:
            raw = bytes(request.tx)
            signed = self.decode(raw)
            gas_wanted = signed.tx.gas_limit
            self._admit(signed, raw)
        except InvalidTransaction as error:
            return types_pb2.ResponseCheckTx(
                code=code_for(error.reason), log=str(error), codespace=CODESPACE, gas_wanted=gas_wanted
            )
        return types_pb2.ResponseCheckTx(code=CODE_OK, gas_wanted=gas_wanted)

    def decode(self, raw: bytes) -> SignedTransaction:
        """``SignedTransaction.decode``, through the cache of the transactions decoded already (``MalformedTransaction``
        and the like for bytes that are not one, never cached)."""
        raw = bytes(raw)
        cache = self._decoded
        signed = cache.get(raw)
        if signed is not None:
            cache.move_to_end(raw)
            return signed
        signed = SignedTransaction.decode(raw)
        cache[raw] = signed
        if len(cache) > DECODED_CACHE:
            cache.popitem(last=False)
        return signed

    def remember(self, signed: SignedTransaction) -> None:
        """Keep ``signed`` as the decoded form of its bytes unless some already is (the node's JSON-RPC decoded it,
        and may have sent its signature to a worker: its ``CheckTx`` then takes that verdict)."""
        raw = signed.encoded
        if raw not in self._decoded:
            self._decoded[raw] = signed
            if len(self._decoded) > DECODED_CACHE:
                self._decoded.popitem(last=False)

    def _admit(self, signed: SignedTransaction, raw: bytes) -> None:
        """Admit ``signed`` (its bytes ``raw``) into the sender's pending nonces, or raise why not."""
        chain = self.chain
        tx = signed.tx
        sender = tx.sender
        account = chain.account(sender)
        height = chain.head.height
        pending = self._pending.get(sender)
        if pending is None:
            pending = self._pending[sender] = {}
        else:
            stale = height - PENDING_BLOCKS
            for nonce in [n for n, (_, _, at) in pending.items() if n < account.nonce or at < stale]:
                del pending[nonce]
        held = pending.get(tx.nonce)
        again = held is not None and held[0] == raw
        """The same transaction checked again (CometBFT's recheck after a block): checked afresh in its place."""
        try:
            expected = account.nonce
            while expected in pending and (expected < tx.nonce or not again):
                expected += 1
            before = sum(pending[nonce][1] for nonce in range(account.nonce, min(expected, tx.nonce)))
            if tx.nonce == account.nonce == expected:
                chain.check_tx(signed)  # the next one is checked in full: its call target too
            else:
                head = chain.head
                context = chain.context(head.height + 1, head.timestamp)
                check_envelope(signed, context, chain.genesis.chain.block_gas_limit)
                if tx.nonce < account.nonce:
                    raise NonceTooLow(f"nonce {tx.nonce} was already used: the account's next nonce is {account.nonce}")
                if tx.nonce < expected:
                    raise NonceTaken(
                        f"nonce {tx.nonce} is taken by a transaction already in the mempool: "
                        f"the sender's next nonce is {expected}"
                    )
                if tx.nonce > expected:
                    raise NonceTooHigh(
                        f"nonce {tx.nonce} is ahead: the account's next nonce is {account.nonce}"
                        + (
                            f", and the mempool holds its transactions up to {expected - 1}"
                            if expected > account.nonce
                            else ""
                        )
                    )
                cost = max_cost(tx)
                if account.balance < before + cost:
                    raise InsufficientFunds(
                        f"balance {account.balance} is below the maximum cost of this transaction ({cost}) "
                        f"plus the sender's transactions already in the mempool ({before})"
                    )
                check_payload(signed, context)
        except InvalidTransaction:
            if again:
                del pending[tx.nonce]  # (refused on a recheck: CometBFT drops it from its mempool)
            if not pending:
                del self._pending[sender]
            raise
        pending[tx.nonce] = (raw, max_cost(tx), height)

    def _forget_included(self, raws: Sequence[bytes]) -> None:
        """A block's transactions leave CometBFT's mempool: forget them as pending (a transaction that ran invalid
        took no nonce, and its sender may send that nonce again)."""
        for raw in raws:
            signed = self._decoded.get(bytes(raw))
            if signed is None:
                continue
            pending = self._pending.get(signed.tx.sender)
            if pending is not None:
                held = pending.get(signed.tx.nonce)
                if held is not None and held[0] == raw:
                    del pending[signed.tx.nonce]
                if not pending:
                    del self._pending[signed.tx.sender]

    # -- proposals --------------------------------------------------------------------------------

    def prepare_proposal(self, request: types_pb2.RequestPrepareProposal) -> types_pb2.ResponsePrepareProposal:
        max_bytes = max(request.max_tx_bytes, 0)
        gas_limit = self.chain.genesis.chain.block_gas_limit
        kept: list[bytes] = []
        size = gas = 0
        for raw in request.txs:
            try:
                signed = self.decode(raw)
            except InvalidTransaction:
                continue
            size += tx_data_size(raw)
            gas += signed.tx.gas_limit
            if size > max_bytes or gas > gas_limit:
                break
            kept.append(raw)
        return types_pb2.ResponsePrepareProposal(txs=kept)

    def process_proposal(self, request: types_pb2.RequestProcessProposal) -> types_pb2.ResponseProcessProposal:
        status = types_pb2.ResponseProcessProposal.ProposalStatus
        return types_pb2.ResponseProcessProposal(
            status=status.ACCEPT if self.proposal_refusal(request.txs) is None else status.REJECT
        )

    def proposal_refusal(self, txs: Sequence[bytes]) -> str | None:
        """Why a proposal breaks a block-level rule, or ``None`` if it keeps them all."""
        gas = 0
        for index, raw in enumerate(txs):
            try:
                gas += self.decode(raw).tx.gas_limit
            except InvalidTransaction as error:
                return f"transaction {index} does not decode: {error}"
        block_gas_limit = self.chain.genesis.chain.block_gas_limit
        if gas > block_gas_limit:
            return f"the gas limits add up to {gas}, over the block gas limit {block_gas_limit}"
        return None

    # -- blocks -----------------------------------------------------------------------------------

    def finalize_block(self, request: types_pb2.RequestFinalizeBlock) -> types_pb2.ResponseFinalizeBlock:
        timestamp = max(request.time.seconds, 0)
        response = self.application.finalize_block(request.height, timestamp, list(request.txs), self.decode)
        self._finalized = list(request.txs)
        results = []
        for raw, result in zip(request.txs, response.tx_results):
            gas_wanted = 0 if result.receipt is None else self.decode(raw).tx.gas_limit
            results.append(exec_tx_result(raw, result.receipt, result.log, gas_wanted))
        return types_pb2.ResponseFinalizeBlock(tx_results=results, app_hash=response.app_hash)

    def commit(self, request: types_pb2.RequestCommit) -> types_pb2.ResponseCommit:
        self.application.commit()
        # (At Commit, not FinalizeBlock: a CheckTx between the two still reads the state before the block.)
        self._forget_included(self._finalized)
        self._finalized = []
        return types_pb2.ResponseCommit(retain_height=0)

    # -- queries ----------------------------------------------------------------------------------

    def query(self, request: types_pb2.RequestQuery) -> types_pb2.ResponseQuery:
        head = self.chain.head
        path, data = request.path, bytes(request.data)

        def refuse(name: str, log: str) -> types_pb2.ResponseQuery:
            return types_pb2.ResponseQuery(code=code_for(name), log=log, codespace=CODESPACE, height=head.height)

        if path == "/block" and len(data) == 8:
            try:
                block = self.chain.block(int.from_bytes(data, "big"))
            except NotFound as error:
                return refuse("not_found", str(error))
            return types_pb2.ResponseQuery(code=CODE_OK, key=data, value=block.encode(), height=head.height)
        state_key = query_state_key(path, data)
        if state_key is None:
            return refuse(
                "unknown_query",
                f"unknown query path {path!r} or malformed data: /account takes a 20-byte address, /storage an "
                "address and a storage key, /block an 8-byte big-endian height",
            )
        if request.height not in (0, head.height):
            return refuse(
                "height_unavailable", f"state is served at the head only (height {head.height}), not {request.height}"
            )
        value, proof = self.chain.prove(state_key)
        response = types_pb2.ResponseQuery(
            code=CODE_OK, log="" if value is not None else "absent", key=data, value=value or b"", height=head.height
        )
        if request.prove:
            response.proof_ops.ops.append(
                proof_pb2.ProofOp(
                    type=PROOF_TYPE, key=state_key, data=json.dumps(proof.to_json(), sort_keys=True).encode()
                )
            )
        return response

    # -- state sync and vote extensions: not used -------------------------------------------------

    def list_snapshots(self, request: types_pb2.RequestListSnapshots) -> types_pb2.ResponseListSnapshots:
        return types_pb2.ResponseListSnapshots()

    def offer_snapshot(self, request: types_pb2.RequestOfferSnapshot) -> types_pb2.ResponseOfferSnapshot:
        return types_pb2.ResponseOfferSnapshot(result=types_pb2.ResponseOfferSnapshot.Result.REJECT)

    def load_snapshot_chunk(self, request: types_pb2.RequestLoadSnapshotChunk) -> types_pb2.ResponseLoadSnapshotChunk:
        return types_pb2.ResponseLoadSnapshotChunk()

    def apply_snapshot_chunk(
        self, request: types_pb2.RequestApplySnapshotChunk
    ) -> types_pb2.ResponseApplySnapshotChunk:
        return types_pb2.ResponseApplySnapshotChunk(result=types_pb2.ResponseApplySnapshotChunk.Result.REJECT_SNAPSHOT)

    def extend_vote(self, request: types_pb2.RequestExtendVote) -> types_pb2.ResponseExtendVote:
        return types_pb2.ResponseExtendVote()

    def verify_vote_extension(
        self, request: types_pb2.RequestVerifyVoteExtension
    ) -> types_pb2.ResponseVerifyVoteExtension:
        return types_pb2.ResponseVerifyVoteExtension(status=types_pb2.ResponseVerifyVoteExtension.VerifyStatus.ACCEPT)


def exec_tx_result(
    raw: bytes, receipt: Receipt | None, log: str, gas_wanted: int | None = None
) -> types_pb2.ExecTxResult:
    """A transaction's result for CometBFT: from its receipt, or (``None``) for bytes that did not decode;
    ``gas_wanted`` the transaction's gas limit (decoded from ``raw`` when not given)."""
    if receipt is None:
        return types_pb2.ExecTxResult(code=CODES["malformed_transaction"], log=log, codespace=CODESPACE)
    if gas_wanted is None:
        gas_wanted = SignedTransaction.decode(raw).tx.gas_limit
    info = receipt.status
    if receipt.contract_address:
        info += f" contract_address=0x{receipt.contract_address.hex()}"
    events = [
        types_pb2.Event(
            type=event.name,
            attributes=[
                types_pb2.EventAttribute(key="contract", value="0x" + event.contract.hex(), index=True),
                types_pb2.EventAttribute(key="data", value="0x" + event.data.hex(), index=True),
            ],
        )
        for event in receipt.events
    ]
    if receipt.ok:
        code = CODE_OK
    elif receipt.status == "invalid":
        code = CODES["invalid_transaction"]
    else:
        code = code_for(receipt.status)
    return types_pb2.ExecTxResult(
        code=code,
        data=receipt.return_data,
        log=receipt.error,
        info=info,
        gas_wanted=gas_wanted,
        gas_used=receipt.gas_used,
        events=events,
        codespace=CODESPACE if code else "",
    )


def query_state_key(path: str, data: bytes) -> bytes | None:
    """The state key a ``/account`` or ``/storage`` query reads; ``None`` for any other path or malformed data."""
    if path == "/account" and len(data) == ADDRESS_SIZE:
        return account_key(data)
    if path == "/storage" and len(data) > ADDRESS_SIZE:
        return storage_key(data[:ADDRESS_SIZE], data[ADDRESS_SIZE:])
    return None


def verify_proof(root: bytes, path: str, data: bytes, response: types_pb2.ResponseQuery) -> bool:
    """A client's check of a proven ``/account`` or ``/storage`` query's answer against a trusted state root
    (the ``app_hash`` of the block at the response's height)."""
    state_key = query_state_key(path, data)
    ops = list(response.proof_ops.ops)
    if state_key is None or len(ops) != 1 or ops[0].type != PROOF_TYPE or bytes(ops[0].key) != state_key:
        return False
    try:
        proof = smt.Proof.from_json(json.loads(ops[0].data))
    except (ChainError, ValueError):
        return False
    value = None if response.log == "absent" else bytes(response.value)
    return smt.verify(root, state_key, value, proof)
