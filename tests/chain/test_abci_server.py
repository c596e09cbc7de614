"""The ABCI socket server (``wasmchain.node.abci.server``) with real sockets: a client in plain Python
writes framed requests as CometBFT's socket client does and reads the framed responses."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import GENESIS
from wasmchain.node.abci.app import AbciApp
from wasmchain.node.abci.framing import FrameDecoder, encode_uvarint, frame
from wasmchain.node.abci.proto.tendermint.abci import types_pb2
from wasmchain.node.abci.server import Responder, parse_address, serve_abci
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.keys import dev_key
from wasmchain.protocol.transactions import Transaction, TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV


class Fake:
    """Answers Info with the number of requests seen; a Query fails."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def respond(self, request: types_pb2.Request) -> types_pb2.Response:
        kind = str(request.WhichOneof("value"))
        self.seen.append(kind)
        if kind == "query":
            raise ValueError("the query broke")
        return types_pb2.Response(info=types_pb2.ResponseInfo(last_block_height=len(self.seen)))


@contextmanager
def serving(app: Responder, address: str = "tcp://127.0.0.1:0", **options: int) -> Iterator[str]:
    """``serve_abci`` on a loop in a thread; yields the bound address, cancels it on exit."""
    loop = asyncio.new_event_loop()
    bound: list[str] = []
    listening = threading.Event()
    failure: list[BaseException] = []

    def on_listening(address: str) -> None:
        bound.append(address)
        listening.set()

    task: asyncio.Task[None] | None = None

    def run() -> None:
        nonlocal task
        task = loop.create_task(serve_abci(address, app, on_listening=on_listening, **options))
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        except BaseException as error:
            failure.append(error)
            listening.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert listening.wait(10)
    if failure:
        raise failure[0]
    try:
        yield bound[0]
    finally:
        assert task is not None
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        assert not thread.is_alive()


def connect(address: str) -> socket.socket:
    host, port = parse_address(address)  # type: ignore[misc]
    client = socket.create_connection((host, port), timeout=10)
    return client


def read_responses(client: socket.socket, count: int) -> list[types_pb2.Response]:
    decoder = FrameDecoder()
    found: list[bytes] = []
    while len(found) < count:
        data = client.recv(65536)
        assert data, f"connection closed after {len(found)} of {count} responses"
        found += decoder.feed(data)
    return [types_pb2.Response.FromString(message) for message in found]


def request_frame(request: types_pb2.Request) -> bytes:
    return frame(request.SerializeToString())


ECHO = types_pb2.Request(echo=types_pb2.RequestEcho(message="hello"))
FLUSH = types_pb2.Request(flush=types_pb2.RequestFlush())
INFO = types_pb2.Request(info=types_pb2.RequestInfo())
QUERY = types_pb2.Request(query=types_pb2.RequestQuery(path="/x"))


def kinds(responses: list[types_pb2.Response]) -> list[str]:
    return [str(response.WhichOneof("value")) for response in responses]


def test_requests_merged_in_one_write_are_answered_in_order() -> None:
    app = Fake()
    with serving(app) as address, connect(address) as client:
        client.sendall(b"".join(request_frame(r) for r in (ECHO, INFO, INFO, FLUSH)))
        responses = read_responses(client, 4)
        assert kinds(responses) == ["echo", "info", "info", "flush"]
        assert responses[0].echo.message == "hello" and responses[2].info.last_block_height == 2
        assert app.seen == ["info", "info"]  # echo and flush are the server's own


def test_requests_split_byte_by_byte_are_answered() -> None:
    with serving(Fake()) as address, connect(address) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in request_frame(INFO) + request_frame(FLUSH):
            client.sendall(bytes([byte]))
        assert kinds(read_responses(client, 2)) == ["info", "flush"]


def test_an_application_error_is_answered_with_an_exception_and_serving_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(Fake()) as address, connect(address) as client:
        client.sendall(request_frame(QUERY) + request_frame(types_pb2.Request()) + request_frame(INFO))
        failed, empty, info = read_responses(client, 3)
        assert failed.exception.error == "query: the query broke"
        assert empty.exception.error == "unknown request: no field set"
        assert info.info.last_block_height == 2
    assert "ABCI query failed: ValueError: the query broke" in capsys.readouterr().err


@pytest.mark.parametrize(
    "garbage",
    [
        encode_uvarint(2**40),  # oversized
        b"\xff" * 11,  # a varint that never ends
        frame(b"\xff\xff\xff\xff"),  # not a Request
    ],
    ids=["oversized", "malformed-varint", "not-protobuf"],
)
def test_a_malformed_frame_closes_that_connection_only(garbage: bytes) -> None:
    with serving(Fake()) as address, connect(address) as bad, connect(address) as good:
        good.sendall(request_frame(ECHO))
        assert kinds(read_responses(good, 1)) == ["echo"]
        bad.sendall(request_frame(INFO) + garbage + request_frame(INFO))
        assert kinds(read_responses(bad, 1)) == ["info"]  # what came before is answered
        assert bad.recv(65536) == b""  # then the connection is closed
        good.sendall(request_frame(INFO))
        assert kinds(read_responses(good, 1)) == ["info"]
        with connect(address) as another:
            another.sendall(request_frame(FLUSH))
            assert kinds(read_responses(another, 1)) == ["flush"]


def test_a_frame_over_a_smaller_bound_is_refused() -> None:
    with serving(Fake(), max_frame_size=8) as address, connect(address) as client:
        client.sendall(frame(b"x" * 9))
        assert client.recv(65536) == b""


def test_four_connections_as_cometbft_opens_them() -> None:
    with serving(Fake()) as address:
        clients = [connect(address) for _ in range(4)]
        try:
            for client in clients:
                client.sendall(request_frame(ECHO))
            for client in reversed(clients):
                client.sendall(request_frame(FLUSH))
            for client in clients:
                assert kinds(read_responses(client, 2)) == ["echo", "flush"]
        finally:
            for client in clients:
                client.close()


def test_the_application_over_the_socket() -> None:
    app = AbciApp(Chain.create(MemoryKV(), load_genesis(GENESIS)))
    key = dev_key(0)
    raw = Transaction("wasmchain-devnet", 0, 10**8, 1, key.public_key, TxKind.TRANSFER, to=dev_key(1).address, value=1)
    check = types_pb2.Request(check_tx=types_pb2.RequestCheckTx(tx=raw.sign(key).encoded))
    with serving(app) as address, connect(address) as client:
        client.sendall(request_frame(INFO) + request_frame(check) + request_frame(FLUSH))
        info, checked, _ = read_responses(client, 3)
        assert info.info.last_block_app_hash == app.chain.head.state_root
        assert (checked.check_tx.code, checked.check_tx.gas_wanted) == (0, 10**8)


def test_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "abci.sock"
    with serving(Fake(), f"unix://{path}") as address:
        assert address == f"unix://{path}"
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(str(path))
            client.sendall(request_frame(ECHO))
            assert kinds(read_responses(client, 1)) == ["echo"]


def test_the_bound_address_has_the_port() -> None:
    with serving(Fake(), "127.0.0.1:0") as address:
        host, port = parse_address(address)  # type: ignore[misc]
        assert address.startswith("tcp://127.0.0.1:") and host == "127.0.0.1" and port > 0


def test_a_port_in_use_says_what_to_do() -> None:
    with serving(Fake()) as address, pytest.raises(ChainError, match="the address is in use"):
        with serving(Fake(), address):
            pass


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("tcp://127.0.0.1:26658", ("127.0.0.1", 26658)),
        ("127.0.0.1:26658", ("127.0.0.1", 26658)),
        ("tcp://[::1]:1", ("::1", 1)),
        ("unix:///tmp/x.sock", "/tmp/x.sock"),
    ],
)
def test_addresses(address: str, parsed: object) -> None:
    assert parse_address(address) == parsed


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("tcp://127.0.0.1", "is not tcp://HOST:PORT"),
        ("127.0.0.1:port", "is not tcp://HOST:PORT"),
        ("tcp://:26658", "is not tcp://HOST:PORT"),
        ("127.0.0.1:70000", "is not tcp://HOST:PORT"),
        ("http://127.0.0.1:1", "only tcp://HOST:PORT"),
        ("unix://", "names no socket path"),
    ],
)
def test_bad_addresses_are_refused(address: str, message: str) -> None:
    with pytest.raises(ChainError, match=message):
        parse_address(address)
    with pytest.raises(ChainError, match=message):
        asyncio.run(serve_abci(address, Fake()))
