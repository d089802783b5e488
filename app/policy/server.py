"""The server policy: what the client may see of upstream events.

Everything passes unchanged except `session.created` and `session.updated`,
which echo the full effective session: their `instructions` become `""`,
their `tools` become `[]` and any `prompt` is removed, so the client never
learns the system prompt.

Most downstream bytes are audio deltas, so the event type is read from the
frame's head without parsing. Whenever the head is not the plain
`{"type":"<name>"` form, the frame is parsed in full: the shortcut can only
skip work, never a redaction.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["REDACTED_TYPES", "decide_server", "head_type"]

REDACTED_TYPES = frozenset({"session.created", "session.updated"})

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


def decide_server(text: str) -> tuple[str, str | None]:
    """`(event_type, text_to_send)`; the text is `text` itself when nothing changed.

    Fails closed: a frame that cannot be parsed as a JSON object is dropped
    (None), because it might be a session echo the relay could not redact.
    The upstream is trusted not to repeat the `type` key.
    """
    event_type = head_type(text)
    if event_type is not None and event_type not in REDACTED_TYPES:
        return event_type, text
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return event_type or "", None
    if not isinstance(event, dict):
        return "", None
    parsed_type = event.get("type")
    if not isinstance(parsed_type, str):
        return "", text
    if parsed_type not in REDACTED_TYPES:
        return parsed_type, text
    session = event.get("session")
    if isinstance(session, dict):
        event["session"] = _redact(session)
    return parsed_type, orjson.dumps(event).decode()


def _redact(session: dict[str, Any]) -> dict[str, Any]:
    redacted = dict(session)
    redacted["instructions"] = ""
    redacted["tools"] = []
    redacted.pop("prompt", None)
    return redacted
