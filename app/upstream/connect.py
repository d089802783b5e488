"""Opening the upstream WebSocket, with retries inside one time budget.

Failures become an `UpstreamError` carrying the HTTP status the client's
upgrade is answered with:

    UpstreamError
    ├── 502  refused connection, unreachable host, 401/403, 5xx, other 4xx
    ├── 503  429 from the upstream (with Retry-After), or no usable credential
    └── 504  the budget ran out
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from app.config import is_loopback_host
from app.upstream.credentials import CredentialUnavailableError, UpstreamCredential
from app.upstream.target import UpstreamTarget

__all__ = ["UpstreamError", "UpstreamOptions", "open_upstream"]

logger = logging.getLogger(__name__)

_USER_AGENT = "azure-openai-realtime-relay"
_FIRST_BACKOFF_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 2.0
_AUTH_LOG_INTERVAL_SECONDS = 60.0


class UpstreamError(Exception):
    """The upstream handshake failed; `status` is the HTTP status for the client."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    """Connection settings; every duration is in seconds."""

    connect_timeout_seconds: float
    max_message_bytes: int
    ping_interval_seconds: float
    ping_timeout_seconds: float
    close_timeout_seconds: float = 5.0
    max_queue: int = 16


class _Retry(Exception):
    def __init__(self, error: UpstreamError, delay: float | None = None) -> None:
        self.error = error
        self.delay = delay


_last_auth_log = 0.0


def _log_auth_failure(status: int) -> None:
    """ERROR once per burst: a 401/403 means the relay itself is misconfigured."""
    global _last_auth_log
    now = time.monotonic()
    if now - _last_auth_log >= _AUTH_LOG_INTERVAL_SECONDS:
        _last_auth_log = now
        logger.error(
            "upstream refused the relay's credential (HTTP %d): check AZURE_OPENAI_API_KEY "
            "or the managed identity's role assignment",
            status,
        )


async def open_upstream(
    target: UpstreamTarget, credential: UpstreamCredential, options: UpstreamOptions
) -> ClientConnection:
    """Dial the upstream, retrying refusals, 429 and 5xx within the budget.

    401 and 403 are never retried. Raises `UpstreamError`. Cancelling is safe:
    a half-open connection is closed by the websockets library.
    """
    budget = options.connect_timeout_seconds
    deadline = time.monotonic() + budget
    attempt = 0
    last: UpstreamError | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise last or UpstreamError(504, "the upstream did not answer in time")
        try:
            async with asyncio.timeout(remaining):
                return await _dial(target, credential, options)
        except TimeoutError:
            raise UpstreamError(504, "the upstream did not answer in time") from None
        except _Retry as retry:
            last = retry.error
            attempt += 1
            delay = retry.delay
            if delay is None:
                delay = min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2**attempt)
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
            if time.monotonic() + delay >= deadline:
                raise last from None
            await asyncio.sleep(delay)


async def _dial(
    target: UpstreamTarget, credential: UpstreamCredential, options: UpstreamOptions
) -> ClientConnection:
    try:
        headers = credential.headers()
    except CredentialUnavailableError:
        raise UpstreamError(503, "the relay has no valid upstream credential", 5) from None
    try:
        return await connect(
            target.url,
            additional_headers=headers,
            compression=None,
            max_size=options.max_message_bytes,
            max_queue=options.max_queue,
            open_timeout=None,  # the caller's budget bounds the whole dial
            ping_interval=options.ping_interval_seconds,
            ping_timeout=options.ping_timeout_seconds,
            close_timeout=options.close_timeout_seconds,
            user_agent_header=_USER_AGENT,
            proxy=None if is_loopback_host(target.host) else True,
        )
    except InvalidStatus as exc:
        raise _status_error(
            exc.response.status_code, exc.response.headers.get("Retry-After")
        ) from None
    except (InvalidURI, InvalidHandshake) as exc:
        raise UpstreamError(502, f"the upstream handshake failed ({type(exc).__name__})") from None
    except OSError:
        raise _Retry(UpstreamError(502, "the upstream refused the connection")) from None


def _status_error(status: int, retry_after: str | None) -> Exception:
    if status in (401, 403):
        _log_auth_failure(status)
        return UpstreamError(502, f"the upstream refused the relay's credential ({status})")
    if status == 429:
        seconds = _parse_retry_after(retry_after)
        return _Retry(UpstreamError(503, "the upstream is rate limiting", seconds or 1), seconds)
    if status >= 500:
        return _Retry(UpstreamError(502, f"the upstream failed ({status})"))
    return UpstreamError(502, f"the upstream rejected the handshake ({status})")


def _parse_retry_after(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return max(0, int(value.strip()))
    except ValueError:
        return None
