"""pcm16 helpers: tone generation, chunking, base64 and RMS.

All audio is treated as 24 kHz mono signed 16-bit little-endian PCM, whatever format the
session names (g711 bytes are echoed untouched but would look like noise to the VAD).
"""

from __future__ import annotations

import base64
import binascii
import math
import sys
from array import array
from functools import lru_cache
from typing import Final

SAMPLE_RATE: Final = 24_000
BYTES_PER_MS: Final = SAMPLE_RATE * 2 // 1000  # 48
CHUNK_BYTES: Final = 100 * BYTES_PER_MS  # 4800 bytes = 100 ms per output delta


def duration_ms(pcm: bytes) -> int:
    """Whole milliseconds of pcm16 in `pcm` (a trailing partial millisecond is dropped)."""
    return len(pcm) // BYTES_PER_MS


@lru_cache(maxsize=8)
def tone(frequency_hz: float = 440.0, duration: int = 600, amplitude: float = 0.25) -> bytes:
    """A deterministic sine tone: `duration` ms of pcm16 at `amplitude` (0..1) of full scale."""
    count = duration * SAMPLE_RATE // 1000
    peak = int(32767 * max(0.0, min(1.0, amplitude)))
    step = 2 * math.pi * frequency_hz / SAMPLE_RATE
    samples = array("h", (round(peak * math.sin(step * i)) for i in range(count)))
    return _to_le(samples)


def silence(duration: int) -> bytes:
    """`duration` ms of digital silence (all-zero samples)."""
    return bytes(duration * BYTES_PER_MS)


def chunks(data: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    """Split `data` into consecutive pieces of `size` bytes; the last may be shorter; b"" -> []."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def b64encode(data: bytes) -> str:
    """Standard base64 text of `data`."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode standard base64, raising ValueError on anything that is not valid base64."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


def rms(pcm: bytes) -> float:
    """Root mean square of the pcm16 samples in `pcm` (0.0 for fewer than one sample)."""
    usable = len(pcm) - len(pcm) % 2
    if usable == 0:
        return 0.0
    samples = array("h")
    samples.frombytes(pcm[:usable])
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only in CI
        samples.byteswap()
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def _to_le(samples: array[int]) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only in CI
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()
