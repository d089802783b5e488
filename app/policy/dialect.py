"""The two protocol dialects the relay speaks: GA (`v1`) and preview.

The api-version decides the dialect, and the dialect decides which session
fields exist, which client events are known, and what clients may set by
default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_CLIENT_EVENTS",
    "DEFAULT_RESPONSE_FIELDS",
    "GA",
    "PREVIEW",
    "Dialect",
    "dialect_for_version",
]

# What clients may do unless the operator says otherwise (both dialects).
DEFAULT_CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
)
DEFAULT_RESPONSE_FIELDS = ("conversation", "metadata", "input", "output_modalities", "modalities")

_COMMON_CLIENT_EVENTS = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one protocol version calls things."""

    name: Literal["ga", "preview"]
    session_fields: frozenset[str]
    client_events: frozenset[str]
    default_client_session_fields: tuple[str, ...]


GA = Dialect(
    name="ga",
    session_fields=frozenset(
        {
            "type",
            "output_modalities",
            "audio",
            "instructions",
            "tools",
            "tool_choice",
            "max_output_tokens",
            "model",
            "prompt",
            "tracing",
            "truncation",
            "include",
        }
    ),
    client_events=_COMMON_CLIENT_EVENTS,
    default_client_session_fields=(
        "output_modalities",
        "audio.input.format",
        "audio.input.transcription",
        "audio.input.turn_detection",
        "audio.input.noise_reduction",
        "audio.output.format",
    ),
)

PREVIEW = Dialect(
    name="preview",
    session_fields=frozenset(
        {
            "modalities",
            "voice",
            "input_audio_format",
            "output_audio_format",
            "input_audio_transcription",
            "turn_detection",
            "input_audio_noise_reduction",
            "temperature",
            "max_response_output_tokens",
            "tool_choice",
            "tools",
            "instructions",
            "model",
        }
    ),
    # transcription_session.update is not relayed: its session has no policy of its own.
    client_events=_COMMON_CLIENT_EVENTS,
    default_client_session_fields=(
        "modalities",
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "turn_detection",
        "input_audio_noise_reduction",
    ),
)


def dialect_for_version(api_version: str | None) -> Dialect:
    """GA when the version is unset or `v1`; otherwise the preview dialect."""
    if api_version is None or api_version.strip() in ("", "v1"):
        return GA
    return PREVIEW
