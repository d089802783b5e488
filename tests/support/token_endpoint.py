"""A fake App Service managed-identity token endpoint, for real azure-identity against 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

IDENTITY_HEADER = "fake-identity-header"


@dataclass
class TokenEndpoint:
    """Serves `tokens` in order, each as (token, refresh_in seconds); then repeats the last."""

    tokens: list[tuple[str, int]]
    failing: bool = False
    requests: list[web.Request] = field(default_factory=list)
    served: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return web.json_response({"error": "bad header"}, status=400)
        async with self.served:
            self.requests.append(request)
            self.served.notify_all()
        if self.failing:
            return web.json_response({"error": "unavailable"}, status=500)
        token, refresh_in = self.tokens[min(len(self.requests), len(self.tokens)) - 1]
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "refresh_in": refresh_in,
                "resource": request.query["resource"],
                "token_type": "Bearer",
            }
        )

    async def wait_requests(self, count: int) -> None:
        async with asyncio.timeout(10), self.served:
            await self.served.wait_for(lambda: len(self.requests) >= count)


@contextlib.asynccontextmanager
async def serve_token_endpoint(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TokenEndpoint]:
    """A fake managed-identity endpoint, named in the environment azure-identity reads;
    token-1 asks to be refreshed after 1 s."""
    endpoint = TokenEndpoint(tokens=[("token-1", 1), ("token-2", 3000)])
    app = web.Application()
    app.router.add_get("/msi/token", endpoint.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    try:
        yield endpoint
    finally:
        await runner.cleanup()
