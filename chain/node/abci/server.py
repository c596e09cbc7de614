"""The ABCI 2.0 socket server: what CometBFT's ``proxy_app = "tcp://..."`` connects to.

CometBFT opens four connections (consensus, mempool, info, snapshot) and on each writes requests,
framed as ``framing.py`` says, and reads the responses, one per request and in the same order.
``serve_abci`` accepts any number of connections and serves each in its own asyncio task, all on
the running loop's thread, so the application is never entered from two threads and requests are
handled one at a time (a request is answered in full before the next is read, on any connection).

On each connection: ``echo`` and ``flush`` are the server's own (``flush`` also drains what is
buffered); every other request goes to the application's ``respond``.  An exception there is
logged to stderr and answered with ``ResponseException`` carrying its message (CometBFT treats that
as fatal and stops); a request with no known field set is answered the same way.  A malformed frame,
an oversized one, or bytes that are not a ``Request`` close that connection, and only that one:
nothing a peer sends stops the server.
"""

from __future__ import annotations

import asyncio
import errno
import sys
import traceback
from collections.abc import Callable
from typing import Protocol

from wasmchain.node.abci.framing import FrameDecoder, FrameError, decode_request, encode_response
from wasmchain.node.abci.proto.tendermint.abci import types_pb2
from wasmchain.protocol.errors import ChainError

READ_SIZE = 256 * 1024
"""Bytes asked of the socket per read."""


class Responder(Protocol):
    """What the server calls for every request but ``echo`` and ``flush`` (``AbciApp`` is one)."""

    def respond(self, request: types_pb2.Request) -> types_pb2.Response: ...


def parse_address(address: str) -> tuple[str, int] | str:
    """``tcp://HOST:PORT`` or ``HOST:PORT`` as ``(host, port)``; ``unix://PATH`` as its path.

    Raises ``ChainError`` saying what is wrong.
    """
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        if not path:
            raise ChainError(f"ABCI address {address!r} names no socket path: use unix:///path/to/socket")
        return path
    rest = address[len("tcp://") :] if address.startswith("tcp://") else address
    if "://" in rest:
        raise ChainError(f"ABCI address {address!r}: only tcp://HOST:PORT (or HOST:PORT) and unix://PATH are served")
    host, colon, port_text = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ChainError(f"ABCI address {address!r} is not tcp://HOST:PORT, e.g. tcp://127.0.0.1:26658")
    return host, int(port_text)


def _ignore(address: str) -> None:
    del address


async def serve_abci(
    address: str, app: Responder, *, on_listening: Callable[[str], None] = _ignore, max_frame_size: int | None = None
) -> None:
    """Listen on ``address`` and serve CometBFT's connections until cancelled.

    ``on_listening`` is called once with the address actually bound (``tcp://HOST:PORT``, the port
    filled in when ``address`` asked for port 0, or ``unix://PATH``).  A bad address or one that
    cannot be bound raises ``ChainError`` saying what to do.
    """
    target = parse_address(address)
    connections: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await serve_connection(reader, writer, app, max_frame_size)
        except asyncio.CancelledError:
            pass  # the server is stopping: this connection's task ends here, quietly
        finally:
            connections.discard(task)

    try:
        if isinstance(target, str):
            server = await asyncio.start_unix_server(handle, target)
            bound = f"unix://{target}"
        else:
            host, port = target
            server = await asyncio.start_server(handle, host, port)
            actual = server.sockets[0].getsockname()
            shown = f"[{actual[0]}]" if ":" in actual[0] else actual[0]
            bound = f"tcp://{shown}:{actual[1]}"
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ChainError(
                f"cannot listen for ABCI on {address}: the address is in use (another node or CometBFT app?); "
                "stop that process or choose another --abci address"
            ) from None
        raise ChainError(f"cannot listen for ABCI on {address}: {error.strerror or error}") from None
    try:
        on_listening(bound)
        async with server:
            await server.serve_forever()
    finally:
        server.close()
        for task in list(connections):
            task.cancel()
        if connections:
            await asyncio.gather(*connections, return_exceptions=True)


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, app: Responder, max_frame_size: int | None = None
) -> None:
    """Answer one connection's requests in order until it closes or sends a malformed frame."""
    decoder = FrameDecoder() if max_frame_size is None else FrameDecoder(max_frame_size)
    try:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            responses: list[bytes] = []
            try:
                for message in decoder.feed(data):
                    responses.append(encode_response(answer(decode_request(message), app)))
                if decoder.error is not None:
                    raise decoder.error
            except FrameError as error:
                _log(f"ABCI connection closed: {error}")
                return
            finally:
                # One write for the answers to what one read brought (CometBFT sends its requests in batches,
                # a flush after them): a send per answer cost more than answering a CheckTx.
                if responses:
                    writer.write(b"".join(responses))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def answer(request: types_pb2.Request, app: Responder) -> types_pb2.Response:
    """The response to one request: ``echo`` and ``flush`` here, the rest from ``app``."""
    kind = request.WhichOneof("value")
    if kind == "echo":
        return types_pb2.Response(echo=types_pb2.ResponseEcho(message=request.echo.message))
    if kind == "flush":
        return types_pb2.Response(flush=types_pb2.ResponseFlush())
    if kind is None:
        return types_pb2.Response(exception=types_pb2.ResponseException(error="unknown request: no field set"))
    try:
        return app.respond(request)
    except Exception as error:  # a request's failure is answered, never the server's end
        _log(f"ABCI {kind} failed: {type(error).__name__}: {error}\n{traceback.format_exc()}")
        return types_pb2.Response(exception=types_pb2.ResponseException(error=f"{kind}: {error}"))


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
