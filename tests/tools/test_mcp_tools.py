"""MCP servers as server tools: a real MCP server (the `mcp` SDK), a real relay, the simulator."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_until, send_event, user_text
from tests.support.fake_upstream import FakeUpstream
from tests.support.mcp_server import MCP_MARKER, McpTestServer
from tests.support.metrics import get, sample, scrape
from tests.support.settings import relay_settings
from tests.tools.playbook import frame
from tests.tools.scripted import ToolCallScript
from tests.tools.support import client_trace

ALLOWED = ["lookup", "slow", "broken", "unlock", "fresh"]
TEXT = {"output_modalities": ["text"]}


def mcp_tools_file(directory: Path, url: str, allowed: list[str] = ALLOWED) -> Path:
    entry = {
        "type": "mcp",
        "label": "kb",
        "url": url,
        "allowed_tools": allowed,
        "timeout_seconds": 5,
    }
    path = directory / "tools.yaml"
    path.write_bytes(orjson.dumps([entry]))
    return path


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(api_key="sim-key") as sim:
        yield sim


@asynccontextmanager
async def relay_for(
    simulator: Simulator, tools_file: Path, *, listed: bool = True
) -> AsyncIterator[RunningRelay]:
    values = relay_settings(simulator, "ga", session=TEXT, tools_file=tools_file)
    async with running_relay(make_settings(**values)) as relay:
        if listed:
            await asyncio.wait_for(relay.runtime.mcp[0].listed.wait(), 10)
        yield relay


Served = tuple[McpTestServer, RunningRelay]


@pytest.fixture
async def served(
    simulator: Simulator, tmp_path: Path
) -> AsyncIterator[tuple[McpTestServer, RunningRelay]]:
    """The test MCP server, and a relay listing it with every tool but `admin` allowed."""
    async with (
        McpTestServer() as mcp,
        relay_for(simulator, mcp_tools_file(tmp_path, mcp.url)) as relay,
    ):
        yield mcp, relay


@asynccontextmanager
async def opened(relay: RunningRelay) -> AsyncIterator[ClientConnection]:
    """A client session on `relay`, past `session.created`."""
    async with connect(relay.ws_url()) as ws:
        await recv_until(ws, "session.created")
        yield ws


async def ask(ws: ClientConnection, text: str) -> tuple[list[str], str]:
    """Send `text` and a response.create; every frame, and the answer's text."""
    frames: list[str] = []
    await send_event(ws, user_text(text))
    await send_event(ws, {"type": "response.create"})
    while True:
        frame = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(frame, str)
        frames.append(frame)
        event = orjson.loads(frame)
        if event["type"] == "response.done" and event["response"]["output"]:
            return frames, str(event["response"]["output"][0]["content"][0]["text"])


def offered(simulator: Simulator, index: int) -> list[str]:
    """The tool names of the enforced session the relay sent on upstream connection `index`."""
    update = simulator.connections[index].received_events()[0]
    assert update["type"] == "session.update"
    return [tool["name"] for tool in update["session"].get("tools", [])]


async def test_an_mcp_tool_is_run_by_the_relay_and_only_its_answer_reaches_the_client(
    simulator: Simulator, served: Served
) -> None:
    """The call goes over MCP with the caller in `_meta`; the client sees only the answer."""
    mcp, relay = served
    async with opened(relay) as ws:
        frames, answer = await ask(ws, 'kb__lookup({"id": "42"})')
    samples = await scrape(relay.http_url)
    assert answer == f"Tool kb__lookup returned: order 42: {MCP_MARKER}"
    [meta] = mcp.metas
    assert meta.get("identity") is None  # RELAY_AUTH=none: no identity
    assert str(meta["session_id"]).startswith("rs_")
    assert client_trace(frames, [str(meta["call_id"])]) == []
    marked = [orjson.loads(f) for f in frames if MCP_MARKER in f]
    assert {e["type"] for e in marked} <= {
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    }
    assert sample(samples, "relay_tool_calls_total", tool="kb__lookup", outcome="ok") == 1


async def test_only_allowed_tools_are_offered_under_the_servers_label(
    simulator: Simulator, served: Served
) -> None:
    """`admin` is not allowed and `fresh` does not exist yet; the rest are `kb__<tool>`."""
    _mcp, relay = served
    async with opened(relay):
        pass
    assert sorted(offered(simulator, 0)) == ["kb__broken", "kb__lookup", "kb__slow", "kb__unlock"]
    tools = simulator.connections[0].received_events()[0]["session"]["tools"]
    lookup = next(t for t in tools if t["name"] == "kb__lookup")
    assert lookup["description"] == "Look up an order by its id."
    assert lookup["parameters"]["properties"]["id"]["type"] == "string"


async def test_without_allowed_tools_a_server_offers_nothing(
    simulator: Simulator, tmp_path: Path
) -> None:
    """Deny by default: a server listed with no `allowed_tools` adds no tool."""
    async with (
        McpTestServer() as mcp,
        relay_for(simulator, mcp_tools_file(tmp_path, mcp.url, [])) as relay,
    ):
        async with opened(relay):
            pass
    assert offered(simulator, 0) == []


async def test_a_changed_tool_list_applies_to_new_sessions_only(
    simulator: Simulator, served: Served
) -> None:
    """After `list_changed`, a new session is offered `kb__fresh`; the open one is not."""
    _mcp, relay = served
    connection = relay.runtime.mcp[0]
    async with connect(relay.ws_url()) as first:
        await recv_until(first, "session.created")
        _, unlocked = await ask(first, "kb__unlock({})")
        assert unlocked == "Tool kb__unlock returned: unlocked"
        await asyncio.wait_for(connection.wait_for(lambda c: "kb__fresh" in c.tools), 10)
        async with connect(relay.ws_url()) as second:
            await recv_until(second, "session.created")
            _, fresh = await ask(second, "kb__fresh({})")
        _, old = await ask(first, "kb__fresh({})")
    assert "kb__fresh" not in offered(simulator, 0)
    assert "kb__fresh" in offered(simulator, 1)
    assert fresh == "Tool kb__fresh returned: fresh result"
    assert old == "You said: kb__fresh({})"  # the open session never had the tool


async def test_an_mcp_tool_error_tells_the_model_tool_failed_with_its_text(
    simulator: Simulator, served: Served
) -> None:
    """`isError` becomes {"error":"tool_failed", "text": ...}; counted as failed."""
    _mcp, relay = served
    async with opened(relay) as ws:
        _, answer = await ask(ws, "kb__broken({})")
    samples = await scrape(relay.http_url)
    output = orjson.loads(answer.removeprefix("Tool kb__broken returned: "))
    assert output["error"] == "tool_failed"
    assert "the kb index is offline" in output["text"]
    assert sample(samples, "relay_tool_calls_total", tool="kb__broken", outcome="failed") == 1


async def test_a_server_that_goes_away_is_unavailable_then_recovers(
    simulator: Simulator, served: Served
) -> None:
    """Killed: calls answer `tool_unavailable` at once. Restarted: reconnected, calls work."""
    mcp, relay = served
    connection = relay.runtime.mcp[0]
    async with opened(relay) as ws:
        await mcp.stop()
        _, down = await ask(ws, 'kb__lookup({"id": "1"})')  # finds the server gone
        _, still = await ask(ws, 'kb__lookup({"id": "1"})')  # answered at once
        await mcp.start()
        await asyncio.wait_for(connection.wait_for(lambda c: c.available.is_set()), 20)
        _, back = await ask(ws, 'kb__lookup({"id": "2"})')
    samples = await scrape(relay.http_url)
    assert down == still == 'Tool kb__lookup returned: {"error":"tool_unavailable"}'
    assert back == f"Tool kb__lookup returned: order 2: {MCP_MARKER}"
    assert sample(samples, "relay_tool_calls_total", tool="kb__lookup", outcome="unavailable") == 2


async def test_readyz_waits_for_the_first_listing(simulator: Simulator, tmp_path: Path) -> None:
    """503 with `mcp_tools_listed: false` until the server has been listed once, then 200."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    async with relay_for(simulator, mcp_tools_file(tmp_path, url), listed=False) as relay:
        status, body = await get(f"{relay.http_url}/readyz")
        assert (status, orjson.loads(body)["mcp_tools_listed"]) == (503, False)
        mcp = McpTestServer()
        mcp.port = port
        async with mcp:
            await asyncio.wait_for(relay.runtime.mcp[0].listed.wait(), 20)
            status, body = await get(f"{relay.http_url}/readyz")
    assert (status, orjson.loads(body)["mcp_tools_listed"]) == (200, True)


async def test_a_clients_own_mcp_tool_is_still_stripped(
    simulator: Simulator, served: Served
) -> None:
    """A client `session.update` naming an `mcp` tool reaches the upstream without it."""
    mcp_tool: dict[str, Any] = {
        "type": "mcp",
        "server_label": "evil",
        "server_url": "https://x.example",
    }
    _mcp, relay = served
    async with opened(relay) as ws:
        update = {"type": "realtime", "tools": [mcp_tool], "output_modalities": ["text"]}
        await send_event(ws, {"type": "session.update", "session": update})
        await recv_until(ws, "session.updated")
    sent = [e for e in simulator.connections[0].received_events() if e["type"] == "session.update"]
    assert "tools" not in sent[1]["session"]
    assert "evil" not in orjson.dumps(sent[1]).decode()


async def test_a_slow_mcp_tool_blocks_neither_direction(tmp_path: Path) -> None:
    """While an MCP call is held, appends go up in order and audio reaches the client."""
    audio = [
        frame(
            "response.output_audio.delta",
            response_id="resp_call",
            item_id="item_msg",
            output_index=1,
            content_index=0,
            delta=base64.b64encode(bytes([n]) * 480).decode(),
        )
        for n in range(3)
    ]
    script = ToolCallScript(name="kb__slow", arguments="{}", extra=audio)
    async with McpTestServer() as mcp, FakeUpstream.answering(script) as fake:
        values = {
            "upstream": "simulator",
            "azure_endpoint": fake.url,
            "tools_file": mcp_tools_file(tmp_path, mcp.url),
        }
        async with running_relay(make_settings(**values)) as relay:
            await asyncio.wait_for(relay.runtime.mcp[0].listed.wait(), 10)
            async with connect(relay.ws_url()) as ws:
                await send_event(ws, {"type": "response.create"})
                seen = [(await recv_until(ws, "response.output_audio.delta"))[0] for _ in audio]
                for n in range(3):
                    append = {
                        "type": "input_audio_buffer.append",
                        "event_id": f"a{n}",
                        "audio": "AAAA",
                    }
                    await send_event(ws, append)
                await fake.wait_for(
                    lambda: fake.received_types().count("input_audio_buffer.append") == 3
                )
                outputs = [e for e in fake.events() if e["type"] == "conversation.item.create"]
                assert outputs == []  # still running
                mcp.release.set()
                await recv_until(ws, "response.done")  # the call's
                await recv_until(ws, "response.done")  # the answer's
    assert len(seen) == 3
    [output] = [
        e["item"]["output"] for e in fake.events() if e["type"] == "conversation.item.create"
    ]
    assert output == "slow done"
