"""Test helpers: a small JSON client over a real socket and per-dialect payloads."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from websockets.asyncio.client import ClientConnection, connect

from app.simulator import Simulator
from app.simulator.session import RealtimeSession
from tests.support.events import recv_until

Dialect = Literal["ga", "preview"]
Event = dict[str, Any]
RECV_TIMEOUT = 5.0

AUDIO_DELTA = {"ga": "response.output_audio.delta", "preview": "response.audio.delta"}
TEXT_DELTA = {"ga": "response.output_text.delta", "preview": "response.text.delta"}
TRANSCRIPT_DELTA = {
    "ga": "response.output_audio_transcript.delta",
    "preview": "response.audio_transcript.delta",
}
TRANSCRIPT_DONE = {
    "ga": "response.output_audio_transcript.done",
    "preview": "response.audio_transcript.done",
}


def ws_url(sim: Simulator, dialect: Dialect = "ga", **query: str) -> str:
    """The WebSocket URL for `dialect`; `query` replaces the default query parameters."""
    if dialect == "ga":
        path, params = "/openai/v1/realtime", {"model": "gpt-realtime"}
    else:
        path = "/openai/realtime"
        params = {"api-version": "2025-04-01-preview", "deployment": "gpt-4o-realtime"}
    params.update(query)
    return sim.url.replace("http://", "ws://") + path + "?" + urlencode(params)


def b64(data: bytes) -> str:
    """Base64 text of `data`."""
    return base64.b64encode(data).decode()


def update(dialect: Dialect, *, vad: bool = True, text_only: bool = False) -> Event:
    """A ``session.update`` payload turning VAD off and/or output to text only."""
    session: Event = {"type": "realtime"} if dialect == "ga" else {}
    if not vad:
        if dialect == "ga":
            session["audio"] = {"input": {"turn_detection": None}}
        else:
            session["turn_detection"] = None
    if text_only:
        session["output_modalities" if dialect == "ga" else "modalities"] = ["text"]
    return {"type": "session.update", "session": session}


class Client:
    """JSON events over a client WebSocket, every receive bounded by a timeout."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.created: Event = {}

    async def send(self, event: Event) -> None:
        """Send one client event."""
        await self.ws.send(orjson.dumps(event).decode())

    async def recv(self) -> Event:
        """Receive one server event (TimeoutError after RECV_TIMEOUT seconds)."""
        async with asyncio.timeout(RECV_TIMEOUT):
            event: Event = orjson.loads(await self.ws.recv())
        return event

    async def until(self, event_type: str) -> list[Event]:
        """Receive events up to and including the first of `event_type`."""
        event, seen = await recv_until(self.ws, event_type, RECV_TIMEOUT)
        return [*seen, event]


@asynccontextmanager
async def open_client(
    sim: Simulator,
    dialect: Dialect = "ga",
    *,
    headers: dict[str, str] | None = None,
    vad: bool = True,
    text_only: bool = False,
) -> AsyncIterator[Client]:
    """Connect, read ``session.created`` and apply the requested session settings."""
    async with connect(ws_url(sim, dialect), additional_headers=headers, compression=None) as ws:
        client = Client(ws)
        client.created = await client.recv()
        assert client.created["type"] == "session.created"
        if not vad or text_only:
            await client.send(update(dialect, vad=vad, text_only=text_only))
            assert (await client.recv())["type"] == "session.updated"
        yield client


def deltas(events: list[Event], event_type: str) -> list[str]:
    """The ``delta`` fields of the events of `event_type`, in order."""
    return [e["delta"] for e in events if e["type"] == event_type]


def types(events: list[Event]) -> list[str]:
    """The event types, in order."""
    return [e["type"] for e in events]


def run(session: RealtimeSession, *events: object) -> list[Event]:
    """Feed `events` and drain any response stream, returning every server event in order."""
    out: list[Event] = []
    for event in events:
        out += session.handle(event)
        while (batch := session.step()) is not None:
            out += batch
    return out


def summary(events: list[Event]) -> list[str]:
    """Event types, with the error code appended to error events."""
    return [e["type"] + (f":{e['error']['code']}" if e["type"] == "error" else "") for e in events]
