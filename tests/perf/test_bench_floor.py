"""The benchmark's `floor` target (`python -m bench.floor`): the relay's processes and
handshake with its policy taken out. Real processes against the real fake upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from bench.targets import Started, start_fake, start_floor, start_relay, stop

WAIT = 30.0  # a bound on each wait, never a margin: every wait ends on an event
# A user message whose item carries a key no item has: the relay's policy never lets it by.
SMUGGLED = (
    '{"type":"conversation.item.create","item":{"id":"p1","type":"message","role":"user",'
    '"smuggled":"x","content":[{"type":"input_text","text":"hi"}]}}'
)


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[Started]:
    started = await start_fake(None, tmp_path)
    try:
        yield started
    finally:
        await stop(started)


async def _answer(target: Started) -> dict[str, object]:
    """The target's first event after `session.created` for `SMUGGLED`, past any
    `session.updated`."""
    async with connect(f"ws://127.0.0.1:{target.port}/realtime", compression=None) as client:
        created = orjson.loads(await asyncio.wait_for(client.recv(), WAIT))
        assert created["type"] == "session.created"
        await client.send(SMUGGLED)
        for _ in range(5):  # the floor passes on the enforced update's echo too
            event: dict[str, object] = orjson.loads(await asyncio.wait_for(client.recv(), WAIT))
            if event["type"] != "session.updated":
                return event
        raise AssertionError("no answer to the item")


async def test_the_floor_forwards_what_the_relays_policy_stops(
    fake: Started, tmp_path: Path
) -> None:
    floor = await start_floor(fake.port, None, tmp_path)
    try:
        echoed = await _answer(floor)
    finally:
        await stop(floor)
    assert echoed["type"] == "conversation.item.created"
    assert echoed["item"] == orjson.loads(SMUGGLED)["item"]  # forwarded as it came

    relay = await start_relay(fake.port, None, tmp_path)
    try:
        answered = await _answer(relay)
    finally:
        await stop(relay)
    item = answered.get("item")
    assert answered["type"] == "error" or (isinstance(item, dict) and "smuggled" not in item)
