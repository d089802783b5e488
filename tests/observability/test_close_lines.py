"""The close line for each side ending a session, and per-identity figures for JWT callers."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import jwt

from app.simulator import Simulator
from tests.e2e.harness import client, make_settings, running_relay
from tests.observability.values import relay_values
from tests.support.events import recv_until, send_event
from tests.support.fake_upstream import FakeConnection, FakeUpstream
from tests.support.logs import captured_logs
from tests.support.metrics import delta, sample, scrape

JWT_SECRET = "an-hs256-secret-for-observability-0123456789"
ISSUER = "https://issuer.example.com"
AUDIENCE = "realtime-relay"


async def test_upstream_close_is_logged_as_closed_by_upstream(simulator: Simulator) -> None:
    """When the upstream closes, the line names it, with its code and reason on both sides."""
    async with running_relay(make_settings(**relay_values(simulator, auth="none"))) as relay:
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            async with client(relay) as ws:
                await recv_until(ws, "session.updated")
                await simulator.connections[0].close(4001, "upstream says bye")
                async with asyncio.timeout(5):
                    await ws.wait_closed()
            closed = await logs.session_line("session closed")
            after = await scrape(relay.http_url)
    assert (ws.close_code, ws.close_reason) == (4001, "upstream says bye")
    assert closed["cause"] == "upstream_closed"
    assert closed["closed_by"] == "upstream"
    assert (closed["upstream_close_code"], closed["upstream_close_reason"]) == (
        4001,
        "upstream says bye",
    )
    assert (closed["client_close_code"], closed["client_close_reason"]) == (
        4001,
        "upstream says bye",
    )
    assert delta(before, after, "relay_sessions_total", outcome="upstream_closed") == 1


async def test_idle_timeout_is_logged_as_closed_by_relay_and_counted_as_limit(
    simulator: Simulator,
) -> None:
    """A relay-ended session names the relay as closer, with the codes it sent each side."""
    settings = make_settings(**relay_values(simulator, auth="none", idle_timeout_seconds=0.3))
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            async with client(relay) as ws:
                notice, _ = await recv_until(ws, "error")
                async with asyncio.timeout(5):
                    await ws.wait_closed()
            closed = await logs.session_line("session closed")
            await simulator.wait_for(lambda: simulator.connections[0].closed)
            after = await scrape(relay.http_url)
    assert notice["error"]["code"] == "idle_timeout"
    assert notice["event_id"].startswith(f"{closed['session_id']}_")
    assert (ws.close_code, ws.close_reason) == (1001, "idle_timeout")
    assert closed["cause"] == "idle_timeout"
    assert closed["closed_by"] == "relay"
    assert (closed["client_close_code"], closed["client_close_reason"]) == (1001, "idle_timeout")
    assert closed["upstream_close_code"] == 1000 == simulator.connections[0].close_code
    assert delta(before, after, "relay_sessions_total", outcome="limit") == 1


async def test_relay_close_notice_is_not_counted_as_a_refused_client_event(
    simulator: Simulator,
) -> None:
    """An idle session in which the client sent nothing has no refused events."""
    settings = make_settings(**relay_values(simulator, auth="none", idle_timeout_seconds=0.3))
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            async with client(relay) as ws:
                await recv_until(ws, "error")
            closed = await logs.session_line("session closed")
            after = await scrape(relay.http_url)
    assert closed["refused"] == {}
    assert delta(before, after, "relay_events_refused_total", code="idle_timeout") == 0


async def test_usage_grace_is_bounded_when_the_upstream_never_answers_the_cancel() -> None:
    """If response.done never comes, the relay still closes the upstream with 1000 after the grace."""

    async def on_event(conn: FakeConnection, event: dict[str, Any]) -> None:
        if event["type"] == "response.create":
            await conn.send(
                {"type": "response.created", "response": {"id": "r", "status": "in_progress"}}
            )
            await conn.send({"type": "response.output_text.delta", "delta": "hi "})

    async with FakeUpstream.answering(on_event) as upstream:
        settings = make_settings(upstream="simulator", azure_endpoint=upstream.url, auth="none")
        async with running_relay(settings) as relay:
            agent = relay.runtime.agent()
            agent.limits = dataclasses.replace(agent.limits, usage_grace_seconds=0.5)
            with captured_logs() as logs:
                async with client(relay) as ws:
                    await send_event(ws, {"type": "response.create"})
                    await recv_until(ws, "response.output_text.delta")
                left = time.monotonic()
                await upstream.wait_for(lambda: bool(upstream.close_codes))
                waited = time.monotonic() - left
                closed = await logs.session_line("session closed")
    assert upstream.received_types()[-1] == "response.cancel"
    assert upstream.close_codes == [1000]
    assert 0.4 <= waited < 3
    assert set(closed["tokens"].values()) == {0}


async def test_jwt_identities_are_logged_but_get_no_per_identity_metric(
    simulator: Simulator,
) -> None:
    """With RELAY_AUTH=jwt the lines carry the subject; relay_identity_tokens_total is absent."""
    settings = make_settings(
        **relay_values(
            simulator,
            auth="jwt",
            jwt_secret=JWT_SECRET,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "exp": int(time.time()) + 300}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            headers = {"Authorization": f"Bearer {token}"}
            async with client(relay, additional_headers=headers) as ws:
                await send_event(ws, {"type": "response.create"})
                await recv_until(ws, "response.done")
            closed = await logs.session_line("session closed")
            after = await scrape(relay.http_url)
    opened = await logs.session_line("session open", closed["session_id"])
    assert opened["identity"] == closed["identity"] == "user-42"
    assert sum(closed["tokens"].values()) > 0
    assert sample(after, "relay_tokens_total", agent="default", kind="output_text") > 0
    assert not [name for name, _ in after if name.startswith("relay_identity_tokens")]
