"""Opening the upstream WebSocket, with retries inside one time budget.

Failures become an `UpstreamUnavailable` (`app.errors`), the refusal the
client's upgrade is answered with:

    UpstreamUnavailable
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

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from app.errors import CredentialUnavailableError, UpstreamUnavailable
from app.net import is_loopback_host
from app.upstream.connection import UpstreamConnection
from app.upstream.credentials import UpstreamCredential
from app.upstream.target import UpstreamTarget

__all__ = ["Dialer", "UpstreamOptions"]

logger = logging.getLogger(__name__)

_USER_AGENT = "azure-openai-realtime-relay"
_FIRST_BACKOFF_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 2.0
_AUTH_LOG_INTERVAL_SECONDS = 60.0
_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
_NO_REQUEST = aiohttp.RequestInfo(URL(), "GET", _NO_HEADERS, URL())


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    """Connection settings; every duration is in seconds."""

    connect_timeout_seconds: float
    max_message_bytes: int
    ping_interval_seconds: float
    ping_timeout_seconds: float
    close_timeout_seconds: float = 5.0


class _Retry(Exception):
    def __init__(self, error: UpstreamUnavailable, delay: float | None = None) -> None:
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


class Dialer:
    """Opens upstream connections over one shared aiohttp session.

    One session means one connector and one DNS cache for every upstream
    connection. Proxies come from the environment (HTTPS_PROXY, NO_PROXY)
    unless the upstream is on loopback (the simulator).
    """

    def __init__(
        self, target: UpstreamTarget, credential: UpstreamCredential, options: UpstreamOptions
    ) -> None:
        self.target = target
        self.credential = credential
        self.options = options
        self._http: aiohttp.ClientSession | None = None
        self._ws_timeout = aiohttp.ClientWSTimeout(
            ws_receive=None, ws_close=options.close_timeout_seconds
        )

    async def start(self) -> None:
        """Create the HTTP session (it needs the running loop)."""
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None),  # `open` bounds the whole dial
            trust_env=not is_loopback_host(self.target.host),
            headers={"User-Agent": _USER_AGENT},
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def open(self) -> UpstreamConnection:
        """Dial the upstream, retrying refusals, 429 and 5xx within the budget.

        401 and 403 are never retried. Raises `UpstreamUnavailable`. Cancelling is
        safe: aiohttp closes a half-open connection.
        """
        budget = self.options.connect_timeout_seconds
        deadline = time.monotonic() + budget
        attempt = 0
        last: UpstreamUnavailable | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise last or UpstreamUnavailable(504, "the upstream did not answer in time")
            try:
                async with asyncio.timeout(remaining):
                    return await self._dial()
            except TimeoutError:
                raise UpstreamUnavailable(504, "the upstream did not answer in time") from None
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

    async def _dial(self) -> UpstreamConnection:
        assert self._http is not None, "Dialer.start() was not called"
        options = self.options
        try:
            headers = self.credential.headers()
        except CredentialUnavailableError:
            raise UpstreamUnavailable(
                503, "the relay has no valid upstream credential", 5
            ) from None
        try:
            ws = await self._http.ws_connect(
                self.target.url,
                headers=headers,
                compress=0,
                max_msg_size=options.max_message_bytes,
                autoping=False,  # UpstreamConnection answers pings and runs the keepalive
                autoclose=True,
                decode_text=False,  # UpstreamConnection decodes only what is not ASCII
                timeout=self._ws_timeout,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 101:  # upgraded, but not a valid WebSocket handshake
                raise UpstreamUnavailable(502, "the upstream handshake failed") from None
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            raise _status_error(exc.status, retry_after) from None
        except (aiohttp.InvalidURL, aiohttp.ClientPayloadError, aiohttp.ClientResponseError):
            raise UpstreamUnavailable(502, "the upstream handshake failed") from None
        except (aiohttp.ClientError, OSError):
            raise _Retry(UpstreamUnavailable(502, "the upstream refused the connection")) from None
        forget_handshake(ws)
        return UpstreamConnection(ws, options.ping_interval_seconds, options.ping_timeout_seconds)


def forget_handshake(ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
    """Let go of what aiohttp keeps of the upgrade for as long as the connection is open.

    Its response holds the upgrade's parsed headers and the request's, the
    upstream credential among them, and the connection's HTTP parser holds the
    header lists of the last response it read, the 101: about 2.7 KiB per session,
    and a copy of the api-key or token in every session's memory. Nothing reads
    any of it once the upgrade is done: the frames go to the WebSocket reader,
    and a lost connection is handled without the parser (private attributes in
    aiohttp==3.14.5, which is pinned).
    """
    response = ws._response
    response._cache.clear()  # the headers, as the `headers` property cached them
    response._headers = _NO_HEADERS
    response._raw_headers = ()
    response._request_info = _NO_REQUEST
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is not None and protocol.upgraded:  # the HTTP parser is never used again
        protocol._parser = None


def _status_error(status: int, retry_after: str | None) -> Exception:
    if status in (401, 403):
        _log_auth_failure(status)
        return UpstreamUnavailable(502, f"the upstream refused the relay's credential ({status})")
    if status == 429:
        seconds = _parse_retry_after(retry_after)
        return _Retry(
            UpstreamUnavailable(503, "the upstream is rate limiting", seconds or 1), seconds
        )
    if status >= 500:
        return _Retry(UpstreamUnavailable(502, f"the upstream failed ({status})"))
    return UpstreamUnavailable(502, f"the upstream rejected the handshake ({status})")


def _parse_retry_after(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return max(0, int(value.strip()))
    except ValueError:
        return None
