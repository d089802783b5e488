"""The app factory and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import agents, client_secrets, demo, health, metrics, realtime
from app.api.front import RelayApp
from app.auth import QueryCredentialMiddleware
from app.auth.forwarded import ForwardedMiddleware
from app.config import Settings
from app.runtime import open_runtime, read_agents

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Settings are read from the environment here when not given, and the
    agents and tools files are read and validated here (`AgentsFileError`,
    `ToolsFileError`), before anything starts."""
    settings = settings or Settings()
    configured = read_agents(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, configured) as runtime:
            app.state.runtime = runtime
            yield

    app = RelayApp(
        title="Azure OpenAI Realtime relay",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(QueryCredentialMiddleware)
    app.add_middleware(ForwardedMiddleware, trusted_proxies=settings.trusted_proxies)
    app.add_middleware(metrics.MetricsPortMiddleware, metrics_port=settings.metrics_port)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(realtime.router)
    app.realtime_routes = realtime.REALTIME_ROUTES
    app.include_router(client_secrets.router)
    app.include_router(agents.router)
    app.include_router(demo.router)
    return app
