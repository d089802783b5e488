"""The WebSocket endpoint clients connect to, under every path SDKs dial."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from fastapi import APIRouter, WebSocket

from app.api.admission import Refusal, authenticate
from app.api.denial import deny
from app.api.deps import get_runtime
from app.limits import CapacityError
from app.metrics import outcome_for
from app.policy.session import EnforcedRefused, enforced_reply
from app.relay import EndCause, RelaySession, plan_close
from app.runtime import Runtime
from app.upstream import UpstreamClosed, UpstreamConnection, UpstreamError

__all__ = ["REALTIME_PATHS", "router"]

logger = logging.getLogger("app.session")

REALTIME_PATHS = ("/realtime", "/openai/realtime", "/openai/v1/realtime", "/v1/realtime")
SUBPROTOCOL = "realtime"
_MAX_EARLY_FRAMES = 32  # frames the upstream may send before confirming the enforced session

router = APIRouter()


def new_session_id() -> str:
    return "rs_" + secrets.token_hex(6)


async def realtime(websocket: WebSocket) -> None:
    """Admit the client, dial the upstream, then accept and relay until either ends.

    Query parameters such as `model`, `deployment` and `api-version` are
    ignored: the operator decides the upstream. Only the `realtime`
    subprotocol is ever selected, and none is forwarded upstream.
    """
    runtime = get_runtime(websocket)
    metrics = runtime.metrics
    if not runtime.lifecycle.accepting:
        metrics.outcome("rejected_capacity")
        await deny(
            websocket, 503, "server_shutting_down", "The relay is restarting.", retry_after=1
        )
        return
    try:
        identity = await authenticate(websocket, runtime)
        runtime.slots.acquire(identity)
    except (Refusal, CapacityError) as refusal:
        metrics.outcome(
            "rejected_auth"
            if refusal.status == 401
            else "rejected_origin"
            if refusal.status in (400, 403)
            else "rejected_capacity"
        )
        await deny(websocket, refusal.status, refusal.code, refusal.message)
        return
    try:
        await _serve(websocket, runtime, identity)
    finally:
        runtime.slots.release(identity)


async def _serve(websocket: WebSocket, runtime: Runtime, identity: str | None) -> None:
    session_id = new_session_id()
    started = time.monotonic()
    try:
        upstream = await runtime.dialer.open()
    except UpstreamError as exc:
        runtime.metrics.outcome("upstream_connect_failed")
        logger.warning(
            "session refused: upstream unavailable",
            extra={
                "fields": {"session_id": session_id, "status": exc.status, "reason": exc.message}
            },
        )
        await deny(
            websocket, exc.status, "upstream_unavailable", exc.message, retry_after=exc.retry_after
        )
        return
    try:
        await upstream.send(runtime.enforced_update)
        budget = runtime.settings.upstream_connect_timeout_seconds - (time.monotonic() - started)
        confirmed = await _confirm_enforced(upstream, budget)
        if not isinstance(confirmed, list):
            runtime.enforced_refusals_in_a_row += 1
            await _refuse_unconfirmed(websocket, runtime, session_id, confirmed)
            with contextlib.suppress(Exception):
                await upstream.close(1011)
            return
        runtime.enforced_refusals_in_a_row = 0
        offered = websocket.scope.get("subprotocols") or ()
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    except BaseException:
        with contextlib.suppress(Exception):
            await upstream.close(1011)
        raise
    connect_seconds = time.monotonic() - started
    runtime.metrics.connect_seconds.observe(connect_seconds)
    target = runtime.target
    client = websocket.client
    logger.info(
        "session open",
        extra={
            "fields": {
                "session_id": session_id,
                "identity": identity,
                "client": client.host if client else None,
                "origin": websocket.headers.get("origin"),
                "upstream_host": target.host,
                "deployment": target.deployment,
                "protocol": target.dialect.name,
                "api_version": target.api_version,
                "connect_ms": round(connect_seconds * 1000, 1),
            }
        },
    )
    session = RelaySession(
        websocket, upstream, runtime.policy, session_id, runtime.limits, identity, confirmed
    )
    runtime.lifecycle.add(session)
    try:
        end = await session.run()
    finally:
        runtime.lifecycle.discard(session)
    duration = time.monotonic() - started
    runtime.metrics.outcome(outcome_for(end.cause, end.code))
    runtime.metrics.closed(session.stats, identity, duration)
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


async def _refuse_unconfirmed(
    websocket: WebSocket, runtime: Runtime, session_id: str, refused: EnforcedRefused | None
) -> None:
    runtime.metrics.outcome("upstream_connect_failed")
    logger.error(
        "session refused: the upstream did not apply the enforced session",
        extra={
            "fields": {
                "session_id": session_id,
                "upstream_error_code": refused.code if refused else None,
                "upstream_error_param": refused.param if refused else None,
                "timed_out": refused is None,
            }
        },
    )
    await deny(
        websocket, 502, "upstream_unavailable", "The upstream did not accept the relay's session."
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
        "tokens": dict(stats.usage),
    }


# A plain Starlette WebSocket route, not FastAPI's dependency-injected one: the
# endpoint needs no injection, and each open session then holds about 5 KiB less
# (FastAPI keeps two exit stacks and the solved dependencies alive per connection).
for _path in REALTIME_PATHS:
    router.add_websocket_route(_path, realtime)
