"""CometBFT's socket framing (``wasmchain.node.abci.framing``): uvarint lengths, frames split and merged
across reads, and every malformed stream refused with ``FrameError`` and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmchain.node.abci.framing import (
    MAX_FRAME_SIZE,
    FrameDecoder,
    FrameError,
    decode_request,
    decode_uvarint,
    encode_response,
    encode_uvarint,
    frame,
)
from wasmchain.node.abci.proto.tendermint.abci import types_pb2


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (2**64 - 1, b"\xff" * 9 + b"\x01"),
    ],
)
def test_uvarint_known_values(value: int, encoded: bytes) -> None:
    assert encode_uvarint(value) == encoded
    assert decode_uvarint(encoded) == (value, len(encoded))
    assert decode_uvarint(encoded[:-1]) is None  # not complete yet


@given(st.integers(0, 2**64 - 1), st.binary(max_size=4))
def test_uvarint_round_trips(value: int, after: bytes) -> None:
    encoded = encode_uvarint(value)
    assert decode_uvarint(encoded + after) == (value, len(encoded))


def test_uvarint_refuses_what_is_not_one() -> None:
    with pytest.raises(ValueError):
        encode_uvarint(-1)
    with pytest.raises(ValueError):
        encode_uvarint(2**64)
    with pytest.raises(FrameError, match="runs past 10 bytes"):
        decode_uvarint(b"\x80" * 10)
    with pytest.raises(FrameError, match="over 64 bits"):
        decode_uvarint(b"\xff" * 9 + b"\x02")


@given(st.lists(st.binary(max_size=300), max_size=8), st.data())
def test_any_split_of_a_stream_gives_the_same_frames(messages: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(message) for message in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    decoder = FrameDecoder()
    found = [message for piece in pieces for message in decoder.feed(piece)]
    assert found == messages
    assert decoder.pending == 0


def test_a_byte_at_a_time_and_all_at_once() -> None:
    messages = [b"", b"a", b"x" * 200, b"\x00" * 5]
    stream = b"".join(frame(message) for message in messages)
    decoder = FrameDecoder()
    assert [m for byte in stream for m in decoder.feed(bytes([byte]))] == messages
    assert FrameDecoder().feed(stream) == messages
    partial = FrameDecoder()
    assert partial.feed(stream[:-1]) == messages[:-1] and partial.pending == len(frame(messages[-1])) - 1


def test_an_oversized_frame_is_refused_before_its_body_arrives() -> None:
    decoder = FrameDecoder(max_size=10)
    assert decoder.feed(frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(FrameError, match="frame of 11 bytes is over the limit of 10 bytes"):
        decoder.feed(encode_uvarint(11))
    with pytest.raises(FrameError):  # the stream cannot be resynchronized: it stays refused
        decoder.feed(frame(b"ok"))
    with pytest.raises(FrameError, match=f"over the limit of {MAX_FRAME_SIZE} bytes"):
        FrameDecoder().feed(encode_uvarint(MAX_FRAME_SIZE + 1))


def test_a_malformed_length_is_refused() -> None:
    with pytest.raises(FrameError, match="runs past 10 bytes"):
        FrameDecoder().feed(b"\xff" * 11)


def test_requests_decode_and_garbage_is_refused() -> None:
    request = types_pb2.Request(check_tx=types_pb2.RequestCheckTx(tx=b"\x01"))
    assert decode_request(request.SerializeToString()) == request
    for garbage in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x42\x02\xc3\x28"):
        with pytest.raises(FrameError, match="malformed request"):
            decode_request(garbage)
    response = types_pb2.Response(flush=types_pb2.ResponseFlush())
    assert encode_response(response) == frame(response.SerializeToString())


@given(st.lists(st.binary(max_size=40), max_size=6))
def test_garbage_never_raises_anything_but_a_frame_error(pieces: list[bytes]) -> None:
    decoder = FrameDecoder(max_size=64)
    try:
        for piece in pieces:
            for message in decoder.feed(piece):
                assert len(message) <= 64
                try:
                    decode_request(message)
                except FrameError:
                    pass
    except FrameError:
        pass


def test_frames_before_a_break_in_the_same_read_are_given_then_the_break() -> None:
    decoder = FrameDecoder(max_size=10)
    assert decoder.feed(frame(b"one") + frame(b"two") + encode_uvarint(11) + b"x" * 11) == [b"one", b"two"]
    assert decoder.error is not None and "over the limit" in str(decoder.error)
    with pytest.raises(FrameError, match="over the limit"):
        decoder.feed(b"")
