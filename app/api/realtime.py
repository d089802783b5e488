"""The WebSocket endpoint clients connect to, under every path SDKs dial."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send

from app.agents.live import LiveAgent
from app.api.admission import authenticate, forget_request, select_agent
from app.api.denial import deny
from app.api.deps import get_runtime
from app.auth import Caller
from app.errors import Refusal, UpstreamClosed, UpstreamUnavailable
from app.metrics import outcome_for
from app.policy.session import EnforcedRefused, enforced_reply
from app.relay import AsgiClient, EndCause, RelaySession, plan_close
from app.relay.closing import CLOSE_INTERNAL_ERROR
from app.runtime import Runtime
from app.upstream import UpstreamConnection

__all__ = ["REALTIME_PATHS", "REALTIME_ROUTES", "router"]

logger = logging.getLogger("app.session")

REALTIME_PATHS = (
    "/realtime",
    "/realtime/{agent}",
    "/openai/realtime",
    "/openai/v1/realtime",
    "/v1/realtime",
)
SUBPROTOCOL = "realtime"
_MAX_EARLY_FRAMES = 32  # frames the upstream may send before confirming the enforced session

router = APIRouter()


def new_session_id() -> str:
    return "rs_" + secrets.token_hex(6)


class _Endpoint:
    """The ASGI app of every realtime path (a class, so Starlette wraps it in nothing).

    Admission reads the request through Starlette's `WebSocket`; the session then
    sends and receives ASGI messages directly (`AsgiClient`), with no wrapper per event.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await realtime(WebSocket(scope, receive, send), AsgiClient.of(scope, receive, send))


endpoint = _Endpoint()


async def realtime(websocket: WebSocket, client: AsgiClient) -> None:
    """Admit the client, dial the upstream, then accept and relay until either ends.

    The path, `model` or `deployment` names the agent (`app.agents.select`); the
    agent decides the upstream, and `api-version` is ignored. Only the `realtime`
    subprotocol is ever selected, and none is forwarded upstream.
    """
    runtime = get_runtime(websocket)
    session_id = new_session_id()
    try:
        if not runtime.lifecycle.accepting:
            raise Refusal(503, "server_shutting_down", "The relay is restarting.", retry_after=1)
        caller = await authenticate(websocket, runtime)
        agent = select_agent(websocket, runtime, caller)
        runtime.slots.acquire()
    except Refusal as refusal:
        await _refuse(websocket, runtime, refusal)
        return
    try:
        await runtime.accounting.admit(
            session_id, caller.identity, agent.name, agent.agent.limits.max_sessions
        )
        try:
            await _serve(websocket, client, runtime, agent, caller, session_id)
        finally:
            await runtime.accounting.release(session_id)
    except Refusal as refusal:  # raised only before the upgrade is accepted
        await _refuse(websocket, runtime, refusal)
    finally:
        runtime.slots.release()


async def _refuse(websocket: WebSocket, runtime: Runtime, refusal: Refusal) -> None:
    """The one place an upgrade is refused: counted by its outcome, answered over HTTP."""
    runtime.metrics.outcome(refusal.outcome)
    await deny(
        websocket, refusal.status, refusal.code, refusal.message, retry_after=refusal.retry_after
    )


async def _serve(
    websocket: WebSocket,
    client: AsgiClient,
    runtime: Runtime,
    agent: LiveAgent,
    caller: Caller,
    session_id: str,
) -> None:
    """Dial, confirm the enforced session, accept, relay. Raises `Refusal` before accepting."""
    started = time.monotonic()
    identity = caller.identity
    # The session's rules and tools, read once: a later change of tools applies to new sessions.
    policy, enforced_update = agent.session_policy(caller.pinned)
    tool_names = agent.tools.names if agent.tools is not None else None
    try:
        upstream = await agent.dialer.open()
    except UpstreamUnavailable as exc:
        logger.warning(
            "session refused: upstream unavailable",
            extra={
                "fields": {
                    "session_id": session_id,
                    "agent": agent.name,
                    "status": exc.status,
                    "reason": exc.message,
                }
            },
        )
        raise
    try:
        try:
            await upstream.send(enforced_update)
        except UpstreamClosed:
            raise UpstreamUnavailable(502, "The upstream closed the connection.") from None
        budget = runtime.settings.upstream_connect_timeout_seconds - (time.monotonic() - started)
        confirmed = await _confirm_enforced(upstream, budget)
        if not isinstance(confirmed, list):
            agent.enforced_refusals_in_a_row += 1
            _log_unconfirmed(session_id, agent.name, confirmed)
            raise UpstreamUnavailable(502, "The upstream did not accept the relay's session.")
        agent.enforced_refusals_in_a_row = 0
        offered = websocket.scope.get("subprotocols") or ()
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    except BaseException:
        with contextlib.suppress(Exception):
            await upstream.close(CLOSE_INTERNAL_ERROR)
        raise
    connect_seconds = time.monotonic() - started
    runtime.metrics.connect_seconds.observe(connect_seconds)
    target = agent.dialer.target
    peer = websocket.client
    logger.info(
        "session open",
        extra={
            "fields": {
                "session_id": session_id,
                "agent": agent.name,
                "identity": identity,
                "client": peer.host if peer else None,
                "origin": websocket.headers.get("origin"),
                "upstream_host": target.host,
                "deployment": target.deployment,
                "protocol": target.dialect.name,
                "api_version": target.api_version,
                "connect_ms": round(connect_seconds * 1000, 1),
            }
        },
    )
    forget_request(websocket.scope)
    session = RelaySession(
        client,
        upstream,
        policy,
        session_id,
        agent.limits,
        identity,
        confirmed,
        tools=agent.tools,
        guardrails=agent.guardrails,
        tool_names=tool_names,
        agent=agent.name,
        on_usage=runtime.accounting.usage if runtime.accounting.reports_usage else None,
    )
    runtime.lifecycle.add(session)
    try:
        end = await session.run()
    finally:
        runtime.lifecycle.discard(session)
    duration = time.monotonic() - started
    runtime.metrics.outcome(outcome_for(end.cause, end.code))
    runtime.metrics.closed(session.stats, identity, agent.name, duration)
    logger.info("session closed", extra={"fields": _close_fields(session, duration)})


async def _confirm_enforced(
    upstream: UpstreamConnection, seconds: float
) -> list[str] | EnforcedRefused | None:
    """The frames up to the upstream's `session.updated` for the enforced session.

    An error naming the enforced update gives its `EnforcedRefused`; a timeout,
    a closed upstream or too many other frames first give None. Either way the
    client is not admitted: a session without the operator's rules never starts.
    """
    frames: list[str] = []
    with contextlib.suppress(TimeoutError, UpstreamClosed):
        async with asyncio.timeout(max(seconds, 0.0)):
            while len(frames) < _MAX_EARLY_FRAMES:
                frame = await upstream.recv()
                if not isinstance(frame, str):
                    continue
                reply = enforced_reply(frame)
                if isinstance(reply, EnforcedRefused):
                    return reply
                frames.append(frame)
                if reply == "confirmed":
                    return frames
    return None


def _log_unconfirmed(session_id: str, agent: str, refused: EnforcedRefused | None) -> None:
    logger.error(
        "session refused: the upstream did not apply the enforced session",
        extra={
            "fields": {
                "session_id": session_id,
                "agent": agent,
                "upstream_error_code": refused.code if refused else None,
                "upstream_error_param": refused.param if refused else None,
                "timed_out": refused is None,
            }
        },
    )


def _close_fields(session: RelaySession, duration: float) -> dict[str, Any]:
    stats = session.stats
    assert stats.end is not None
    end = stats.end
    plan = plan_close(end)
    closed_by = (
        "client"
        if end.cause is EndCause.CLIENT_CLOSED
        else "upstream"
        if end.cause.value.startswith("upstream_")
        else "relay"
    )
    return {
        "session_id": session.session_id,
        "agent": session.agent,
        "identity": session.identity,
        "duration_s": round(duration, 3),
        "cause": end.cause.value,
        "closed_by": closed_by,
        "client_close_code": end.code if closed_by == "client" else plan.client_code,
        "client_close_reason": end.reason if closed_by == "client" else plan.client_reason,
        "upstream_close_code": end.code if closed_by == "upstream" else plan.upstream_code,
        "upstream_close_reason": end.reason if closed_by == "upstream" else "",
        "events_client_to_upstream": stats.events_up,
        "bytes_client_to_upstream": stats.up_bytes,
        "events_upstream_to_client": stats.events_down,
        "bytes_upstream_to_client": stats.down_bytes,
        "refused": dict(stats.refused),
        "upstream_dropped": stats.dropped,
        "tokens": dict(stats.usage),
        "tool_calls": dict(stats.tool_calls),
        "guardrail_blocks": session.guardrail_blocks,
    }


# WebSocket routes with an ASGI endpoint (Starlette adds no per-session wrapper to
# those), matched ahead of FastAPI's stack by `app.api.front.RealtimeFront`. In the
# router too, so that the app lists them.
REALTIME_ROUTES = tuple(WebSocketRoute(path, endpoint) for path in REALTIME_PATHS)
router.routes.extend(REALTIME_ROUTES)
