"""The application surface, shaped like ABCI++: ``info``, ``check_tx``,
``finalize_block``, ``commit``, ``query``.

The single-node devnet is one driver of this surface: it calls
``check_tx`` on submission, then ``finalize_block`` and ``commit`` for each
block it produces.  A BFT engine such as CometBFT would be another: see
docs/architecture.md, "Driving it with CometBFT".  Requests and
responses are plain dataclasses; an ABCI socket or gRPC server would only
translate them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wasmchain.protocol import smt
from wasmchain.protocol.blocks import Receipt
from wasmchain.protocol.errors import ChainError, InvalidBlock, InvalidTransaction, NotFound
from wasmchain.protocol.keys import ADDRESS_SIZE
from wasmchain.protocol.state import account_key, storage_key
from wasmchain.protocol.transactions import SignedTransaction
from wasmchain.store.chain import Chain, PendingBlock

CODE_OK = 0
CODE_INVALID_TX = 1
CODE_EXECUTION_FAILED = 2
CODE_BAD_QUERY = 3


@dataclass(frozen=True, slots=True)
class InfoResponse:
    chain_id: str
    vm_version: str
    last_block_height: int
    last_block_app_hash: bytes
    """The state root after the last committed block."""


@dataclass(frozen=True, slots=True)
class CheckTxResponse:
    code: int
    log: str = ""
    gas_wanted: int = 0


@dataclass(frozen=True, slots=True)
class ExecTxResult:
    code: int
    """0 ok, 1 invalid (no effect), 2 executed and failed (nonce and fee taken)."""
    log: str
    gas_used: int
    receipt: Receipt | None = None


@dataclass(frozen=True, slots=True)
class FinalizeBlockResponse:
    tx_results: tuple[ExecTxResult, ...]
    app_hash: bytes
    """The state root the block leads to; CometBFT puts it in the next header."""


@dataclass(frozen=True, slots=True)
class QueryResponse:
    code: int
    log: str = ""
    value: bytes = b""
    proof: dict[str, object] = field(default_factory=dict)
    height: int = 0


class Application:
    """ABCI++-shaped access to a ``Chain``; holds at most one finalized, uncommitted block."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self._pending: PendingBlock | None = None

    def info(self) -> InfoResponse:
        head = self.chain.head
        return InfoResponse(self.chain.genesis.chain_id, self.chain.genesis.vm.version, head.height, head.state_root)

    def check_tx(self, tx_bytes: bytes) -> CheckTxResponse:
        """Admission: decode, then every check of ``validate_transaction`` against the head state."""
        try:
            signed = SignedTransaction.decode(tx_bytes)
            self.chain.check_tx(signed)
        except InvalidTransaction as error:
            return CheckTxResponse(CODE_INVALID_TX, str(error))
        return CheckTxResponse(CODE_OK, gas_wanted=signed.tx.gas_limit)

    def finalize_block(
        self,
        height: int,
        timestamp: int,
        txs: Sequence[bytes],
        decode: Callable[[bytes], SignedTransaction] = SignedTransaction.decode,
    ) -> FinalizeBlockResponse:
        """Execute a block's transactions; undecodable ones get a result and are left out of the block.

        ``decode`` turns bytes into a transaction (``SignedTransaction.decode``, or a cache of the transactions
        already decoded, whose signature verdicts are then known)."""
        if height != self.chain.head.height + 1:
            raise InvalidBlock(f"height mismatch: computed {self.chain.head.height + 1}, block has {height}")
        decoded: list[SignedTransaction] = []
        slots: list[int | str] = []
        for raw in txs:
            try:
                decoded.append(decode(raw))
                slots.append(len(decoded) - 1)
            except InvalidTransaction as error:
                slots.append(str(error))
        self._pending = self.chain.finalize(decoded, timestamp)
        receipts = self._pending.receipts
        results = []
        for slot in slots:
            if isinstance(slot, str):
                results.append(ExecTxResult(CODE_INVALID_TX, slot, 0))
                continue
            receipt = receipts[slot]
            code = CODE_OK if receipt.ok else CODE_INVALID_TX if receipt.status == "invalid" else CODE_EXECUTION_FAILED
            results.append(ExecTxResult(code, receipt.error, receipt.gas_used, receipt))
        return FinalizeBlockResponse(tuple(results), self._pending.block.header.state_root)

    def commit(self) -> int:
        """Write the finalized block; returns its height (CometBFT's retain height would be 0: keep all)."""
        if self._pending is None:
            raise ChainError("commit without finalize_block")
        pending, self._pending = self._pending, None
        self.chain.commit(pending)
        return pending.block.height

    def query(self, path: str, data: bytes = b"", *, prove: bool = False) -> QueryResponse:
        """Read the committed state.  Paths: ``/account`` (data: address), ``/storage``
        (data: contract address + key), ``/block`` (data: 8-byte height)."""
        height = self.chain.head.height
        try:
            if path == "/account" and len(data) == ADDRESS_SIZE:
                state_key = account_key(data)
            elif path == "/storage" and len(data) > ADDRESS_SIZE:
                state_key = storage_key(data[:ADDRESS_SIZE], data[ADDRESS_SIZE:])
            elif path == "/block" and len(data) == 8:
                return QueryResponse(
                    CODE_OK, value=self.chain.block(int.from_bytes(data, "big")).encode(), height=height
                )
            else:
                return QueryResponse(CODE_BAD_QUERY, f"unknown query path {path!r} or malformed data", height=height)
        except NotFound as error:
            return QueryResponse(CODE_BAD_QUERY, str(error), height=height)
        value, proof = self.chain.prove(state_key)
        return QueryResponse(
            CODE_OK,
            "" if value is not None else "absent",
            value or b"",
            proof.to_json() if prove else {},
            height,
        )


def verify_query(root: bytes, state_key: bytes, response: QueryResponse) -> bool:
    """A client's check of a proven query against a trusted state root."""
    value = response.value if response.log != "absent" else None
    return smt.verify(root, state_key, value, smt.Proof.from_json(response.proof))
