"""Responses, cancellation, usage and server VAD over real sockets, in both dialects."""

from __future__ import annotations

import base64

import pytest

from app.simulator import Simulator
from app.simulator.audio import silence, tone
from tests.support.events import user_text

from .helpers import (
    AUDIO_DELTA,
    TEXT_DELTA,
    TRANSCRIPT_DELTA,
    TRANSCRIPT_DONE,
    Dialect,
    b64,
    deltas,
    open_client,
    types,
)

DIALECTS = pytest.mark.parametrize("dialect", ["ga", "preview"])


@DIALECTS
async def test_manual_commit_response_echoes_audio_byte_exact(
    sim: Simulator, dialect: Dialect
) -> None:
    """With VAD off, committed audio is echoed back byte-exact in 100 ms deltas."""
    audio = tone(330.0, 1230) + b"\x01"
    async with open_client(sim, dialect, vad=False) as client:
        for start in range(0, len(audio), 9600):
            await client.send(
                {"type": "input_audio_buffer.append", "audio": b64(audio[start : start + 9600])}
            )
        await client.send({"type": "input_audio_buffer.commit"})
        committed = await client.until("conversation.item.created")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    assert types(committed)[0] == "input_audio_buffer.committed"
    item = committed[-1]["item"]
    assert item["id"] == committed[0]["item_id"]
    assert item["content"] == [{"type": "input_audio", "transcript": None}]
    chunks = [base64.b64decode(d) for d in deltas(events, AUDIO_DELTA[dialect])]
    assert b"".join(chunks) == audio
    assert [len(c) for c in chunks[:-1]] == [4800] * 12
    transcript = "I heard 1230 milliseconds of audio."
    assert "".join(deltas(events, TRANSCRIPT_DELTA[dialect])) == transcript
    assert (
        next(e for e in events if e["type"] == TRANSCRIPT_DONE[dialect])["transcript"] == transcript
    )
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["status"] == "completed"


@DIALECTS
async def test_text_item_gets_you_said_word_deltas(sim: Simulator, dialect: Dialect) -> None:
    """A user text message is answered with 'You said: <text>' streamed word by word."""
    async with open_client(sim, dialect, text_only=True) as client:
        await client.send(user_text("hello  simulated world"))
        await client.until("conversation.item.created")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    words = deltas(events, TEXT_DELTA[dialect])
    assert words == ["You ", "said: ", "hello  ", "simulated ", "world"]
    part_type = "output_text" if dialect == "ga" else "text"
    output = events[-1]["response"]["output"][0]
    assert output["content"] == [{"type": part_type, "text": "You said: hello  simulated world"}]
    assert AUDIO_DELTA[dialect] not in types(events)


@DIALECTS
async def test_response_event_sequence_follows_the_dialect(
    sim: Simulator, dialect: Dialect
) -> None:
    """The text response sequence uses the dialect's names, GA adding item added/done."""
    async with open_client(sim, dialect, text_only=True) as client:
        await client.send(user_text("hi"))
        await client.until("conversation.item.created")
        if dialect == "ga":
            await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    prefix = "response.output_text" if dialect == "ga" else "response.text"
    ga_added = ["conversation.item.added"] if dialect == "ga" else []
    ga_done = ["conversation.item.done"] if dialect == "ga" else []
    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.created",
        *ga_added,
        "response.content_part.added",
        *[f"{prefix}.delta"] * 3,
        f"{prefix}.done",
        "response.content_part.done",
        "response.output_item.done",
        *ga_done,
        "response.done",
    ]


async def test_text_input_in_audio_modality_gets_a_600ms_tone(sim: Simulator) -> None:
    """A text question with audio output is answered with a 600 ms 440 Hz tone and transcript."""
    async with open_client(sim, "preview") as client:
        await client.send(user_text("hi"))
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    audio = b"".join(base64.b64decode(d) for d in deltas(events, "response.audio.delta"))
    assert audio == tone(440.0, 600)
    assert "".join(deltas(events, "response.audio_transcript.delta")) == "You said: hi"


@DIALECTS
async def test_usage_block_follows_the_documented_formula(sim: Simulator, dialect: Dialect) -> None:
    """Usage counts input/output words and audio milliseconds deterministically."""
    async with open_client(sim, dialect, vad=False) as client:
        await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(500.0, 1000))})
        await client.send({"type": "input_audio_buffer.commit"})
        await client.send({"type": "response.create"})
        usage = (await client.until("response.done"))[-1]["response"]["usage"]
    # transcript "I heard 1000 milliseconds of audio." = 6 words; 1000 ms in and out.
    assert usage["input_tokens"] == 10
    assert usage["output_tokens"] == 6 + 20
    assert usage["total_tokens"] == 36
    details = usage["input_token_details"]
    assert (details["text_tokens"], details["audio_tokens"], details["cached_tokens"]) == (0, 10, 0)
    assert usage["output_token_details"] == {"text_tokens": 6, "audio_tokens": 20}


@DIALECTS
async def test_response_cancel_stops_stream_with_cancelled_status(
    sim: Simulator, dialect: Dialect
) -> None:
    """A cancel right after response.create ends the response early as cancelled, with usage."""
    audio = tone(300.0, 30_000)
    async with open_client(sim, dialect, vad=False) as client:
        await client.send({"type": "input_audio_buffer.append", "audio": b64(audio)})
        await client.send({"type": "input_audio_buffer.commit"})
        await client.send({"type": "response.create"})
        await client.send({"type": "response.cancel"})
        events = await client.until("response.done")
        await client.send({"type": "response.cancel", "event_id": "again"})
        late = await client.recv()
    response = events[-1]["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    sent = b"".join(base64.b64decode(d) for d in deltas(events, AUDIO_DELTA[dialect]))
    assert len(sent) < len(audio)
    assert response["usage"]["output_token_details"]["audio_tokens"] == len(sent) // 48 // 50
    assert late["error"]["code"] == "response_cancel_not_active"
    assert late["error"]["event_id"] == "again"


async def test_second_response_create_while_streaming_is_refused(sim: Simulator) -> None:
    """Only one response may be in flight; a second create gets an error and the first completes."""
    async with open_client(sim, "ga", vad=False) as client:
        await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(300.0, 20_000))})
        await client.send({"type": "input_audio_buffer.commit"})
        await client.send({"type": "response.create"})
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    errors = [e for e in events if e["type"] == "error"]
    assert [e["error"]["code"] for e in errors] == ["conversation_already_has_active_response"]
    assert events[-1]["response"]["status"] == "completed"


@DIALECTS
async def test_server_vad_detects_a_tone_commits_and_responds(
    sim: Simulator, dialect: Dialect
) -> None:
    """A tone between silences triggers speech start/stop, a commit and an automatic response."""
    audio = silence(200) + tone(440.0, 600) + silence(700)
    async with open_client(sim, dialect) as client:
        await client.send({"type": "input_audio_buffer.append", "audio": b64(audio)})
        events = await client.until("response.done")
    started, stopped, committed = events[0], events[1], events[2]
    assert (started["type"], started["audio_start_ms"]) == (
        "input_audio_buffer.speech_started",
        200,
    )
    assert (stopped["type"], stopped["audio_end_ms"]) == ("input_audio_buffer.speech_stopped", 1300)
    assert committed["type"] == "input_audio_buffer.committed"
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    echoed = b"".join(base64.b64decode(d) for d in deltas(events, AUDIO_DELTA[dialect]))
    assert echoed == audio[: 1300 * 48]
    assert len(sim.connections[0].session.buffer) == 200 * 48


@DIALECTS
async def test_server_vad_never_triggers_on_silence(sim: Simulator, dialect: Dialect) -> None:
    """Two seconds of digital silence produce no speech events before a manual commit."""
    async with open_client(sim, dialect) as client:
        for _ in range(10):
            await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(200))})
        await client.send({"type": "input_audio_buffer.commit"})
        events = await client.until("input_audio_buffer.committed")
    assert types(events) == ["input_audio_buffer.committed"]


async def test_transcription_completed_is_sent_when_enabled(sim: Simulator) -> None:
    """With input transcription configured a committed item gets a deterministic transcript."""
    async with open_client(sim, "preview", vad=False) as client:
        await client.send(
            {"type": "session.update", "session": {"input_audio_transcription": {"model": "w"}}}
        )
        await client.until("session.updated")
        await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(440.0, 250))})
        await client.send({"type": "input_audio_buffer.commit"})
        event = (await client.until("conversation.item.input_audio_transcription.completed"))[-1]
    assert event["transcript"] == "(250 ms of audio)"


async def test_out_of_band_response_uses_input_and_leaves_conversation_alone(
    sim: Simulator,
) -> None:
    """conversation 'none' with custom input answers that input and stores nothing."""
    async with open_client(sim, "ga", text_only=True) as client:
        await client.send(user_text("in the conversation"))
        await client.until("conversation.item.done")
        custom = user_text("custom context")["item"]
        await client.send(
            {"type": "response.create", "response": {"conversation": "none", "input": [custom]}}
        )
        events = await client.until("response.done")
    assert "".join(deltas(events, TEXT_DELTA["ga"])) == "You said: custom context"
    assert "conversation.item.created" not in types(events)
    assert events[-1]["response"]["conversation_id"] is None
    assert len(sim.connections[0].session.conversation.items) == 1


@DIALECTS
async def test_bad_input_gets_errors_and_the_connection_survives(
    sim: Simulator, dialect: Dialect
) -> None:
    """Invalid JSON, unknown types and an empty commit are errors, not disconnects."""
    async with open_client(sim, dialect) as client:
        await client.ws.send("{not json")
        await client.send({"type": "no.such.event", "event_id": "e9"})
        await client.send({"type": "input_audio_buffer.commit"})
        await client.send({"type": "input_audio_buffer.append", "audio": "%%%"})
        await client.ws.send(b"\x00binary")
        codes = [(await client.recv())["error"]["code"] for _ in range(5)]
        await client.send({"type": "input_audio_buffer.clear"})
        assert (await client.recv())["type"] == "input_audio_buffer.cleared"
    assert codes == [
        "invalid_json",
        "unknown_event_type",
        "input_audio_buffer_commit_empty",
        "invalid_value",
        "invalid_json",
    ]
    assert sim.connections[0].received_events()[0]["event_id"] == "e9"
