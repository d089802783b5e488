"""A full session through the simulator, described by its two log lines and the metrics."""

from __future__ import annotations

import logging
import time

from app.simulator import Simulator
from tests.e2e.harness import client, make_settings, running_relay
from tests.observability.values import ALICE, BOB, ORIGIN, relay_values
from tests.support.events import recv_until, send_event, user_text
from tests.support.logs import captured_logs, fields_of
from tests.support.metrics import delta, sample, scrape, usage_split

USER_TEXT = "hello there friend"


async def test_full_session_is_described_by_two_log_lines_and_metric_deltas(
    simulator: Simulator,
) -> None:
    """A token-authenticated session's open and close lines and metric deltas match what happened."""
    settings = make_settings(
        **relay_values(simulator),
        auth="token",
        auth_tokens=(f"alice:{ALICE}", f"bob:{BOB}"),
        allowed_origins=(ORIGIN,),
    )
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            started = time.monotonic()
            headers = {"Authorization": f"Bearer {ALICE}", "Origin": ORIGIN}
            async with client(relay, additional_headers=headers) as ws:
                await recv_until(ws, "session.updated")  # the answer to the enforced update
                await send_event(ws, {"type": "transcription_session.update", "session": {}})
                error, _ = await recv_until(ws, "error")
                await send_event(ws, user_text(USER_TEXT))
                await send_event(ws, {"type": "response.create"})
                done, _ = await recv_until(ws, "response.done")
                during = await scrape(relay.http_url)
                await ws.close(1000, "bye")
            closed = await logs.session_line("session closed")
            await simulator.wait_for(lambda: simulator.connections[0].closed)
            elapsed = time.monotonic() - started
            after = await scrape(relay.http_url)
    upstream = simulator.connections[0]
    usage = usage_split(done["response"]["usage"])
    assert usage["input_text"] == 3  # the simulator's formula: words of the user text
    assert usage["output_text"] > 0

    # The close line.
    session_id = closed["session_id"]
    assert error["error"]["code"] == "event_not_allowed"
    assert error["event_id"].startswith(f"{session_id}_")
    assert closed["identity"] == "alice"
    assert 0 < closed["duration_s"] <= elapsed
    assert closed["cause"] == "client_closed"
    assert closed["closed_by"] == "client"
    assert (closed["client_close_code"], closed["client_close_reason"]) == (1000, "bye")
    assert closed["upstream_close_code"] == 1000 == upstream.close_code
    forwarded = upstream.received[1:]  # after the relay's own enforced session.update
    assert closed["events_client_to_upstream"] == len(forwarded) == 2
    assert closed["bytes_client_to_upstream"] == sum(len(text) for text in forwarded) > 0
    assert closed["events_upstream_to_client"] == len(upstream.sent)
    assert closed["bytes_upstream_to_client"] == sum(len(text) for text in upstream.sent) > 0
    assert closed["refused"] == {"event_not_allowed": 1}
    assert closed["tokens"] == usage

    # The open line.
    opened = await logs.session_line("session open", session_id)
    assert opened["identity"] == "alice"
    assert opened["client"] == "127.0.0.1"
    assert opened["origin"] == ORIGIN
    assert opened["upstream_host"] == "127.0.0.1"
    assert opened["deployment"] == "gpt-realtime"
    assert opened["protocol"] == "ga"
    assert isinstance(opened["connect_ms"], float | int)
    assert opened["connect_ms"] >= 0

    # Exactly two INFO lines carry the session id, both the session's own.
    tagged = [
        record
        for record in logs.records
        if record.levelno == logging.INFO
        and (fields_of(record).get("session_id") == session_id or session_id in record.getMessage())
    ]
    assert [(r.name, r.getMessage()) for r in tagged] == [
        ("app.session", "session open"),
        ("app.session", "session closed"),
    ]

    # Live sessions are visible while open.
    assert sample(during, "relay_sessions_active", agent="default") == 1
    for kind, count in usage.items():
        assert delta(before, during, "relay_tokens_total", agent="default", kind=kind) == count

    # The metric deltas.
    def change(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    assert change("relay_sessions_total", outcome="ok") == 1
    outcomes = [dict(labels) for name, labels in after if name == "relay_sessions_total"]
    assert sum(change("relay_sessions_total", **labels) for labels in outcomes) == 1
    for kind, count in usage.items():
        assert change("relay_tokens_total", agent="default", kind=kind) == count
        assert change("relay_identity_tokens_total", identity="alice", kind=kind) == count
        assert change("relay_identity_tokens_total", identity="bob", kind=kind) == 0
    up, down = "client_to_upstream", "upstream_to_client"
    assert change("relay_events_total", direction=up, type="conversation.item.create") == 1
    assert change("relay_events_total", direction=up, type="response.create") == 1
    assert change("relay_events_total", direction=down, type="response.done") == 1
    assert change("relay_event_bytes_total", direction=up) == closed["bytes_client_to_upstream"]
    assert change("relay_event_bytes_total", direction=down) == closed["bytes_upstream_to_client"]
    assert change("relay_events_refused_total", code="event_not_allowed") == 1
    assert sample(after, "relay_sessions_active", agent="default") == 0
    assert change("relay_upstream_connect_seconds_count") == 1
    assert change("relay_session_duration_seconds_count") == 1
