"""Client frames, split without the `websockets` parser: whole masked text frames only.

Most of what a client sends is single-frame text messages (events), and
`websockets`' generator-based parser costs several microseconds per frame. The
relay's WebSocket protocol (`app.protocols`) reads every client frame header
itself with `next_frame` and takes the common case, a complete, final, masked
text frame with no reserved bits, of at most the message limit, carrying valid
UTF-8, straight to the app. Every other frame (pings, pongs, close, binary,
fragments, anything malformed) is handed to `websockets` whole, one complete
frame at a time, so its parser always sits at a frame boundary and decides
exactly as it did before. A header `websockets` refuses at once (a frame over
the message limit) ends the fast path for the connection.

Pure: no I/O, no state; tested with tables (`tests/relay/test_frames.py`).
"""

from __future__ import annotations

import struct

try:  # the C helper `websockets` itself uses; its pure-Python twin where it is not built
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the wheels ship it
    from websockets.utils import apply_mask

__all__ = [
    "HANDOVER",
    "NEED_MORE",
    "Frame",
    "Handover",
    "masked_text_head",
    "next_frame",
    "text_frame",
    "text_head",
]

_FIN_TEXT = 0x81  # FIN set, no reserved bits, opcode 1 (text)
_MASKED = 0x80
_HEAD_7 = struct.Struct("!BBL").pack  # opcode byte, length byte, masking key
_HEAD_16 = struct.Struct("!BBHL").pack
_HEAD_64 = struct.Struct("!BBQL").pack


class _NeedMore:
    """The frame at this position is not complete yet."""

    __slots__ = ()


NEED_MORE = _NeedMore()


class Frame:
    """A complete frame other than a plain text message: `websockets` reads `data[start:end]`."""

    __slots__ = ("end",)

    def __init__(self, end: int) -> None:
        self.end = end


class Handover:
    """A header the fast path does not take (too large): `websockets` reads from here on."""

    __slots__ = ()


HANDOVER = Handover()


def next_frame(
    data: bytes | bytearray, start: int, max_size: int
) -> tuple[str, int] | Frame | Handover | _NeedMore:
    """The frame of `data` that begins at `start`.

    `(text, end)` for a whole masked text message with valid UTF-8; `Frame(end)`
    for any other complete frame; `HANDOVER` for a frame longer than
    `max_size`; `NEED_MORE` when the frame is not complete yet.
    """
    available = len(data) - start
    if available < 2:
        return NEED_MORE
    first = data[start]
    second = data[start + 1]
    length = second & 0x7F
    header = 2
    if length == 126:
        header = 4
        if available < header:
            return NEED_MORE
        length = int.from_bytes(data[start + 2 : start + 4], "big")
    elif length == 127:
        header = 10
        if available < header:
            return NEED_MORE
        length = int.from_bytes(data[start + 2 : start + 10], "big")
    if length > max_size:
        return HANDOVER
    masked = second & _MASKED
    if masked:
        header += 4
    end = start + header + length
    if len(data) < end:
        return NEED_MORE
    if first != _FIN_TEXT or not masked:
        return Frame(end)
    payload = start + header
    try:
        text = apply_mask(data[payload:end], data[payload - 4 : payload]).decode()
    except UnicodeDecodeError:
        return Frame(end)  # `websockets` and uvicorn close it with 1007, as before
    return text, end


def text_head(length: int) -> bytes:
    """The header of a final, unmasked text frame (server to client) of `length` bytes."""
    if length < 126:
        return bytes((_FIN_TEXT, length))
    if length < 65536:
        return bytes((_FIN_TEXT, 126, length >> 8, length & 0xFF))
    return bytes((_FIN_TEXT, 127)) + length.to_bytes(8, "big")


def masked_text_head(length: int, key: int) -> bytes:
    """The header of a final, masked text frame (client to server), ending in its 32-bit
    masking `key` (so `head[-4:]` is the mask): one struct pack per frame."""
    if length < 126:
        return _HEAD_7(_FIN_TEXT, _MASKED | length, key)
    if length < 65536:
        return _HEAD_16(_FIN_TEXT, _MASKED | 126, length, key)
    return _HEAD_64(_FIN_TEXT, _MASKED | 127, length, key)


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (server to client) carrying `payload`."""
    return text_head(len(payload)) + payload
