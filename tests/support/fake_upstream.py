"""The one scriptable fake of Azure's realtime endpoint, on 127.0.0.1, for relay tests.

Each handshake takes the next entry of `handshake_plan` (an HTTP status to
refuse with, optional headers, or "hang"); once the plan is used up,
handshakes are accepted. An accepted connection greets with `session.created`
and confirms the relay's enforced `session.update` as Azure does (unless
`confirm_session=False`), then `script` runs it. `FakeUpstream.answering`
builds the common script: call `on_event` for every client event.

This fake stands in for the service in fault and accounting tests; the
faithful stand-in is `app.simulator`, and `bench/fake_upstream.py` is the
benchmark's own pinned peer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event

Script = Callable[["FakeConnection"], Awaitable[None]]
OnEvent = Callable[["FakeConnection", dict[str, Any]], Awaitable[None]]


@dataclass
class Refuse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


Step = Refuse | Literal["hang"]


class PingCountingConnection(ServerConnection):
    """A server connection that counts the pings it receives (the relay's keepalive)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pings = 0
        self.pinged = asyncio.Event()

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pings += 1
            self.pinged.set()
        super().process_event(event)


@dataclass
class FakeConnection:
    """One accepted upstream connection, as the fake sees it."""

    ws: PingCountingConnection
    received: list[str] = field(default_factory=list)
    pending: list[str | bytes] = field(default_factory=list)
    sent_count: int = 0
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    notify: Callable[[], Awaitable[None]] | None = None  # told of every event received

    async def send(self, event: dict[str, object]) -> None:
        """Send a server event; like Azure's, it gets an `event_id` if the script gave none."""
        self.sent_count += 1
        event_id = f"event_fake_{self.sent_count}"
        await self.ws.send(orjson.dumps({"event_id": event_id, **event}).decode())

    async def next_event(self) -> dict[str, Any]:
        frame = self.pending.pop(0) if self.pending else await self.ws.recv()
        assert isinstance(frame, str)
        self.received.append(frame)
        if self.notify is not None:
            await self.notify()
        event: dict[str, Any] = orjson.loads(frame)
        return event

    async def pings_received(self, count: int) -> None:
        """Wait until the relay has sent `count` pings on this connection."""
        while self.ws.pings < count:
            self.ws.pinged.clear()
            await self.ws.pinged.wait()

    async def until(self, event_type: str) -> dict[str, object]:
        while True:
            event = await self.next_event()
            if event["type"] == event_type:
                return event


async def echo_script(conn: FakeConnection) -> None:
    """Answer session.update and record everything until the relay closes."""
    while True:
        event = await conn.next_event()
        if event["type"] == "session.update":
            await conn.send({"type": "session.updated", "session": {"instructions": "x"}})


async def confirm_enforced_session(conn: FakeConnection) -> None:
    """Greet with session.created and confirm the relay's enforced update, as Azure does.

    The update stays queued, so the script's first `next_event` still returns it.
    """
    await conn.send({"type": "session.created", "session": {"instructions": "", "tools": []}})
    frame = await conn.ws.recv()
    conn.pending.append(frame)
    if orjson.loads(frame).get("type") == "session.update":
        await conn.send({"type": "session.updated", "session": {"type": "realtime"}})


class FakeUpstream:
    """Start with `async with FakeUpstream(script) as fake:`; dial `fake.url`."""

    def __init__(
        self,
        script: Script = echo_script,
        handshake_plan: list[Step] | None = None,
        *,
        confirm_session: bool = True,
    ) -> None:
        self.script = script
        self.confirm_session = confirm_session
        self.handshake_plan = list(handshake_plan or [])
        self.handshakes = 0
        self.connections: list[FakeConnection] = []
        self._server: Server | None = None
        self._release = asyncio.Event()
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> FakeUpstream:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            max_size=None,
            close_timeout=1,
            ping_interval=None,
            create_connection=PingCountingConnection,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @classmethod
    def answering(cls, on_event: OnEvent) -> FakeUpstream:
        """A fake that calls `on_event(conn, event)` for every client event it receives."""

        async def script(conn: FakeConnection) -> None:
            while True:
                await on_event(conn, await conn.next_event())

        return cls(script)

    def events(self) -> list[dict[str, Any]]:
        """Every client event received, parsed, over all connections in order."""
        return [orjson.loads(frame) for conn in self.connections for frame in conn.received]

    def received_types(self) -> list[str]:
        return [str(event.get("type")) for event in self.events()]

    @property
    def close_codes(self) -> list[int | None]:
        """The close code of each connection that has ended, in order of connection."""
        return [conn.close_code for conn in self.connections if conn.closed.is_set()]

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _process_request(self, _conn: ServerConnection, _request: Request) -> Response | None:
        self.handshakes += 1
        await self._notify()
        if not self.handshake_plan:
            return None
        step = self.handshake_plan.pop(0)
        if step == "hang":
            await self._release.wait()
            return Response(503, "Service Unavailable", Headers(), b"")
        headers = Headers(step.headers)
        return Response(step.status, "Refused", headers, b"refused")

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, PingCountingConnection)
        conn = FakeConnection(ws, notify=self._notify)
        self.connections.append(conn)
        await self._notify()
        try:
            with contextlib.suppress(ConnectionClosed):
                if self.confirm_session:
                    await confirm_enforced_session(conn)
                await self.script(conn)
                await ws.wait_closed()
        finally:
            conn.close_code = ws.close_code
            conn.closed.set()
            await self._notify()
