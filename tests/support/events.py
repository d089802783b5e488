"""Client events to send and server events to wait for, shared by the suites."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

__all__ = ["recv_event", "recv_until", "send_event", "user_text"]

Event = dict[str, Any]


def user_text(text: str) -> Event:
    """A `conversation.item.create` for a user text message."""
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


async def send_event(ws: ClientConnection, event: Event) -> None:
    await ws.send(orjson.dumps(event).decode())


async def recv_event(ws: ClientConnection, seconds: float = 5.0) -> Event:
    """The next event, parsed (TimeoutError after `seconds`)."""
    async with asyncio.timeout(seconds):
        frame = await ws.recv()
    event: Event = orjson.loads(frame)
    return event


async def recv_until(
    ws: ClientConnection, event_type: str, seconds: float = 5.0
) -> tuple[Event, list[Event]]:
    """Read events until one of `event_type`; returns it and everything read before it."""
    seen: list[Event] = []
    async with asyncio.timeout(seconds):
        while True:
            event = await recv_event(ws, seconds)
            if event["type"] == event_type:
                return event, seen
            seen.append(event)
