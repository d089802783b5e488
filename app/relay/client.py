"""The client's side of a session as plain ASGI: the server's `receive` and `send`.

Starlette's `WebSocket` checks its state on every call; once the session is
accepted the relay needs none of that (the core closes each side once, and
`_first_end` reads a send to a vanished client, an `OSError`, as the client
leaving). `receive` and `send` are the server's own callables, stored, not
wrapped, so an event costs no extra call.

`ASCII_TEXT` names an ASGI extension of the relay's own WebSocket protocol
(`app.protocols`): a `websocket.send` message may carry a text message as its
ASCII bytes under that key instead of `text`, so an audio delta that arrived
as bytes leaves as bytes. A server that does not name it in the scope's
`extensions` is sent `text`, as ASGI has it.
"""

from __future__ import annotations

from starlette.types import Receive, Send

__all__ = ["ASCII_TEXT", "AsgiClient"]

ASCII_TEXT = "relay.ascii_text"


class AsgiClient:
    """`ClientSocket` over the ASGI callables of one accepted WebSocket."""

    __slots__ = ("ascii_text", "receive", "send")

    def __init__(self, receive: Receive, send: Send, ascii_text: bool = False) -> None:
        self.receive = receive
        self.send = send
        self.ascii_text = ascii_text  # the server named the `ASCII_TEXT` extension

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})
