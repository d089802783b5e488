"""Small pure-Python signal helpers for checking the audio a browser captured.

No numpy: a Goertzel filter gives the power at one frequency, zero crossings give
the dominant frequency of a clean tone, and RMS is taken over 20 ms windows.
"""

from __future__ import annotations

import math
import sys
import wave
from array import array
from pathlib import Path

RATE = 24_000
WINDOW = 480  # 20 ms at 24 kHz


def samples_of(pcm: bytes) -> array[int]:
    """pcm16 little-endian bytes as signed samples."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only
        samples.byteswap()
    return samples


def rms(samples: array[int] | list[int]) -> float:
    """Root mean square (0.0 for no samples)."""
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def window_rms(samples: array[int]) -> list[float]:
    """RMS of each complete 20 ms window."""
    return [rms(samples[i : i + WINDOW]) for i in range(0, len(samples) - WINDOW + 1, WINDOW)]


def loudest_run(samples: array[int], threshold: float) -> array[int]:
    """The longest run of consecutive 20 ms windows whose RMS exceeds `threshold`."""
    best = (0, 0)
    start = None
    levels = window_rms(samples)
    for index, level in enumerate([*levels, 0.0]):
        if level > threshold and start is None:
            start = index
        elif level <= threshold and start is not None:
            if index - start > best[1] - best[0]:
                best = (start, index)
            start = None
    return samples[best[0] * WINDOW : best[1] * WINDOW]


def goertzel_power(samples: array[int], frequency: float, rate: int = RATE) -> float:
    """Power of `samples` at `frequency` (a single DFT bin, normalised by length squared)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return power / (len(samples) ** 2) if samples else 0.0


def zero_crossing_frequency(samples: array[int], rate: int = RATE) -> float:
    """The frequency of a clean tone from its rising zero crossings."""
    rising = [i for i in range(1, len(samples)) if samples[i - 1] < 0 <= samples[i]]
    if len(rising) < 2:
        return 0.0
    return (len(rising) - 1) * rate / (rising[-1] - rising[0])


def write_tone_wav(
    path: Path,
    *,
    rate: int = 48_000,
    frequency: float = 440.0,
    tone_ms: int = 1500,
    silence_ms: int = 2500,
    amplitude: float = 0.5,
) -> None:
    """A mono 16-bit wav: a sine tone, then digital silence (Chromium loops the file)."""
    peak = round(32767 * amplitude)
    step = 2 * math.pi * frequency / rate
    tone = [round(peak * math.sin(step * i)) for i in range(tone_ms * rate // 1000)]
    samples = array("h", tone + [0] * (silence_ms * rate // 1000))
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only
        samples.byteswap()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
