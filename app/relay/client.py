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
more behind it (joined to the end of the loop's turn, as before). The same
object's `lane`, when the session sets it (`AsgiClient.lane`), is given each
text message read while nothing is queued, synchronously, as it is read: the
session then judges and forwards it with no task woken, and queues for its
own `receive` only what must wait (see `RelaySession`).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.types import Receive, Scope, Send

__all__ = ["ASCII_TEXT", "INBOX", "AsgiClient", "Lane"]

ASCII_TEXT = "relay.ascii_text"
INBOX = "relay.inbox"  # an object with `waiting() -> bool` and a settable `lane`
# A client pump's synchronous lane: (text, more bytes follow in this read) -> None
# when it took the message, else the message to queue for `receive` in its place.
Lane = Callable[[str, bool], MutableMapping[str, Any] | None]


class AsgiClient:
    """`ClientSocket` over the ASGI callables of one accepted WebSocket."""

    __slots__ = ("_inbox", "ascii_text", "receive", "send", "waiting")

    def __init__(
        self,
        receive: Receive,
        send: Send,
        ascii_text: bool = False,
        waiting: Callable[[], bool] | None = None,
        inbox: Any = None,
    ) -> None:
        self._inbox = inbox  # the `INBOX` extension's object, whose `lane` may be set
        self.receive = receive
        self.send = send
        self.ascii_text = ascii_text  # the server named the `ASCII_TEXT` extension
        self.waiting = waiting or _more_may_follow  # the `INBOX` extension's, if named

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    def lane(self, receiver: Lane | None) -> None:
        """Give `receiver` each text message as it is read, where the server can (`INBOX`).

        None takes the lane back: every message is queued for `receive` again."""
        if self._inbox is not None:
            self._inbox.lane = receiver

    @classmethod
    def of(cls, scope: Scope, receive: Receive, send: Send) -> AsgiClient:
        """The client of this scope, with the extensions its server names."""
        extensions = scope.get("extensions") or {}
        inbox = extensions.get(INBOX)
        waiting = getattr(inbox, "waiting", None)
        if not callable(waiting):
            return cls(receive, send, ASCII_TEXT in extensions)
        return cls(receive, send, ASCII_TEXT in extensions, waiting, inbox)


def _more_may_follow() -> bool:
    return True
