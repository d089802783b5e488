"""Forwarded headers, honoured only from `RELAY_TRUSTED_PROXIES`.

Behind a TLS terminator the relay sees `ws://` and the proxy's address. A
proxy it trusts may say otherwise: `X-Forwarded-For` (the client address) and
`X-Forwarded-Proto` (the scheme) are applied by uvicorn's own middleware, and
`X-Forwarded-Host` (the host the browser dialled) is kept in the scope under
`FORWARDED_HOST_KEY` for the origin and host checks. From any other peer these
headers are ignored. Pure ASGI, so it covers WebSocket upgrades too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.net import AddressSet

__all__ = ["FORWARDED_HOST_KEY", "ForwardedMiddleware"]

FORWARDED_HOST_KEY = "relay.forwarded_host"


class ForwardedMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[str]) -> None:
        self.app = app
        self._trusted = AddressSet(trusted_proxies)
        # uvicorn types its middleware with its own ASGI aliases; the protocol is the same.
        proxied: Any = app
        self._proxy: Any = (
            ProxyHeadersMiddleware(proxied, list(trusted_proxies)) if trusted_proxies else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._proxy is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        if peer is not None and peer[0] in self._trusted:
            for name, value in scope["headers"]:
                if name == b"x-forwarded-host":
                    scope[FORWARDED_HOST_KEY] = value.decode("latin-1").split(",")[0].strip()
                    break
        await self._proxy(scope, receive, send)
