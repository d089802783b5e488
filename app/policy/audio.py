"""How much of each assistant item's audio the client was sent: the truth a truncate needs.

When a user interrupts, the client tells the model where its audio was cut
(`conversation.item.truncate` with `audio_end_ms`). Clients often get this
wrong: a position past the audio they received, or a truncate of an item that
has no audio yet. The relay counts, per assistant item, the audio it forwarded,
and the client policy clamps or refuses a truncate by it.

Audio deltas are the hot path: their size comes from the length of the base64
payload and their item from a plain search of the frame, never a parse. A
delta usually arrives as its ASCII bytes, never decoded (`UpstreamConnection.
recv_raw`); `ascii_after` and `AudioLedger.ascii_delta` read it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "AUDIO_DELTAS",
    "AUDIO_DELTA_HEADS",
    "AudioLedger",
    "ascii_after",
    "bytes_per_ms",
    "string_after",
]

AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
# How an audio delta's ASCII bytes begin (type first, as the upstream sends it), by type.
AUDIO_DELTA_HEADS = tuple((f'{{"type":"{name}"'.encode(), name) for name in sorted(AUDIO_DELTAS))
_MAX_ITEMS = 256  # assistant items remembered; the oldest are forgotten first
_PCM16_24K = 48  # bytes per millisecond: 24,000 samples/s x 2 bytes
_G711 = 8  # 8,000 samples/s x 1 byte
_FORMATS = {
    "pcm16": _PCM16_24K,
    "audio/pcm": _PCM16_24K,
    "g711_ulaw": _G711,
    "g711_alaw": _G711,
    "audio/pcmu": _G711,
    "audio/pcma": _G711,
}


def bytes_per_ms(session: Mapping[str, Any]) -> int | None:
    """The output audio's bytes per millisecond in a session echo (GA or preview), if named."""
    audio = session.get("audio")
    if isinstance(audio, dict):
        output = audio.get("output")
        fmt = output.get("format") if isinstance(output, dict) else None
        if isinstance(fmt, dict):
            rate = fmt.get("rate")
            per_ms = _FORMATS.get(str(fmt.get("type")))
            if per_ms == _PCM16_24K and isinstance(rate, int) and rate > 0:
                return max(1, rate * 2 // 1000)
            return per_ms
    preview = session.get("output_audio_format")
    return _FORMATS.get(preview) if isinstance(preview, str) else None


def string_after(frame: str, key: str, start: int = 0) -> str | None:
    """The JSON string value after `key` (like `"item_id":"`), read without a parse."""
    at = frame.find(key, start)
    if at < 0:
        return None
    begin = at + len(key)
    end = frame.find('"', begin)
    if end < 0:
        return None
    value = frame[begin:end]
    return None if "\\" in value else value


def ascii_after(frame: bytes, key: bytes, start: int = 0) -> str | None:
    """`string_after` for a frame still in its ASCII bytes."""
    at = frame.find(key, start)
    if at < 0:
        return None
    begin = at + len(key)
    end = frame.find(b'"', begin)
    if end < 0:
        return None
    value = frame[begin:end]
    return None if b"\\" in value else value.decode("ascii")


def _decoded_size(length: int, escapes: int, last_two: str) -> int:
    """The bytes a base64 payload of `length` characters (`escapes` of them `\\`) holds."""
    length -= escapes  # "\/" is one character
    return length // 4 * 3 - last_two.count("=") if length else 0


class AudioLedger:
    """Audio bytes forwarded per assistant item. Pure: frames in, answers out."""

    __slots__ = ("_bytes", "per_ms")

    def __init__(self) -> None:
        self._bytes: dict[str, int] = {}
        self.per_ms = _PCM16_24K  # the protocol's default output: pcm16 at 24 kHz

    def _remember(self, item_id: str, size: int) -> None:
        known = self._bytes
        if item_id not in known and len(known) >= _MAX_ITEMS:
            del known[next(iter(known))]
        known[item_id] = known.get(item_id, 0) + size

    def item_added(self, frame: str) -> None:
        """A `response.output_item.added`: an assistant message starts with no audio."""
        if '"role":"assistant"' not in frame:
            if '"role"' in frame and "assistant" in frame:  # spelled otherwise: read it
                event = orjson.loads(frame)
                item = event.get("item") if isinstance(event, dict) else None
                if isinstance(item, dict) and item.get("role") == "assistant":
                    item_id = item.get("id")
                    if isinstance(item_id, str):
                        self._remember(item_id, 0)
            return
        item_id = string_after(frame, '"id":"', frame.find('"item":'))
        if item_id is not None:
            self._remember(item_id, 0)

    def delta(self, frame: str) -> None:
        """An audio delta forwarded to the client: add its decoded size to its item."""
        item_id = string_after(frame, '"item_id":"')
        at = frame.find('"delta":"')
        if item_id is None or at < 0:
            return
        begin = at + 9
        end = frame.find('"', begin)
        if end < 0:
            return
        escapes = 0
        if frame.find("\\", begin, end) >= 0:  # memchr; count() reads every character
            escapes = frame.count("\\", begin, end)
        self._remember(item_id, _decoded_size(end - begin, escapes, frame[end - 2 : end]))

    def ascii_delta(self, frame: bytes) -> None:
        """`delta` for a delta still in its ASCII bytes."""
        item_id = ascii_after(frame, b'"item_id":"')
        at = frame.find(b'"delta":"')
        if item_id is None or at < 0:
            return
        begin = at + 9
        end = frame.find(b'"', begin)
        if end < 0:
            return
        escapes = frame.count(b"\\", begin, end) if frame.find(b"\\", begin, end) >= 0 else 0
        tail = frame[end - 2 : end].decode("ascii")
        self._remember(item_id, _decoded_size(end - begin, escapes, tail))

    def delivered_ms(self, item_id: object) -> int | None:
        """Milliseconds of the item's audio the client was sent; None for an unknown item."""
        if not isinstance(item_id, str):
            return None
        size = self._bytes.get(item_id)
        return None if size is None else size // self.per_ms
