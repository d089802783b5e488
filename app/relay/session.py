"""One relayed session: two pumps joined so that when either ends, both end.

The client side is the ASGI WebSocket (uvicorn); the upstream side is a
`websockets` client connection. Each frame is judged by the pure policy; the
original text is forwarded whenever the policy changes nothing. Each side is
closed exactly once, as `closing.plan_close` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field

from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.policy import BINARY_REFUSAL, ClientPolicy, Forward, Refuse, Rewrite, error_event
from app.policy.decisions import Decision
from app.policy.ratelimit import TokenBucket
from app.policy.server import decide_server
from app.relay.closing import EndCause, SessionEnd, plan_close

__all__ = ["RelaySession", "SessionLimits", "SessionStats"]

logger = logging.getLogger(__name__)

_KEEPALIVE_REASON = "keepalive ping timeout"
_RATE_LIMITED = Refuse("rate_limited", "Too many events; this one was not forwarded.")


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Per-session limits; durations in seconds."""

    events_per_second: float
    events_burst: int
    max_session_seconds: float
    idle_timeout_seconds: float


@dataclass(slots=True)
class SessionStats:
    """Plain counters, cheap enough to bump per event."""

    client_events: int = 0
    client_bytes: int = 0
    upstream_events: int = 0
    upstream_bytes: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class RelaySession:
    """Pumps events between one client and its upstream until either side ends."""

    def __init__(
        self,
        client: WebSocket,
        upstream: ClientConnection,
        policy: ClientPolicy,
        session_id: str,
        limits: SessionLimits,
    ) -> None:
        self._client = client
        self._limits = limits
        self._clock = asyncio.get_running_loop().time
        self._started = self._last_client_frame = self._clock()
        self._upstream = upstream
        self._policy = policy
        self.session_id = session_id
        self.stats = SessionStats()
        self._event_ids = itertools.count(1)

    async def run(self) -> SessionEnd:
        """Relay until one side ends, then close both. Never raises, except on cancel."""
        pumps = [
            asyncio.create_task(self._upstream_to_client(), name=f"{self.session_id}-down"),
            asyncio.create_task(self._client_to_upstream(), name=f"{self.session_id}-up"),
            asyncio.create_task(self._watchdog(), name=f"{self.session_id}-limits"),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        end = _first_end(pumps)
        await self._close(end)
        return end

    # -- pumps ------------------------------------------------------------

    async def _client_to_upstream(self) -> SessionEnd:
        receive = self._client.receive
        decide = self._policy.decide
        upstream_send = self._upstream.send
        stats = self.stats
        clock = self._clock
        bucket = TokenBucket(self._limits.events_per_second, self._limits.events_burst, clock())
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return SessionEnd(
                    EndCause.CLIENT_CLOSED, message.get("code", 1005), message.get("reason") or ""
                )
            self._last_client_frame = now = clock()
            if not bucket.take(now):
                await self._refuse(_RATE_LIMITED)
                continue
            text: str | None = message.get("text")
            decision: Decision = BINARY_REFUSAL if text is None else decide(text)
            try:
                if type(decision) is Forward:
                    assert text is not None
                    await upstream_send(text)
                    stats.client_events += 1
                    stats.client_bytes += len(text)
                elif type(decision) is Rewrite:
                    await upstream_send(decision.text)
                    stats.client_events += 1
                    stats.client_bytes += len(decision.text)
                else:
                    assert type(decision) is Refuse
                    await self._refuse(decision)
            except ConnectionClosed as exc:
                return _upstream_end(exc)

    async def _upstream_to_client(self) -> SessionEnd:
        recv = self._upstream.recv
        send = self._client.send
        stats = self.stats
        while True:
            try:
                frame = await recv()
            except ConnectionClosed as exc:
                return _upstream_end(exc)
            if isinstance(frame, str):
                _event_type, replacement = decide_server(frame)
                out = frame if replacement is None else replacement
                await send({"type": "websocket.send", "text": out})
            else:
                await send({"type": "websocket.send", "bytes": frame})
            stats.upstream_events += 1
            stats.upstream_bytes += len(frame)

    async def _watchdog(self) -> SessionEnd:
        """Ends the session at its maximum duration, or after idling too long."""
        deadline = self._started + self._limits.max_session_seconds
        idle = self._limits.idle_timeout_seconds
        while True:
            now = self._clock()
            if now >= deadline:
                return SessionEnd(EndCause.SESSION_EXPIRED)
            idle_at = self._last_client_frame + idle
            if now >= idle_at:
                return SessionEnd(EndCause.IDLE_TIMEOUT)
            await asyncio.sleep(min(deadline, idle_at) - now)

    # -- helpers ----------------------------------------------------------

    def next_event_id(self) -> str:
        """A relay event id, prefixed with the session id so reports can be matched."""
        return f"{self.session_id}_{next(self._event_ids)}"

    async def _refuse(self, refusal: Refuse) -> None:
        refused = self.stats.refused
        refused[refusal.code] = refused.get(refusal.code, 0) + 1
        await self._client.send(
            {"type": "websocket.send", "text": error_event(self.next_event_id(), refusal)}
        )

    async def _close(self, end: SessionEnd) -> None:
        plan = plan_close(end)
        if plan.client_code is not None:
            with contextlib.suppress(Exception):  # the client may already be gone
                if plan.notify is not None:
                    await self._refuse(Refuse(plan.notify, _NOTICES[plan.notify]))
                await self._client.close(plan.client_code, plan.client_reason)
        if plan.upstream_code is not None:
            with contextlib.suppress(Exception):
                await self._upstream.close(plan.upstream_code)


_NOTICES = {
    "upstream_closed": "The upstream service closed the connection.",
    "upstream_unresponsive": "The upstream service stopped responding.",
    "session_expired": "The session reached its maximum duration.",
    "idle_timeout": "The session was idle for too long.",
    "backpressure": "The client did not keep up with the audio stream.",
    "server_shutting_down": "The relay is restarting; reconnect to continue.",
}


def _upstream_end(exc: ConnectionClosed) -> SessionEnd:
    if exc.rcvd is not None:
        return SessionEnd(EndCause.UPSTREAM_CLOSED, exc.rcvd.code, exc.rcvd.reason)
    if exc.sent is not None and exc.sent.reason == _KEEPALIVE_REASON:
        return SessionEnd(EndCause.UPSTREAM_UNRESPONSIVE)
    return SessionEnd(EndCause.UPSTREAM_DROPPED)


def _first_end(pumps: list[asyncio.Task[SessionEnd]]) -> SessionEnd:
    """The end reported by the first finished task, in a fixed order."""
    for pump in pumps:
        if pump.done() and not pump.cancelled():
            exc = pump.exception()
            if exc is None:
                return pump.result()
            if not isinstance(exc, OSError):
                logger.error("relay pump failed", exc_info=exc)
                return SessionEnd(EndCause.ERROR)
            return SessionEnd(EndCause.CLIENT_CLOSED, 1006)
    return SessionEnd(EndCause.ERROR)
