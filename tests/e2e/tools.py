"""The end-to-end suite's tools: a real ``wasmchain devnet`` process, signing, raw HTTP.

``start_devnet`` runs the installed console script on a free port and
returns once it prints its ``Listening on`` line; ``Devnet.stop`` sends
SIGTERM and checks the exit (status 0, ``stopped at height N``, no
traceback in the output); ``Devnet.restart`` starts it again on the same
data directory.  Every wait is a poll with a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from chain.client import Client, HTTPTransport
from chain.keys import KeyPair, format_address
from chain.transactions import SignedTransaction, Transaction, TxKind

ROOT = Path(__file__).resolve().parents[2]
GENESIS = ROOT / "genesis.json"
TOKEN_WASM = ROOT / "contracts" / "token" / "token.wasm"
WASMCHAIN = Path(sys.executable).parent / "wasmchain"
CHAIN_ID = json.loads(GENESIS.read_text())["chain_id"]

START_TIMEOUT = 30.0
"""Seconds for the devnet to print its Listening line."""
STOP_TIMEOUT = 30.0
"""Seconds for the devnet to exit after SIGTERM."""
GAS_LIMIT = 2_000_000
"""Enough for a token transfer; small enough that the maximum fee is affordable many times over."""
GAS_PRICE = 1

_LISTENING = re.compile(r"^Listening on (http://\S+)  \(Ctrl-C to stop\)$")
_STOPPED = re.compile(r"^stopped at height (\d+)$")


# -- the process --------------------------------------------------------------------


@dataclass
class Devnet:
    """A running ``wasmchain devnet``."""

    url: str
    process: subprocess.Popen[str]
    data: Path
    options: tuple[str, ...]
    lines: list[str] = field(repr=False)
    reader: threading.Thread = field(repr=False)
    transports: list[HTTPTransport] = field(default_factory=list, repr=False)

    @property
    def port(self) -> int:
        port = self.url.rsplit(":", 1)[1]
        return int(port)

    def output(self) -> str:
        return "".join(self.lines)

    def client(self) -> Client:
        """A client with its own transport (a kept-alive connection per thread).

        ``stop`` closes the calling thread's connections; another thread
        closes its own (``client.transport.close()``).
        """
        transport = HTTPTransport(self.url, timeout=30.0)
        self.transports.append(transport)
        return Client(transport)

    def stop(self) -> int:
        """SIGTERM; check the exit; return the height it says it stopped at."""
        assert self.process.poll() is None, f"the devnet died (exit {self.process.returncode}):\n{self._finish()}"
        for transport in self.transports:
            transport.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the devnet did not exit within {STOP_TIMEOUT} s of SIGTERM:\n{self._finish()}")
        output = self._finish()
        assert code == 0, f"the devnet exited with {code} after SIGTERM:\n{output}"
        assert "Traceback" not in output and "Unhandled exception" not in output, f"the devnet logged an error:\n{output}"
        stopped = _STOPPED.match(self.lines[-1].rstrip("\n")) if self.lines else None
        assert stopped, f"no 'stopped at height N' line at the end of the output:\n{output}"
        return int(stopped.group(1))

    def restart(self) -> "Devnet":
        """Stop (if running) and start again on the same data directory and options."""
        if self.process.poll() is None:
            self.stop()
        return start_devnet(self.data, *self.options)

    def kill(self) -> None:
        """Last resort (a failed test): no checks."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self._finish()

    def _finish(self) -> str:
        for transport in self.transports:
            transport.close()
        self.reader.join(STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.output()


def start_devnet(data: Path, *options: str) -> Devnet:
    """``wasmchain devnet --port 0 --data DATA --genesis GENESIS OPTIONS``, once it listens."""
    command = [str(WASMCHAIN), "devnet", "--port", "0", "--data", str(data), "--genesis", str(GENESIS), *options]
    env = {name: value for name, value in os.environ.items() if not name.startswith("WASMCHAIN_")}
    env["PYTHONUNBUFFERED"] = "1"  # every line as it is printed, for the failure messages
    data.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               text=True, cwd=data.parent, env=env)
    lines: list[str] = []
    listening = threading.Event()
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = _LISTENING.match(line.rstrip("\n"))
            if match and not found:
                found.append(match.group(1))
                listening.set()

    reader = threading.Thread(target=read, name="devnet-output", daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not listening.wait(0.02):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            process.wait(STOP_TIMEOUT)
            reader.join(STOP_TIMEOUT)
            raise AssertionError(
                f"{' '.join(command)} did not print a Listening line within {START_TIMEOUT} s "
                f"(exit {process.returncode}):\n{''.join(lines)}")
    return Devnet(found[0], process, data, options, lines, reader)


def wait_for(what: str, condition: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``condition()`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


# -- transactions -------------------------------------------------------------------------


def sign(key: KeyPair, nonce: int, kind: TxKind, *, gas_limit: int = GAS_LIMIT, gas_price: int = GAS_PRICE,
         chain_id: str = CHAIN_ID, **fields: Any) -> SignedTransaction:
    tx = Transaction(chain_id=chain_id, nonce=nonce, gas_limit=gas_limit, gas_price=gas_price,
                     public_key=key.public_key, kind=kind, **fields)
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
    signed = sign(key, next_nonce(client, key), TxKind.DEPLOY, gas_limit=100_000_000, code=TOKEN_WASM.read_bytes(),
                  method="init", args=msgpack.packb({"supply": supply}))
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
    return {"contract": token, "name": "Transfer",
            "data": {"from": format_address(sender), "to": format_address(to), "amount": amount},
            "data_hex": msgpack.packb(data).hex()}


# -- raw HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(devnet: Devnet, body: bytes | str, headers: dict[str, str] | None = None, method: str = "POST",
         path: str = "/") -> Response:
    """One request on a fresh connection, with http.client."""
    connection = http.client.HTTPConnection("127.0.0.1", devnet.port, timeout=30.0)
    try:
        payload = body.encode() if isinstance(body, str) else body
        connection.request(method, path, payload, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return Response(response.status, {name.lower(): value for name, value in response.getheaders()},
                        response.read())
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
