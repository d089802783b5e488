"""Wire constants shared by the fake upstream and the load generator.

Both sides agree on the audio-delta payloads (deterministic, so the load
generator can verify every byte) and on the fixed text of the hot events.
"""

from __future__ import annotations

import base64
import functools

__all__ = [
    "APPEND_HEAD",
    "COUNT_ITEM_ID",
    "COUNT_TEXT",
    "DEFAULT_DELTAS",
    "DEFAULT_DELTA_CHARS",
    "GA_PATH",
    "PAYLOAD_VARIANTS",
    "append_event",
    "delta_payloads",
    "probe_event",
]

GA_PATH = "/openai/v1/realtime"
APPEND_HEAD = '{"type":"input_audio_buffer.append"'
COUNT_TEXT = "__count__"
COUNT_ITEM_ID = "count"
DEFAULT_DELTAS = 200
DEFAULT_DELTA_CHARS = 65536
PAYLOAD_VARIANTS = 64
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# 20 ms of 24 kHz mono pcm16: 480 samples, 960 bytes, 1,280 base64 characters.
AUDIO_CHUNK_BYTES = 960


def append_event() -> bytes:
    """One `input_audio_buffer.append` carrying 20 ms of (silent-ish) pcm16 audio."""
    pcm = bytes(i % 251 for i in range(AUDIO_CHUNK_BYTES))
    audio = base64.b64encode(pcm).decode()
    assert len(audio) == 1280
    return (APPEND_HEAD + ',"audio":"' + audio + '"}').encode()


def probe_event(item_id: str, text: str = "ping") -> bytes:
    """A tiny user-message `conversation.item.create`; the upstream echoes its item."""
    return (
        '{"type":"conversation.item.create","item":{"id":"'
        + item_id
        + '","type":"message","role":"user","content":[{"type":"input_text","text":"'
        + text
        + '"}]}}'
    ).encode()


@functools.cache
def delta_payloads(chars: int) -> tuple[str, ...]:
    """The payload of delta number i is `delta_payloads(chars)[i % PAYLOAD_VARIANTS]`.

    Each variant is the base64 alphabet rotated by i and repeated to `chars`
    characters (a multiple of 4 keeps it valid base64).
    """
    repeat = chars // len(_ALPHABET) + 2
    source = _ALPHABET * repeat
    return tuple(source[i : i + chars] for i in range(PAYLOAD_VARIANTS))
