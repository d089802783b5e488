"""One open upstream WebSocket: send text, receive frames, keep it alive, close it.

It wraps aiohttp's client WebSocket. aiohttp parses frames in compiled code
(Cython) and masks in C with a fast non-blocking random source; the
pure-Python `websockets` client it replaced cost about 20% more relay CPU per
relayed event (see the README's performance section).

Keepalive is the relay's own, so that RELAY_PING_INTERVAL_SECONDS and
RELAY_PING_TIMEOUT_SECONDS mean exactly what they say (aiohttp's heartbeat
fixes the timeout at half the interval): a ping every interval, and a pong
later than the timeout closes the connection with 1011. One timer handle per
connection (the next ping, or the pong deadline), no per-frame work.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from aiohttp import ClientWebSocketResponse, WSMsgType
from websockets.speedups import apply_mask

from app.errors import UpstreamClosed
from app.frames import masked_text_head
from app.relay.closing import CLOSE_INTERNAL_ERROR, CLOSE_INVALID_TEXT
from app.timers import Timer, timers
from app.upstream.cork import cork

__all__ = ["UpstreamClosed", "UpstreamConnection"]

_KEEPALIVE_REASON = b"keepalive ping timeout"
_UNRESPONSIVE_CODE = CLOSE_INTERNAL_ERROR
_NO_STATUS = 1005  # a close frame without a code (aiohttp reports 0)
_TEXT, _BINARY, _PING, _PONG, _CLOSE = (
    WSMsgType.TEXT,
    WSMsgType.BINARY,
    WSMsgType.PING,
    WSMsgType.PONG,
    WSMsgType.CLOSE,
)


class UpstreamConnection:
    """An open upstream WebSocket. One task receives; any task may send."""

    __slots__ = (
        "_cork",
        "_ended",
        "_interval",
        "_loop",
        "_task",
        "_timeout",
        "_timer",
        "_timers",
        "_writer",
        "_ws",
    )

    def __init__(
        self, ws: ClientWebSocketResponse[Literal[False]], ping_interval: float, ping_timeout: float
    ) -> None:
        self._cork = cork(ws)  # a burst of frames goes out in one write
        self._ws = ws
        self._writer = ws._writer  # private in aiohttp==3.14.5 (pinned), as in `cork`
        self._loop = asyncio.get_running_loop()
        self._timers = timers(self._loop)  # one loop timer for every session's deadlines
        self._interval = ping_interval
        self._timeout = ping_timeout
        self._ended: UpstreamClosed | None = None
        self._task: asyncio.Task[object] | None = None  # the ping or the keepalive close
        self._timer: Timer | None = self._timers.call_later(ping_interval, self._ping)

    async def send(self, text: str, more: bool = False) -> None:
        """Send one text frame. Raises `UpstreamClosed` when the connection is gone.

        `more`: the caller has more frames to send at once (a client's burst), so
        this one may wait for them, to the end of the loop's turn (`Cork`).

        Framed here, with aiohttp's own mask source and its writer's checks (closing,
        transport gone, paused by flow control): aiohttp's three layers of calls per
        frame were 8% of the relay's samples under an append flood. Control frames
        still go through aiohttp's writer, both into the same `Cork`, in order.
        """
        writer = self._writer
        if writer._closing or self._cork.is_closing():
            raise self._ended or UpstreamClosed()
        self.write(text, more)
        protocol = writer.protocol
        if protocol._paused:  # the socket's buffer is past its high-water mark
            try:
                await protocol._drain_helper()
            except ConnectionError:
                raise self._ended or UpstreamClosed() from None

    def ready(self) -> bool:
        """Whether `write` may be called now: open, and not held back by flow control."""
        writer = self._writer
        return not (writer._closing or writer.protocol._paused or self._cork.is_closing())

    def write(self, text: str, more: bool = False) -> None:
        """`send`'s frame, written without its checks or its wait: for when `ready` said so.

        The session's synchronous lane asks `ready` first; a frame it may not
        write goes to the pump, whose `send` raises or waits for the drain."""
        payload = text.encode()
        head = masked_text_head(len(payload), self._writer.get_random_bits())
        self._cork.write_data(head, apply_mask(payload, head[-4:]), more)

    async def recv(self) -> str | None:
        """The next data frame: a text frame's text, None for a binary frame.

        Answers pings, notes pongs; raises `UpstreamClosed` at the end.
        """
        frame = await self.recv_raw()
        return frame.decode("ascii") if isinstance(frame, bytes) else frame

    async def recv_raw(self) -> str | bytes | None:
        """`recv`, but a text frame that is all ASCII comes as its bytes, not decoded.

        aiohttp hands over text undecoded (`decode_text=False`). ASCII is valid
        UTF-8 and `isascii` reads a 64 KiB audio delta far faster than a decode
        copies it; the relay forwards such a delta as it came. Any other text is
        decoded here, and text that is not UTF-8 closes the connection with 1007,
        as aiohttp's own decode would.
        """
        ws = self._ws
        while True:
            message = await ws.receive()
            kind = message.type
            if kind is _TEXT:
                data: bytes = message.data
                if data.isascii():
                    return data
                try:
                    return data.decode()
                except UnicodeDecodeError:
                    self._stop_keepalive()
                    with contextlib.suppress(Exception):
                        await ws.close(code=CLOSE_INVALID_TEXT)
                    raise self._end(None, None) from None
            if kind is _BINARY:
                return None
            if kind is _PING:
                with contextlib.suppress(ConnectionError):
                    await ws.pong(message.data)
            elif kind is _PONG:
                self._pong()
            else:
                raise self._end(message.data, message.extra if kind is _CLOSE else None)

    async def close(self, code: int) -> None:
        """Send a close frame with `code` and wait (bounded) for the reply. Idempotent."""
        self._stop_keepalive()
        task = self._task
        if task is not None and not task.done():
            # A ping being written, or the keepalive's own close (bounded by the close
            # timeout). Cancelling that close could stop it before it marks the socket
            # closed, and this close would then wait for a reply all over again.
            await asyncio.wait([task])
        await self._ws.close(code=code)

    # -- keepalive --------------------------------------------------------

    def _ping(self) -> None:
        self._timer = self._timers.call_later(self._timeout, self._pong_missing)
        self._task = self._loop.create_task(self._send_ping())

    async def _send_ping(self) -> None:
        with contextlib.suppress(ConnectionError):  # closing: the session ends anyway
            await self._ws.ping()

    def _pong(self) -> None:
        if self._timer is not None and self._task is not None:  # a ping is outstanding
            self._timer.cancel()
            self._timer = self._timers.call_later(self._interval, self._ping)
            self._task = None

    def _pong_missing(self) -> None:
        self._timer = None
        if self._ended is None:
            self._ended = UpstreamClosed(unresponsive=True)
        # Wakes the receiving task (it gets the keepalive end), then closes with 1011.
        self._task = self._loop.create_task(
            self._ws.close(code=_UNRESPONSIVE_CODE, message=_KEEPALIVE_REASON)
        )

    def _stop_keepalive(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _end(self, code: object, reason: object) -> UpstreamClosed:
        if self._ended is None:
            if isinstance(code, int) and reason is not None:  # a close frame
                self._ended = UpstreamClosed(code or _NO_STATUS, str(reason))
            else:
                self._ended = UpstreamClosed()
            self._stop_keepalive()
        return self._ended
