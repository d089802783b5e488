"""Credentials the relay presents upstream. Clients never see them.

    UpstreamCredential (protocol)
    ├── StaticCredential   an `api-key` header, or no header (simulator)
    └── EntraCredential    `Authorization: Bearer`, refreshed in the background

`headers()` is synchronous and never does I/O: the Entra token is fetched
ahead of expiry by a background task owned by the credential, so opening a
session never waits for the identity endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Protocol

from azure.core.credentials import AccessTokenInfo

from app.errors import CredentialUnavailableError

__all__ = [
    "CredentialUnavailableError",
    "EntraCredential",
    "StaticCredential",
    "TokenSource",
    "UpstreamCredential",
]

logger = logging.getLogger(__name__)

_MIN_REFRESH_DELAY_SECONDS = 1.0
_MAX_RETRY_DELAY_SECONDS = 30.0
_EXPIRY_SAFETY_SECONDS = 5.0


class UpstreamCredential(Protocol):
    @property
    def usable(self) -> bool:
        """Whether `headers()` would succeed now."""
        ...

    def headers(self) -> dict[str, str]:
        """Headers for one upstream handshake. Raises `CredentialUnavailableError`."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class StaticCredential:
    """A fixed header set: `{"api-key": key}`, or nothing at all."""

    def __init__(self, api_key: str | None) -> None:
        self._headers = {"api-key": api_key} if api_key else {}

    @property
    def usable(self) -> bool:
        return True

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class TokenSource(Protocol):
    """The seam to azure-identity: `DefaultAzureCredential` satisfies it."""

    async def get_token_info(self, *scopes: str) -> AccessTokenInfo: ...

    async def close(self) -> None: ...


class EntraCredential:
    """A Bearer token from Entra ID, kept fresh by a background task.

    The task refreshes at the token's `refresh_on` when the identity endpoint
    gives one, and otherwise `refresh_margin_seconds` before `expires_on`.
    A failed refresh keeps the cached token while it is valid and retries
    with jittered backoff (1 s doubling to 30 s). `start()` waits at most
    `first_token_timeout_seconds` for the first token; if none comes, the
    relay still starts and sessions get 503 until one arrives.
    """

    def __init__(
        self,
        source: TokenSource,
        scope: str,
        *,
        refresh_margin_seconds: float,
        first_token_timeout_seconds: float,
    ) -> None:
        self._source = source
        self._scope = scope
        self._margin = refresh_margin_seconds
        self._first_timeout = first_token_timeout_seconds
        self._token: AccessTokenInfo | None = None
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0

    @property
    def usable(self) -> bool:
        token = self._token
        return token is not None and token.expires_on - _EXPIRY_SAFETY_SECONDS > time.time()

    def headers(self) -> dict[str, str]:
        if not self.usable:
            raise CredentialUnavailableError("no valid Entra ID token")
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.token}"}

    async def wait_first_token(self) -> None:
        """Return once a token has been fetched (immediately if one has)."""
        await self._first.wait()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="entra-token-refresh")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._first_timeout):
                await self._first.wait()
        if not self.usable:
            logger.error("no Entra ID token yet; sessions get 503 until one is fetched")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._source.close()

    async def _refresh_forever(self) -> None:
        failures = 0
        while True:
            try:
                token = await self._source.get_token_info(self._scope)
            except Exception as exc:  # any failure: keep the cached token, retry
                failures += 1
                delay = min(_MAX_RETRY_DELAY_SECONDS, 2.0 ** (failures - 1))
                delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
                logger.warning(
                    "Entra ID token refresh failed (%s); retrying in %.1f s%s",
                    type(exc).__name__,
                    delay,
                    "" if self.usable else "; no valid token, sessions get 503",
                )
            else:
                failures = 0
                if self._token is None or token.token != self._token.token:
                    self.refreshes += 1
                self._token = token
                self._first.set()
                delay = self._next_delay(token)
            await asyncio.sleep(delay)

    def _next_delay(self, token: AccessTokenInfo) -> float:
        due = token.expires_on - self._margin
        if token.refresh_on is not None:
            due = min(due, token.refresh_on)
        return max(_MIN_REFRESH_DELAY_SECONDS, due - time.time())
