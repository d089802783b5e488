"""The keys the relay knows, per client event type, item type and content type.

A shape says which keys an object may carry. Keys outside it are removed
from what is forwarded; a key that differs from a known one only in case is
refused (a case-insensitive deserialiser would read it as the known key).
`FREE` marks a value whose keys are the client's data, not protocol (for
example `metadata` or a tool's JSON Schema): it is bounded and checked for
repeated keys, but its keys are kept as they are.

Shapes are data: `app.policy.canonical` is the one walker that applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EVENT_SHAPES", "FREE", "Choice", "Free", "ListOf", "Obj", "Shape"]


@dataclass(frozen=True, slots=True)
class Free:
    """Any JSON value; keys are data and are kept."""


@dataclass(frozen=True, slots=True)
class Obj:
    """An object with known keys. A non-object value is left to the upstream to judge."""

    fields: Mapping[str, Shape]
    folded: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", frozenset(key.lower() for key in self.fields))


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list whose every element has `item`'s shape."""

    item: Shape


@dataclass(frozen=True, slots=True)
class Choice:
    """An object whose shape depends on its content (its `type`, mostly)."""

    pick: Callable[[Mapping[str, Any]], Obj]


Shape = Free | Obj | ListOf | Choice

FREE = Free()


def _obj(*keys: str, **shapes: Shape) -> Obj:
    """An `Obj` whose plain `keys` hold scalars (or anything the upstream validates)."""
    return Obj({**dict.fromkeys(keys, FREE), **shapes})


def _by_type(default: str | None, shapes: Mapping[str, Obj], fallback: Obj) -> Choice:
    def pick(value: Mapping[str, Any]) -> Obj:
        kind = value.get("type", default)
        return shapes.get(kind, fallback) if isinstance(kind, str) else fallback

    return Choice(pick)


_FORMAT = _obj("type", "rate")
_TURN_DETECTION = _obj(
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "create_response",
    "interrupt_response",
    "eagerness",
    "idle_timeout_ms",
)
_TRANSCRIPTION = _obj("model", "language", "prompt")
_NOISE_REDUCTION = _obj("type")
_FUNCTION_TOOL = _obj("type", "name", "description", parameters=FREE)
_TOOLS = ListOf(_FUNCTION_TOOL)
_PROMPT = _obj("id", "version", variables=FREE)

_CONTENT = _by_type(
    None,
    {
        "input_text": _obj("type", "text"),
        "input_audio": _obj("type", "audio", "transcript"),
        "input_image": _obj("type", "image_url", "detail"),
        "text": _obj("type", "text"),
        "output_text": _obj("type", "text"),
        "audio": _obj("type", "audio", "transcript"),
        "output_audio": _obj("type", "audio", "transcript"),
        "item_reference": _obj("type", "id"),
    },
    _obj("type"),
)


def _pick_item(value: Mapping[str, Any]) -> Obj:
    kind = value.get("type", "message" if "role" in value else None)
    return _ITEMS.get(kind, _ITEM_FALLBACK) if isinstance(kind, str) else _ITEM_FALLBACK


_ITEMS: dict[str, Obj] = {
    "message": _obj("id", "type", "object", "status", "role", content=ListOf(_CONTENT)),
    "function_call": _obj("id", "type", "object", "status", "call_id", "name", "arguments"),
    "function_call_output": _obj("id", "type", "object", "status", "call_id", "output"),
    "item_reference": _obj("type", "id"),
}
_ITEM_FALLBACK = _obj("id", "type")
_ITEM = Choice(_pick_item)

GA_SESSION = _obj(
    "type",
    "model",
    "instructions",
    "output_modalities",
    "max_output_tokens",
    "tool_choice",
    "tracing",
    "truncation",
    "include",
    tools=_TOOLS,
    prompt=_PROMPT,
    audio=_obj(
        input=_obj(
            format=_FORMAT,
            transcription=_TRANSCRIPTION,
            turn_detection=_TURN_DETECTION,
            noise_reduction=_NOISE_REDUCTION,
        ),
        output=_obj("voice", "speed", format=_FORMAT),
    ),
)

PREVIEW_SESSION = _obj(
    "modalities",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "temperature",
    "max_response_output_tokens",
    "tool_choice",
    "instructions",
    "model",
    tools=_TOOLS,
    input_audio_transcription=_TRANSCRIPTION,
    turn_detection=_TURN_DETECTION,
    input_audio_noise_reduction=_NOISE_REDUCTION,
)

_RESPONSE = _obj(
    # GA and preview names side by side: the session rules decide which may pass.
    "conversation",
    "output_modalities",
    "modalities",
    "instructions",
    "voice",
    "output_audio_format",
    "tool_choice",
    "temperature",
    "max_output_tokens",
    "max_response_output_tokens",
    metadata=FREE,
    input=ListOf(_ITEM),
    tools=_TOOLS,
    prompt=_PROMPT,
    audio=_obj(output=_obj("voice", format=_FORMAT)),
)


def _events(session: Obj) -> dict[str, Obj]:
    return {
        "session.update": _obj("type", "event_id", session=session),
        "input_audio_buffer.append": _obj("type", "event_id", "audio"),
        "input_audio_buffer.commit": _obj("type", "event_id"),
        "input_audio_buffer.clear": _obj("type", "event_id"),
        "conversation.item.create": _obj("type", "event_id", "previous_item_id", item=_ITEM),
        "conversation.item.retrieve": _obj("type", "event_id", "item_id"),
        "conversation.item.truncate": _obj(
            "type", "event_id", "item_id", "content_index", "audio_end_ms"
        ),
        "conversation.item.delete": _obj("type", "event_id", "item_id"),
        "response.create": _obj("type", "event_id", response=_RESPONSE),
        "response.cancel": _obj("type", "event_id", "response_id"),
        "output_audio_buffer.clear": _obj("type", "event_id"),
    }


EVENT_SHAPES: dict[str, dict[str, Obj]] = {
    "ga": _events(GA_SESSION),
    "preview": _events(PREVIEW_SESSION),
}
