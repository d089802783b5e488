"""The WebSocket endpoint clients connect to, under every path SDKs dial."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time

from fastapi import APIRouter, WebSocket

from app.api.denial import deny
from app.api.deps import RuntimeDep
from app.relay import RelaySession
from app.upstream import UpstreamError, open_upstream

__all__ = ["REALTIME_PATHS", "router"]

logger = logging.getLogger("app.session")

REALTIME_PATHS = ("/realtime", "/openai/realtime", "/openai/v1/realtime", "/v1/realtime")
SUBPROTOCOL = "realtime"

router = APIRouter()


def new_session_id() -> str:
    return "rs_" + secrets.token_hex(6)


async def realtime(websocket: WebSocket, runtime: RuntimeDep) -> None:
    """Dial the upstream first, then accept the client and relay until either ends.

    Query parameters such as `model`, `deployment` and `api-version` are
    ignored: the operator decides the upstream. Only the `realtime`
    subprotocol is ever selected, and none is forwarded upstream.
    """
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
        "session %s open: upstream %s deployment %s (%s) in %.0f ms",
        session_id,
        runtime.target.host,
        runtime.target.deployment,
        runtime.target.dialect.name,
        connect_ms,
    )
    session = RelaySession(websocket, upstream, runtime.policy, session_id)
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
