"""Usage accounting: one count per response id, and no usage lost when the client leaves."""

from __future__ import annotations

from typing import Any

import orjson

from app.relay import SessionStats
from tests.e2e.harness import client, make_settings, running_relay
from tests.support.events import recv_until, send_event
from tests.support.fake_upstream import FakeConnection, FakeUpstream
from tests.support.logs import captured_logs
from tests.support.metrics import delta, scrape, usage_block, usage_split

USAGE = usage_block(input_text=7, input_audio=11, input_cached=3, output_text=13, output_audio=17)
SPLIT = usage_split(USAGE)
CANCELLED_USAGE = usage_block(
    input_text=2, input_audio=5, input_cached=1, output_text=1, output_audio=4
)


def response_done(response_id: str, usage: dict[str, Any], status: str = "completed") -> str:
    return orjson.dumps(
        {
            "type": "response.done",
            "event_id": f"evt_{response_id}",
            "response": {"id": response_id, "status": status, "output": [], "usage": usage},
        }
    ).decode()


def test_repeated_response_done_is_counted_once() -> None:
    """`SessionStats.record_usage` adds a response's usage once however often it is seen."""
    stats = SessionStats()
    frame = response_done("resp_1", USAGE)
    stats.record_usage(frame)
    stats.record_usage(frame)
    assert stats.usage == SPLIT
    stats.record_usage(response_done("resp_2", USAGE))
    assert stats.usage == {kind: 2 * count for kind, count in SPLIT.items()}


def relay_settings_for(upstream: FakeUpstream) -> dict[str, Any]:
    return {"upstream": "simulator", "azure_endpoint": upstream.url, "auth": "none"}


async def test_duplicate_response_done_from_upstream_counts_tokens_once() -> None:
    """A response.done repeated by the upstream reaches the client twice but is counted once."""

    async def on_event(conn: FakeConnection, event: dict[str, Any]) -> None:
        if event["type"] == "response.create":
            await conn.send(
                {
                    "type": "response.created",
                    "response": {"id": "resp_dup", "status": "in_progress"},
                },
            )
            await conn.ws.send(response_done("resp_dup", USAGE))
            await conn.ws.send(response_done("resp_dup", USAGE))

    async with (
        FakeUpstream.answering(on_event) as upstream,
        running_relay(make_settings(**relay_settings_for(upstream))) as relay,
    ):
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            async with client(relay) as ws:
                await send_event(ws, {"type": "response.create"})
                first, _ = await recv_until(ws, "response.done")
                second, _ = await recv_until(ws, "response.done")
            closed = await logs.session_line("session closed")
            after = await scrape(relay.http_url)
    assert first["response"]["id"] == second["response"]["id"] == "resp_dup"
    assert closed["tokens"] == SPLIT
    for kind, count in SPLIT.items():
        assert delta(before, after, "relay_tokens_total", agent="default", kind=kind) == count
    assert (
        delta(
            before,
            after,
            "relay_events_total",
            direction="upstream_to_client",
            type="response.done",
        )
        == 2
    )


async def test_client_leaving_mid_response_cancels_it_and_still_counts_its_usage() -> None:
    """The relay sends response.cancel, waits for the cancelled response.done, then closes 1000."""

    async def on_event(conn: FakeConnection, event: dict[str, Any]) -> None:
        if event["type"] == "response.create":
            await conn.send(
                {
                    "type": "response.created",
                    "response": {"id": "resp_gone", "status": "in_progress"},
                },
            )
            for word in ("one ", "two ", "three "):
                await conn.send(
                    {
                        "type": "response.output_text.delta",
                        "response_id": "resp_gone",
                        "delta": word,
                    },
                )
        elif event["type"] == "response.cancel":
            await conn.ws.send(response_done("resp_gone", CANCELLED_USAGE, status="cancelled"))

    async with (
        FakeUpstream.answering(on_event) as upstream,
        running_relay(make_settings(**relay_settings_for(upstream))) as relay,
    ):
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            async with client(relay) as ws:
                await send_event(ws, {"type": "response.create"})
                await recv_until(ws, "response.output_text.delta")
            await upstream.wait_for(lambda: bool(upstream.close_codes))
            closed = await logs.session_line("session closed")
            after = await scrape(relay.http_url)
    assert upstream.received_types()[-1] == "response.cancel"
    assert upstream.close_codes == [1000]
    assert closed["cause"] == "client_closed"
    assert closed["closed_by"] == "client"
    assert closed["upstream_close_code"] == 1000
    cancelled = usage_split(CANCELLED_USAGE)
    assert closed["tokens"] == cancelled
    for kind, count in cancelled.items():
        assert delta(before, after, "relay_tokens_total", agent="default", kind=kind) == count


# -- input-audio transcription usage ---------------------------------------------------

# The API's `TranscriptTextUsageTokens`: input details, but output only as a total.
TRANSCRIPTION_USAGE = {
    "type": "tokens",
    "total_tokens": 26,
    "input_tokens": 17,
    "input_token_details": {"text_tokens": 0, "audio_tokens": 17},
    "output_tokens": 9,
}


def transcription_completed(usage: dict[str, Any]) -> str:
    return orjson.dumps(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": "evt_transcribed",
            "item_id": "item_1",
            "content_index": 0,
            "transcript": "hello",
            "usage": usage,
        }
    ).decode()


def test_transcription_usage_with_only_totals_counts_as_text() -> None:
    """Transcription usage that carries only totals is counted as input and output text."""
    stats = SessionStats()
    stats.record_transcription_usage(
        transcription_completed(
            {"type": "tokens", "input_tokens": 4, "output_tokens": 2, "total_tokens": 6}
        )
    )
    assert stats.usage == usage_split(usage_block(4, 0, 0, 2, 0))


def test_duration_transcription_usage_adds_no_tokens() -> None:
    """Transcription usage billed by duration adds no tokens."""
    stats = SessionStats()
    stats.record_transcription_usage(transcription_completed({"type": "duration", "seconds": 2.5}))
    assert stats.usage == usage_split(usage_block(0, 0, 0, 0, 0))


def test_transcription_usage_with_input_details_counts_its_output_tokens() -> None:
    """Transcription usage with input details still counts its output tokens as output text."""
    stats = SessionStats()
    stats.record_transcription_usage(transcription_completed(TRANSCRIPTION_USAGE))
    assert stats.usage == usage_split(usage_block(0, 17, 0, 9, 0))


async def test_transcription_usage_from_upstream_reaches_close_line_and_metrics() -> None:
    """Input-audio transcription usage is counted in the close line and `relay_tokens_total`."""

    async def on_event(conn: FakeConnection, event: dict[str, Any]) -> None:
        if event["type"] == "input_audio_buffer.commit":
            await conn.ws.send(transcription_completed(TRANSCRIPTION_USAGE))

    async with (
        FakeUpstream.answering(on_event) as upstream,
        running_relay(make_settings(**relay_settings_for(upstream))) as relay,
    ):
        with captured_logs() as logs:
            before = await scrape(relay.http_url)
            async with client(relay) as ws:
                await send_event(ws, {"type": "input_audio_buffer.commit"})
                await recv_until(ws, "conversation.item.input_audio_transcription.completed")
            closed = await logs.session_line("session closed")
            after = await scrape(relay.http_url)
    assert closed["tokens"]["input_audio"] == 17
    for kind, count in closed["tokens"].items():
        assert delta(before, after, "relay_tokens_total", agent="default", kind=kind) == count


async def test_a_relay_initiated_end_cancels_the_response_in_flight_and_counts_its_usage() -> None:
    """An idle timeout mid-response sends `response.cancel` and still counts the usage."""

    async def on_event(conn: FakeConnection, event: dict[str, Any]) -> None:
        if event["type"] == "response.create":
            await conn.send({"type": "response.created", "response": {"id": "resp_idle"}})
        elif event["type"] == "response.cancel":
            await conn.ws.send(response_done("resp_idle", CANCELLED_USAGE, status="cancelled"))

    async with (
        FakeUpstream.answering(on_event) as upstream,
        running_relay(
            make_settings(**relay_settings_for(upstream), idle_timeout_seconds=0.5)
        ) as relay,
    ):
        with captured_logs() as logs:
            async with client(relay) as ws:
                await send_event(ws, {"type": "response.create"})
                notice, _ = await recv_until(ws, "error")
            closed = await logs.session_line("session closed")
    assert notice["error"]["code"] == "idle_timeout"
    assert "response.cancel" in upstream.received_types()
    assert closed["cause"] == "idle_timeout"
    assert closed["tokens"] == usage_split(CANCELLED_USAGE)
