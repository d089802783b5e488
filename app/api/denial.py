"""HTTP refusals before the WebSocket upgrade, all in one JSON shape."""

from __future__ import annotations

from fastapi import WebSocket
from fastapi.responses import JSONResponse

__all__ = ["deny", "error_body"]


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """`{"error": {"code": ..., "message": ...}}`."""
    return {"error": {"code": code, "message": message}}


async def deny(
    websocket: WebSocket,
    status: int,
    code: str,
    message: str,
    *,
    retry_after: int | None = None,
) -> None:
    """Answer the upgrade request with an HTTP error instead of accepting it."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    await websocket.send_denial_response(
        JSONResponse(error_body(code, message), status_code=status, headers=headers)
    )
