"""Soak: 200 concurrent sessions for 30 s, every event exactly once, in order, byte-exact,
and the relay's memory back near its baseline afterwards.

Set SOAK_SECONDS / SOAK_SESSIONS to shorten a local run. Figures are written to
test-artifacts/soak.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support.fake_upstream import FakeConnection, FakeUpstream
from tests.support.relay_process import relay_process

SESSIONS = int(os.environ.get("SOAK_SESSIONS", "200"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))
APPEND_INTERVAL = 0.02  # 50 appends per second per session
DELTA_INTERVAL = 0.1  # 10 audio deltas per second per session
_FILLER_UP = bytes(range(256)) * 4
_FILLER_DOWN = bytes(range(255, -1, -1)) * 19


def append_audio(session: int, sequence: int) -> str:
    """20 ms of deterministic 'audio' unique to (session, sequence)."""
    return base64.b64encode(f"{session:04d}{sequence:08d}".encode() + _FILLER_UP[:948]).decode()


def delta_audio(session: int, sequence: int) -> str:
    """A deterministic downstream audio delta (~6.4 kB of base64)."""
    return base64.b64encode(f"{session:04d}{sequence:08d}".encode() + _FILLER_DOWN[:4788]).decode()


@dataclass
class Upstream:
    """The fake upstream's script: checks every append in order, streams numbered deltas."""

    errors: list[str] = field(default_factory=list)
    events: int = 0

    async def script(self, conn: FakeConnection) -> None:
        ws = conn.ws  # read raw: the fake's own record of 300k appends would cost gigabytes
        session: int | None = None
        expected = 0
        sent = 0
        stop = asyncio.Event()

        async def stream(index: int) -> None:
            nonlocal sent
            while not stop.is_set():
                await ws.send(
                    orjson.dumps(
                        {
                            "type": "response.output_audio.delta",
                            "event_id": f"d{index}-{sent}",
                            "delta": delta_audio(index, sent),
                        }
                    ).decode()
                )
                sent += 1
                await asyncio.sleep(DELTA_INTERVAL)

        streamer: asyncio.Task[None] | None = None
        try:
            async for frame in ws:
                self.events += 1
                event = orjson.loads(frame)
                if event["type"] != "input_audio_buffer.append":
                    if event["type"] == "input_audio_buffer.commit" and streamer is not None:
                        stop.set()
                        await streamer
                        done = {
                            "type": "response.done",
                            "response": {
                                "id": "r",
                                "metadata": {"deltas": sent, "appends": expected},
                            },
                        }
                        await ws.send(orjson.dumps(done).decode())
                    continue
                name, number = event["event_id"][1:].split("-")
                index, sequence = int(name), int(number)
                if session is None:
                    session = index
                    streamer = asyncio.create_task(stream(index))
                if (index, sequence) != (session, expected) or event["audio"] != append_audio(
                    index, sequence
                ):
                    self.errors.append(
                        f"session {session}: got {index}-{sequence}, wanted {expected}"
                    )
                expected += 1
        finally:
            stop.set()
            if streamer is not None:
                streamer.cancel()
                await asyncio.gather(streamer, return_exceptions=True)


@dataclass
class Client:
    index: int
    ws: ClientConnection
    sent: int = 0
    received: int = 0
    errors: list[str] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    async def run(self, until: float) -> None:
        reader = asyncio.create_task(self.read())
        while time.monotonic() < until:
            event_id = f"s{self.index}-{self.sent}"
            await self.ws.send(
                f'{{"type":"input_audio_buffer.append","event_id":"{event_id}",'
                f'"audio":"{append_audio(self.index, self.sent)}"}}'
            )
            self.sent += 1
            await asyncio.sleep(APPEND_INTERVAL)
        await self.ws.send('{"type":"input_audio_buffer.commit"}')
        async with asyncio.timeout(60):
            await reader
        await self.ws.close()

    async def read(self) -> None:
        while True:
            event = orjson.loads(await self.ws.recv())
            if event["type"] == "response.output_audio.delta":
                if event["delta"] != delta_audio(self.index, self.received):
                    self.errors.append(f"delta {event['event_id']} out of order or altered")
                self.received += 1
            elif event["type"] == "response.done":
                self.summary = event["response"]["metadata"]
                return


async def _round(port: int, seconds: float) -> list[Client]:
    clients = [
        Client(
            i, await connect(f"ws://127.0.0.1:{port}/realtime", compression=None, open_timeout=30)
        )
        for i in range(SESSIONS)
    ]
    until = time.monotonic() + seconds
    async with asyncio.timeout(seconds + 120):
        await asyncio.gather(*(c.run(until) for c in clients))
    return clients


WARM_UP_SECONDS = 2.0


@pytest.mark.slow
async def test_soak_200_sessions_lose_nothing_and_leak_nothing(tmp_path: Path) -> None:
    """Every append and delta arrives exactly once, in order, byte-exact; RSS returns to baseline."""
    upstream = Upstream()
    async with FakeUpstream(upstream.script) as fake:
        async with relay_process(
            tmp_path,
            RELAY_UPSTREAM="simulator",
            AZURE_OPENAI_ENDPOINT=fake.url,
            RELAY_MAX_SESSIONS=str(SESSIONS * 2),
        ) as relay:
            started = relay.rss_kib()
            # A warm-up round first: first-use allocations are not leaks.
            warm_up = await _round(relay.port, WARM_UP_SECONDS)
            await _wait_closed(fake, SESSIONS)
            baseline = relay.rss_kib()
            sampler = asyncio.create_task(_sample(relay.rss_kib))
            clients = await _round(relay.port, SECONDS)
            peak = await _stop(sampler)
            await _wait_closed(fake, SESSIONS * 2)
            after = relay.rss_kib()
    appends = sum(c.sent for c in clients)
    # What this machine's load generator could send, measured in the warm-up: the test is
    # about loss and memory, so its pace is judged against the machine, not the clock.
    could_send = sum(c.sent for c in warm_up) / WARM_UP_SECONDS * SECONDS
    deltas = sum(c.received for c in clients)
    figures = {
        "sessions": SESSIONS,
        "seconds": SECONDS,
        "appends_sent": appends,
        "appends_warm_up_pace": round(could_send),
        "deltas_received": deltas,
        "losses": sum(c.summary.get("appends", -1) != c.sent for c in clients)
        + sum(c.summary.get("deltas", -1) != c.received for c in clients),
        "rss_kib": {"start": started, "baseline": baseline, "peak": peak, "after": after},
    }
    await asyncio.to_thread(_write_figures, figures)
    assert upstream.errors == []
    assert [e for c in clients for e in c.errors] == []
    for c in clients:
        assert c.summary == {"deltas": c.received, "appends": c.sent}
    assert all(c.sent > 0 and c.received > 0 for c in clients)  # both directions streamed
    assert appends >= could_send * 0.25, figures  # the generator kept sending throughout
    assert after <= baseline * 1.10, figures


def _write_figures(figures: dict[str, object]) -> None:
    artifacts = Path("test-artifacts")
    artifacts.mkdir(exist_ok=True)
    (artifacts / "soak.json").write_text(json.dumps(figures, indent=2))


async def _sample(read: Callable[[], int]) -> int:
    peak = 0
    try:
        while True:
            peak = max(peak, read())
            await asyncio.sleep(0.5)  # a sampling interval, not synchronisation
    except asyncio.CancelledError:
        return peak


async def _stop(task: asyncio.Task[int]) -> int:
    task.cancel()
    return await task


async def _wait_closed(fake: FakeUpstream, count: int) -> None:
    await fake.wait_for(lambda: len(fake.close_codes) >= count, seconds=60)
