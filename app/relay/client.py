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
`extensions` is sent `text`, as ASGI has it. The same protocol names `INBOX`,
whose `waiting` says whether a client message is already read and not yet
taken: the session then knows a burst is still coming and lets its upstream
frames be joined into one write; without it, every frame is taken to have
more behind it (joined to the end of the loop's turn, as before).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Receive, Scope, Send

__all__ = ["ASCII_TEXT", "INBOX", "AsgiClient"]

ASCII_TEXT = "relay.ascii_text"
INBOX = "relay.inbox"  # an object with `waiting() -> bool`


class AsgiClient:
    """`ClientSocket` over the ASGI callables of one accepted WebSocket."""

    __slots__ = ("ascii_text", "receive", "send", "waiting")

    def __init__(
        self,
        receive: Receive,
        send: Send,
        ascii_text: bool = False,
        waiting: Callable[[], bool] | None = None,
    ) -> None:
        self.receive = receive
        self.send = send
        self.ascii_text = ascii_text  # the server named the `ASCII_TEXT` extension
        self.waiting = waiting or _more_may_follow  # the `INBOX` extension's, if named

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    @classmethod
    def of(cls, scope: Scope, receive: Receive, send: Send) -> AsgiClient:
        """The client of this scope, with the extensions its server names."""
        extensions = scope.get("extensions") or {}
        waiting = getattr(extensions.get(INBOX), "waiting", None)
        return cls(receive, send, ASCII_TEXT in extensions, waiting if callable(waiting) else None)


def _more_may_follow() -> bool:
    return True
