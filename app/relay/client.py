"""The client's side of a session as plain ASGI: the server's `receive` and `send`.

Starlette's `WebSocket` checks its state on every call; once the session is
accepted the relay needs none of that (the core closes each side once, and
`_first_end` reads a send to a vanished client, an `OSError`, as the client
leaving). `receive` and `send` are the server's own callables, stored, not
wrapped, so an event costs no extra call.
"""

from __future__ import annotations

from starlette.types import Receive, Send

__all__ = ["AsgiClient"]


class AsgiClient:
    """`ClientSocket` over the ASGI callables of one accepted WebSocket."""

    __slots__ = ("receive", "send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self.send = send

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})
