"""A scriptable fake upstream for fault injection, on 127.0.0.1.

Each handshake takes the next entry of `handshake_plan` (an HTTP status to
refuse with, optional headers, or "hang"); once the plan is used up,
handshakes are accepted and `script` runs the connection.
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
    sent: int = 0
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, event: dict[str, object]) -> None:
        """Send a server event; like Azure's, it gets an `event_id` if the script gave none."""
        self.sent += 1
        await self.ws.send(orjson.dumps({"event_id": f"event_fake_{self.sent}", **event}).decode())

    async def next_event(self) -> dict[str, object]:
        frame = self.pending.pop(0) if self.pending else await self.ws.recv()
        assert isinstance(frame, str)
        self.received.append(frame)
        event: dict[str, object] = orjson.loads(frame)
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
        conn = FakeConnection(ws)
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
