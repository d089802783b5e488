"""One accepted simulator connection: reads client frames, runs the session, streams replies.

All sends go through one lock, and a session state change plus the sending of the events it
produced happen under that lock, so the order on the wire always matches the order of state
changes (a ``response.cancel`` answer can never overtake deltas produced before it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from app.simulator.dialect import Dialect
from app.simulator.events import Event, error_event
from app.simulator.handshake import Handshake
from app.simulator.session import RealtimeSession

logger = logging.getLogger(__name__)


class SimConnection:
    """A live or finished connection, with everything it received and sent recorded.

    `received` holds the raw text of every text frame from the client; `sent` the raw text
    of every frame sent. `close_code`/`close_reason` are what the client's close frame said
    (1006 and "" if the socket dropped without one) and stay None while open.
    """

    def __init__(
        self,
        websocket: ServerConnection,
        handshake: Handshake,
        dialect: Dialect,
        model: str,
        notify: Callable[[], None],
    ) -> None:
        self.handshake = handshake
        self.dialect: Dialect = dialect
        self.session = RealtimeSession(dialect, model)
        self.received: list[str] = []
        self.sent: list[str] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = False
        self._websocket = websocket
        self._notify = notify
        self._send_lock = asyncio.Lock()
        self._stream_task: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()

    def received_events(self) -> list[Event]:
        """The received text frames parsed as JSON (frames that are not JSON are skipped)."""
        events: list[Event] = []
        for text in self.received:
            with contextlib.suppress(orjson.JSONDecodeError):
                parsed = orjson.loads(text)
                if isinstance(parsed, dict):
                    events.append(parsed)
        return events

    def sent_events(self) -> list[Event]:
        """The sent frames parsed as JSON, in order."""
        return [orjson.loads(text) for text in self.sent]

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the server side and wait until the connection is fully recorded closed."""
        await self._websocket.close(code, reason)
        await self._finished.wait()

    async def run(self) -> None:
        """Serve the connection until it closes; never raises for client misbehaviour."""
        try:
            async with self._send_lock:
                await self._send(self.session.opening_events())
            async for message in self._websocket:
                await self._on_message(message)
        except ConnectionClosed:
            pass
        finally:
            await self._stop_stream()
            await self._websocket.wait_closed()
            self.close_code = self._websocket.close_code
            self.close_reason = self._websocket.close_reason or ""
            self.closed = True
            self._finished.set()
            logger.debug("simulator connection closed: code=%s", self.close_code)
            self._notify()

    async def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            async with self._send_lock:
                await self._send([error_event("invalid_json", "Binary frames are not supported.")])
            return
        self.received.append(message)
        self._notify()
        async with self._send_lock:
            try:
                events = self.session.handle_text(message)
            except Exception:
                logger.exception("simulator session failed on a client event")
                events = [
                    error_event(
                        "server_error", "Internal simulator error.", error_type="server_error"
                    )
                ]
            await self._send(events)
        if self.session.active is not None and (
            self._stream_task is None or self._stream_task.done()
        ):
            self._stream_task = asyncio.create_task(self._stream())

    async def _stream(self) -> None:
        """Send the in-flight response batch by batch, yielding to the reader between batches."""
        try:
            while True:
                async with self._send_lock:
                    batch = self.session.step()
                    if batch is None:
                        return
                    await self._send(batch)
                await asyncio.sleep(0)
        except ConnectionClosed:
            return

    async def _stop_stream(self) -> None:
        task = self._stream_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _send(self, events: list[Event]) -> None:
        for event in events:
            text = orjson.dumps(event).decode()
            await self._websocket.send(text)
            self.sent.append(text)
            self._notify()
