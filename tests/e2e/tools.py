"""The end-to-end suite's tools: signing, raw HTTP; the devnet process is ``tests.helpers.devnet``'s."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from tests.helpers.devnet import GENESIS, Devnet
from wasmchain.client.client import Client
from wasmchain.protocol.keys import KeyPair, format_address
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind

ROOT = Path(__file__).resolve().parents[2]
TOKEN_WASM = ROOT / "contracts" / "token" / "token.wasm"
CHAIN_ID = json.loads(GENESIS.read_text())["chain_id"]

GAS_LIMIT = 2_000_000
"""Enough for a token transfer; small enough that the maximum fee is affordable many times over."""
GAS_PRICE = 1


# -- transactions -------------------------------------------------------------------------


def sign(
    key: KeyPair,
    nonce: int,
    kind: TxKind,
    *,
    gas_limit: int = GAS_LIMIT,
    gas_price: int = GAS_PRICE,
    chain_id: str = CHAIN_ID,
    **fields: Any,
) -> SignedTransaction:
    tx = Transaction(
        chain_id=chain_id,
        nonce=nonce,
        gas_limit=gas_limit,
        gas_price=gas_price,
        public_key=key.public_key,
        kind=kind,
        **fields,
    )
    return tx.sign(key)


def token_transfer(key: KeyPair, nonce: int, token: bytes, to: bytes, amount: int) -> SignedTransaction:
    return sign(key, nonce, TxKind.CALL, to=token, method="transfer", args=msgpack.packb({"to": to, "amount": amount}))


def native_transfer(key: KeyPair, nonce: int, to: bytes, value: int) -> SignedTransaction:
    return sign(key, nonce, TxKind.TRANSFER, to=to, value=value)


def tx_hex(signed: SignedTransaction) -> str:
    return "0x" + signed.encoded.hex()


def submit(client: Client, signed: SignedTransaction) -> Any:
    return client.call("submit_transaction", tx=tx_hex(signed))


def next_nonce(client: Client, key: KeyPair) -> int:
    nonce: int = client.call("get_next_nonce", address=format_address(key.address))["nonce"]
    return nonce


def deploy_token(client: Client, key: KeyPair, supply: int) -> dict[str, Any]:
    """Deploy the token (instant mining), initialised with ``supply`` for ``key``; the receipt."""
    signed = sign(
        key,
        next_nonce(client, key),
        TxKind.DEPLOY,
        gas_limit=100_000_000,
        code=TOKEN_WASM.read_bytes(),
        method="init",
        args=msgpack.packb({"supply": supply}),
    )
    report = submit(client, signed)
    assert report["status"] == "included", report
    receipt: dict[str, Any] = report["receipt"]
    assert receipt["status"] == "ok", report
    assert receipt["events"] == [transfer_event(receipt["address"], bytes(20), key.address, supply)]
    return receipt


def token_balance(client: Client, token: str, owner: bytes) -> int:
    report = client.call("view", contract=token, method="balance_of", args={"owner": format_address(owner)})
    assert report["status"] == "ok", report
    balance: int = report["result"]
    return balance


def native_balance(client: Client, address: bytes) -> int:
    balance: int = client.call("get_balance", address=format_address(address))["balance"]
    return balance


def transfer_event(token: str, sender: bytes, to: bytes, amount: int) -> dict[str, Any]:
    """The Transfer event as a receipt reports it (contracts/token/README.md)."""
    data = {"from": sender, "to": to, "amount": amount}
    return {
        "contract": token,
        "name": "Transfer",
        "data": {"from": format_address(sender), "to": format_address(to), "amount": amount},
        "data_hex": msgpack.packb(data).hex(),
        "data_type": "transfer",  # decoded with the token's declared event record (docs/rpc.md, Typed contracts)
    }


# -- raw HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(
    devnet: Devnet, body: bytes | str, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/"
) -> Response:
    """One request on a fresh connection, with http.client."""
    connection = http.client.HTTPConnection("127.0.0.1", devnet.port, timeout=30.0)
    try:
        payload = body.encode() if isinstance(body, str) else body
        connection.request(method, path, payload, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return Response(
            response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def rpc(devnet: Devnet, payload: Any) -> Any:
    """A JSON-RPC payload (a call, a batch, anything JSON) posted as is; the decoded answer (None for 204)."""
    response = post(devnet, json.dumps(payload))
    assert response.status in (200, 204), response
    return None if response.status == 204 else response.json()


def call(method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        request["params"] = params
    return request


def exchange(devnet: Devnet, data: bytes, *, half_close: bool = False, timeout: float = 10.0) -> bytes:
    """Raw bytes to the node on a fresh socket; every byte it sends back until it closes."""
    with socket.create_connection(("127.0.0.1", devnet.port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_response(raw: bytes) -> Response:
    """One HTTP/1.1 response with a Content-Length (or none, for 204)."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    assert separator, f"not an HTTP response: {raw[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    version, status, _reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    assert len(rest) >= length, f"short body: {raw!r}"
    return Response(int(status), headers, rest[:length])
