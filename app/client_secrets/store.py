"""Where client secrets are kept: only as SHA-256 digests, each until it expires.

`SecretStore` is the seam; `MemorySecretStore` keeps them in this process. A
store shared by several replicas implements the same three calls.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.errors import RelayError

__all__ = ["MemorySecretStore", "SecretRecord", "SecretStore", "SecretStoreFull", "secret_digest"]


def secret_digest(value: str) -> str:
    """The hex SHA-256 digest a secret is stored under."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """What a secret opens: an agent, for an identity, with pinned session values."""

    digest: str
    agent: str
    identity: str  # the session's identity: <backend> or <backend>:<end user>
    backend: str  # the backend identity that minted it (and alone may revoke it)
    expires_at: float  # epoch seconds
    pinned: Mapping[str, Any] = field(default_factory=dict)


class SecretStoreFull(RelayError):
    """As many secrets as the cap allows are outstanding."""


class SecretStore(Protocol):
    async def put(self, record: SecretRecord) -> None:
        """Keep `record` until it expires. Raises `SecretStoreFull`."""
        ...

    async def get(self, digest: str) -> SecretRecord | None:
        """The unexpired record stored under `digest`, if any."""
        ...

    async def revoke(self, digest: str, backend: str) -> bool:
        """Forget the record if `backend` minted it; whether one was forgotten."""
        ...


class MemorySecretStore:
    """Secrets in a dict, at most `max_outstanding`; expired ones are evicted as met,
    and all at once before the cap refuses a new one."""

    def __init__(self, max_outstanding: int, clock: Callable[[], float] = time.time) -> None:
        self._records: dict[str, SecretRecord] = {}
        self._max = max_outstanding
        self.clock = clock

    def __len__(self) -> int:
        return len(self._records)

    async def put(self, record: SecretRecord) -> None:
        if len(self._records) >= self._max:
            now = self.clock()
            self._records = {d: r for d, r in self._records.items() if r.expires_at > now}
            if len(self._records) >= self._max:
                raise SecretStoreFull("too many client secrets are outstanding")
        self._records[record.digest] = record

    async def get(self, digest: str) -> SecretRecord | None:
        record = self._records.get(digest)
        if record is not None and record.expires_at <= self.clock():
            del self._records[digest]
            return None
        return record

    async def revoke(self, digest: str, backend: str) -> bool:
        record = await self.get(digest)
        if record is None or record.backend != backend:
            return False
        del self._records[digest]
        return True
