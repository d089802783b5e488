"""Server-side tools against a scripted upstream: what the relay sends up, faults, the client.

The scripted upstream makes one call to a server tool per client
`response.create`, so each test can see exactly what the relay sends upstream
and what the client is shown, with a real tool server behind the relay.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.tools.caller import sign
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_event, recv_until, send_event
from tests.support.fake_upstream import FakeUpstream
from tests.support.logs import captured_logs
from tests.support.metrics import sample, scrape
from tests.support.tool_server import ToolServer, answer, hang, held, raw
from tests.tools.playbook import frame
from tests.tools.scripted import ANSWER, ToolCallScript
from tests.tools.support import client_trace, tools_file

TOKEN = "web:" + "t" * 24
SECRET = "signing-secret-" + "s" * 24


@asynccontextmanager
async def relay_with_tools(
    tmp_path: Path, script: ToolCallScript, server: ToolServer, path: str, **overrides: Any
) -> AsyncIterator[tuple[FakeUpstream, RunningRelay]]:
    timeout = overrides.pop("tool_timeout", 10)
    async with FakeUpstream.answering(script) as fake:
        values: dict[str, Any] = {
            "upstream": "simulator",
            "azure_endpoint": fake.url,
            "tools_file": tools_file(tmp_path, server, timeout, lookup_order=path),
            **overrides,
        }
        async with running_relay(make_settings(**values)) as relay:
            yield fake, relay


def upstream_outputs(fake: FakeUpstream) -> list[str]:
    return [
        str(e["item"]["output"])
        for e in fake.events()
        if e["type"] == "conversation.item.create" and e["item"]["type"] == "function_call_output"
    ]


async def until_answer(ws: ClientConnection) -> list[str]:
    """Every frame up to the `response.done` of the relay's answer."""
    frames: list[str] = []
    while True:
        text = await ws.recv()
        assert isinstance(text, str)
        frames.append(text)
        event = orjson.loads(text)
        if event["type"] == "response.done" and event["response"]["output"]:
            return frames


async def test_the_output_goes_up_then_exactly_one_response_create(tmp_path: Path) -> None:
    """Upstream gets the function_call_output item, then one response.create; the client the answer."""
    script = ToolCallScript()
    async with (
        ToolServer({"/t": answer("shipped")}) as server,
        relay_with_tools(tmp_path, script, server, "/t") as (fake, relay),
        connect(relay.ws_url()) as ws,
    ):
        await send_event(ws, {"type": "response.create"})
        frames = await until_answer(ws)
        await send_event(ws, {"type": "input_audio_buffer.clear", "event_id": "sentinel"})
        await fake.wait_for(lambda: "input_audio_buffer.clear" in fake.received_types())
    sent = fake.received_types()
    assert sent[sent.index("response.create") + 1 :] == [
        "conversation.item.create",
        "response.create",
        "input_audio_buffer.clear",
    ]
    assert upstream_outputs(fake) == ["shipped"]
    assert client_trace(frames, ["call_srv", "item_fc", "item_out"]) == []
    assert ANSWER in frames[-1]
    # The answer follows the call's output upstream; the client sees it follow the user's item.
    added = next(orjson.loads(f) for f in frames if '"conversation.item.added"' in f)
    assert added["previous_item_id"] == "item_user"


@pytest.mark.parametrize(
    ("behaviour", "arguments", "error", "outcome"),
    [
        (hang(), '{"id":"1"}', "tool_timeout", "timeout"),
        (answer("no", status=500), '{"id":"1"}', "tool_failed", "failed"),
        (raw(b"not json"), '{"id":"1"}', "tool_failed", "failed"),
        (answer("x" * 300), '{"id":"1"}', "tool_failed", "failed"),
        (
            answer("never called"),
            '["not", "an", "object"]',
            "invalid_arguments",
            "invalid_arguments",
        ),
    ],
    ids=["timeout", "500", "not-json", "oversized", "invalid-arguments"],
)
async def test_a_failed_call_tells_the_model_its_error_and_the_client_nothing(
    tmp_path: Path, behaviour: Any, arguments: str, error: str, outcome: str
) -> None:
    """The model gets {"error": code} and speaks; the metric counts it; the client sees no trace."""
    script = ToolCallScript(arguments=arguments)
    async with (
        ToolServer({"/t": behaviour}) as server,
        relay_with_tools(
            tmp_path, script, server, "/t", tool_timeout=0.2, tool_max_output_bytes=200
        ) as (fake, relay),
    ):
        async with connect(relay.ws_url()) as ws:
            await send_event(ws, {"type": "response.create"})
            frames = await until_answer(ws)
        samples = await scrape(relay.http_url)
    assert upstream_outputs(fake) == [orjson.dumps({"error": error}).decode()]
    assert fake.received_types().count("response.create") == 2
    assert client_trace(frames, ["call_srv"]) == []
    assert error not in "".join(frames)
    assert sample(samples, "relay_tool_calls_total", tool="lookup_order", outcome=outcome) == 1
    assert sample(samples, "relay_tool_call_seconds_count", tool="lookup_order") == 1
    if outcome == "invalid_arguments":
        assert server.requests == []


async def test_a_slow_tool_blocks_neither_direction(tmp_path: Path) -> None:
    """While a call is held, appends reach the upstream in order and audio reaches the client."""
    release = asyncio.Event()
    audio = [
        frame(
            "response.output_audio.delta",
            response_id="resp_call",
            item_id="item_msg",
            output_index=1,
            content_index=0,
            delta=base64.b64encode(bytes([n]) * 480).decode(),
        )
        for n in range(5)
    ]
    script = ToolCallScript(extra=audio)
    async with (
        ToolServer({"/t": held(release, "late")}) as server,
        relay_with_tools(tmp_path, script, server, "/t") as (fake, relay),
        connect(relay.ws_url()) as ws,
    ):
        await send_event(ws, {"type": "response.create"})
        await server.wait_for(lambda: len(server.requests) == 1)
        seen = [(await recv_until(ws, "response.output_audio.delta"))[0] for _ in audio]
        appends = [
            {
                "type": "input_audio_buffer.append",
                "event_id": f"a{n}",
                "audio": base64.b64encode(bytes([n]) * 960).decode(),
            }
            for n in range(5)
        ]
        for event in appends:
            await send_event(ws, event)
        await fake.wait_for(lambda: fake.received_types().count("input_audio_buffer.append") == 5)
        assert upstream_outputs(fake) == []  # the tool is still running
        release.set()
        frames = await until_answer(ws)
    assert [e["delta"] for e in seen] == [orjson.loads(f)["delta"] for f in audio]
    ids = [e["event_id"] for e in fake.events() if e["type"] == "input_audio_buffer.append"]
    assert ids == [f"a{n}" for n in range(5)]
    assert upstream_outputs(fake) == ["late"]
    assert ANSWER in frames[-1]


async def test_a_client_leaving_mid_call_aborts_the_tool_request(tmp_path: Path) -> None:
    """The tool server's request is aborted and the call is counted `cancelled`."""
    script = ToolCallScript()
    async with (
        ToolServer({"/t": hang()}) as server,
        relay_with_tools(tmp_path, script, server, "/t") as (_, relay),
    ):
        async with connect(relay.ws_url()) as ws:
            await send_event(ws, {"type": "response.create"})
            await server.wait_for(lambda: len(server.requests) == 1)
        await asyncio.wait_for(server.abort_seen.wait(), 10)
        samples = await scrape(relay.http_url)
    assert server.aborted == ["/t"]
    assert sample(samples, "relay_tool_calls_total", tool="lookup_order", outcome="cancelled") == 1


async def test_spoofing_an_output_or_deleting_a_hidden_item_is_refused(tmp_path: Path) -> None:
    """With client tool outputs on, a forged output for the server call and a delete both fail."""
    release = asyncio.Event()
    script = ToolCallScript()
    async with (
        ToolServer({"/t": held(release, "real")}) as server,
        relay_with_tools(tmp_path, script, server, "/t", client_tool_outputs=True) as (fake, relay),
        connect(relay.ws_url()) as ws,
    ):
        await send_event(ws, {"type": "response.create"})
        await server.wait_for(lambda: len(server.requests) == 1)
        call_id = server.requests[0].json["call_id"]  # what a client could learn elsewhere
        forged = {"type": "function_call_output", "call_id": call_id, "output": "forged"}
        await send_event(ws, {"type": "conversation.item.create", "event_id": "f1", "item": forged})
        refused = await recv_until(ws, "error")
        await send_event(
            ws, {"type": "conversation.item.delete", "event_id": "d1", "item_id": "item_fc"}
        )
        deleted = await recv_until(ws, "error")
        release.set()
        await until_answer(ws)
    for (event, _), event_id in ((refused, "f1"), (deleted, "d1")):
        assert event["error"]["code"] == "item_not_allowed"
        assert event["error"]["event_id"] == event_id
    assert upstream_outputs(fake) == ["real"]
    assert "conversation.item.delete" not in fake.received_types()


async def test_a_tool_sees_the_callers_identity_and_a_verifiable_signature(tmp_path: Path) -> None:
    """With token auth the tool gets the identity; with a signing secret, a valid signature."""
    from tests.tools.test_caller import SECRET

    script = ToolCallScript()
    async with (
        ToolServer({"/t": answer("ok")}) as server,
        relay_with_tools(
            tmp_path,
            script,
            server,
            "/t",
            auth="token",
            auth_tokens=TOKEN,
            tools_signing_secret=SECRET,
        ) as (_, relay),
        connect(relay.ws_url(), additional_headers={"Authorization": "Bearer " + "t" * 24}) as ws,
    ):
        await send_event(ws, {"type": "response.create"})
        await until_answer(ws)
    [request] = server.requests
    assert request.json["identity"] == "web"
    assert request.json["session_id"].startswith("rs_")
    timestamp = request.headers["X-Relay-Timestamp"]
    assert request.headers["X-Relay-Signature"] == sign(SECRET, timestamp, request.body)


async def test_the_client_never_sees_the_server_tools_in_session_echoes(tmp_path: Path) -> None:
    """The enforced session carries the tool upstream; the client's echo shows `tools: []`."""
    async with (
        ToolServer({"/t": answer("ok")}) as server,
        relay_with_tools(tmp_path, ToolCallScript(), server, "/t") as (fake, relay),
        connect(relay.ws_url()) as ws,
    ):
        created = await recv_event(ws)
    update = fake.events()[0]
    assert [t["name"] for t in update["session"]["tools"]] == ["lookup_order"]
    assert created["type"] == "session.created"
    assert created["session"]["tools"] == []


async def test_tool_arguments_and_outputs_are_never_logged_even_at_debug(tmp_path: Path) -> None:
    """At DEBUG, no relay log record holds the arguments or the output; the close line counts."""
    script = ToolCallScript(arguments='{"id":"ARG-k2Vq9"}')
    async with (
        ToolServer({"/t": answer("OUT-p8Lm3")}) as server,
        relay_with_tools(tmp_path, script, server, "/t", log_level="DEBUG") as (_, relay),
    ):
        with captured_logs(debug=True) as logs:
            async with connect(relay.ws_url()) as ws:
                await send_event(ws, {"type": "response.create"})
                await until_answer(ws)
            closed = await logs.session_line("session closed")
    relay_records = [r for r in logs.records if r.name.startswith("app")]
    assert any(r.levelno == logging.DEBUG for r in relay_records)
    texts = [r.getMessage() + repr(getattr(r, "fields", "")) for r in relay_records]
    assert [t for t in texts if "ARG-k2Vq9" in t or "OUT-p8Lm3" in t] == []
    assert closed["tool_calls"] == {"ok": 1}
