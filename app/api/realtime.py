"""The WebSocket endpoint clients connect to, under every path SDKs dial."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time

from fastapi import APIRouter, WebSocket

from app.api.admission import Refusal, authenticate
from app.api.denial import deny
from app.api.deps import RuntimeDep
from app.limits import CapacityError
from app.relay import RelaySession, SessionLimits
from app.runtime import Runtime
from app.upstream import UpstreamError, open_upstream

__all__ = ["REALTIME_PATHS", "router"]

logger = logging.getLogger("app.session")

REALTIME_PATHS = ("/realtime", "/openai/realtime", "/openai/v1/realtime", "/v1/realtime")
SUBPROTOCOL = "realtime"

router = APIRouter()


def new_session_id() -> str:
    return "rs_" + secrets.token_hex(6)


async def realtime(websocket: WebSocket, runtime: RuntimeDep) -> None:
    """Admit the client, dial the upstream, then accept and relay until either ends.

    Query parameters such as `model`, `deployment` and `api-version` are
    ignored: the operator decides the upstream. Only the `realtime`
    subprotocol is ever selected, and none is forwarded upstream.
    """
    try:
        identity = await authenticate(websocket, runtime)
        runtime.slots.acquire(identity)
    except (Refusal, CapacityError) as refusal:
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
        upstream = await open_upstream(runtime.target, runtime.credential, runtime.options)
    except UpstreamError as exc:
        logger.warning("session %s refused: upstream %d (%s)", session_id, exc.status, exc.message)
        await deny(
            websocket, exc.status, "upstream_unavailable", exc.message, retry_after=exc.retry_after
        )
        return
    connect_ms = (time.monotonic() - started) * 1000
    try:
        await upstream.send(runtime.enforced_update)
        offered = websocket.scope.get("subprotocols") or ()
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    except BaseException:
        with contextlib.suppress(Exception):
            await upstream.close(1011)
        raise
    logger.info(
        "session %s open: identity %s upstream %s deployment %s (%s) in %.0f ms",
        session_id,
        identity,
        runtime.target.host,
        runtime.target.deployment,
        runtime.target.dialect.name,
        connect_ms,
    )
    settings = runtime.settings
    limits = SessionLimits(
        events_per_second=settings.client_events_per_second,
        events_burst=settings.client_events_burst,
        max_session_seconds=settings.max_session_seconds,
        idle_timeout_seconds=settings.idle_timeout_seconds,
    )
    session = RelaySession(websocket, upstream, runtime.policy, session_id, limits)
    end = await session.run()
    stats = session.stats
    logger.info(
        "session %s closed: %s code=%s after %.1f s; client→upstream %d events, "
        "upstream→client %d events, refused %s",
        session_id,
        end.cause.value,
        end.code,
        time.monotonic() - started,
        stats.client_events,
        stats.upstream_events,
        stats.refused or "none",
    )


for _path in REALTIME_PATHS:
    router.add_api_websocket_route(_path, realtime)
