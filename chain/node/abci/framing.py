"""CometBFT's socket framing: each protobuf message preceded by its length as an unsigned varint.

This is ``libs/protoio``'s delimited format, the one CometBFT's socket client writes and reads on
each of its four connections: the length in base-128 little-endian groups of 7 bits, the high bit
of each byte saying that another follows (at most 10 bytes for 64 bits), then that many bytes of
one message.  ``FrameDecoder`` takes the bytes as they arrive, in pieces of any size, and gives
back each whole frame once it is complete: a frame split across reads waits for its end, several
frames in one read all come out.

Refused, with ``FrameError`` (the server then closes that connection, and only that one): a length
over ``MAX_FRAME_SIZE``, a varint longer than 10 bytes or over 64 bits, and (``decode_request``)
bytes that are not a ``Request``.  Nothing else is raised, whatever the bytes.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from wasmchain.node.abci.proto.tendermint.abci import types_pb2
from wasmchain.protocol.errors import ChainError

MAX_FRAME_SIZE = 128 * 1024 * 1024
"""The longest message accepted, in bytes: 128 MiB.  CometBFT's own reader allows up to 2 GiB, but the
largest request it sends carries one block's transactions (FinalizeBlock, ProcessProposal, and
PrepareProposal with at most a block's worth), and a block is at most 100 MiB (``types.MaxBlockSizeBytes``,
the ceiling of ``block.max_bytes``); 128 MiB leaves room for the other fields and refuses a length
that no CometBFT request can have before reading (and buffering) what follows it."""

MAX_VARINT_BYTES = 10
"""A 64-bit unsigned varint takes at most 10 bytes."""


class FrameError(ChainError):
    """Bytes on an ABCI connection that are not a frame, or not a request: the connection is closed."""

    reason = "abci_frame"


def encode_uvarint(value: int) -> bytes:
    """``value`` (0 <= value < 2**64) as an unsigned varint."""
    if not 0 <= value < 1 << 64:
        raise ValueError(f"a uvarint holds 0 .. 2**64 - 1, not {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(data: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """The varint at ``data[start:]`` and the offset just after it; ``None`` if it is not complete yet.

    Raises ``FrameError`` for a varint longer than 10 bytes or over 64 bits.
    """
    value = 0
    shift = 0
    for index in range(start, min(len(data), start + MAX_VARINT_BYTES)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value >= 1 << 64:
                raise FrameError("malformed frame: its length varint is over 64 bits")
            return value, index + 1
        shift += 7
    if len(data) - start >= MAX_VARINT_BYTES:
        raise FrameError(f"malformed frame: its length varint runs past {MAX_VARINT_BYTES} bytes")
    return None


def frame(message: bytes) -> bytes:
    """One frame: the length of ``message`` as a uvarint, then ``message``."""
    return encode_uvarint(len(message)) + message


class FrameDecoder:
    """Frames out of a byte stream that arrives in pieces; ``feed`` each piece as it comes.

    After a ``FrameError`` the stream cannot be resynchronized: every later ``feed`` raises again.
    """

    def __init__(self, max_size: int = MAX_FRAME_SIZE) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._failed: FrameError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)

    @property
    def error(self) -> FrameError | None:
        """Why the stream broke, once it has: every later ``feed`` raises it."""
        return self._failed

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the frames it completes (their messages, without the lengths), in order.

        Raises ``FrameError`` where the stream breaks, unless whole frames came before the break in
        this same ``data``: those are returned, and the error is in ``error`` (and raised by the next call).
        """
        if self._failed is not None:
            raise self._failed
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        offset = 0
        try:
            while True:
                header = decode_uvarint(buffer, offset)
                if header is None:
                    break
                length, start = header
                if length > self.max_size:
                    raise FrameError(f"frame of {length} bytes is over the limit of {self.max_size} bytes")
                end = start + length
                if end > len(buffer):
                    break
                frames.append(bytes(buffer[start:end]))
                offset = end
        except FrameError as error:
            self._failed = error
            buffer.clear()
            if not frames:
                raise
            return frames
        del buffer[:offset]
        return frames


def decode_request(message: bytes) -> types_pb2.Request:
    """A frame's message as a ``Request``; ``FrameError`` if it is not protobuf of that shape."""
    request = types_pb2.Request()
    try:
        request.ParseFromString(message)
    except (DecodeError, ValueError, RuntimeError) as error:
        raise FrameError(f"malformed request: {error}") from None
    return request


def encode_response(response: types_pb2.Response) -> bytes:
    """A ``Response`` as one frame."""
    return frame(response.SerializeToString())
