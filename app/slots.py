"""Session slots of this process: `RELAY_MAX_SESSIONS`, which protects its own CPU and
memory, so it stays per process even when the other limits are fleet-wide.

The event loop is single-threaded, so a plain counter suffices. A slot is
taken before the upstream is dialed and released when the session ends,
whatever the outcome. Per-identity and per-agent limits are leases
(`app.shared`): in process, or in Redis for the whole fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import Refusal

__all__ = ["SessionSlots"]


@dataclass
class SessionSlots:
    max_sessions: int
    active: int = 0

    @property
    def full(self) -> bool:
        return self.active >= self.max_sessions

    def acquire(self) -> None:
        """Take a slot, or raise a `Refusal` (503 at_capacity)."""
        if self.full:
            raise Refusal(503, "at_capacity", "The relay is at capacity; retry shortly.")
        self.active += 1

    def release(self) -> None:
        """Give a slot back."""
        self.active -= 1
