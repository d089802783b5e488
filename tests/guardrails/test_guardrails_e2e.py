"""Guardrails through a real relay: the simulator upstream and a real webhook on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.simulator import Simulator
from examples.tools.server import verify_signature
from tests.e2e.harness import RunningRelay, client, make_settings, running_relay
from tests.support.events import recv_event, recv_until, send_event, user_text
from tests.support.metrics import get
from tests.support.settings import relay_settings
from tests.support.tool_server import ToolRequest, ToolServer, hang

SECRET = "guardrail-signing-secret-0123456789abcdef"
REFUSAL = "Sorry, I can't talk about that."
AUDIO_DELTA = {"ga": "response.output_audio.delta", "preview": "response.audio.delta"}


async def judge(request: ToolRequest) -> web.StreamResponse:
    """Blocks any text with 'forbidden' in it."""
    return web.json_response({"allow": "forbidden" not in request.json["text"]})


@asynccontextmanager
async def guarded(
    sim: Simulator, dialect: str, server: ToolServer | None, **overrides: Any
) -> AsyncIterator[RunningRelay]:
    values = relay_settings(sim, dialect, tools_signing_secret=SECRET, **overrides)
    if server is not None:
        values["guardrail_url"] = server.url("/check")
    async with running_relay(make_settings(**values)) as relay:
        yield relay


def upstream_events(sim: Simulator, event_type: str) -> list[dict[str, Any]]:
    return [e for c in sim.connections for e in c.received_events() if e["type"] == event_type]


async def say(ws: ClientConnection, text: str) -> None:
    await send_event(ws, user_text(text))
    await send_event(ws, {"type": "response.create"})


@pytest.mark.parametrize("dialect", ["ga", "preview"])
async def test_a_turn_that_passes_is_answered_once_and_the_webhook_is_signed(
    dialect: str,
) -> None:
    async with (
        Simulator(api_key="sim-key") as sim,
        ToolServer({"/check": judge}) as server,
        guarded(sim, dialect, server) as relay,
        client(relay) as ws,
    ):
        await recv_until(ws, "session.updated")
        await say(ws, "hello there")
        done, _ = await recv_until(ws, "response.done", 10)
    assert done["response"]["status"] == "completed"
    request, output = server.requests  # the turn, then the completed answer
    assert output.json["direction"] == "output"
    assert output.json["text"] == "You said: hello there"
    body = request.json
    assert {k: body[k] for k in ("direction", "text", "agent")} == {
        "direction": "input",
        "text": "hello there",
        "agent": "default",
    }
    assert body["session_id"].startswith("rs_")
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert verify_signature(
        SECRET, headers["x-relay-timestamp"], headers["x-relay-signature"], request.body
    )
    assert len(upstream_events(sim, "response.create")) == 1  # the client's, held, then sent
    (update,) = upstream_events(sim, "session.update")
    session = update["session"]
    detection = (
        session["audio"]["input"]["turn_detection"]
        if dialect == "ga"
        else session["turn_detection"]
    )
    assert detection["create_response"] is False  # the relay owns turn-taking


@pytest.mark.parametrize("dialect", ["ga", "preview"])
async def test_a_blocked_turn_is_deleted_refused_aloud_and_its_request_dropped(
    dialect: str,
) -> None:
    async with (
        Simulator(api_key="sim-key") as sim,
        ToolServer({"/check": judge}) as server,
        guarded(sim, dialect, server, guardrail_refusal=REFUSAL) as relay,
        client(relay) as ws,
    ):
        await recv_until(ws, "session.updated")
        await say(ws, "tell me the forbidden secret")
        blocked, _ = await recv_until(ws, "error", 10)
        done, _ = await recv_until(ws, "response.done", 10)  # the refusal, spoken
    assert blocked["error"]["code"] == "guardrail_blocked"
    assert "forbidden" not in blocked["error"]["message"]
    (delete,) = upstream_events(sim, "conversation.item.delete")
    (created,) = upstream_events(sim, "conversation.item.create")
    (user_item,) = [
        e["item"]
        for e in sim.connections[-1].sent_events()
        if e["type"] in ("conversation.item.added", "conversation.item.created")
        and e["item"].get("role") == "user"
    ][:1]
    assert delete["item_id"] == user_item["id"]
    (refusal,) = upstream_events(sim, "response.create")  # the client's was dropped
    assert refusal["response"]["input"] == []
    assert REFUSAL in refusal["response"]["instructions"]
    assert done["response"]["status"] == "completed"
    assert created["item"]["content"][0]["text"] == "tell me the forbidden secret"


async def test_without_a_refusal_a_blocked_turn_gets_no_answer_and_blocks_end_the_session() -> None:
    async with (
        Simulator(api_key="sim-key") as sim,
        ToolServer({"/check": judge}) as server,
        guarded(sim, "ga", server, guardrail_max_violations=2) as relay,
        client(relay) as ws,
    ):
        await recv_until(ws, "session.updated")
        await say(ws, "forbidden one")
        first, _ = await recv_until(ws, "error", 10)
        await say(ws, "fine then")
        done, _ = await recv_until(ws, "response.done", 10)
        await say(ws, "forbidden two")
        second, _ = await recv_until(ws, "error", 10)
        final, _ = await recv_until(ws, "error", 10)
        with pytest.raises(ConnectionClosed) as closed:
            await recv_event(ws)
    assert first["error"]["code"] == second["error"]["code"] == "guardrail_blocked"
    assert done["response"]["status"] == "completed"
    assert final["error"]["code"] == "policy_violation"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert len(upstream_events(sim, "response.create")) == 1  # only "fine then" was answered
    assert len(upstream_events(sim, "conversation.item.delete")) == 2


@pytest.mark.parametrize(("mode", "answered"), [("closed", False), ("open", True)])
async def test_a_webhook_timeout_follows_the_failure_mode(mode: str, answered: bool) -> None:
    async with (
        Simulator(api_key="sim-key") as sim,
        ToolServer({"/check": hang()}) as server,
        guarded(
            sim, "ga", server, guardrail_timeout_seconds=0.2, guardrail_failure_mode=mode
        ) as relay,
        client(relay) as ws,
    ):
        await recv_until(ws, "session.updated")
        await say(ws, "hello")
        event, _ = await recv_until(ws, "response.done" if answered else "error", 10)
        _, metrics_text = await get(f"{relay.http_url}/metrics")
    if answered:
        assert event["response"]["status"] == "completed"
    else:
        assert event["error"]["code"] == "guardrail_blocked"
    verdict = "error_allow" if answered else "error_block"
    assert f'relay_guardrail_checks_total{{direction="input",verdict="{verdict}"}} 1.0' in (
        metrics_text
    )


@pytest.mark.parametrize("dialect", ["ga", "preview"])
async def test_an_output_blocklist_hit_stops_the_audio_within_one_delta(
    dialect: str, tmp_path: Path
) -> None:
    """The reply "You said: ..." hits `said` on its second word: the relay cancels it,
    forwards none of its later audio, truncates it at the audio delivered (which the
    simulator accepts) and tells the client."""
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("# no quoting the user back\n\\bSAID\\b\n", encoding="utf-8")
    async with (
        Simulator(api_key="sim-key") as sim,
        guarded(sim, dialect, None, guardrail_blocklist_file=blocklist) as relay,
        client(relay) as ws,
    ):
        await recv_until(ws, "session.updated")
        await say(ws, "hello")
        audio = 0
        blocked = None
        while blocked is None:
            event = await recv_event(ws, 10)
            if event["type"] == AUDIO_DELTA[dialect]:
                audio += 1
            elif event["type"] == "error":
                blocked = event
        await recv_until(ws, "response.done", 10)
        await sim.wait_for(
            lambda: any(
                e["type"] == "conversation.item.truncated"
                for c in sim.connections
                for e in c.sent_events()
            ),
            10,
        )
    assert blocked["error"]["code"] == "guardrail_blocked"
    assert audio <= 2  # the deltas up to the hit's, and not one after
    (truncate,) = upstream_events(sim, "conversation.item.truncate")
    assert truncate["audio_end_ms"] == 100 * audio
    assert upstream_events(sim, "response.cancel")
