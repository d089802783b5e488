"""One write per turn of the event loop for the upstream socket, instead of one per frame.

uvloop sends each `transport.write` at once, a system call per frame. A
client's burst (an SDK streaming a recorded file, a browser's backlog after a
stall) arrives in one read as dozens of frames, and each became its own write
upstream. `Cork` stands in for the transport in aiohttp's frame writer, and
`UpstreamConnection.send` hands it its data frames (`write_data`): data
frames written during one turn of the loop are joined and written together at
the end of it, in order. The session says when a frame has none behind it (the
client's burst is all read): then it goes out at once, with what is pending,
instead of waiting for the turn to end. A ping, pong or close frame (from
aiohttp's writer) is written at once, after the data frames before it.
aiohttp's flow control is unchanged: the real transport still pauses it once
its buffer passes the high-water mark, at most one turn's worth of frames later.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientWebSocketResponse

__all__ = ["Cork", "cork"]

_CONTROL = 0x08  # the opcode bit of ping, pong and close frames (first byte of a frame)


class Cork(asyncio.Transport):
    """The part of a transport aiohttp's frame writer uses: `write` and `is_closing`."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[Any] = []

    def write(self, data: Any) -> None:
        pending = self._pending
        if data[0] & _CONTROL:
            # Ping, pong and close go out at once, after what is pending: aiohttp may
            # close the socket right after writing a close frame.
            pending.append(data)
            self._flush()
            return
        if not pending:
            self._loop.call_soon(self._flush)
        pending.append(data)

    def write_data(self, head: bytes, payload: bytes, more: bool = True) -> None:
        """A data frame in two parts (inline, like `write`: it runs once per event).

        `more`: more frames are on their way in this turn (the client's burst is
        not yet all read), so it is joined with them. Without it, it goes out at
        once with whatever is pending: an event on its own waits for no turn.
        """
        pending = self._pending
        if more:
            if not pending:
                self._loop.call_soon(self._flush)
            pending.append(head)
            pending.append(payload)
        elif pending:
            pending.append(head)
            pending.append(payload)
            self._flush()  # the end of a burst; the flush already scheduled finds nothing
        elif not self._transport.is_closing():
            self._transport.writelines((head, payload))

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending or self._transport.is_closing():
            return  # the connection is gone; so are its unsent frames
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))


def cork(ws: ClientWebSocketResponse[Any]) -> Cork:
    """Route `ws`'s frame writes through a `Cork` (aiohttp keeps its writer private)."""
    writer = ws._writer  # private in aiohttp==3.14.5 (pinned); tests/perf drive the real one
    corked = Cork(writer.transport, asyncio.get_running_loop())
    writer.transport = corked
    return corked
