"""The pure session state machine, driven without sockets: behaviours beyond the table."""

from __future__ import annotations

import base64

import pytest

from app.simulator.audio import silence, tone
from app.simulator.session import RealtimeSession
from tests.support.events import user_text

from .helpers import Dialect, Event, b64, run, summary, update

COMMIT = {"type": "input_audio_buffer.commit"}


def test_invalid_json_text_is_an_error_not_an_exception() -> None:
    """Unparseable text gives one invalid_json error."""
    assert summary(RealtimeSession("ga", "m").handle_text("{")) == ["error:invalid_json"]


def test_rejected_update_leaves_session_unchanged() -> None:
    """A refused session.update applies none of its fields."""
    session = RealtimeSession("preview", "m")
    before = dict(session.session)
    run(session, {"type": "session.update", "session": {"voice": "echo", "bogus": True}})
    assert session.session == before


def test_update_null_replaces_and_objects_merge() -> None:
    """Null replaces a value (turning VAD off) while nested objects merge leaf by leaf."""
    session = RealtimeSession("ga", "m")
    run(
        session,
        update("ga", vad=False),
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"speed": 1.5}}},
        },
    )
    audio = session.session["audio"]
    assert audio["input"]["turn_detection"] is None
    assert audio["output"]["speed"] == 1.5
    assert audio["output"]["voice"] == "alloy"


def test_expires_at_is_thirty_minutes_after_creation() -> None:
    """session.created reports expires_at = creation time + 1800 s."""
    session = RealtimeSession("ga", "m", now=1000.4)
    assert session.opening_events()[0]["session"]["expires_at"] == 2800


@pytest.mark.parametrize(
    ("text", "words", "usage"),
    [
        ("one two three", ["You ", "said: ", "one ", "two ", "three"], (3, 5)),
        ("", ["You ", "said: "], (0, 2)),
    ],
)
def test_text_reply_and_usage_table(text: str, words: list[str], usage: tuple[int, int]) -> None:
    """Text replies are 'You said: <text>' word deltas; usage counts words in and out."""
    session = RealtimeSession("preview", "m")
    events = run(
        session, update("preview", text_only=True), user_text(text), {"type": "response.create"}
    )
    assert [e["delta"] for e in events if e["type"] == "response.text.delta"] == words
    details = events[-1]["response"]["usage"]
    assert (details["input_tokens"], details["output_tokens"]) == usage
    assert details["total_tokens"] == sum(usage)


def test_response_without_any_user_input_greets() -> None:
    """With an empty conversation the reply is the fixed greeting."""
    events = run(
        RealtimeSession("ga", "m"), update("ga", text_only=True), {"type": "response.create"}
    )
    texts = [e["text"] for e in events if e["type"] == "response.output_text.done"]
    assert texts == ["Hello from the realtime simulator."]


def test_inline_audio_item_is_echoed() -> None:
    """A user item created with inline base64 audio is echoed when answered."""
    audio = tone(200.0, 150)
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": b64(audio)}],
    }
    events = run(
        RealtimeSession("ga", "m"),
        {"type": "conversation.item.create", "item": item},
        {"type": "response.create"},
    )
    echoed = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert echoed == audio


def test_response_input_item_reference_is_resolved() -> None:
    """An item_reference in response.input answers the referenced stored item."""
    session = RealtimeSession("ga", "m")
    run(
        session,
        update("ga", text_only=True),
        user_text("first") | {"item": user_text("first")["item"] | {"id": "it1"}},
        user_text("second"),
    )
    spec = {"input": [{"type": "item_reference", "id": "it1"}]}
    events = run(session, {"type": "response.create", "response": spec})
    assert [e["text"] for e in events if e["type"] == "response.output_text.done"] == [
        "You said: first"
    ]


def test_cancel_mid_stream_reports_partial_output_and_frees_the_session() -> None:
    """Cancelling after two batches gives a cancelled response.done; a new response may start."""
    session = RealtimeSession("preview", "m")
    run(
        session,
        update("preview", vad=False),
        {"type": "input_audio_buffer.append", "audio": b64(tone(440.0, 1000))},
        COMMIT,
    )
    session.handle({"type": "response.create"})
    assert session.step() is not None
    done = session.handle({"type": "response.cancel"})
    assert summary(done) == ["response.done"]
    response = done[0]["response"]
    assert response["status"] == "cancelled"
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"] == [{"type": "audio", "transcript": "I "}]
    assert response["usage"]["output_token_details"] == {"text_tokens": 1, "audio_tokens": 2}
    assert session.step() is None
    assert summary(run(session, {"type": "response.create"}))[-1] == "response.done"


def test_speech_start_interrupts_an_active_response() -> None:
    """Detected speech cancels the in-flight response with reason turn_detected."""
    session = RealtimeSession("ga", "m")
    run(session, user_text("hi"))
    session.handle({"type": "response.create"})
    events = session.handle({"type": "input_audio_buffer.append", "audio": b64(tone(440.0, 100))})
    assert summary(events) == ["input_audio_buffer.speech_started", "response.done"]
    assert events[1]["response"]["status_details"]["reason"] == "turn_detected"


def test_vad_without_create_response_only_commits() -> None:
    """create_response false commits on speech stop without starting a response."""
    session = RealtimeSession("preview", "m")
    td = {"type": "server_vad", "create_response": False}
    run(session, {"type": "session.update", "session": {"turn_detection": td}})
    events = run(
        session,
        {"type": "input_audio_buffer.append", "audio": b64(tone(440.0, 200) + silence(600))},
    )
    assert summary(events) == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
    ]


def test_item_delete_truncate_retrieve_round_trip() -> None:
    """Assistant output can be retrieved with its audio, truncated, then deleted."""
    session = RealtimeSession("ga", "m")
    events = run(session, user_text("hi"), {"type": "response.create"})
    item_id = events[-1]["response"]["output"][0]["id"]
    retrieved = run(session, {"type": "conversation.item.retrieve", "item_id": item_id})[0]["item"]
    assert base64.b64decode(retrieved["content"][0]["audio"]) == tone(440.0, 600)
    bad = {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": 601,
    }
    assert summary(run(session, bad)) == ["error:invalid_value"]
    truncated = run(session, bad | {"audio_end_ms": 250})
    assert summary(truncated) == ["conversation.item.truncated"]
    stored = session.conversation.get(item_id)
    assert stored is not None
    assert len(stored.pcm) == 250 * 48
    assert stored.item["content"][0]["transcript"] == ""
    user_id = session.conversation.items[0].id
    user_truncate = bad | {"item_id": user_id, "audio_end_ms": 0}
    assert summary(run(session, user_truncate)) == ["error:invalid_value"]
    assert summary(run(session, {"type": "conversation.item.delete", "item_id": item_id})) == [
        "conversation.item.deleted"
    ]
    assert [s.id for s in session.conversation.items] == [user_id]


def test_item_create_respects_previous_item_id_and_duplicate_ids() -> None:
    """Items insert after previous_item_id ('root' = first) and ids must be unique."""
    session = RealtimeSession("preview", "m")
    first = user_text("a") | {"item": user_text("a")["item"] | {"id": "a"}}
    root = user_text("b") | {
        "item": user_text("b")["item"] | {"id": "b"},
        "previous_item_id": "root",
    }
    events = run(session, first, root)
    assert [s.id for s in session.conversation.items] == ["b", "a"]
    assert events[-1]["previous_item_id"] is None
    assert summary(run(session, first)) == ["error:duplicate_item_id"]


@pytest.mark.parametrize(
    ("dialect", "session_text_only", "override", "expected_delta"),
    [
        ("ga", False, {"output_modalities": ["text"]}, "response.output_text.delta"),
        ("preview", False, {"modalities": ["text"]}, "response.text.delta"),
        ("preview", True, {"modalities": ["text", "audio"]}, "response.audio.delta"),
        ("ga", True, {"output_modalities": ["audio"]}, "response.output_audio.delta"),
    ],
)
def test_response_create_overrides_modalities_for_one_response(
    dialect: Dialect, session_text_only: bool, override: Event, expected_delta: str
) -> None:
    """Per-response modalities win over the session's, and are echoed in response.created."""
    session = RealtimeSession(dialect, "m")
    run(session, update(dialect, text_only=session_text_only), user_text("x"))
    events = run(session, {"type": "response.create", "response": override})
    assert expected_delta in summary(events)
    key = "output_modalities" if dialect == "ga" else "modalities"
    assert events[0]["response"][key] == next(iter(override.values()))
