"""The shared state in Redis (`RELAY_REDIS_URL`), for many replicas behind a load balancer.

Per-identity and per-agent session limits become fleet-wide leases
(`app.shared.scripts`), client secrets minted on one replica open sessions on
every replica, and token usage is counted per identity and per agent per UTC
day. Every call is bounded by `timeout_seconds`, so a hung Redis never holds a
handshake past the connect budget.

When Redis fails, `failure_mode` decides: `closed` refuses new sessions (503
`shared_state_unavailable`, `/readyz` 503) while open sessions go on; `open`
admits on this replica's own counts and logs a WARNING at most once a minute.
Either way every failure is counted (`relay_shared_state_errors_total{op}`), and
when Redis answers again the renewal registers this replica's leases again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.client_secrets import SecretRecord, SecretStore, SecretStoreFull
from app.errors import SharedStateError
from app.shared.local import LocalState
from app.shared.scripts import ACQUIRE, RENEW, REVOKE_MINTED, STORE_MINTED
from app.shared.state import Lease, utc_day

__all__ = ["PREFIX", "RedisSecretStore", "RedisState"]

logger = logging.getLogger(__name__)

PREFIX = "{relay}:"  # one hash tag: every key in one cluster slot
REPLICAS = PREFIX + "replicas"
SECRETS_INDEX = PREFIX + "secrets"
_USAGE_TTL_SECONDS = 8 * 86400
_WARN_INTERVAL_SECONDS = 60.0
_MAX_UNRELEASED = 100_000  # releases that failed, retried at each renewal

T = TypeVar("T")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def lease_key(key: str) -> str:
    return f"{PREFIX}lease:{key}"


class _Calls:
    """Runs Redis calls within the timeout, turning every failure into `SharedStateError`."""

    def __init__(self, timeout_seconds: float, failed: Callable[[str], None]) -> None:
        self.timeout = timeout_seconds
        self._failed = failed
        self.healthy = True

    async def run(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                result = await call()
        except (RedisError, OSError, TimeoutError) as exc:
            self.healthy = False
            self._failed(op)
            raise SharedStateError(op) from exc
        self.healthy = True
        return result


class RedisSecretStore:
    """Client secrets as Redis hashes under their digest, expiring with them."""

    def __init__(self, client: aioredis.Redis, calls: _Calls, max_outstanding: int) -> None:
        self._client = client
        self._calls = calls
        self._max = max_outstanding
        self._put = client.register_script(STORE_MINTED)
        self._revoke = client.register_script(REVOKE_MINTED)

    async def put(self, record: SecretRecord) -> None:
        fields: list[Any] = [
            "agent",
            record.agent,
            "identity",
            record.identity,
            "backend",
            record.backend,
            "expires_at",
            int(record.expires_at),
            "pinned",
            orjson.dumps(dict(record.pinned)),
        ]
        key = f"{PREFIX}secret:{record.digest}"
        stored = await self._calls.run(
            "secret_put",
            lambda: self._put(
                keys=[SECRETS_INDEX, key],
                args=[record.digest, int(record.expires_at), self._max, *fields],
            ),
        )
        if not stored:
            raise SecretStoreFull("too many client secrets are outstanding")

    async def get(self, digest: str) -> SecretRecord | None:
        key = f"{PREFIX}secret:{digest}"
        raw = await self._calls.run("secret_get", lambda: self._client.hgetall(key))
        found = {_text(name): _text(value) for name, value in raw.items()}
        if not found:
            return None
        expires_at = float(found["expires_at"])
        if expires_at <= time.time():
            return None
        return SecretRecord(
            digest=digest,
            agent=found["agent"],
            identity=found["identity"],
            backend=found["backend"],
            expires_at=expires_at,
            pinned=orjson.loads(found["pinned"]),
        )

    async def revoke(self, digest: str, backend: str) -> bool:
        key = f"{PREFIX}secret:{digest}"
        revoked = await self._calls.run(
            "secret_revoke",
            lambda: self._revoke(keys=[SECRETS_INDEX, key], args=[digest, backend]),
        )
        return bool(revoked)


class RedisState:
    """Leases, usage and secrets in Redis, with a renewal task per replica."""

    def __init__(
        self,
        url: str,
        *,
        failure_mode: Literal["closed", "open"],
        renew_seconds: float,
        timeout_seconds: float,
        max_secrets: int,
        on_error: Callable[[str], None] = lambda op: None,
    ) -> None:
        self.replica = secrets.token_hex(8)
        self._failure_mode = failure_mode
        self._renew_seconds = renew_seconds
        self._expiry = 3 * renew_seconds  # a lease lapses after three missed renewals
        self._on_error = on_error
        self._last_warning = -_WARN_INTERVAL_SECONDS
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),  # one attempt, bounded: the caller decides
            health_check_interval=0,
        )
        self._calls = _Calls(timeout_seconds, self._failed)
        self.secrets: SecretStore = RedisSecretStore(self._client, self._calls, max_secrets)
        self._acquire = self._client.register_script(ACQUIRE)
        self._renew = self._client.register_script(RENEW)
        # This replica's sessions and their lease keys, also the counts `open` mode falls back on.
        self._local = LocalState(max_secrets)
        self._members: dict[str, tuple[str, ...]] = {}  # session id -> lease keys in Redis
        self._unreleased: list[tuple[str, tuple[str, ...]]] = []
        self._task: asyncio.Task[None] | None = None
        self.renewals = 0

    @property
    def healthy(self) -> bool:
        return self._calls.healthy

    @property
    def leases_held(self) -> int:
        return self._local.leases_held

    def _member(self, session_id: str) -> str:
        return f"{self.replica}|{session_id}"

    def _failed(self, op: str) -> None:
        self._on_error(op)
        now = time.monotonic()
        if now - self._last_warning >= _WARN_INTERVAL_SECONDS:
            self._last_warning = now
            logger.warning(
                "shared state (Redis) unavailable during %s; failure mode %s%s",
                op,
                self._failure_mode,
                ": new sessions are refused"
                if self._failure_mode == "closed"
                else ": admitting on this replica's own counts",
            )

    async def start(self) -> None:
        """Register this replica (a failure is counted; the renewal keeps trying)."""
        with contextlib.suppress(SharedStateError):
            await self._renew_once()
        self._task = asyncio.create_task(self._renew_forever(), name="relay-lease-renewal")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._calls.timeout):
                await self._client.zrem(REPLICAS, self.replica)  # our leases lapse at once
        with contextlib.suppress(Exception):
            await self._client.aclose()

    # -- leases ---------------------------------------------------------------------

    async def acquire(self, session_id: str, leases: Sequence[Lease]) -> Lease | None:
        if not leases:
            self._local.take(session_id, leases)
            return None
        keys = [lease_key(lease.key) for lease in leases]
        member = self._member(session_id)
        try:
            full = await self._calls.run(
                "acquire",
                lambda: self._acquire(
                    keys=[REPLICAS, *keys],
                    args=[member, self.replica, self._expiry, *(lease.cap for lease in leases)],
                ),
            )
        except SharedStateError:
            if self._failure_mode == "closed":
                raise
            refused = self._local.full(leases)  # open: this replica's own counts
            if refused is None:
                self._local.take(session_id, leases)
            return refused
        if full:
            return leases[int(full) - 1]
        self._local.take(session_id, leases)
        self._members[session_id] = tuple(keys)
        return None

    async def release(self, session_id: str) -> None:
        self._local.give_back(session_id)
        keys = self._members.pop(session_id, ())
        if not keys:
            return
        member = self._member(session_id)
        try:
            await self._calls.run("release", lambda: self._remove(member, keys))
        except SharedStateError:
            if len(self._unreleased) < _MAX_UNRELEASED:
                self._unreleased.append((member, keys))

    async def _remove(self, member: str, keys: Sequence[str]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, member)
            await pipe.execute()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_seconds)
            with contextlib.suppress(SharedStateError):
                await self._renew_once()

    async def _renew_once(self) -> None:
        """One call per replica per period, whatever its number of sessions; after an outage
        (Redis lost this replica, or it lapsed), the leases of its sessions again."""
        added = await self._calls.run(
            "renew", lambda: self._renew(keys=[REPLICAS], args=[self.replica, self._expiry])
        )
        self.renewals += 1
        if added and self._members:
            await self._calls.run("reregister", self._reregister)
        if self._unreleased:
            pending, self._unreleased = self._unreleased, []
            try:
                await self._calls.run("release", lambda: self._remove_all(pending))
            except SharedStateError:
                self._unreleased = pending + self._unreleased

    async def _reregister(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            now = time.time()
            for session_id, keys in self._members.items():
                for key in keys:
                    pipe.zadd(key, {self._member(session_id): now})
            await pipe.execute()

    async def _remove_all(self, pending: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for member, keys in pending:
                for key in keys:
                    pipe.zrem(key, member)
            await pipe.execute()

    # -- usage ----------------------------------------------------------------------

    async def add_usage(self, identity: str | None, agent: str, tokens: int) -> int:
        day = utc_day()
        by_identity, by_agent = f"{PREFIX}usage:{day}:identity", f"{PREFIX}usage:{day}:agent"

        async def add() -> int:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hincrby(by_agent, agent, tokens)
                pipe.expire(by_agent, _USAGE_TTL_SECONDS)
                if identity is not None:
                    pipe.hincrby(by_identity, identity, tokens)
                    pipe.expire(by_identity, _USAGE_TTL_SECONDS)
                results = await pipe.execute()
            return int(results[2]) if identity is not None else 0

        return await self._calls.run("usage", add)

    async def tokens_today(self, identity: str) -> int:
        key = f"{PREFIX}usage:{utc_day()}:identity"
        value = await self._calls.run("usage", lambda: self._client.hget(key, identity))
        return int(value or 0)
