"""Fault injection on the client leg, and a credential that fails then recovers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.simulator import Simulator
from app.upstream import EntraCredential
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_until, send_event
from tests.support.fake_upstream import FakeConnection, FakeUpstream
from tests.support.token_endpoint import TokenEndpoint

FRAME_CHARS = 32 * 1024
FRAMES = 2000  # 64 MiB offered downstream


@contextlib.asynccontextmanager
async def relay_for(fake: FakeUpstream, **overrides: Any) -> AsyncIterator[RunningRelay]:
    values: dict[str, Any] = {"upstream": "simulator", "azure_endpoint": fake.url}
    values.update(overrides)
    async with running_relay(make_settings(**values)) as relay:
        yield relay


async def _read_all(ws: ClientConnection, errors: list[str]) -> None:
    async with asyncio.timeout(10):
        while True:
            frame = await ws.recv()
            if isinstance(frame, str) and '"type":"error"' in frame:
                errors.append(frame)


async def test_client_that_stops_reading_is_bounded_and_closed_with_1013() -> None:
    """A stalled reader stops the relay reading upstream, then gets backpressure and 1013."""
    sent = 0
    delta = "A" * FRAME_CHARS
    errors: list[str] = []

    async def flood(conn: FakeConnection) -> None:
        nonlocal sent
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("response.create")
        frame = f'{{"type":"response.output_audio.delta","delta":"{delta}"}}'
        for _ in range(FRAMES):
            await conn.ws.send(frame)
            sent += 1

    async with FakeUpstream(flood) as fake:
        async with relay_for(fake, backpressure_timeout_seconds=0.5) as relay:
            async with connect(relay.ws_url(), open_timeout=5, max_queue=1, max_size=None) as ws:
                await send_event(ws, {"type": "response.create"})
                # Stop reading. The relay must give up on us and close the upstream.
                await fake.wait_for(lambda: fake.connections[0].closed.is_set(), seconds=10)
                offered = sent
                with pytest.raises(ConnectionClosed) as closed:
                    await _read_all(ws, errors)
    assert fake.connections[0].close_code == 1000
    assert offered < FRAMES // 2, f"the relay kept reading: {offered} of {FRAMES} frames taken"
    assert any("backpressure" in c for c in errors), (errors, closed.value)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "backpressure")


async def test_client_vanishing_mid_response_cancels_it_and_closes_upstream() -> None:
    """A client lost without a close frame: response.cancel upstream, then close 1000."""
    cancelled = asyncio.Event()

    async def respond(conn: FakeConnection) -> None:
        await conn.send({"type": "session.created", "session": {}})
        await conn.until("response.create")
        await conn.send({"type": "response.created", "response": {"id": "resp_1"}})
        await conn.send({"type": "response.output_audio.delta", "delta": "AAAA"})
        await conn.until("response.cancel")
        cancelled.set()
        await conn.send(
            {"type": "response.done", "response": {"id": "resp_1", "status": "cancelled"}}
        )
        await conn.ws.wait_closed()

    async with FakeUpstream(respond) as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            await send_event(ws, {"type": "response.create"})
            await recv_until(ws, "response.output_audio.delta")
            ws.transport.abort()  # gone, no close frame
        async with asyncio.timeout(10):
            await cancelled.wait()
            await fake.connections[0].closed.wait()
    assert fake.connections[0].close_code == 1000


async def test_token_endpoint_failing_then_recovering_restores_service(
    token_endpoint: TokenEndpoint,
) -> None:
    """While no token exists sessions get 503; once the endpoint recovers they open again."""
    token_endpoint.failing = True
    async with Simulator(bearer_tokens={"token-1", "token-2"}) as sim:
        settings = make_settings(
            upstream="azure",
            azure_endpoint=sim.url,
            azure_deployment="gpt-realtime",
            upstream_connect_timeout_seconds=0.3,
        )
        async with running_relay(settings) as relay, aiohttp.ClientSession() as http:
            async with http.get(f"{relay.http_url}/readyz") as ready:
                assert ready.status == 503
            with pytest.raises(InvalidStatus) as refused:
                async with connect(relay.ws_url(), open_timeout=5):
                    pass
            assert refused.value.response.status_code == 503
            token_endpoint.failing = False
            credential = relay.runtime.agent().credential
            assert isinstance(credential, EntraCredential)
            async with asyncio.timeout(10):
                await credential.wait_first_token()
            async with http.get(f"{relay.http_url}/readyz") as ready:
                assert ready.status == 200
            async with connect(relay.ws_url(), open_timeout=5) as ws:
                created, _ = await recv_until(ws, "session.created")
    assert created["type"] == "session.created"
    assert sim.handshakes[0].headers["authorization"].startswith("Bearer token-")
