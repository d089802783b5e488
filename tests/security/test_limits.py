"""Abuse limits: sessions per identity and in total, event rate, duration and idling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.security.tokens import ALICE, BOB
from tests.support.events import recv_event, recv_until
from tests.support.settings import relay_settings


@contextlib.asynccontextmanager
async def _relay(simulator: Simulator, **overrides: Any) -> AsyncIterator[RunningRelay]:
    settings = make_settings(
        **relay_settings(simulator, "ga"),
        auth="token",
        auth_tokens=(f"alice:{ALICE}", f"bob:{BOB}"),
        **overrides,
    )
    async with running_relay(settings) as relay:
        yield relay


async def _open(relay: RunningRelay, token: str) -> ClientConnection:
    ws = await connect(relay.ws_url(), additional_headers={"api-key": token}, open_timeout=5)
    await recv_event(ws)
    return ws


async def _refused_status(relay: RunningRelay, token: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await _open(relay, token)
    return refused.value.response.status_code


async def test_too_many_sessions_per_identity_get_429(simulator: Simulator) -> None:
    """An identity past RELAY_MAX_SESSIONS_PER_IDENTITY gets 429; others are unaffected."""
    async with _relay(simulator, max_sessions_per_identity=2) as relay:
        first, second = await _open(relay, ALICE), await _open(relay, ALICE)
        assert await _refused_status(relay, ALICE) == 429
        other = await _open(relay, BOB)
        await first.close()
        await simulator.wait_for(lambda: sum(c.closed for c in simulator.connections) == 1)
        again = await _open(relay, ALICE)  # the slot came back
        for ws in (second, other, again):
            await ws.close()


async def test_too_many_sessions_in_total_get_503(simulator: Simulator) -> None:
    """Past RELAY_MAX_SESSIONS every caller gets 503 at_capacity, before the upstream is dialed."""
    async with _relay(simulator, max_sessions=2) as relay:
        first, second = await _open(relay, ALICE), await _open(relay, BOB)
        assert await _refused_status(relay, BOB) == 503
        assert len(simulator.handshakes) == 2
        await first.close()
        await second.close()


async def test_event_flood_past_the_rate_limit_is_refused_not_forwarded(
    simulator: Simulator,
) -> None:
    """Events beyond the token bucket get rate_limited errors and do not reach the upstream."""
    async with _relay(simulator, client_events_per_second=1.0, client_events_burst=3) as relay:
        ws = await _open(relay, ALICE)
        for index in range(20):
            await ws.send(f'{{"type":"input_audio_buffer.clear","event_id":"e{index}"}}')
        codes: list[str] = []
        echoed: list[str] = []
        async with asyncio.timeout(5):
            while len(codes) < 17:
                event = await recv_event(ws)
                if event["type"] == "error":
                    codes.append(event["error"]["code"])
                    echoed.append(event["error"]["event_id"])
        await ws.close()
    assert set(codes) == {"rate_limited"}
    assert echoed == [f"e{index}" for index in range(3, 20)]  # each refusal names its event
    forwarded = simulator.connections[0].received_events()[1:]
    assert [e["event_id"] for e in forwarded] == ["e0", "e1", "e2"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"idle_timeout_seconds": 0.3}, "idle_timeout", id="idle"),
        pytest.param({"max_session_seconds": 0.3}, "session_expired", id="max-duration"),
    ],
)
async def test_session_limits_send_an_error_then_close_1001(
    simulator: Simulator, overrides: dict[str, Any], code: str
) -> None:
    """Idle and maximum-duration limits send the named error event, then close with 1001."""
    async with _relay(simulator, **overrides) as relay:
        ws = await _open(relay, ALICE)
        error, _ = await recv_until(ws, "error")
        with pytest.raises(ConnectionClosed) as closed:
            await recv_event(ws)
    assert error["error"]["code"] == code
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, code)
    await simulator.wait_for(lambda: simulator.connections[0].closed)
    assert simulator.connections[0].close_code == 1000
