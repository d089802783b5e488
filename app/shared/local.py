"""The shared state kept in this process: what a single replica needs, and the fallback
counts of a replica whose Redis is down in `open` mode."""

from __future__ import annotations

from collections.abc import Sequence

from app.client_secrets import MemorySecretStore, SecretStore
from app.shared.state import Lease, utc_day

__all__ = ["LocalState"]

_DAYS_KEPT = 2  # today and yesterday; older usage counters are dropped


class LocalState:
    """Lease counts per key, usage per UTC day, secrets in a dict."""

    def __init__(self, max_secrets: int) -> None:
        self.secrets: SecretStore = MemorySecretStore(max_secrets)
        self._counts: dict[str, int] = {}
        self._held: dict[str, tuple[str, ...]] = {}  # session id -> its lease keys
        self._usage: dict[str, dict[str, int]] = {}  # day -> "identity:<id>" / "agent:<a>" -> n

    @property
    def healthy(self) -> bool:
        return True

    @property
    def leases_held(self) -> int:
        return len(self._held)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def full(self, leases: Sequence[Lease]) -> Lease | None:
        """The first lease whose key is at its cap here, if any."""
        counts = self._counts
        for lease in leases:
            if counts.get(lease.key, 0) >= lease.cap:
                return lease
        return None

    def take(self, session_id: str, leases: Sequence[Lease]) -> None:
        counts = self._counts
        for lease in leases:
            counts[lease.key] = counts.get(lease.key, 0) + 1
        self._held[session_id] = tuple(lease.key for lease in leases)

    def give_back(self, session_id: str) -> None:
        counts = self._counts
        for key in self._held.pop(session_id, ()):
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]

    async def acquire(self, session_id: str, leases: Sequence[Lease]) -> Lease | None:
        full = self.full(leases)
        if full is None:
            self.take(session_id, leases)
        return full

    async def release(self, session_id: str) -> None:
        self.give_back(session_id)

    async def add_usage(self, identity: str | None, agent: str, tokens: int) -> int:
        day = utc_day()
        counters = self._usage.get(day)
        if counters is None:
            counters = self._usage[day] = {}
            for old in sorted(self._usage)[:-_DAYS_KEPT]:
                del self._usage[old]
        agent_key = f"agent:{agent}"
        counters[agent_key] = counters.get(agent_key, 0) + tokens
        if identity is None:
            return 0
        key = f"identity:{identity}"
        total = counters[key] = counters.get(key, 0) + tokens
        return total

    async def tokens_today(self, identity: str) -> int:
        return self._usage.get(utc_day(), {}).get(f"identity:{identity}", 0)
