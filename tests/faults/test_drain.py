"""SIGTERM drains: sessions continue, then get 1012, and nothing they sent is lost."""

from __future__ import annotations

import asyncio
import base64
import signal
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.simulator import Simulator
from tests.support.relay_process import relay_process

SESSIONS = 20
DRAIN_SECONDS = 1.0
CHUNK = base64.b64encode(bytes(960)).decode()  # 20 ms of 24 kHz pcm16 silence


class Streamer:
    """One client streaming real-time appends until the relay tells it to go."""

    def __init__(self, ws: ClientConnection, index: int) -> None:
        self.ws = ws
        self.index = index
        self.sent_before_notice: list[str] = []
        self.notice: dict[str, object] | None = None
        self.close_code: int | None = None

    async def stream(self) -> None:
        sequence = 0
        while self.notice is None:
            event_id = f"c{self.index}-{sequence}"
            try:
                await self.ws.send(
                    f'{{"type":"input_audio_buffer.append","event_id":"{event_id}","audio":"{CHUNK}"}}'
                )
            except ConnectionClosed:
                return
            if self.notice is None:
                self.sent_before_notice.append(event_id)
            sequence += 1
            await asyncio.sleep(0.02)  # real-time pacing: 50 appends per second

    async def listen(self) -> None:
        try:
            while True:
                event = orjson.loads(await self.ws.recv())
                if event["type"] == "error":
                    self.notice = event
        except ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd else None


async def test_sigterm_drains_live_sessions_then_closes_them_with_1012(tmp_path: Path) -> None:
    """20 streaming sessions survive the drain, then get server_shutting_down and 1012 with
    every append they sent before the notice delivered upstream; the process exits in time."""
    async with Simulator() as sim:
        async with relay_process(
            tmp_path,
            RELAY_UPSTREAM="simulator",
            AZURE_OPENAI_ENDPOINT=sim.url,
            RELAY_DRAIN_SECONDS=str(DRAIN_SECONDS),
        ) as relay:
            streamers = []
            for index in range(SESSIONS):
                ws = await connect(relay.ws_url(), open_timeout=10, compression=None)
                streamers.append(Streamer(ws, index))
            tasks = [asyncio.create_task(s.stream()) for s in streamers]
            tasks += [asyncio.create_task(s.listen()) for s in streamers]
            await sim.wait_for(
                lambda: sum(len(c.received) > 5 for c in sim.connections) == SESSIONS, 10
            )
            relay.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await relay.wait_for_line("draining")  # signals are delivered asynchronously
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{relay.port}/readyz") as ready:
                    assert ready.status == 503
            with pytest.raises(InvalidStatus) as refused:
                await connect(relay.ws_url(), open_timeout=5)
            assert refused.value.response.status_code == 503
            async with asyncio.timeout(DRAIN_SECONDS + 10):
                await asyncio.gather(*tasks)
                await relay.proc.wait()
            exited = time.monotonic() - signalled
        received = {}
        for connection in sim.connections:
            ids = [e.get("event_id") for e in connection.received_events()[1:]]
            if ids:
                received[str(ids[0]).split("-")[0]] = ids
    assert exited < DRAIN_SECONDS + 5
    for streamer in streamers:
        assert streamer.notice is not None
        assert streamer.notice["error"]["code"] == "server_shutting_down"  # type: ignore[index]
        assert streamer.close_code == 1012
        delivered = received[f"c{streamer.index}"]
        assert delivered[: len(streamer.sent_before_notice)] == streamer.sent_before_notice
