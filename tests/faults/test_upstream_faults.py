"""Fault injection on the upstream leg: every failure reaches the client in a form
its reconnect logic understands, and nothing hangs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_event, recv_until, send_event
from tests.support.fake_upstream import FakeConnection, FakeUpstream, Refuse


@contextlib.asynccontextmanager
async def relay_for(fake: FakeUpstream, **overrides: Any) -> AsyncIterator[RunningRelay]:
    """A relay whose upstream is the fake."""
    values: dict[str, Any] = {
        "upstream": "simulator",
        "azure_endpoint": fake.url,
        "upstream_connect_timeout_seconds": 2.0,
    }
    values.update(overrides)
    async with running_relay(make_settings(**values)) as relay:
        yield relay


async def _refusal(relay: RunningRelay) -> tuple[int, Headers, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(relay.ws_url(), open_timeout=10):
            pass
    response = refused.value.response
    return response.status_code, response.headers, orjson.loads(response.body or b"{}")


async def _closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None, str | None]:
    """Every event until the relay closes, and the close code and reason."""
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(10):
            while True:
                events.append(orjson.loads(await ws.recv()))
    except ConnectionClosed as closed:
        rcvd = closed.rcvd
        return events, rcvd.code if rcvd else None, rcvd.reason if rcvd else None
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("plan", "status", "handshakes"),
    [
        pytest.param([Refuse(401)] * 3, 502, 1, id="401-never-retried"),
        pytest.param([Refuse(403)] * 3, 502, 1, id="403-never-retried"),
        pytest.param([Refuse(500)] * 100, 502, None, id="500-retried-then-502"),
        pytest.param([Refuse(503)] * 100, 502, None, id="503-retried-then-502"),
        pytest.param(
            [Refuse(429, {"Retry-After": "30"})], 503, 1, id="429-retry-after-beyond-budget"
        ),
    ],
)
async def test_refused_handshakes_map_to_http_statuses(
    plan: list[Refuse], status: int, handshakes: int | None
) -> None:
    """401/403 give 502 at once; 5xx are retried then 502; a long 429 gives 503 with Retry-After."""
    async with FakeUpstream(handshake_plan=list(plan)) as fake, relay_for(fake) as relay:
        got, headers, body = await _refusal(relay)
    assert got == status
    assert body["error"]["code"] == "upstream_unavailable"
    if handshakes is not None:
        assert fake.handshakes == handshakes
    else:
        assert fake.handshakes > 1
    if status == 503:
        assert int(headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param([Refuse(429, {"Retry-After": "0"})], id="429-then-ok"),
        pytest.param([Refuse(500), Refuse(503)], id="5xx-then-ok"),
    ],
)
async def test_transient_refusals_are_retried_within_the_budget(plan: list[Refuse]) -> None:
    """A 429 whose Retry-After fits, or a passing 5xx, is retried and the session opens."""
    async with FakeUpstream(handshake_plan=list(plan)) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=10) as ws:
            created = await recv_event(ws)
    assert created["type"] == "session.created"
    assert fake.handshakes == len(plan) + 1


async def test_hanging_handshake_gives_504_within_the_budget() -> None:
    """An upstream that never answers the handshake gives 504 once the budget is spent."""
    async with FakeUpstream(handshake_plan=["hang"]) as fake:
        async with relay_for(fake, upstream_connect_timeout_seconds=0.3) as relay:
            status, _, _ = await _refusal(relay)
    assert status == 504


async def test_silent_upstream_keeps_the_session_usable() -> None:
    """An upstream that accepts and then says nothing still receives the client's events."""
    got_client_event = asyncio.Event()

    async def silent(conn: FakeConnection) -> None:
        await conn.next_event()  # the enforced session.update
        await conn.next_event()
        got_client_event.set()
        while True:
            await conn.next_event()

    async with FakeUpstream(silent) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            await send_event(ws, {"type": "input_audio_buffer.clear", "event_id": "c1"})
            async with asyncio.timeout(5):
                await got_client_event.wait()
        async with asyncio.timeout(5):
            await fake.connections[0].closed.wait()
    assert orjson.loads(fake.connections[0].received[1])["event_id"] == "c1"
    assert fake.connections[0].close_code == 1000


async def test_unresponsive_upstream_closes_the_client_with_1011() -> None:
    """An upstream that stops answering pings ends the session: error event, then 1011."""

    async def frozen(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        transport = conn.ws.transport
        transport.pause_reading()  # no more pongs
        await conn.ws.wait_closed()

    async with FakeUpstream(frozen) as fake:
        async with relay_for(fake, ping_interval_seconds=0.2, ping_timeout_seconds=0.2) as relay:
            async with connect(relay.ws_url(), open_timeout=5) as ws:
                events, code, reason = await _closed(ws)
    assert events[-1]["error"]["code"] == "upstream_unresponsive"
    assert (code, reason) == (1011, "upstream_unresponsive")


async def test_keepalive_pings_an_answering_upstream_and_the_session_stays_open() -> None:
    """Pings every RELAY_PING_INTERVAL_SECONDS; an upstream that answers keeps the session."""
    async with FakeUpstream() as fake:
        async with relay_for(fake, ping_interval_seconds=0.05, ping_timeout_seconds=2) as relay:
            async with connect(relay.ws_url(), open_timeout=5) as ws:
                await recv_until(ws, "session.created")
                conn = fake.connections[0]
                async with asyncio.timeout(5):
                    await conn.pings_received(3)
                # Still open both ways: the fake answers a session.update after the pings.
                await send_event(ws, {"type": "session.update", "session": {"type": "realtime"}})
                await recv_until(ws, "session.updated")
    assert conn.ws.pings >= 3


async def test_upstream_pings_are_answered() -> None:
    """Azure may ping the relay: the pong goes back and the session carries on."""

    async def pinger(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        pong = await conn.ws.ping(b"azure")
        async with asyncio.timeout(5):
            await pong
        await conn.send({"type": "conversation.item.created", "item": {"id": "after-pong"}})
        await conn.ws.wait_closed()

    async with FakeUpstream(pinger) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            event, _ = await recv_until(ws, "conversation.item.created")
    assert event["item"]["id"] == "after-pong"


async def test_upstream_close_frame_without_a_code_gives_1011_upstream_closed() -> None:
    """A close frame with no status (1005 cannot be sent on) becomes 1011 upstream_closed."""

    async def bare_close(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("input_audio_buffer.clear")
        conn.ws.transport.write(b"\x88\x00")  # FIN + close opcode, empty payload
        await conn.ws.wait_closed()

    async with FakeUpstream(bare_close) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            await send_event(ws, {"type": "input_audio_buffer.clear"})
            events, code, reason = await _closed(ws)
    assert events[-1]["error"]["code"] == "upstream_closed"
    assert (code, reason) == (1011, "upstream_closed")


async def test_upstream_text_that_is_not_utf8_gives_1011_and_the_upstream_1007() -> None:
    """Upstream text is no longer decoded by aiohttp: the relay's own check ends the session."""
    upstream_close: list[int | None] = []

    async def invalid_text(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("input_audio_buffer.clear")
        await conn.ws.send(b'{"type":"response.output_audio.delta","delta":"\xff"}', text=True)
        await conn.ws.wait_closed()
        upstream_close.append(conn.ws.close_code)

    async with FakeUpstream(invalid_text) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            await send_event(ws, {"type": "input_audio_buffer.clear"})
            events, code, reason = await _closed(ws)
    assert events[-1]["error"]["code"] == "upstream_closed"
    assert (code, reason) == (1011, "upstream_closed")
    assert upstream_close == [1007]


async def test_upstream_dropping_tcp_mid_response_gives_1011_upstream_closed() -> None:
    """A TCP drop without a close frame: the client gets upstream_closed, then 1011."""

    async def drop(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("response.create")
        await conn.send({"type": "response.created", "response": {"id": "r1"}})
        await conn.send({"type": "response.output_audio.delta", "delta": "AAAA"})
        conn.ws.transport.abort()

    async with FakeUpstream(drop) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            await send_event(ws, {"type": "response.create"})
            events, code, reason = await _closed(ws)
    assert [e["type"] for e in events][-2:] == ["response.output_audio.delta", "error"]
    assert events[-1]["error"]["code"] == "upstream_closed"
    assert events[-1]["event_id"].startswith("rs_")
    assert (code, reason) == (1011, "upstream_closed")


async def test_upstream_session_expiry_reaches_the_client_as_1001() -> None:
    """Azure's 1001 session_expired is passed through so clients reconnect."""

    async def expire(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("input_audio_buffer.clear")
        await conn.ws.close(1001, "session_expired")

    async with FakeUpstream(expire) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            await send_event(ws, {"type": "input_audio_buffer.clear"})
            _, code, reason = await _closed(ws)
    assert (code, reason) == (1001, "session_expired")


async def test_a_5_mb_server_event_arrives_intact() -> None:
    """Server events larger than the client frame limit (audio items over 3 MB) pass whole."""
    audio = base64.b64encode(bytes(range(256)) * 15_000).decode()  # ~5 MB of base64

    async def big(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("conversation.item.retrieve")
        await conn.send({"type": "conversation.item.retrieved", "item": {"audio": audio}})
        await conn.ws.wait_closed()

    async with FakeUpstream(big) as fake:
        async with relay_for(fake, allowed_client_events=("conversation.item.retrieve",)) as relay:
            async with connect(relay.ws_url(), open_timeout=5, max_size=None) as ws:
                await send_event(ws, {"type": "conversation.item.retrieve", "item_id": "i"})
                event, _ = await recv_until(ws, "conversation.item.retrieved", seconds=10)
    assert len(audio) > 5_000_000
    assert event["item"]["audio"] == audio


async def test_a_slow_upstream_delivers_everything_in_order() -> None:
    """Events trickling in slowly all arrive, in order, byte for byte."""
    sent: list[str] = []

    async def slow(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("response.create")
        for index in range(20):
            frame = orjson.dumps(
                {"type": "response.output_audio.delta", "delta": f"{index:04d}"}
            ).decode()
            sent.append(frame)
            await conn.ws.send(frame)
            await asyncio.sleep(0.01)  # the fault under test: a slow upstream
        await conn.send({"type": "response.done", "response": {"id": "r"}})
        await conn.ws.wait_closed()

    received: list[str] = []
    async with FakeUpstream(slow) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            await send_event(ws, {"type": "response.create"})
            async with asyncio.timeout(10):
                while True:
                    frame = await ws.recv()
                    assert isinstance(frame, str)
                    if '"response.output_audio.delta"' in frame:
                        received.append(frame)
                    if '"response.done"' in frame:
                        break
    assert received == sent
