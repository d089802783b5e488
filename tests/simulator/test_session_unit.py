"""The pure session state machine, driven without sockets, mostly as tables."""

from __future__ import annotations

from typing import Any

import pytest

from app.simulator.audio import tone
from app.simulator.session import RealtimeSession
from tests.support.events import user_text

from .helpers import Dialect, b64, run, summary, update

APPEND = {"type": "input_audio_buffer.append", "audio": b64(tone(440.0, 300))}
COMMIT = {"type": "input_audio_buffer.commit"}

TABLE: list[tuple[str, Dialect, list[Any], list[str]]] = [
    ("not an object", "ga", [[1, 2]], ["error:invalid_json"]),
    ("no type", "ga", [{"x": 1}], ["error:missing_required_parameter"]),
    ("unknown type", "preview", [{"type": "nope"}], ["error:unknown_event_type"]),
    ("webrtc only", "ga", [{"type": "output_audio_buffer.clear"}], ["error:unknown_event_type"]),
    (
        "update no session",
        "preview",
        [{"type": "session.update"}],
        ["error:missing_required_parameter"],
    ),
    ("ga update ok", "ga", [update("ga", vad=False)], ["session.updated"]),
    (
        "ga bad type",
        "ga",
        [{"type": "session.update", "session": {"type": "x"}}],
        ["error:invalid_value"],
    ),
    (
        "preview rejects ga field",
        "preview",
        [{"type": "session.update", "session": {"audio": {}}}],
        ["error:unknown_parameter"],
    ),
    ("preview update ok", "preview", [update("preview", text_only=True)], ["session.updated"]),
    (
        "append needs audio",
        "ga",
        [{"type": "input_audio_buffer.append"}],
        ["error:missing_required_parameter"],
    ),
    ("commit empty", "ga", [COMMIT], ["error:input_audio_buffer_commit_empty"]),
    ("clear", "preview", [{"type": "input_audio_buffer.clear"}], ["input_audio_buffer.cleared"]),
    (
        "preview commit",
        "preview",
        [update("preview", vad=False), APPEND, COMMIT],
        ["session.updated", "input_audio_buffer.committed", "conversation.item.created"],
    ),
    (
        "ga commit",
        "ga",
        [update("ga", vad=False), APPEND, COMMIT],
        [
            "session.updated",
            "input_audio_buffer.committed",
            "conversation.item.created",
            "conversation.item.added",
            "conversation.item.done",
        ],
    ),
    ("cancel idle", "ga", [{"type": "response.cancel"}], ["error:response_cancel_not_active"]),
    (
        "item without item",
        "ga",
        [{"type": "conversation.item.create"}],
        ["error:missing_required_parameter"],
    ),
    (
        "item bad type",
        "ga",
        [{"type": "conversation.item.create", "item": {"type": "image"}}],
        ["error:invalid_value"],
    ),
    (
        "item bad role",
        "preview",
        [
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "x", "content": []},
            }
        ],
        ["error:invalid_value"],
    ),
    ("item preview", "preview", [user_text("a")], ["conversation.item.created"]),
    (
        "item previous unknown",
        "preview",
        [user_text("a") | {"previous_item_id": "missing"}],
        ["error:item_not_found"],
    ),
    (
        "delete unknown",
        "ga",
        [{"type": "conversation.item.delete", "item_id": "x"}],
        ["error:item_not_found"],
    ),
    (
        "retrieve unknown",
        "ga",
        [{"type": "conversation.item.retrieve", "item_id": "x"}],
        ["error:item_not_found"],
    ),
    (
        "response bad shape",
        "ga",
        [{"type": "response.create", "response": 3}],
        ["error:invalid_type"],
    ),
]


@pytest.mark.parametrize(
    ("dialect", "events", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE]
)
def test_client_event_table(dialect: Dialect, events: list[Any], expected: list[str]) -> None:
    """Each client event sequence yields exactly the listed server events."""
    assert summary(run(RealtimeSession(dialect, "m"), *events)) == expected
