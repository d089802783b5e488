"""One relayed session's I/O shell: two pumps joined so that when either ends, both end.

Every decision is the pure `SessionCore`'s (`app.relay.core`); this module
only reads, writes, waits and closes. The client side is the ASGI WebSocket
(uvicorn), the upstream side an `UpstreamConnection` (aiohttp), each behind a
small Protocol seam. Where the server offers it (`AsgiClient.lane`), the
client pump has a synchronous lane: a client frame read while the pump waits
is judged and written upstream inside the server's read, with no task woken;
whatever must wait still goes through the pump, in order. A timer (one handle,
not a task) ticks the core's limits;
`shutdown` ends the session from outside. Each side is closed exactly once,
in the order the core's `Closing` gives, every step bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol

from starlette.websockets import WebSocketDisconnect

from app.guardrails.checker import GuardrailChecker
from app.guardrails.gate import GuardrailGate
from app.guardrails.runner import SessionGuardrails
from app.policy import ClientPolicy, Forward, Rewrite
from app.policy.server import decide_server
from app.relay.client import ASCII_TEXT, Lane
from app.relay.closing import CLOSE_ABNORMAL, CLOSE_NO_STATUS, EndCause, SessionEnd
from app.relay.core import Closing, SendClient, SessionCore
from app.relay.limits import SessionLimits
from app.relay.stats import SessionStats
from app.timers import Timer, timers
from app.tools.caller import ToolCaller
from app.tools.runner import SessionTools
from app.tools.tracker import ToolTracker
from app.upstream import UpstreamClosed

__all__ = ["ClientSocket", "RelaySession", "UpstreamSocket"]

# Messages the lane queues for its pump, beside the server's own.
_JUDGED = "relay.judged"  # a frame the core has judged: carry out its `command`
_FAILED = "relay.failed"  # the lane raised `error`

logger = logging.getLogger(__name__)


class ClientSocket(Protocol):
    """The client's side in ASGI messages (`AsgiClient`)."""

    def receive(self) -> Awaitable[MutableMapping[str, Any]]: ...

    def send(self, message: MutableMapping[str, Any], /) -> Awaitable[None]: ...

    def close(self, code: int = ..., reason: str | None = None) -> Awaitable[None]: ...

    @property
    def ascii_text(self) -> bool:
        """Whether `send` takes a text message as its ASCII bytes (`ASCII_TEXT`)."""
        ...

    def waiting(self) -> bool:
        """Whether another client message is already read, so `receive` will not wait."""
        ...

    def lane(self, receiver: Lane | None) -> None:
        """Give `receiver` each text message as it is read, where the server can; None: stop."""
        ...


class UpstreamSocket(Protocol):
    """The upstream's side, as `UpstreamConnection` offers it; errors are `UpstreamClosed`.

    Both receives give None for a binary frame; `recv_raw` gives an all-ASCII text
    frame as its bytes."""

    async def send(self, text: str, more: bool = False) -> None: ...

    def ready(self) -> bool:
        """Whether `write` may be called now: open, and not held back by flow control."""
        ...

    def write(self, text: str, more: bool = False) -> None:
        """`send` without its wait, for when `ready` has just said so."""
        ...

    async def recv(self) -> str | None: ...

    async def recv_raw(self) -> str | bytes | None: ...

    async def close(self, code: int) -> None: ...


class RelaySession:
    """Pumps events between one client and its upstream until either side ends."""

    def __init__(
        self,
        client: ClientSocket,
        upstream: UpstreamSocket,
        policy: ClientPolicy,
        session_id: str,
        limits: SessionLimits,
        identity: str | None = None,
        early_frames: list[str] | None = None,
        tools: ToolCaller | None = None,
        tool_names: frozenset[str] | None = None,
        agent: str = "default",
        on_usage: Callable[[RelaySession, int], None] | None = None,
        guardrails: GuardrailChecker | None = None,
    ) -> None:
        self._client = client
        self.agent = agent
        # Told of each increase of the session's tokens (shared usage and budgets).
        self._on_usage = on_usage
        self._tokens_reported = 0
        self._upstream = upstream
        self.session_id = session_id
        self.identity = identity
        self._loop = asyncio.get_running_loop()
        self._clock = self._loop.time
        tracker = None
        if tools is not None:
            # The relay's own event ids carry a secret, so a client cannot claim one.
            prefix = f"relay_tool_{secrets.token_hex(6)}_"
            names = tools.names if tool_names is None else tool_names
            tracker = ToolTracker(names, limits.tool_max_concurrent_calls, prefix)
        gate = None
        if guardrails is not None:
            config = guardrails.guardrails
            gate = GuardrailGate(
                prefix=f"relay_guard_{secrets.token_hex(6)}_",
                refusal=config.refusal,
                max_violations=config.max_violations,
                blocklist=config.blocked if config.blocklist else None,
                check_output=config.url is not None,
                delivered_ms=lambda item_id: self.core.audio.delivered_ms(item_id),
            )
        self.core = SessionCore(policy, limits, session_id, self._clock(), tracker, gate)
        self._guard: SessionGuardrails | None = None
        if guardrails is not None and gate is not None:
            self._guard = SessionGuardrails(
                guardrails,
                gate,
                send_upstream=upstream.send,
                send_client=self._send_error,
                end=self.end_policy_violation,
                session_id=session_id,
                identity=identity,
                agent=agent,
            )
        self._tools: SessionTools | None = None
        if tools is not None and tracker is not None:
            count = self.core.stats.count_tool_call
            self._tools = SessionTools(tools, tracker, count, upstream.send, session_id, identity)
        self._early = early_frames or []  # upstream frames read before the client was admitted
        self._limit_end: SessionEnd | None = None  # the first end asked for from outside
        # Set when a pump ends or an end is asked for: the join of the two pumps.
        self._wake: asyncio.Future[None] = self._loop.create_future()
        self._timers = timers(self._loop)  # one loop timer for every session's deadlines
        self._limit_timer: Timer | None = None

    @property
    def stats(self) -> SessionStats:
        return self.core.stats

    def shutdown(self) -> None:
        """Ask the session to end with `server_shutting_down` (close 1012). Idempotent."""
        self._end_at_limit(self.core.shutdown())

    def end_policy_violation(self) -> None:
        """Ask the session to end with `policy_violation` (close 1008). Idempotent."""
        self._end_at_limit(self.core.policy_violation())

    @property
    def guardrail_blocks(self) -> int:
        guard = self.core.guard
        return guard.blocks if guard is not None else 0

    async def _send_error(self, code: str, message: str) -> None:
        text = self.core.client_error(code, message)
        await self._client.send({"type": "websocket.send", "text": text})

    def exhaust_budget(self) -> None:
        """Ask the session to end with `budget_exhausted` (close 1008). Idempotent."""
        self._end_at_limit(self.core.budget_exhausted())

    def _report_usage(self) -> None:
        tokens = self.core.stats.tokens
        if tokens != self._tokens_reported and self._on_usage is not None:
            added, self._tokens_reported = tokens - self._tokens_reported, tokens
            self._on_usage(self, added)

    async def run(self) -> SessionEnd:
        """Relay until one side ends, then close both. Never raises, except on cancel."""
        down = asyncio.create_task(self._upstream_to_client(), name=f"{self.session_id}-down")
        up = asyncio.create_task(self._client_to_upstream(), name=f"{self.session_id}-up")
        tasks = [down, up]
        down.add_done_callback(self._wake_up)  # cheaper to hold than asyncio.wait's waiter
        up.add_done_callback(self._wake_up)
        self._tick()
        try:
            await self._wake
            end = _first_end(tasks, self._limit_end)
            if self._tools is not None:
                await self._tools.aclose()  # calls still running are aborted
            if self._guard is not None:
                await self._guard.aclose()
            closing = self.core.closing(end)
            keep_reading = closing.keep_reading_seconds is not None
            await _cancel(down, *(() if keep_reading else (up,)))
            await self._close(closing, up if keep_reading else None)
            self._report_usage()  # a cancelled response's usage, read while closing
        finally:
            if self._limit_timer is not None:
                self._limit_timer.cancel()
            await _cancel(*tasks)
            if self._tools is not None:
                await self._tools.aclose()
        self.stats.end = end
        return end

    # -- pumps ------------------------------------------------------------

    async def _client_to_upstream(self) -> SessionEnd:
        receive = self._client.receive
        waiting = self._client.waiting  # another client frame is already read
        upstream_send = self._upstream.send
        frame_in = self.core.client_frame
        clock = self._clock
        debug = logger.isEnabledFor(logging.DEBUG)  # checked once: keeps logging off the hot path
        guard = self._guard
        guard_commands = self.core.guard.commands if self.core.guard is not None else []
        lane = self._client.lane
        if not debug:  # at DEBUG every frame comes here, for its line
            lane(self._lane)
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text: str | None = message.get("text")
                    command = frame_in(text, clock())
                    if guard is not None and guard_commands:
                        guard.dispatch()
                    if debug:
                        self._debug_event("client_to_upstream", command, message)
                elif kind == _JUDGED:
                    command = message["command"]
                elif kind == _FAILED:
                    failure: Exception = message["error"]
                    if isinstance(failure, UpstreamClosed):
                        return _upstream_end(failure)
                    raise failure
                else:
                    return SessionEnd(
                        EndCause.CLIENT_CLOSED,
                        message.get("code", CLOSE_NO_STATUS),
                        message.get("reason") or "",
                    )
                try:
                    if type(command) is Forward:
                        assert text is not None
                        await upstream_send(text, waiting())
                    elif type(command) is Rewrite:
                        await upstream_send(command.text, waiting())
                    elif type(command) is SendClient:
                        await self._client.send({"type": "websocket.send", "text": command.text})
                except UpstreamClosed as exc:
                    return _upstream_end(exc)
        finally:
            lane(None)  # the pump is done: nothing more is taken from the client

    def _lane(self, text: str, more: bool) -> MutableMapping[str, Any] | None:
        """The client pump's synchronous lane (`AsgiClient.lane`).

        The server's protocol calls it inside its read, for a text frame with
        nothing queued before it, so no task wakes per event. While the upstream
        takes writes, the frame is judged and a forward or rewrite written at
        once; `more` (bytes of the same read follow) lets a burst share one
        write. What must wait goes to the pump, queued in order behind nothing:
        the frame itself, unjudged, while the upstream is held back by flow
        control or closing (the pump then waits for it, and reading stops); a
        refusal to send the client (`_JUDGED`); anything raised (`_FAILED`).
        A method, not a closure: it is held by every open session.
        """
        upstream = self._upstream
        if not upstream.ready():
            return {"type": "websocket.receive", "text": text}
        core = self.core
        try:
            command = core.client_frame(text, self._clock())
            if core.guard is not None and core.guard.commands and self._guard is not None:
                self._guard.dispatch()
            if type(command) is Forward:
                upstream.write(text, more)
            elif type(command) is Rewrite:
                upstream.write(command.text, more)
            elif type(command) is SendClient:
                return {"type": _JUDGED, "command": command}
        except Exception as exc:  # raised by the pump, as if it had run there
            return {"type": _FAILED, "error": exc}
        return None

    async def _upstream_to_client(self) -> SessionEnd:
        recv = self._upstream.recv_raw
        send = self._client.send
        # An audio delta in bytes is sent in bytes where the server takes them.
        ascii_text = self._client.ascii_text
        frame_in = self.core.upstream_frame
        sending, sent = self.core.client_sending, self.core.client_sent
        clock = self._clock
        debug = logger.isEnabledFor(logging.DEBUG)
        early, self._early = self._early, []
        tools = self._tools
        commands = self.core.tools.commands if self.core.tools is not None else []
        stats = self.core.stats
        on_usage = self._on_usage
        guard = self._guard
        guard_commands = self.core.guard.commands if self.core.guard is not None else []
        while True:
            try:
                frame: str | bytes | None = early.pop(0) if early else await recv()
            except UpstreamClosed as exc:
                return _upstream_end(exc)
            out = frame_in(frame)
            if guard is not None and guard_commands:
                guard.dispatch()
            if on_usage is not None and stats.tokens != self._tokens_reported:
                self._report_usage()  # once per response.done, never blocking this pump
            if commands:
                assert tools is not None
                tools.dispatch()  # never awaits: calls and their outputs run beside the pumps
            if debug:
                self._debug_upstream(frame, out)
            if out is None:
                continue
            sending(clock())
            if isinstance(out, str):
                await send({"type": "websocket.send", "text": out})
            elif ascii_text:
                await send({"type": "websocket.send", ASCII_TEXT: out})
            else:
                await send({"type": "websocket.send", "text": out.decode("ascii")})
            sent()

    # -- limits -----------------------------------------------------------

    def _tick(self) -> None:
        self._limit_timer = None
        result = self.core.tick(self._clock())
        if isinstance(result, SessionEnd):
            self._end_at_limit(result)
        else:
            self._limit_timer = self._timers.call_at(result, self._tick)

    def _end_at_limit(self, end: SessionEnd) -> None:
        if self._limit_end is None:
            self._limit_end = end
        self._wake_up()

    def _wake_up(self, _: object = None) -> None:
        if not self._wake.done():
            self._wake.set_result(None)

    # -- closing ----------------------------------------------------------

    async def _close(self, closing: Closing, up: asyncio.Task[SessionEnd] | None) -> None:
        """Close both sides as the core planned, each at most once and within bounded time."""
        if up is not None:
            # Tell the client first and keep forwarding for a moment: uvicorn stops
            # delivering client frames once our close frame is sent, so frames the
            # client sent before it saw the notice must arrive before that.
            assert closing.keep_reading_seconds is not None
            await self._notify_client(closing)
            await asyncio.wait([up], timeout=closing.keep_reading_seconds)
            await self._close_client(closing)
            await asyncio.wait([up], timeout=closing.timeout_seconds)
            await self._close_upstream(closing)
        else:
            await asyncio.gather(
                self._notify_then_close_client(closing), self._close_upstream(closing)
            )

    async def _notify_then_close_client(self, closing: Closing) -> None:
        await self._notify_client(closing)
        await self._close_client(closing)

    async def _notify_client(self, closing: Closing) -> None:
        if closing.notice is None:
            return
        with contextlib.suppress(Exception, TimeoutError):  # the client may be gone or stuck
            async with asyncio.timeout(closing.timeout_seconds):
                await self._client.send({"type": "websocket.send", "text": closing.notice})

    async def _close_client(self, closing: Closing) -> None:
        if closing.client is None:
            return
        self.core.closing_client()
        code, reason = closing.client
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(closing.timeout_seconds):
                await self._client.close(code, reason)

    async def _close_upstream(self, closing: Closing) -> None:
        if closing.upstream_code is None:
            return
        if closing.cancel is not None:
            await self._cancel_response(closing)
        # aiohttp discards frames still queued while it waits (bounded) for the close reply.
        with contextlib.suppress(Exception):
            await self._upstream.close(closing.upstream_code)

    async def _cancel_response(self, closing: Closing) -> None:
        """Cancel the response in flight and wait briefly for its usage."""
        assert closing.cancel is not None
        with contextlib.suppress(Exception, TimeoutError):
            await self._upstream.send(closing.cancel)
            async with asyncio.timeout(closing.usage_grace_seconds):
                while not self.core.usage_frame(await self._upstream.recv()):
                    pass

    # -- helpers ----------------------------------------------------------

    def _debug_upstream(self, frame: str | bytes | None, out: str | bytes | None) -> None:
        """One DEBUG line per upstream frame: its type, size and fate, never its payload."""
        text = frame.decode("ascii") if isinstance(frame, bytes) else frame
        logger.debug(
            "event",
            extra={
                "fields": {
                    "session_id": self.session_id,
                    "direction": "upstream_to_client",
                    # judged again, at DEBUG only: the hot path reads the type once
                    "type": "" if text is None else decide_server(text).event_type,
                    "bytes": 0 if frame is None else len(frame),
                    "fate": "dropped" if out is None else "forwarded",
                }
            },
        )

    def _debug_event(self, direction: str, command: object, message: Mapping[str, Any]) -> None:
        """One DEBUG line per event: its type, size and fate, never its payload."""
        size = len(message.get("text") or message.get("bytes") or "")
        if isinstance(command, Forward | Rewrite):
            event_type = command.event_type
            fate = "rewritten" if isinstance(command, Rewrite) else "forwarded"
        else:
            event_type, fate = "", "refused" if isinstance(command, SendClient) else "dropped"
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


def _first_end(tasks: list[asyncio.Task[SessionEnd]], limit_end: SessionEnd | None) -> SessionEnd:
    """The end reported by the first finished pump, in a fixed order, else the limit's."""
    for task in tasks:
        if task.done() and not task.cancelled():
            exc = task.exception()
            if exc is None:
                return task.result()
            if isinstance(exc, WebSocketDisconnect):  # the client left while we sent
                return SessionEnd(EndCause.CLIENT_CLOSED, exc.code, exc.reason or "")
            if isinstance(exc, OSError):  # uvicorn's ClientDisconnected: the client went away
                return SessionEnd(EndCause.CLIENT_CLOSED, CLOSE_ABNORMAL)
            logger.error("relay task failed", exc_info=exc)
            return SessionEnd(EndCause.ERROR)
    if limit_end is not None:
        return limit_end
    return SessionEnd(EndCause.ERROR)
