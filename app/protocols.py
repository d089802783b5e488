"""uvicorn's protocols with the relay's bounds: a header deadline and bounded write buffers.

`uvicorn.Config` takes protocol classes; `http_protocol` and `ws_protocol`
build them with the settings' values. Each subclass adds only its bound:

- **HTTP** (httptools): a connection that has not sent a complete request
  head within `header_timeout_seconds` of connecting, or of starting its next
  request, is aborted. uvicorn alone holds such a connection forever
  (slowloris).
- **WebSocket** (websockets-sansio): when the write buffer passes its high
  water mark (the peer is not reading), reading from the peer stops too, so
  its pings cannot queue pongs without bound. A buffer still above the mark
  `POLITE_CLOSE_SECONDS` after `backpressure_timeout_seconds` (when the session
  has had its chance to send the notice and 1013) aborts the connection; and once the
  app is done with a connection, whatever is still buffered after the close
  timeout is discarded by an abort, so nothing outlives the session.
  It also reads whole client text frames itself and frames outgoing texts
  (`app.frames`), taking a text as its ASCII bytes too (`ASCII_TEXT`),
  leaving every other frame to `websockets`; keeps neither the parsed request
  nor the response once the upgrade is done; queues and waits with
  `app.inbox`'s list-backed queue and flag instead of asyncio's; and names
  that inbox in the scope (`INBOX`), so the session can tell a burst's end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import OPEN, Protocol

from app.frames import HANDOVER, Frame, next_frame, text_frame, text_head
from app.inbox import Flag, Inbox
from app.relay.client import ASCII_TEXT, INBOX
from app.timers import timers

__all__ = ["POLITE_CLOSE_SECONDS", "http_protocol", "ws_protocol"]

# A text frame this long or longer is written as header + payload, without joining them.
_JOIN_BELOW = 16384
_NAMED: dict[str, object] = {}  # an extension with no parameters, shared by every scope
POLITE_CLOSE_SECONDS = 10.0  # the session's own notice and close timeouts, 5 s each


class _HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout_seconds = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.header_timeout_seconds, self._header_timeout
            )

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        self.transport.abort()


class _BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    backpressure_timeout_seconds = 30.0
    _stuck_timer: asyncio.TimerHandle | None = None
    _write_paused = False
    # The fast frame path (`app.frames`): decided once, when the request is parsed.
    _fast = False
    _fast_decided = False
    _pending: bytearray  # the start of a frame not yet complete

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The same jobs as uvicorn's asyncio.Queue and Event, without their four deques.
        self._inbox: Inbox[Any] = Inbox(self.loop)
        self.queue = self._inbox  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._pending = bytearray()
        super().connection_made(transport)

    def handle_connect(self, event: Request) -> None:
        """uvicorn's, and the scope names the `ASCII_TEXT` and `INBOX` extensions."""
        super().handle_connect(event)
        extensions: dict[str, object] = self.scope["extensions"]  # type: ignore[assignment]
        extensions[ASCII_TEXT] = _NAMED
        extensions[INBOX] = self._inbox  # `waiting` and `lane`; nothing allocated per connection

    def schedule_ping(self) -> None:
        """uvicorn's, on the shared `app.timers` instead of a loop timer of its own."""
        assert self.ping_interval is not None
        delay = max(0.0, self.ping_interval - self.last_ping_rtt)
        self.ping_timer = timers(self.loop).call_later(delay, self.send_keepalive_ping)  # type: ignore[assignment]

    def pause_writing(self) -> None:
        super().pause_writing()
        self._write_paused = True
        self.transport.pause_reading()
        if self._stuck_timer is None:
            self._stuck_timer = self.loop.call_later(
                self.backpressure_timeout_seconds + POLITE_CLOSE_SECONDS, self.transport.abort
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        self._write_paused = False
        if self._stuck_timer is not None:
            self._stuck_timer.cancel()
            self._stuck_timer = None
        if not self.read_paused and not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._fast:
            self._fast_received(data)
        else:
            super().data_received(data)
            if not self._fast_decided and self.handshake_initiated:
                # The request is parsed. With nothing buffered behind it, `websockets`'
                # parser waits at a frame boundary, and every later frame is read here.
                self._fast_decided = True
                self._fast = not self.close_sent and not self.conn.reader.buffer
                if self._fast:
                    self._forget_request()
        if self._write_paused and not self.transport.is_closing():
            # uvicorn resumes reading when the app takes a message; while the peer
            # reads nothing, read no further than the chunk just handled.
            self.transport.pause_reading()

    def _forget_request(self) -> None:
        """Let go of the parsed request, which `websockets` would keep for good.

        `ServerProtocol.parse` reads the request, then goes on to read frames with
        `Protocol.parse`, the request still a local of its suspended generator: about
        2 KiB per connection, held until it closes. At a frame boundary (nothing
        buffered, so the frame parser holds nothing either) a fresh frame parser in
        the same state takes over.
        """
        conn = self.conn
        conn.parser = Protocol.parse(conn)
        next(conn.parser)

    def _fast_received(self, data: bytes | bytearray) -> None:
        """Whole text messages go to the app; every other frame to `websockets`, whole."""
        pending = self._pending
        if pending:
            pending += data  # grown in place: a large frame in many chunks is copied once
            data = pending
        conn = self.conn
        max_size = self.config.ws_max_size
        inbox = self._inbox
        put = inbox.put_nowait
        start = 0
        while True:
            frame = next_frame(data, start, max_size)
            if type(frame) is tuple:
                if conn.current_size is None:  # not inside a fragmented message
                    text, start = frame
                    if not self.close_sent:  # as uvicorn: discarded once the app closed
                        lane = inbox.lane
                        if lane is None or inbox.waiting():
                            message: Any = {"type": "websocket.receive", "text": text}
                        else:  # nothing waits before it: the app's lane may take it now
                            message = lane(text, start < len(data))
                            if message is None:
                                continue
                        put(message)
                        if not self.read_paused:
                            self.read_paused = True
                            self.transport.pause_reading()
                    continue
                frame = Frame(frame[1])  # a protocol error, for `websockets` to name
            if type(frame) is Frame:
                super().data_received(bytes(data[start : frame.end]))
                start = frame.end
                if conn.parser_exc is None and conn.close_rcvd is None:
                    continue
                self._fast = False  # what follows is discarded, as `websockets` does
            elif frame is HANDOVER:
                self._fast = False
                super().data_received(bytes(data[start:]))
            elif data is pending:  # NEED_MORE: at most one frame's header and payload
                del pending[:start]
                return
            elif start < len(data):
                pending += data[start:]
                return
            pending.clear()
            return

    async def send(self, message: ASGISendEvent) -> None:
        """A text message on an open connection is framed here; all else as uvicorn does."""
        if (
            message["type"] == "websocket.send"
            and self.handshake_complete
            and not self.close_sent
            and self.initial_response is None
            and self.writable.is_set()
            and not self.disconnected
            and self.conn.state is OPEN
            and message.get("bytes") is None
        ):
            text = message.get("text")
            payload = _ascii_text(message) if text is None else text.encode()
            if payload is not None:
                if len(payload) < _JOIN_BELOW:
                    self.transport.write(text_frame(payload))
                else:  # header and payload in one writev, the payload not copied again
                    self.transport.writelines((text_head(len(payload)), payload))
                return
        ascii_text = _ascii_text(message)
        if ascii_text is not None:  # uvicorn's own path takes text only as `text`
            message = {"type": "websocket.send", "text": ascii_text.decode("ascii")}
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The parsed request and the response sent are not read again; the app
            # keeps what it needs from the scope.
            del self.request, self.response

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stuck_timer is not None:
            self._stuck_timer.cancel()
            self._stuck_timer = None
        super().connection_lost(exc)

    async def run_asgi(self) -> None:
        await super().run_asgi()
        # uvicorn closes politely, and a close waits for the buffer to drain, which a
        # peer that reads nothing never lets happen: abort what is left after a bound.
        # A connection already lost has nothing left, and is not kept alive by a timer.
        if not self.disconnected:
            self.loop.call_later(self.close_timeout, self._abort_leftover)

    def _abort_leftover(self) -> None:
        transport = self.transport
        if transport.get_write_buffer_size() or not transport.is_closing():
            transport.abort()


def _ascii_text(message: ASGISendEvent) -> bytes | None:
    """A `websocket.send` message's text in ASCII bytes (`ASCII_TEXT`), if it has one."""
    payload: bytes | None = message.get(ASCII_TEXT)  # type: ignore[assignment]
    return payload


def http_protocol(header_timeout_seconds: float) -> type[asyncio.Protocol]:
    """The HTTP protocol class with this header deadline."""
    attrs: dict[str, Any] = {"header_timeout_seconds": header_timeout_seconds}
    return type("RelayHttpProtocol", (_HeaderDeadlineProtocol,), attrs)


def ws_protocol(backpressure_timeout_seconds: float) -> type[asyncio.Protocol]:
    """The WebSocket protocol class with this write-buffer deadline."""
    attrs: dict[str, Any] = {"backpressure_timeout_seconds": backpressure_timeout_seconds}
    return type("RelayWebSocketProtocol", (_BoundedWebSocketProtocol,), attrs)
