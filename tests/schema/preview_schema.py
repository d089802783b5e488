"""Preview-dialect server events: the keys each one has, from the public API reference.

openai-python models only the GA dialect, so the preview events the simulator
and the relay send are checked against this table: every required key is
present, no key outside required and optional appears, and content parts are
typed `text` or `audio`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PREVIEW_EVENTS", "preview_problems"]

_CONTENT = ("response_id", "item_id", "output_index", "content_index")

# type: (required keys besides `type` and `event_id`, optional keys)
PREVIEW_EVENTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    name: (frozenset(required), frozenset(optional))
    for name, required, optional in (
        ("error", ("error",), ()),
        ("session.created", ("session",), ()),
        ("session.updated", ("session",), ()),
        ("conversation.created", ("conversation",), ()),
        ("conversation.item.created", ("previous_item_id", "item"), ()),
        ("conversation.item.retrieved", ("item",), ()),
        ("conversation.item.truncated", ("item_id", "content_index", "audio_end_ms"), ()),
        ("conversation.item.deleted", ("item_id",), ()),
        (
            "conversation.item.input_audio_transcription.completed",
            ("item_id", "content_index", "transcript"),
            ("usage", "logprobs"),
        ),
        (
            "conversation.item.input_audio_transcription.failed",
            ("item_id", "content_index", "error"),
            (),
        ),
        ("input_audio_buffer.committed", ("previous_item_id", "item_id"), ()),
        ("input_audio_buffer.cleared", (), ()),
        ("input_audio_buffer.speech_started", ("audio_start_ms", "item_id"), ()),
        ("input_audio_buffer.speech_stopped", ("audio_end_ms", "item_id"), ()),
        ("response.created", ("response",), ()),
        ("response.done", ("response",), ()),
        ("response.output_item.added", ("response_id", "output_index", "item"), ()),
        ("response.output_item.done", ("response_id", "output_index", "item"), ()),
        ("response.content_part.added", (*_CONTENT, "part"), ()),
        ("response.content_part.done", (*_CONTENT, "part"), ()),
        ("response.text.delta", (*_CONTENT, "delta"), ()),
        ("response.text.done", (*_CONTENT, "text"), ()),
        ("response.audio_transcript.delta", (*_CONTENT, "delta"), ()),
        ("response.audio_transcript.done", (*_CONTENT, "transcript"), ()),
        ("response.audio.delta", (*_CONTENT, "delta"), ()),
        ("response.audio.done", _CONTENT, ()),
        (
            "response.function_call_arguments.delta",
            ("response_id", "item_id", "output_index", "call_id", "delta"),
            (),
        ),
        (
            "response.function_call_arguments.done",
            ("response_id", "item_id", "output_index", "call_id", "arguments"),
            (),
        ),
        ("rate_limits.updated", ("rate_limits",), ()),
    )
}

_ERROR_KEYS = frozenset({"type", "code", "message", "param", "event_id"})


def preview_problems(event: dict[str, Any]) -> list[str]:
    """What is wrong with one preview server event, by the table (empty when it fits)."""
    kind = event.get("type")
    if kind not in PREVIEW_EVENTS:
        return [f"{kind}: not a preview server event"]
    required, optional = PREVIEW_EVENTS[kind]
    keys = set(event) - {"type", "event_id"}
    problems = [f"{kind}: missing {key}" for key in sorted(required - keys)]
    problems += [f"{kind}: unknown key {key}" for key in sorted(keys - required - optional)]
    if not isinstance(event.get("event_id"), str):
        problems.append(f"{kind}: event_id is not a string")
    part = event.get("part")
    if kind.startswith("response.content_part.") and (
        not isinstance(part, dict) or part.get("type") not in ("text", "audio")
    ):
        problems.append(f"{kind}: part.type must be text or audio")
    error = event.get("error")
    if kind == "error" and (
        not isinstance(error, dict) or not set(error) <= _ERROR_KEYS or "message" not in error
    ):
        problems.append(f"{kind}: error object does not have the documented keys")
    return problems
