"""A deliberately simple energy voice-activity detector over pcm16 (24 kHz mono LE).

Audio is cut into 20 ms windows (960 bytes) on a timeline that counts every byte ever
fed. A window whose RMS exceeds the threshold is speech: the first such window starts a
turn; once ``silence_ms`` of consecutive quiet windows follow, the turn stops at the end
of the last quiet window. Digital silence has RMS 0 and therefore never starts a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from app.simulator.audio import BYTES_PER_MS, rms

WINDOW_MS: Final = 20
WINDOW_BYTES: Final = WINDOW_MS * BYTES_PER_MS
DEFAULT_THRESHOLD_RMS: Final = 500.0
"""About -36 dBFS: a tone at a quarter of full scale (RMS ~5800) is far above it."""


@dataclass(frozen=True)
class VadEvent:
    """Speech started or stopped at absolute byte `position` on the feed timeline."""

    kind: Literal["start", "stop"]
    position: int

    @property
    def ms(self) -> int:
        """The position in milliseconds since the first byte fed."""
        return self.position // BYTES_PER_MS


class EnergyVad:
    """Feed pcm16 bytes, get speech start/stop events; holds back partial windows."""

    def __init__(self, threshold_rms: float = DEFAULT_THRESHOLD_RMS, silence_ms: int = 500):
        self.threshold_rms = threshold_rms
        self.silence_ms = silence_ms
        self.speaking = False
        self._pending = bytearray()
        self._window_start = 0
        self._quiet_ms = 0

    @property
    def position(self) -> int:
        """Total bytes fed so far, including a held-back partial window."""
        return self._window_start + len(self._pending)

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Process `pcm`, returning the start/stop events of every complete window in order."""
        self._pending += pcm
        events: list[VadEvent] = []
        offset = 0
        while len(self._pending) - offset >= WINDOW_BYTES:
            window = bytes(self._pending[offset : offset + WINDOW_BYTES])
            start = self._window_start
            self._window_start += WINDOW_BYTES
            offset += WINDOW_BYTES
            if rms(window) > self.threshold_rms:
                self._quiet_ms = 0
                if not self.speaking:
                    self.speaking = True
                    events.append(VadEvent("start", start))
            elif self.speaking:
                self._quiet_ms += WINDOW_MS
                if self._quiet_ms >= self.silence_ms:
                    self.speaking = False
                    self._quiet_ms = 0
                    events.append(VadEvent("stop", self._window_start))
        del self._pending[:offset]
        return events

    def reset(self, position: int) -> None:
        """Forget any turn in progress and partial window; the next window starts at `position`."""
        self.speaking = False
        self._quiet_ms = 0
        self._pending.clear()
        self._window_start = position
