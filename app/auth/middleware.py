"""Pure ASGI middleware that lifts query-string credentials out of the scope.

uvicorn logs the request path with its query string when it accepts or
refuses a WebSocket upgrade, from the scope the app received. Removing the
`api-key` / `access_token` parameters here, before routing, means no logger
ever sees them; the token itself is kept in the scope under
`QUERY_CREDENTIAL_KEY` for the authenticator.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.carriers import QUERY_CREDENTIAL_KEY, split_query_credential

__all__ = ["QueryCredentialMiddleware"]


class QueryCredentialMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            query, token = split_query_credential(scope.get("query_string", b""))
            if token is not None:
                scope["query_string"] = query  # in place: uvicorn logs this very dict
                scope[QUERY_CREDENTIAL_KEY] = token
        await self.app(scope, receive, send)
