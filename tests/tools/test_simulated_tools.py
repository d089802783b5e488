"""Server-side tools end to end: a real relay, the simulator, a real tool server, both dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.simulator import Simulator
from tests.e2e.harness import make_settings, running_relay
from tests.support.events import recv_until, send_event, user_text
from tests.support.metrics import sample, scrape
from tests.support.settings import relay_settings
from tests.support.tool_server import ToolServer, answer
from tests.tools.support import MARKER, client_trace, tools_file

DIALECTS = ["ga", "preview"]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(api_key="sim-key") as sim:
        yield sim


def text_only(dialect: str) -> dict[str, Any]:
    if dialect == "ga":
        return {"output_modalities": ["text"], "audio": {"output": {"voice": "marin"}}}
    return {"modalities": ["text"], "voice": "marin"}


def item_of(event: dict[str, Any]) -> str | None:
    """The one item an event is about."""
    if "item_id" in event:
        return str(event["item_id"])
    if "item" in event:
        return str(event["item"]["id"])
    [only] = event["response"]["output"]
    return str(only["id"])


async def converse(ws: ClientConnection, text: str) -> tuple[list[str], dict[str, Any]]:
    """Send `text` and a response.create; every frame up to the answer's `response.done`."""
    frames: list[str] = []
    await send_event(ws, user_text(text))
    await send_event(ws, {"type": "response.create"})
    while True:
        frame = await ws.recv()
        assert isinstance(frame, str)
        frames.append(frame)
        event = orjson.loads(frame)
        if event["type"] == "response.done" and event["response"]["output"]:
            return frames, event


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_call_is_run_by_the_relay_and_only_its_answer_reaches_the_client(
    simulator: Simulator, tmp_path: Path, dialect: str
) -> None:
    """The model's answer carries the tool's output; no client frame shows the call."""
    async with ToolServer({"/lookup": answer(f"order 42 shipped {MARKER}")}) as tools:
        values = relay_settings(
            simulator,
            dialect,
            session=text_only(dialect),
            tools_file=tools_file(tmp_path, tools, lookup_order="/lookup"),
        )
        async with running_relay(make_settings(**values)) as relay:
            async with connect(relay.ws_url()) as ws:
                await recv_until(ws, "session.created")
                frames, done = await converse(ws, 'lookup_order({"id": "42"})')
            samples = await scrape(relay.http_url)
    [request] = tools.requests
    call_id = request.json["call_id"]
    assert request.json["arguments"] == {"id": "42"}
    assert request.json["identity"] is None
    assert client_trace(frames, [call_id]) == []
    answer_text = done["response"]["output"][0]["content"][0]["text"]
    assert answer_text == f"Tool lookup_order returned: order 42 shipped {MARKER}"
    answer_id = done["response"]["output"][0]["id"]
    marked = [orjson.loads(f) for f in frames if MARKER in f]
    assert marked
    assert all(item_of(event) == answer_id for event in marked)
    assert sample(samples, "relay_tool_calls_total", tool="lookup_order", outcome="ok") == 1


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_two_calls_in_one_response_are_both_answered_in_one_reply(
    simulator: Simulator, tmp_path: Path, dialect: str
) -> None:
    """Both tools run; the one answer names both outputs, in the order of the calls."""
    async with ToolServer({"/a": answer("A-out"), "/b": answer("B-out")}) as tools:
        values = relay_settings(
            simulator,
            dialect,
            session=text_only(dialect),
            tools_file=tools_file(tmp_path, tools, tool_a="/a", tool_b="/b"),
        )
        async with running_relay(make_settings(**values)) as relay:
            async with connect(relay.ws_url()) as ws:
                await recv_until(ws, "session.created")
                frames, done = await converse(ws, 'tool_a({"id":"1"}) then tool_b({"id":"2"})')
    call_ids = [r.json["call_id"] for r in tools.requests]
    assert sorted(r.path for r in tools.requests) == ["/a", "/b"]
    assert client_trace(frames, call_ids) == []
    assert done["response"]["output"][0]["content"][0]["text"] == (
        "Tool tool_a returned: A-out Tool tool_b returned: B-out"
    )
    created = [f for f in frames if orjson.loads(f)["type"] == "response.created"]
    assert len(created) == 2  # the client's, and the relay's one response.create
    [upstream] = simulator.connections
    sent = [e["type"] for e in upstream.received_events()]
    after_call = sent[sent.index("response.create") + 1 :]
    assert after_call == ["conversation.item.create", "conversation.item.create", "response.create"]


async def test_an_audio_answer_speaks_the_output_in_its_transcript(
    simulator: Simulator, tmp_path: Path
) -> None:
    """With audio output, the output is in the answer's transcript, and audio flows."""
    async with ToolServer({"/lookup": answer(MARKER)}) as tools:
        values = relay_settings(
            simulator, "ga", tools_file=tools_file(tmp_path, tools, lookup_order="/lookup")
        )
        async with running_relay(make_settings(**values)) as relay:
            async with connect(relay.ws_url()) as ws:
                await recv_until(ws, "session.created")
                frames, done = await converse(ws, 'lookup_order({"id":"42"})')
    types = [orjson.loads(f)["type"] for f in frames]
    assert "response.output_audio.delta" in types
    transcript = done["response"]["output"][0]["content"][0]["transcript"]
    assert transcript == f"Tool lookup_order returned: {MARKER}"
    assert client_trace(frames, [tools.requests[0].json["call_id"]]) == []


async def test_a_client_tool_declared_in_the_session_still_reaches_the_client(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A RELAY_SESSION tool stays the client's: its call arrives, and the relay runs nothing."""
    client_tool = {
        "type": "function",
        "name": "show_map",
        "description": "Show a map.",
        "parameters": {"type": "object"},
    }
    async with ToolServer({"/lookup": answer("x")}) as tools:
        values = relay_settings(
            simulator,
            "ga",
            session={**text_only("ga"), "tools": [client_tool]},
            tools_file=tools_file(tmp_path, tools, lookup_order="/lookup"),
        )
        async with running_relay(make_settings(**values)) as relay:
            async with connect(relay.ws_url()) as ws:
                await recv_until(ws, "session.created")
                await send_event(ws, user_text('show_map({"city":"Oslo"})'))
                await send_event(ws, {"type": "response.create"})
                done, _ = await recv_until(ws, "response.done")
    [item] = done["response"]["output"]
    assert (item["type"], item["name"], item["arguments"]) == (
        "function_call",
        "show_map",
        '{"city":"Oslo"}',
    )
    assert tools.requests == []
