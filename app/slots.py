"""Session slots: how many sessions run, per process and per identity.

The event loop is single-threaded, so plain counters suffice. A slot is
taken before the upstream is dialed and released when the session ends,
whatever the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import Refusal

__all__ = ["SessionSlots"]


@dataclass
class SessionSlots:
    max_sessions: int
    max_per_identity: int
    active: int = 0
    by_identity: dict[str, int] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return self.active >= self.max_sessions

    def acquire(self, identity: str | None) -> None:
        """Take a slot, or raise a `Refusal` (503 at_capacity, 429 too_many_sessions)."""
        if self.full:
            raise Refusal(503, "at_capacity", "The relay is at capacity; retry shortly.")
        if identity is not None and self.by_identity.get(identity, 0) >= self.max_per_identity:
            raise Refusal(429, "too_many_sessions", "Too many concurrent sessions for this caller.")
        self.active += 1
        if identity is not None:
            self.by_identity[identity] = self.by_identity.get(identity, 0) + 1

    def release(self, identity: str | None) -> None:
        """Give a slot back."""
        self.active -= 1
        if identity is not None:
            remaining = self.by_identity[identity] - 1
            if remaining:
                self.by_identity[identity] = remaining
            else:
                del self.by_identity[identity]
