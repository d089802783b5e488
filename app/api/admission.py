"""The checks that run before the WebSocket upgrade, in order.

Origin (403 `origin_not_allowed`), then authentication (401 `unauthorized`),
then capacity (503 `at_capacity`, 429 `too_many_sessions`). Each refusal is
an HTTP status with the JSON error body, never an opaque close.
"""

from __future__ import annotations

from fastapi import WebSocket

from app.auth import AuthError, NoAuth, find_token, origin_allowed, scope_query_credential
from app.runtime import Runtime

__all__ = ["Refusal", "authenticate"]

_UNAUTHORIZED = "A valid relay token is required."


class Refusal(Exception):
    """Refuse the upgrade with `status` and the error `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def authenticate(websocket: WebSocket, runtime: Runtime) -> str | None:
    """The caller's identity (None with RELAY_AUTH=none). Raises `Refusal`."""
    headers = websocket.headers
    scope = websocket.scope
    if not origin_allowed(
        headers.get("origin"),
        headers.get("host"),
        scope.get("scheme", "ws"),
        runtime.settings.allowed_origins,
    ):
        raise Refusal(403, "origin_not_allowed", "This origin may not connect to the relay.")
    authenticator = runtime.authenticator
    if isinstance(authenticator, NoAuth):
        return None
    token = find_token(headers, scope.get("subprotocols") or (), scope_query_credential(scope))
    if not token:
        raise Refusal(401, "unauthorized", _UNAUTHORIZED)
    try:
        return await authenticator.verify(token)
    except AuthError:
        raise Refusal(401, "unauthorized", _UNAUTHORIZED) from None
