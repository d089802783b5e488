"""Server frames: everything passes except session echoes, which are redacted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from app.policy.server import head_type
from tests.policy.factories import INSTRUCTIONS, dumps, server_pair

GA_SESSION: dict[str, Any] = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_1",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": INSTRUCTIONS,
    "tools": [{"type": "function", "name": "lookup"}],
    "tool_choice": "auto",
    "prompt": {"id": "pmpt_1", "version": "3"},
    "audio": {"output": {"voice": "marin"}},
}
GA_REDACTED = {
    **{k: v for k, v in GA_SESSION.items() if k not in ("prompt", "tool_choice")},
    "instructions": "",
    "tools": [],
}

PREVIEW_SESSION: dict[str, Any] = {
    "id": "sess_2",
    "object": "realtime.session",
    "modalities": ["text", "audio"],
    "voice": "marin",
    "instructions": INSTRUCTIONS,
    "tools": [{"type": "function", "name": "lookup"}],
    "temperature": 0.8,
}
PREVIEW_REDACTED = {
    **{k: v for k, v in PREVIEW_SESSION.items() if k != "temperature"},
    "instructions": "",
    "tools": [],
}


def _visible(text: str) -> Any:
    """What the client receives for an upstream frame, parsed."""
    _, replacement = server_pair(text)
    return orjson.loads(replacement if replacement is not None else text)


PASS_THROUGH = [
    pytest.param(
        '{"type":"response.output_audio.delta","response_id":"r","delta":"AAAA"}',
        "response.output_audio.delta",
        id="ga-audio-delta",
    ),
    pytest.param(
        '{"type":"response.audio.delta","delta":"AAAA"}', "response.audio.delta", id="preview-delta"
    ),
    pytest.param(
        '{"type":"error","error":{"code":"x"}}',
        "error",
        id="error",
    ),
    pytest.param(
        dumps({"type": "response.done", "response": {"instructions": "kept", "usage": {}}}),
        "response.done",
        id="response-done-not-redacted",
    ),
    pytest.param(
        '{ "type" : "conversation.item.created", "item": {} }',
        "conversation.item.created",
        id="spaced-frame-parsed",
    ),
    pytest.param(
        '{"event_id":"e","type":"rate_limits.updated"}',
        "rate_limits.updated",
        id="type-not-first",
    ),
    pytest.param('{"type":"response\\u002edone"}', "response.done", id="escaped-type-parsed"),
    pytest.param(
        '{"type":"session.created.extra","session":{"instructions":"x"}}',
        "session.created.extra",
        id="lookalike-type-not-redacted",
    ),
    pytest.param(dumps({"type": "x" * 200}), "x" * 200, id="type-longer-than-head-window"),
]


@pytest.mark.parametrize(("text", "event_type"), PASS_THROUGH)
def test_server_events_other_than_session_echoes_pass_unchanged(text: str, event_type: str) -> None:
    """Server events other than `session.created`/`session.updated` are not rewritten."""
    assert server_pair(text) == (event_type, text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("not json", id="bad-json"),
        pytest.param("", id="empty"),
        pytest.param('{"type":"' + "a" * 200, id="unterminated-long-type"),
        pytest.param('{"type":"session.created"', id="truncated-session-created"),
        pytest.param("[1, 2]", id="array"),
        pytest.param("42", id="number"),
        pytest.param("null", id="null"),
    ],
)
def test_unreadable_server_frames_are_dropped(text: str) -> None:
    """Frames that are not JSON objects are dropped: they might be unredactable session echoes."""
    assert server_pair(text)[1] is None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{}", id="no-type"),
        pytest.param('{"type":7}', id="number-type"),
        pytest.param('{"type":null,"session":{"instructions":"x"}}', id="null-type"),
    ],
)
def test_server_objects_without_a_string_type_pass_unchanged(text: str) -> None:
    """JSON objects with no string type pass unchanged with type ``""``."""
    assert server_pair(text) == ("", text)


REDACTION_FORMS = [
    pytest.param(lambda e: dumps(e), id="compact-type-first"),
    pytest.param(lambda e: json.dumps(e), id="spaces-after-separators"),
    pytest.param(lambda e: json.dumps(e, indent=2), id="pretty-printed"),
    pytest.param(lambda e: " " + dumps(e), id="leading-space"),
    pytest.param(lambda e: "\n" + dumps(e) + "\n", id="surrounding-newlines"),
    pytest.param(lambda e: dumps({k: e[k] for k in reversed(list(e))}), id="type-last"),
    pytest.param(
        lambda e: dumps(e).replace('"type":"session.', '"type":"session\\u002e', 1),
        id="escaped-dot-in-type",
    ),
    pytest.param(
        lambda e: dumps(e).replace('"type":"s', '"type":"\\u0073', 1),
        id="escaped-first-letter-in-type",
    ),
    pytest.param(lambda e: dumps(e).replace('{"type"', '{"\\u0074ype"', 1), id="escaped-type-key"),
]


@pytest.mark.parametrize("render", REDACTION_FORMS)
@pytest.mark.parametrize(
    ("event_type", "session", "expected"),
    [
        pytest.param("session.created", GA_SESSION, GA_REDACTED, id="ga-created"),
        pytest.param("session.updated", GA_SESSION, GA_REDACTED, id="ga-updated"),
        pytest.param("session.created", PREVIEW_SESSION, PREVIEW_REDACTED, id="preview-created"),
        pytest.param("session.updated", PREVIEW_SESSION, PREVIEW_REDACTED, id="preview-updated"),
    ],
)
def test_session_echo_is_redacted_whatever_its_formatting(
    render: Callable[[dict[str, Any]], str],
    event_type: str,
    session: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    """Session echoes lose instructions, tools and prompt however the JSON is laid out."""
    event = {"type": event_type, "event_id": "evt_s", "session": session}
    text = render(event)
    kind, replacement = server_pair(text)
    assert kind == event_type
    assert replacement is not None
    assert orjson.loads(replacement) == {
        "type": event_type,
        "event_id": "evt_s",
        "session": expected,
    }


@pytest.mark.parametrize(
    "event_type",
    [pytest.param("session.created", id="created"), pytest.param("session.updated", id="updated")],
)
def test_redaction_sets_empty_instructions_and_tools_even_when_absent(event_type: str) -> None:
    """A session echo without instructions or tools still gets ``""`` and ``[]``."""
    event = {"type": event_type, "session": {"id": "s", "voice": "marin"}}
    assert _visible(dumps(event)) == {
        "type": event_type,
        "session": {"id": "s", "voice": "marin", "instructions": "", "tools": []},
    }


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"type": "session.created"}, id="no-session"),
        pytest.param({"type": "session.updated", "session": None}, id="null-session"),
        pytest.param({"type": "session.updated", "session": "opaque"}, id="string-session"),
    ],
)
def test_session_echo_without_session_object_is_dropped(event: dict[str, Any]) -> None:
    """A session echo whose `session` is not an object is dropped: it cannot be redacted."""
    kind, replacement = server_pair(dumps(event))
    assert kind == event["type"]
    assert replacement is None


ALLOWLIST_CASES = [
    pytest.param(
        "session.updated",
        {
            "type": "realtime",
            "id": "sess_1",
            "expires_at": 1700000000,
            "tool_choice": {"type": "function", "name": "lookup_order"},
            "tracing": {"workflow_name": "support", "metadata": {"team": "x"}},
            "client_secret": {"value": "ek_secret"},
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper", "prompt": "secret terms"},
                    "turn_detection": {"type": "server_vad"},
                },
                "output": {"voice": "marin", "speed": 1.0},
            },
        },
        {
            "type": "realtime",
            "id": "sess_1",
            "expires_at": 1700000000,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper"},
                    "turn_detection": {"type": "server_vad"},
                },
                "output": {"voice": "marin", "speed": 1.0},
            },
            "instructions": "",
            "tools": [],
        },
        id="ga-tool-choice-tracing-and-prompts-removed",
    ),
    pytest.param(
        "transcription_session.updated",
        {
            "id": "sess_t",
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "whisper", "prompt": "secret", "language": "en"},
            "include": ["item.input_audio_transcription.logprobs"],
        },
        {
            "id": "sess_t",
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "whisper", "language": "en"},
        },
        id="preview-transcription-session-redacted",
    ),
]


@pytest.mark.parametrize(("event_type", "session", "expected"), ALLOWLIST_CASES)
def test_session_echo_is_redacted_by_allowlist(
    event_type: str, session: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Only formats, modalities, voice, turn detection, transcription model, expiry and ids show."""
    assert _visible(dumps({"type": event_type, "session": session}))["session"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"type":"response.done"}', "response.done", id="compact"),
        pytest.param('{"type":""}', "", id="empty-type"),
        pytest.param('{ "type":"x"}', None, id="space-before-key"),
        pytest.param('{"type": "x"}', None, id="space-after-colon"),
        pytest.param('{"type":"a\\"b"}', None, id="escaped-quote"),
        pytest.param('{"type":"a\\u002eb"}', None, id="unicode-escape"),
        pytest.param('{"type":"' + "a" * 200 + '"}', None, id="longer-than-window"),
        pytest.param('{"type":"abc', None, id="unterminated"),
        pytest.param('{"event_id":"e","type":"x"}', None, id="type-not-first"),
    ],
)
def test_head_type_reads_only_the_plain_compact_head(text: str, expected: str | None) -> None:
    """`head_type` returns a name only for the exact `{"type":"<name>"` prefix."""
    assert head_type(text) == expected


def test_unparseable_session_echo_never_reaches_the_client_unredacted() -> None:
    """A session echo the parser rejects is not forwarded with its instructions."""
    depth = 1100
    text = (
        '{"type":"session.created","session":{"instructions":"'
        + INSTRUCTIONS
        + '","x":'
        + "[" * depth
        + "]" * depth
        + "}}"
    )
    out = server_pair(text)[1]
    assert out is None or INSTRUCTIONS not in out
