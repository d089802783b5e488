"""How much of each assistant item's audio the client was sent: the truth a truncate needs.

When a user interrupts, the client tells the model where its audio was cut
(`conversation.item.truncate` with `audio_end_ms`). Clients often get this
wrong: a position past the audio they received, or a truncate of an item that
has no audio yet. The relay counts, per assistant item, the audio it forwarded,
and the client policy clamps or refuses a truncate by it.

Audio deltas are the hot path: their size comes from the length of the base64
payload and their item from a plain search of the frame, never a parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["AUDIO_DELTAS", "AudioLedger", "bytes_per_ms", "string_after"]

AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
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
        length = end - begin
        if frame.find("\\", begin, end) >= 0:  # memchr; count() reads every character
            length -= frame.count("\\", begin, end)  # "\/" is one character
        padding = (frame[end - 1] == "=") + (frame[end - 2] == "=") if length else 0
        self._remember(item_id, length // 4 * 3 - padding)

    def delivered_ms(self, item_id: object) -> int | None:
        """Milliseconds of the item's audio the client was sent; None for an unknown item."""
        if not isinstance(item_id, str):
            return None
        size = self._bytes.get(item_id)
        return None if size is None else size // self.per_ms
