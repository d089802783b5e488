"""`app.frames`: which client frames the fast path takes, by table."""

from __future__ import annotations

import pytest
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.speedups import apply_mask
from websockets.streams import StreamReader

from app.frames import HANDOVER, NEED_MORE, Frame, masked_text_head, next_frame, text_frame

MAX = 1 << 20
OP_TEXT, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING = (
    Opcode.TEXT,
    Opcode.BINARY,
    Opcode.CLOSE,
    Opcode.CONT,
    Opcode.PING,
)


def masked(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    """The frame as a client writes it (websockets' own encoder, masked)."""
    return WsFrame(opcode, payload, fin).serialize(mask=True, extensions=[])


@pytest.mark.parametrize("size", [0, 1, 125, 126, 1280, 65535, 65536, 200_000])
def test_a_masked_text_frame_of_any_length_is_taken_whole(size: int) -> None:
    text = "é" * (size // 2) if size % 2 == 0 else "a" * size  # multi-byte UTF-8 too
    data = masked(OP_TEXT, text.encode())
    assert next_frame(data, 0, MAX) == (text, len(data))


def test_frames_back_to_back_are_read_in_order_from_their_start() -> None:
    first, second = masked(OP_TEXT, b'{"a":1}'), masked(OP_TEXT, b'{"b":2}')
    data = first + second
    assert next_frame(data, 0, MAX) == ('{"a":1}', len(first))
    assert next_frame(data, len(first), MAX) == ('{"b":2}', len(data))


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(masked(OP_PING, b"p"), id="ping"),
        pytest.param(masked(OP_CLOSE, b"\x03\xe8"), id="close"),
        pytest.param(masked(OP_BINARY, b"\x00\x01"), id="binary"),
        pytest.param(masked(OP_TEXT, b"part", fin=False), id="first-fragment"),
        pytest.param(masked(OP_CONT, b"rest"), id="continuation"),
        pytest.param(bytes((0xC1,)) + masked(OP_TEXT, b"x")[1:], id="reserved-bit"),
        pytest.param(masked(OP_TEXT, b"\xff\xfe"), id="invalid-utf8"),
        pytest.param(
            WsFrame(OP_TEXT, b"plain").serialize(mask=False, extensions=[]), id="unmasked"
        ),
    ],
)
def test_every_other_complete_frame_is_left_to_websockets_whole(frame: bytes) -> None:
    result = next_frame(frame, 0, MAX)
    assert type(result) is Frame
    assert result.end == len(frame)


@pytest.mark.parametrize("size", [10, 300, 70_000])
def test_a_frame_is_not_read_until_every_byte_of_it_arrived(size: int) -> None:
    data = masked(OP_TEXT, b"x" * size)
    for cut in range(len(data)):
        if cut in (0, 1, 2, 3, 4, 9, 10) or cut > len(data) - 3 or cut % 997 == 0:
            assert next_frame(data[:cut], 0, MAX) is NEED_MORE
    assert next_frame(data, 0, MAX) == ("x" * size, len(data))


@pytest.mark.parametrize("size", [MAX + 1, 1 << 40])
def test_a_header_announcing_more_than_the_limit_hands_the_connection_over(size: int) -> None:
    if size < 65536:
        header = bytes((0x81, 0xFE)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0xFF)) + size.to_bytes(8, "big")
    assert next_frame(header, 0, MAX) is HANDOVER  # decided on the header alone


def test_a_frame_of_exactly_the_limit_is_still_taken() -> None:
    data = masked(OP_TEXT, b"y" * 1000)
    assert next_frame(data, 0, 1000) == ("y" * 1000, len(data))
    assert next_frame(data, 0, 999) is HANDOVER


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 300_000])
def test_text_frame_encodes_what_websockets_reads(size: int) -> None:
    payload = b"z" * size
    encoded = text_frame(payload)
    assert encoded == WsFrame(OP_TEXT, payload).serialize(mask=False, extensions=[])


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 300_000])
def test_masked_text_head_and_masked_payload_are_what_a_server_reads(size: int) -> None:
    payload = bytes(n % 251 for n in range(size))
    head = masked_text_head(size, 0x12345678)
    assert head[-4:] == b"\x12\x34\x56\x78"  # the masking key, as the payload is masked
    encoded = head + apply_mask(payload, head[-4:])
    reader = StreamReader()
    reader.feed_data(encoded)
    parser = WsFrame.parse(reader.read_exact, mask=True, max_size=None, extensions=[])
    with pytest.raises(StopIteration) as parsed:
        next(parser)
    frame = parsed.value.value
    assert (frame.opcode, frame.fin, frame.data) == (OP_TEXT, True, payload)
    assert not reader.buffer  # nothing left over: the header announced exactly the payload
