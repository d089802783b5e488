"""One session's worst-case frames do not stall another session."""

from __future__ import annotations

import asyncio
import statistics
import time

from websockets.asyncio.client import ClientConnection, connect

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_until
from tests.support.settings import relay_settings

# Just under the 1 MiB frame limit: about 333k empty objects, the costliest shape to parse.
WORST = '{"type":"response.cancel","x":[' + ",".join(["{}"] * 333_000) + "]}"
WORST_FRAMES = 150  # within the default burst of 200, so every one is judged, none rate limited
ROUND_TRIPS = 100


async def _flood(ws: ClientConnection) -> None:
    for _ in range(WORST_FRAMES):
        await ws.send(WORST)


async def _round_trips(ws: ClientConnection, flooding: asyncio.Task[None]) -> list[float]:
    times: list[float] = []
    while len(times) < ROUND_TRIPS or (not flooding.done() and len(times) < 10 * ROUND_TRIPS):
        started = time.perf_counter()
        await ws.send('{"type":"input_audio_buffer.clear"}')
        await recv_until(ws, "input_audio_buffer.cleared")
        times.append(time.perf_counter() - started)
    return times


async def test_a_flood_of_worst_case_frames_keeps_another_sessions_p99_under_50_ms() -> None:
    """Another session's round trips keep a p99 under 50 ms while one session sends its worst."""
    assert len(WORST) < 1024 * 1024
    async with Simulator(api_key="sim-key") as simulator:
        settings = make_settings(**relay_settings(simulator, "ga"))
        async with running_relay(settings) as relay:
            await _measure(relay)


async def _measure(relay: RunningRelay) -> None:
    async with (
        connect(relay.ws_url(), open_timeout=10, max_size=None) as attacker,
        connect(relay.ws_url(), open_timeout=10) as victim,
    ):
        await recv_until(victim, "session.updated")
        async with asyncio.timeout(120):
            flooding = asyncio.create_task(_flood(attacker))
            times = await _round_trips(victim, flooding)
            await flooding
            refused, _ = await recv_until(attacker, "error")
    assert refused["error"]["code"] == "invalid_event"  # each worst frame was judged and refused
    p99 = statistics.quantiles(times, n=100)[98]
    assert p99 < 0.050, {"p99_ms": round(p99 * 1000, 1), "round_trips": len(times)}
