"""Metric labels come from fixed sets: session outcomes, and event types with `other`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from app.metrics import OUTCOMES
from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, client, make_settings, running_relay
from tests.observability.values import ALICE, BOB, ORIGIN, relay_values
from tests.support.events import recv_until, send_event
from tests.support.fake_upstream import FakeConnection, FakeUpstream
from tests.support.logs import captured_logs
from tests.support.metrics import Samples, delta, scrape


async def refused_status(relay: RunningRelay, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with client(relay, additional_headers=headers):
            pass
    status: int = refused.value.response.status_code
    return status


def outcome_deltas(before: Samples, after: Samples) -> dict[str, float]:
    changes = {
        outcome: delta(before, after, "relay_sessions_total", outcome=outcome)
        for outcome in OUTCOMES
    }
    return {outcome: change for outcome, change in changes.items() if change}


async def test_sessions_total_counts_each_outcome_from_the_fixed_set(
    simulator: Simulator,
) -> None:
    """Refusals and each way a session ends add one to their own outcome and nowhere else."""
    settings = make_settings(
        **relay_values(simulator),
        auth="token",
        auth_tokens=(f"alice:{ALICE}", f"bob:{BOB}"),
        allowed_origins=(ORIGIN,),
        max_sessions_per_identity=1,
    )
    alice = {"Authorization": f"Bearer {ALICE}"}
    bob = {"Authorization": f"Bearer {BOB}"}
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            assert await refused_status(relay, {}) == 401
            assert await refused_status(relay, {**alice, "Origin": "https://evil.example"}) == 403
            async with client(relay, additional_headers=alice) as held:
                await recv_until(held, "session.updated")
                assert await refused_status(relay, alice) == 429
                await held.close(4000, "going")
            async with client(relay, additional_headers=bob) as ws:
                await recv_until(ws, "session.updated")
                await simulator.connections[-1].close(1000, "done")
                async with asyncio.timeout(5):
                    await ws.wait_closed()
                assert ws.close_code == 1000
            async with client(relay, additional_headers=bob) as ws:
                await recv_until(ws, "session.updated")
            await logs.wait_for(lambda: len(logs.session_lines("session closed")) == 3)
            after = await scrape(relay.http_url)
    assert set(OUTCOMES) <= {
        dict(labels)["outcome"] for name, labels in after if name == "relay_sessions_total"
    }
    assert outcome_deltas(before, after) == {
        "rejected_auth": 1,
        "rejected_origin": 1,
        "rejected_capacity": 1,
        "client_closed": 1,
        "upstream_closed": 1,
        "ok": 1,
    }


async def test_upstream_connect_failure_is_counted_and_logged_as_a_warning(
    simulator: Simulator,
) -> None:
    """A refused upstream handshake counts `upstream_connect_failed` and logs one WARNING."""
    settings = make_settings(**relay_values(simulator, auth="none", azure_api_key="wrong-key"))
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            assert await refused_status(relay, {}) == 502
            after = await scrape(relay.http_url)
    assert outcome_deltas(before, after) == {"upstream_connect_failed": 1}
    (warning,) = logs.session_lines("session refused: upstream unavailable")
    assert warning.levelname == "WARNING"
    assert str(getattr(warning, "fields", {}).get("session_id", "")).startswith("rs_")


async def test_unknown_event_types_are_counted_as_other() -> None:
    """An upstream event of an unknown type is relayed and counted under `type="other"`."""

    async def on_event(conn: FakeConnection, event: dict[str, Any]) -> None:
        if event["type"] == "input_audio_buffer.clear":
            await conn.send({"type": "vendor.custom_event", "x": 1})
            await conn.send({"type": "input_audio_buffer.cleared"})

    async with FakeUpstream.answering(on_event) as upstream:
        settings = make_settings(upstream="simulator", azure_endpoint=upstream.url, auth="none")
        async with running_relay(settings) as relay:
            with captured_logs() as logs:
                before = await scrape(relay.http_url)
                async with client(relay) as ws:
                    await send_event(ws, {"type": "input_audio_buffer.clear"})
                    cleared, seen = await recv_until(ws, "input_audio_buffer.cleared")
                await logs.session_line("session closed")
                after = await scrape(relay.http_url)
    # The greeting and the confirmation of the enforced session come first.
    assert [event["type"] for event in seen] == [
        "session.created",
        "session.updated",
        "vendor.custom_event",
    ]
    down = "upstream_to_client"
    assert delta(before, after, "relay_events_total", direction=down, type="other") == 1
    assert delta(before, after, "relay_events_total", direction=down, type=cleared["type"]) == 1
    types = {dict(labels).get("type") for name, labels in after if name == "relay_events_total"}
    assert "vendor.custom_event" not in types
