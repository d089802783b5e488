"""Session shape, event ids and session.update over real sockets, in both dialects."""

from __future__ import annotations

import pytest

from app.simulator import Simulator
from tests.support.events import user_text

from .helpers import Dialect, open_client, update

DIALECTS = pytest.mark.parametrize("dialect", ["ga", "preview"])


async def test_ga_session_created_has_nested_ga_shape(sim: Simulator) -> None:
    """GA session.created carries the full nested GA session with server VAD on."""
    async with open_client(sim, "ga") as client:
        session = client.created["session"]
    assert session["id"].startswith("sess_")
    assert session["type"] == "realtime"
    assert session["object"] == "realtime.session"
    assert session["model"] == "gpt-realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["max_output_tokens"] == "inf"
    assert isinstance(session["expires_at"], int)
    audio_in, audio_out = session["audio"]["input"], session["audio"]["output"]
    assert audio_in["format"] == {"type": "audio/pcm", "rate": 24000}
    assert audio_in["turn_detection"]["type"] == "server_vad"
    assert audio_in["transcription"] is None
    assert audio_out == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "alloy",
        "speed": 1.0,
    }
    assert "temperature" not in session
    assert "modalities" not in session


async def test_preview_session_created_has_flat_preview_shape(sim: Simulator) -> None:
    """Preview session.created carries the flat preview session for the deployment."""
    async with open_client(sim, "preview") as client:
        session = client.created["session"]
    assert session["model"] == "gpt-4o-realtime"
    assert session["modalities"] == ["text", "audio"]
    assert session["input_audio_format"] == session["output_audio_format"] == "pcm16"
    assert session["turn_detection"]["type"] == "server_vad"
    assert session["temperature"] == 0.8
    assert session["max_response_output_tokens"] == "inf"
    assert (session["instructions"], session["tools"], session["tool_choice"]) == ("", [], "auto")
    assert "audio" not in session
    assert "type" not in session


async def test_every_server_event_has_a_unique_event_id(sim: Simulator) -> None:
    """Event ids are present and never repeat within a connection."""
    async with open_client(sim, text_only=True) as client:
        await client.send(user_text("a b c"))
        await client.send({"type": "response.create"})
        await client.until("response.done")
    sent = sim.connections[0].sent_events()
    ids = [event["event_id"] for event in sent]
    assert all(i.startswith("event_") for i in ids)
    assert len(set(ids)) == len(ids)


async def test_ga_session_update_deep_merges_and_echoes_full_session(sim: Simulator) -> None:
    """A nested GA update changes only the given leaves and session.updated shows all fields."""
    async with open_client(sim, "ga") as client:
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": "Be brief.",
                    "audio": {"output": {"voice": "verse"}},
                },
            }
        )
        session = (await client.recv())["session"]
    assert session["instructions"] == "Be brief."
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "verse",
        "speed": 1.0,
    }
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"


@DIALECTS
async def test_session_update_with_unknown_field_is_refused_whole(
    sim: Simulator, dialect: Dialect
) -> None:
    """An unknown field yields unknown_parameter and none of the update is applied."""
    async with open_client(sim, dialect) as client:
        body = update(dialect)["session"] | {"instructions": "x", "foo": 1}
        await client.send({"type": "session.update", "event_id": "c1", "session": body})
        event = await client.recv()
    assert event["type"] == "error"
    assert event["error"] == {
        "type": "invalid_request_error",
        "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.foo'.",
        "param": "session.foo",
        "event_id": "c1",
    }
    assert sim.connections[0].session.session["instructions"] == ""


async def test_ga_session_update_rejects_preview_field_names(sim: Simulator) -> None:
    """A preview-only field such as voice at the top level is unknown to GA."""
    async with open_client(sim, "ga") as client:
        await client.send({"type": "session.update", "session": {"type": "realtime", "voice": "x"}})
        event = await client.recv()
    assert (event["error"]["code"], event["error"]["param"]) == (
        "unknown_parameter",
        "session.voice",
    )


async def test_ga_session_update_without_type_is_an_error(sim: Simulator) -> None:
    """GA requires session.type; without it nothing is applied."""
    async with open_client(sim, "ga") as client:
        await client.send({"type": "session.update", "session": {"instructions": "x"}})
        event = await client.recv()
    assert event["error"]["code"] == "missing_required_parameter"
    assert event["error"]["param"] == "session.type"
