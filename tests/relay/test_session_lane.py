"""The client pump's synchronous lane: what it writes at once, and what it leaves to the pump.

A real `RelaySession` runs over two scripted sockets at its seams. The client
stands in for the relay's WebSocket protocol: `read` hands a text frame to the
lane the session set, as the protocol does inside its read, or queues it for
`receive` when the lane is unset or a message is already queued. The upstream
records what is written at once (`write`) and what went through the awaited
`send`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import orjson
import pytest

from app.errors import UpstreamClosed
from app.policy import GA
from app.relay import EndCause, RelaySession, SessionEnd
from app.relay.client import Lane
from app.relay.limits import SessionLimits
from tests.policy.factories import make_policy

APPEND = '{"type":"input_audio_buffer.append","audio":"AAAA","event_id":"a1"}'
UNKNOWN = '{"type":"session.hijack"}'
LIMITS = SessionLimits(
    events_per_second=1000.0,
    events_burst=100,
    max_session_seconds=100.0,
    idle_timeout_seconds=30.0,
    backpressure_timeout_seconds=8.0,
    close_timeout_seconds=1.0,
    notice_grace_seconds=0.1,
    usage_grace_seconds=0.1,
)


class Client:
    """The server's side of the client, as the relay's protocol offers it."""

    ascii_text = False

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self.sent: list[MutableMapping[str, Any]] = []
        self.lanes: list[Lane | None] = []
        self.laned = asyncio.Event()

    async def receive(self) -> MutableMapping[str, Any]:
        return await self.inbox.get()

    async def send(self, message: MutableMapping[str, Any], /) -> None:
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.sent.append({"type": "websocket.close", "code": code})

    def waiting(self) -> bool:
        return not self.inbox.empty()

    def lane(self, receiver: Lane | None) -> None:
        self.lanes.append(receiver)
        self.laned.set()

    def read(self, text: str, more: bool = False) -> bool:
        """One text frame read; True when the lane took it (nothing was queued)."""
        lane = self.lanes[-1] if self.lanes else None
        message: MutableMapping[str, Any] | None = {"type": "websocket.receive", "text": text}
        if lane is not None and self.inbox.empty():
            message = lane(text, more)
        if message is None:
            return True
        self.inbox.put_nowait(message)
        return False

    def leave(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})


class Upstream:
    """The upstream's side: writes and sends recorded, nothing ever received."""

    def __init__(self) -> None:
        self.is_ready = True
        self.written: list[tuple[str, bool]] = []
        self.sent: list[str] = []
        self.fault: Exception | None = None
        self.send_seen = asyncio.Event()

    def ready(self) -> bool:
        return self.is_ready

    def write(self, text: str, more: bool = False) -> None:
        if self.fault is not None:
            raise self.fault
        self.written.append((text, more))

    async def send(self, text: str, more: bool = False) -> None:
        self.sent.append(text)
        self.send_seen.set()

    async def recv(self) -> str | None:
        await asyncio.Event().wait()  # the upstream says nothing
        raise AssertionError("unreachable")

    async def recv_raw(self) -> str | bytes | None:
        return await self.recv()

    async def close(self, code: int) -> None:
        pass


class Running:
    def __init__(self, client: Client, upstream: Upstream, session: RelaySession) -> None:
        self.client = client
        self.upstream = upstream
        self.session = session
        self.task = asyncio.create_task(session.run())

    async def end(self) -> SessionEnd:
        async with asyncio.timeout(10):
            return await self.task


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    client, upstream = Client(), Upstream()
    session = RelaySession(client, upstream, make_policy(GA), "rs_lane", LIMITS)
    run = Running(client, upstream, session)
    try:
        async with asyncio.timeout(10):
            await client.laned.wait()
        yield run
    finally:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


async def test_a_frame_read_while_the_pump_waits_is_judged_and_written_in_the_read(
    running: Running,
) -> None:
    """The lane forwards the append as it came, with the read's `more`, and queues nothing."""
    assert running.client.read(APPEND, more=True)
    assert running.client.read(APPEND, more=False)
    assert running.upstream.written == [(APPEND, True), (APPEND, False)]
    assert running.client.inbox.empty()
    assert running.session.stats.events_up == 2


async def test_while_the_upstream_is_held_back_a_frame_goes_to_the_pump_unjudged(
    running: Running,
) -> None:
    """Flow control (or closing) upstream: the frame is queued as read; the pump's send waits."""
    running.upstream.is_ready = False
    assert not running.client.read(APPEND)
    assert running.session.stats.events_up == 0  # judged by the pump, not by the lane
    async with asyncio.timeout(10):
        await running.upstream.send_seen.wait()
    assert running.upstream.sent == [APPEND]
    assert running.upstream.written == []
    assert running.session.stats.events_up == 1


async def test_a_refusal_judged_by_the_lane_reaches_the_client_through_the_pump(
    running: Running,
) -> None:
    """An unknown event is refused once, by the lane; the pump sends the client its error."""
    assert not running.client.read(UNKNOWN)
    running.client.leave()
    end = await running.end()
    errors = [orjson.loads(m["text"]) for m in running.client.sent if m.get("text")]
    assert [event["type"] for event in errors] == ["error"]
    assert running.upstream.written == []
    assert running.upstream.sent == []
    assert end.cause is EndCause.CLIENT_CLOSED


async def test_an_upstream_closed_under_the_lane_ends_the_session_as_upstream_closed(
    running: Running,
) -> None:
    running.upstream.fault = UpstreamClosed(1001, "session_expired")
    assert not running.client.read(APPEND)
    end = await running.end()
    assert (end.cause, end.code, end.reason) == (EndCause.UPSTREAM_CLOSED, 1001, "session_expired")


async def test_a_fault_in_the_lane_ends_the_session_with_an_error(running: Running) -> None:
    """Raised inside the server's read, it is raised again by the pump, not lost."""
    running.upstream.fault = RuntimeError("boom")
    assert not running.client.read(APPEND)
    end = await running.end()
    assert end.cause is EndCause.ERROR


async def test_the_lane_is_taken_back_when_the_client_leaves(running: Running) -> None:
    running.client.leave()
    end = await running.end()
    assert end.cause is EndCause.CLIENT_CLOSED
    assert len(running.client.lanes) == 2
    assert running.client.lanes[0] is not None
    assert running.client.lanes[1] is None


async def test_at_debug_every_frame_goes_through_the_pump_for_its_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.relay.session")
    client, upstream = Client(), Upstream()
    run = Running(client, upstream, RelaySession(client, upstream, make_policy(GA), "rs_d", LIMITS))
    client.read(APPEND)
    async with asyncio.timeout(10):
        await upstream.send_seen.wait()
    client.leave()
    await run.end()
    assert client.lanes == [None]  # never set; taken back all the same
    assert upstream.sent == [APPEND]
    assert any(record.getMessage() == "event" for record in caplog.records)
