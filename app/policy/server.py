"""The server policy: what the client may see of upstream events.

Everything passes unchanged except the session echoes (`session.created`,
`session.updated`, `transcription_session.created`/`.updated`), which carry
the full effective session. They are redacted by allowlist: the client sees
only formats, modalities, voice, turn detection, the transcription model and
language, `expires_at` and ids; `instructions` is blanked to `""` and `tools`
to `[]`; every other field (prompts, tool choice, tracing, ...) is removed.
An echo whose `session` is not an object is dropped.

Most downstream bytes are audio deltas, so the event type is read from the
frame's head without parsing. Whenever the head is not the plain
`{"type":"<name>"` form, the frame is parsed in full: the shortcut can only
skip work, never a redaction.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.policy.decisions import Drop, Forward, Rewrite, ServerDecision

__all__ = ["REDACTED_TYPES", "decide_server", "head_type", "redact_session"]

REDACTED_TYPES = frozenset(
    {
        "session.created",
        "session.updated",
        "transcription_session.created",
        "transcription_session.updated",
    }
)

# True keeps the value whole; a dict keeps only its listed keys. GA and preview side by side.
_VISIBLE: dict[str, Any] = {
    "id": True,
    "object": True,
    "type": True,
    "model": True,
    "expires_at": True,
    "output_modalities": True,
    "modalities": True,
    "voice": True,
    "input_audio_format": True,
    "output_audio_format": True,
    "input_audio_transcription": {"model": True, "language": True},
    "turn_detection": True,
    "input_audio_noise_reduction": True,
    "audio": {
        "input": {
            "format": True,
            "transcription": {"model": True, "language": True},
            "turn_detection": True,
            "noise_reduction": True,
        },
        "output": {"format": True, "voice": True, "speed": True},
    },
}

_HEAD = '{"type":"'
_HEAD_LEN = len(_HEAD)
_MAX_TYPE_LEN = 96


def head_type(text: str) -> str | None:
    """The event type from a frame that starts `{"type":"<name>"`, else None."""
    if not text.startswith(_HEAD):
        return None
    end = text.find('"', _HEAD_LEN, _HEAD_LEN + _MAX_TYPE_LEN)
    if end < 0:
        return None
    name = text[_HEAD_LEN:end]
    return None if "\\" in name else name


def decide_server(text: str) -> ServerDecision:
    """`Forward` when the client may see `text` as it is, `Rewrite` for a redacted echo.

    Fails closed with `Drop`: a frame that cannot be parsed as a JSON object
    might be a session echo the relay could not redact. The upstream is
    trusted not to repeat the `type` key. Forward decisions are shared per
    event type, so the hot path allocates nothing.
    """
    event_type = head_type(text)
    if event_type is not None and event_type not in REDACTED_TYPES:
        return _forward(event_type)
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Drop(event_type or "")
    if not isinstance(event, dict):
        return Drop("")
    parsed_type = event.get("type")
    if not isinstance(parsed_type, str):
        return _forward("")
    if parsed_type not in REDACTED_TYPES:
        return _forward(parsed_type)
    session = event.get("session")
    if not isinstance(session, dict):
        return Drop(parsed_type)
    event["session"] = redact_session(
        session, transcription=parsed_type.startswith("transcription_")
    )
    return Rewrite(parsed_type, orjson.dumps(event).decode(), session)


_FORWARDS: dict[str, Forward] = {}
_MAX_FORWARDS = 512  # upstream event types are few; an unbounded set is not cached


def _forward(event_type: str) -> Forward:
    forward = _FORWARDS.get(event_type)
    if forward is None:
        forward = Forward(event_type)
        if len(_FORWARDS) < _MAX_FORWARDS:
            _FORWARDS[event_type] = forward
    return forward


def redact_session(session: dict[str, Any], *, transcription: bool = False) -> dict[str, Any]:
    """A session as the client may see it: the visible fields, with `instructions` blanked
    to `""` and `tools` to `[]` (a realtime session's)."""
    visible = _keep(session, _VISIBLE)
    if not transcription:
        visible["instructions"] = ""
        visible["tools"] = []
    return visible


def _keep(node: dict[str, Any], allowed: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, rule in allowed.items():
        if key not in node:
            continue
        value = node[key]
        if rule is True:
            kept[key] = value
        elif isinstance(value, dict):
            kept[key] = _keep(value, rule)
    return kept
