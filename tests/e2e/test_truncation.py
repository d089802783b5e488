"""Truncation through a real relay and the simulator, which checks audio_end_ms as Azure does."""

from __future__ import annotations

import base64

import pytest

from app.simulator import Simulator
from tests.e2e.harness import client, make_settings, running_relay
from tests.support.events import recv_event, recv_until, send_event, user_text
from tests.support.settings import relay_settings

AUDIO_DELTA = {"ga": "response.output_audio.delta", "preview": "response.audio.delta"}


@pytest.mark.parametrize("dialect", ["ga", "preview"])
async def test_an_overshooting_truncate_is_clamped_and_the_upstream_accepts_it(
    dialect: str,
) -> None:
    """After a spoken reply, a truncate far past its end is cut to the audio delivered;
    the simulator, which refuses any audio_end_ms past the item's audio, accepts it."""
    async with Simulator(api_key="sim-key") as sim:
        settings = make_settings(**relay_settings(sim, dialect))
        async with running_relay(settings) as relay, client(relay) as ws:
            await recv_until(ws, "session.updated")
            await send_event(ws, user_text("tell me something long"))
            await send_event(ws, {"type": "response.create"})
            delivered: dict[str, int] = {}
            while True:
                event = await recv_event(ws)
                if event["type"] == AUDIO_DELTA[dialect]:
                    size = len(base64.b64decode(event["delta"]))
                    delivered[event["item_id"]] = delivered.get(event["item_id"], 0) + size
                if event["type"] == "response.done":
                    break
            ((item_id, size),) = delivered.items()
            await send_event(
                ws,
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": 57340,
                },
            )
            truncated = await recv_event(ws)
    assert truncated["type"] == "conversation.item.truncated", truncated
    assert truncated["audio_end_ms"] == size // 48
    assert 0 < truncated["audio_end_ms"] < 57340


async def test_a_truncate_of_an_assistant_item_without_audio_gets_nothing_to_truncate() -> None:
    """A text-only reply has no audio: its truncate is refused and the session goes on."""
    async with Simulator(api_key="sim-key") as sim:
        settings = make_settings(**relay_settings(sim, "ga"))
        async with running_relay(settings) as relay, client(relay) as ws:
            await recv_until(ws, "session.updated")
            await send_event(ws, user_text("hi"))
            await send_event(
                ws, {"type": "response.create", "response": {"output_modalities": ["text"]}}
            )
            added, _ = await recv_until(ws, "response.output_item.added")
            await recv_until(ws, "response.done")
            await send_event(
                ws,
                {
                    "type": "conversation.item.truncate",
                    "event_id": "cut-1",
                    "item_id": added["item"]["id"],
                    "content_index": 0,
                    "audio_end_ms": 300,
                },
            )
            refused = await recv_event(ws)
            await send_event(ws, user_text("still there?"))
            await send_event(ws, {"type": "response.create"})
            done, _ = await recv_until(ws, "response.done")
    assert refused["type"] == "error"
    assert refused["error"]["code"] == "nothing_to_truncate"
    assert refused["error"]["event_id"] == "cut-1"
    assert done["response"]["status"] == "completed"
    truncates = [
        e for c in sim.connections for e in c.received_events() if e["type"].endswith("truncate")
    ]
    assert truncates == []  # never forwarded
