"""One relayed session: two pumps joined so that when either ends, both end.

The client side is the ASGI WebSocket (uvicorn); the upstream side is an
`UpstreamConnection` (aiohttp). Each client frame is judged by the pure
policy and the original text is forwarded whenever the policy changes
nothing. A timer (one handle, not a task) enforces the session's duration,
idle and backpressure limits; `shutdown` ends it from outside. Each side is
closed exactly once, as `closing.plan_close` says.

Closing rules that keep every word:

- When the relay ends a session (limits, shutdown), it sends the client an
  error event, keeps forwarding what the client sends for
  `NOTICE_GRACE_SECONDS` (frames already in flight), then sends the close
  frame, and only then closes the upstream.
- When the client leaves while a response is in flight, the relay sends
  `response.cancel` and waits up to `USAGE_GRACE_SECONDS` for `response.done`,
  so the response's usage is still counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from app.policy import BINARY_REFUSAL, ClientPolicy, Forward, Refuse, Rewrite, error_event
from app.policy.client import rate_limited
from app.policy.decisions import Decision
from app.policy.ratelimit import TokenBucket
from app.policy.server import decide_server
from app.relay.closing import ClosePlan, EndCause, SessionEnd, plan_close
from app.relay.stats import SessionLimits, SessionStats
from app.upstream import UpstreamClosed, UpstreamConnection

__all__ = ["RelaySession"]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 5.0
NOTICE_GRACE_SECONDS = 0.5
USAGE_GRACE_SECONDS = 5.0
_TRANSCRIPTION_DONE = "conversation.item.input_audio_transcription.completed"
_CANCEL = '{"type":"response.cancel","event_id":"relay_client_gone"}'
_NOTICES = {
    "upstream_closed": "The upstream service closed the connection.",
    "upstream_unresponsive": "The upstream service stopped responding.",
    "session_expired": "The session reached its maximum duration.",
    "idle_timeout": "The session was idle for too long.",
    "backpressure": "The client did not keep up with the audio stream.",
    "server_shutting_down": "The relay is restarting; reconnect to continue.",
}


class RelaySession:
    """Pumps events between one client and its upstream until either side ends."""

    def __init__(
        self,
        client: WebSocket,
        upstream: UpstreamConnection,
        policy: ClientPolicy,
        session_id: str,
        limits: SessionLimits,
        identity: str | None = None,
        early_frames: list[str] | None = None,
    ) -> None:
        self._client = client
        self._upstream = upstream
        self._policy = policy
        self._limits = limits
        self.session_id = session_id
        self.identity = identity
        self.stats = SessionStats()
        self._early = early_frames or []  # upstream frames read before the client was admitted
        self._event_ids = itertools.count(1)
        self._loop = asyncio.get_running_loop()
        self._clock = self._loop.time
        self._started = self._last_client_frame = self._clock()
        self._send_blocked_since: float | None = None
        self._response_in_flight = False
        self._client_close_sent = False
        self._limit_end: asyncio.Future[SessionEnd] = self._loop.create_future()
        self._limit_timer: asyncio.TimerHandle | None = None

    def shutdown(self) -> None:
        """Ask the session to end with `server_shutting_down` (close 1012). Idempotent."""
        self._end_at_limit(EndCause.SHUTDOWN)

    async def run(self) -> SessionEnd:
        """Relay until one side ends, then close both. Never raises, except on cancel."""
        down = asyncio.create_task(self._upstream_to_client(), name=f"{self.session_id}-down")
        up = asyncio.create_task(self._client_to_upstream(), name=f"{self.session_id}-up")
        tasks = [down, up]
        self._check_limits()
        try:
            await asyncio.wait([*tasks, self._limit_end], return_when=asyncio.FIRST_COMPLETED)
            end = _first_end(tasks, self._limit_end)
            plan = plan_close(end)
            # Keep reading the client until its close frame, unless it is gone or stuck.
            keep_reading = (
                plan.client_code is not None
                and plan.upstream_code is not None
                and end.cause is not EndCause.BACKPRESSURE
            )
            await _cancel(down, *(() if keep_reading else (up,)))
            await self._close(end, plan, up if keep_reading else None)
        finally:
            if self._limit_timer is not None:
                self._limit_timer.cancel()
            await _cancel(*tasks)
        self.stats.end = end
        return end

    # -- pumps ------------------------------------------------------------

    async def _client_to_upstream(self) -> SessionEnd:
        receive = self._client.receive
        decide = self._policy.decide
        upstream_send = self._upstream.send
        stats = self.stats
        clock = self._clock
        bucket = TokenBucket(self._limits.events_per_second, self._limits.events_burst, clock())
        debug = logger.isEnabledFor(logging.DEBUG)  # checked once: keeps logging off the hot path
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return SessionEnd(
                    EndCause.CLIENT_CLOSED, message.get("code", 1005), message.get("reason") or ""
                )
            self._last_client_frame = now = clock()
            text: str | None = message.get("text")
            if not bucket.take(now):
                await self._refuse(rate_limited(text))
                continue
            decision: Decision = BINARY_REFUSAL if text is None else decide(text)
            if debug:
                self._debug_event("client_to_upstream", decision, message)
            try:
                if type(decision) is Forward:
                    assert text is not None
                    await upstream_send(text)
                    stats.count_up(decision.event_type, len(text))
                elif type(decision) is Rewrite:
                    await upstream_send(decision.text)
                    stats.count_up(decision.event_type, len(decision.text))
                else:
                    assert type(decision) is Refuse
                    await self._refuse(decision)
            except UpstreamClosed as exc:
                return _upstream_end(exc)

    async def _upstream_to_client(self) -> SessionEnd:
        recv = self._upstream.recv
        send = self._client.send
        stats = self.stats
        clock = self._clock
        debug = logger.isEnabledFor(logging.DEBUG)
        early, self._early = self._early, []
        while True:
            try:
                frame = early.pop(0) if early else await recv()
            except UpstreamClosed as exc:
                return _upstream_end(exc)
            message: dict[str, Any]
            if isinstance(frame, str):
                event_type, out = decide_server(frame)
                if out is None:
                    stats.count_dropped()
                    continue
                message = {"type": "websocket.send", "text": out}
                if event_type == "response.created":
                    self._response_in_flight = True
                elif event_type == "response.done":
                    self._response_in_flight = False
                    stats.record_usage(frame)
                elif event_type == _TRANSCRIPTION_DONE:
                    stats.record_transcription_usage(frame)
            else:  # the protocol is JSON text; a binary frame could hide a session echo
                stats.count_dropped()
                continue
            if debug:
                logger.debug(
                    "event",
                    extra={
                        "fields": {
                            "session_id": self.session_id,
                            "direction": "upstream_to_client",
                            "type": event_type,
                            "bytes": len(frame),
                        }
                    },
                )
            self._send_blocked_since = clock()
            await send(message)
            self._send_blocked_since = None
            stats.count_down(event_type, len(frame))

    def _check_limits(self) -> None:
        """Ends the session at its limits (duration, idling, backpressure), else re-arms."""
        self._limit_timer = None
        limits = self._limits
        now = self._clock()
        deadline = self._started + limits.max_session_seconds
        if now >= deadline:
            self._end_at_limit(EndCause.SESSION_EXPIRED)
            return
        idle_at = self._last_client_frame + limits.idle_timeout_seconds
        if now >= idle_at:
            self._end_at_limit(EndCause.IDLE_TIMEOUT)
            return
        stuck_after = limits.backpressure_timeout_seconds
        blocked = self._send_blocked_since
        if blocked is not None and now - blocked >= stuck_after:
            self._end_at_limit(EndCause.BACKPRESSURE)
            return
        # Wake for the next deadline, and often enough to notice a stuck send.
        wake = min(deadline, idle_at, now + stuck_after / 4)
        self._limit_timer = self._loop.call_at(wake, self._check_limits)

    def _end_at_limit(self, cause: EndCause) -> None:
        if not self._limit_end.done():
            self._limit_end.set_result(SessionEnd(cause))

    # -- closing ----------------------------------------------------------

    async def _close(
        self, end: SessionEnd, plan: ClosePlan, up: asyncio.Task[SessionEnd] | None
    ) -> None:
        """Close both sides as planned, each at most once and within bounded time."""
        if up is not None:
            # Tell the client first and keep forwarding for a moment: uvicorn stops
            # delivering client frames once our close frame is sent, so frames the
            # client sent before it saw the notice must arrive before that.
            await self._notify_client(plan)
            await asyncio.wait([up], timeout=NOTICE_GRACE_SECONDS)
            await self._close_client(plan, notify=False)
            await asyncio.wait([up], timeout=CLOSE_TIMEOUT_SECONDS)
            await self._close_upstream(end, plan)
        else:
            await asyncio.gather(self._close_client(plan), self._close_upstream(end, plan))

    async def _close_upstream(self, end: SessionEnd, plan: ClosePlan) -> None:
        if plan.upstream_code is None:
            return
        if self._response_in_flight:  # whatever the cause: its usage must still be counted
            await self._cancel_response()
        # aiohttp discards frames still queued while it waits (bounded) for the close reply.
        with contextlib.suppress(Exception):
            await self._upstream.close(plan.upstream_code)

    async def _notify_client(self, plan: ClosePlan) -> None:
        """The error event naming why the relay closes, before the close frame."""
        if plan.client_code is None or plan.notify is None:
            return
        notice = Refuse(plan.notify, _NOTICES[plan.notify])
        with contextlib.suppress(Exception, TimeoutError):  # the client may be gone or stuck
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._client.send(
                    {"type": "websocket.send", "text": error_event(self.next_event_id(), notice)}
                )

    async def _close_client(self, plan: ClosePlan, *, notify: bool = True) -> None:
        if plan.client_code is None:
            return
        if notify:
            await self._notify_client(plan)
        self._client_close_sent = True
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._client.close(plan.client_code, plan.client_reason)

    async def _cancel_response(self) -> None:
        """The client left mid-response: cancel it and wait briefly for its usage."""
        with contextlib.suppress(Exception, TimeoutError):
            await self._upstream.send(_CANCEL)
            async with asyncio.timeout(USAGE_GRACE_SECONDS):
                while True:
                    frame = await self._upstream.recv()
                    if isinstance(frame, str):
                        event_type, _ = decide_server(frame)
                        if event_type == "response.done":
                            self.stats.record_usage(frame)
                            return

    # -- helpers ----------------------------------------------------------

    def _debug_event(self, direction: str, decision: Decision, message: Mapping[str, Any]) -> None:
        """One DEBUG line per event: its type, size and fate, never its payload."""
        size = len(message.get("text") or message.get("bytes") or "")
        if isinstance(decision, Refuse):
            event_type, fate = "", f"refused:{decision.code}"
        else:
            event_type = decision.event_type
            fate = "rewritten" if isinstance(decision, Rewrite) else "forwarded"
        logger.debug(
            "event",
            extra={
                "fields": {
                    "session_id": self.session_id,
                    "direction": direction,
                    "type": event_type,
                    "bytes": size,
                    "fate": fate,
                }
            },
        )

    def next_event_id(self) -> str:
        """A relay event id, prefixed with the session id so reports can be matched."""
        return f"{self.session_id}_{next(self._event_ids)}"

    async def _refuse(self, refusal: Refuse) -> None:
        self.stats.count_refused(refusal.code)
        if self._client_close_sent:  # closing: no more frames may go to the client
            return
        await self._client.send(
            {"type": "websocket.send", "text": error_event(self.next_event_id(), refusal)}
        )


async def _cancel(*tasks: asyncio.Task[SessionEnd]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _upstream_end(exc: UpstreamClosed) -> SessionEnd:
    if exc.unresponsive:
        return SessionEnd(EndCause.UPSTREAM_UNRESPONSIVE)
    if exc.code is not None:
        return SessionEnd(EndCause.UPSTREAM_CLOSED, exc.code, exc.reason)
    return SessionEnd(EndCause.UPSTREAM_DROPPED)


def _first_end(
    tasks: list[asyncio.Task[SessionEnd]], limit_end: asyncio.Future[SessionEnd]
) -> SessionEnd:
    """The end reported by the first finished pump, in a fixed order, else the limit's."""
    for task in tasks:
        if task.done() and not task.cancelled():
            exc = task.exception()
            if exc is None:
                return task.result()
            if isinstance(exc, WebSocketDisconnect):  # the client left while we sent
                return SessionEnd(EndCause.CLIENT_CLOSED, exc.code, exc.reason or "")
            if isinstance(exc, OSError):  # uvicorn's ClientDisconnected: the client went away
                return SessionEnd(EndCause.CLIENT_CLOSED, 1006)
            logger.error("relay task failed", exc_info=exc)
            return SessionEnd(EndCause.ERROR)
    if limit_end.done():
        return limit_end.result()
    return SessionEnd(EndCause.ERROR)
