"""`GET /metrics` in Prometheus text format, optionally behind a Bearer token."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import RuntimeDep

__all__ = ["MetricsPortMiddleware", "metrics_token_ok", "router"]

router = APIRouter()


class MetricsPortMiddleware:
    """With `RELAY_METRICS_PORT`, that port serves `/metrics` and nothing else."""

    def __init__(self, app: ASGIApp, metrics_port: int | None) -> None:
        self.app = app
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.metrics_port is not None
            and scope["type"] in ("http", "websocket")
            and (scope.get("server") or (None, None))[1] == self.metrics_port
            and scope.get("path") != "/metrics"
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # answered as HTTP 403
            else:
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def metrics_token_ok(request: Request, token: str | None) -> bool:
    """Whether the request carries `Authorization: Bearer <RELAY_METRICS_TOKEN>` (or none is
    set); compared in constant time."""
    if token is None:
        return True
    presented = request.headers.get("authorization", "")
    return hmac.compare_digest(presented.encode(), f"Bearer {token}".encode())


@router.get("/metrics")
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """The relay's metrics; 401 without the right `RELAY_METRICS_TOKEN`, when one is set.

    With `RELAY_METRICS_PORT` set, the metrics are served only on that port
    and this path answers 404 on the public listener.
    """
    settings = runtime.settings
    port = request.scope.get("server", (None, None))[1]
    if settings.metrics_port is not None and port != settings.metrics_port:
        return Response(status_code=404)
    if not metrics_token_ok(request, settings.metrics_token):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    body = generate_latest(runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
