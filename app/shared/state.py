"""The seam between admission and accounting and where their state lives."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.client_secrets import SecretStore

__all__ = ["Lease", "SharedState", "utc_day"]


@dataclass(frozen=True, slots=True)
class Lease:
    """A cap on concurrent sessions under one key: `identity:<id>` or `agent:<name>`."""

    key: str
    cap: int


def utc_day(now: float | None = None) -> str:
    """The UTC day usage is bucketed by, as YYYYMMDD."""
    return time.strftime("%Y%m%d", time.gmtime(time.time() if now is None else now))


class SharedState(Protocol):
    secrets: SecretStore

    @property
    def healthy(self) -> bool:
        """Whether the last call succeeded (always true in process)."""
        ...

    @property
    def leases_held(self) -> int:
        """Sessions of this process holding leases."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def acquire(self, session_id: str, leases: Sequence[Lease]) -> Lease | None:
        """Take a lease under every key, all or none: None when taken, else the full one.

        Raises `SharedStateError` (only when the state is shared and fails closed)."""
        ...

    async def release(self, session_id: str) -> None:
        """Give back the session's leases. Never raises."""
        ...

    async def add_usage(self, identity: str | None, agent: str, tokens: int) -> int:
        """Add `tokens` to today's counters; the identity's total today (0 without one).

        Raises `SharedStateError`."""
        ...

    async def tokens_today(self, identity: str) -> int:
        """The identity's tokens today. Raises `SharedStateError`."""
        ...
