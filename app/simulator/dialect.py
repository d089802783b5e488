"""GA versus preview: URL paths, event names, content types and session shapes.

The GA protocol lives at ``/openai/v1/realtime?model=<deployment>`` and uses nested
``audio.input`` / ``audio.output`` settings; the preview protocol lives at
``/openai/realtime?api-version=<v>&deployment=<deployment>`` and uses a flat session.
Everything that differs between the two is looked up here so the rest of the simulator
is dialect-agnostic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from app.simulator.events import Event

Dialect = Literal["ga", "preview"]

GA_PATH: Final = "/openai/v1/realtime"
PREVIEW_PATH: Final = "/openai/realtime"

# Written out here rather than imported from app.policy: the simulator stands in for
# Azure, so it must not inherit a mistake in the relay's own view of the dialects.
GA_SESSION_FIELDS: Final = frozenset(
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
)
PREVIEW_SESSION_FIELDS: Final = frozenset(
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
)
GA_SESSION_TYPES: Final = frozenset({"realtime", "transcription"})


@dataclass(frozen=True)
class Names:
    """Dialect-specific response event names and content part types."""

    text_delta: str
    text_done: str
    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    text_part: str
    audio_part: str
    item_lifecycle: bool
    """GA only: also send ``conversation.item.added`` and ``conversation.item.done``."""


NAMES: Final[dict[Dialect, Names]] = {
    "ga": Names(
        text_delta="response.output_text.delta",
        text_done="response.output_text.done",
        audio_delta="response.output_audio.delta",
        audio_done="response.output_audio.done",
        transcript_delta="response.output_audio_transcript.delta",
        transcript_done="response.output_audio_transcript.done",
        text_part="output_text",
        audio_part="output_audio",
        item_lifecycle=True,
    ),
    "preview": Names(
        text_delta="response.text.delta",
        text_done="response.text.done",
        audio_delta="response.audio.delta",
        audio_done="response.audio.done",
        transcript_delta="response.audio_transcript.delta",
        transcript_done="response.audio_transcript.done",
        text_part="text",
        audio_part="audio",
        item_lifecycle=False,
    ),
}


def _server_vad() -> Event:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }


def default_session(dialect: Dialect, model: str, session_id: str, expires_at: int) -> Event:
    """Return the full session object Azure reports in ``session.created`` for `dialect`.

    Server VAD is on and transcription is off, as on a fresh Azure session.
    """
    common: Event = {"id": session_id, "object": "realtime.session", "model": model}
    if dialect == "ga":
        pcm = {"type": "audio/pcm", "rate": 24000}
        return {
            "type": "realtime",
            **common,
            "expires_at": expires_at,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "include": None,
            "audio": {
                "input": {
                    "format": dict(pcm),
                    "transcription": None,
                    "turn_detection": {**_server_vad(), "idle_timeout_ms": None},
                    "noise_reduction": None,
                },
                "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
            },
        }
    return {
        **common,
        "expires_at": expires_at,
        "modalities": ["text", "audio"],
        "instructions": "",
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "turn_detection": _server_vad(),
        "input_audio_noise_reduction": None,
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }


def _audio_section(session: Event, direction: str) -> dict[str, Any]:
    audio = session.get("audio")
    section = audio.get(direction) if isinstance(audio, dict) else None
    return section if isinstance(section, dict) else {}


def turn_detection(dialect: Dialect, session: Event) -> dict[str, Any] | None:
    """Return the session's turn detection settings, or None when it is off (or malformed)."""
    if dialect == "ga":
        value = _audio_section(session, "input").get("turn_detection")
    else:
        value = session.get("turn_detection")
    return value if isinstance(value, dict) else None


def input_transcription(dialect: Dialect, session: Event) -> bool:
    """Whether input audio transcription is configured (any non-null value counts)."""
    if dialect == "ga":
        return _audio_section(session, "input").get("transcription") is not None
    return session.get("input_audio_transcription") is not None


def modalities_key(dialect: Dialect) -> str:
    """Name of the output modalities field in sessions and ``response.create``."""
    return "output_modalities" if dialect == "ga" else "modalities"


def response_object(
    dialect: Dialect,
    session: Event,
    overrides: Event,
    *,
    response_id: str,
    conversation_id: str | None,
) -> Event:
    """Build the in-progress ``response`` object: session settings with `overrides` applied.

    Recognised overrides: modalities, voice (GA ``audio.output.voice``), token limit and
    ``metadata``; other override fields are accepted and ignored.
    """
    key = modalities_key(dialect)
    modalities = overrides.get(key, session.get(key))
    base: Event = {
        "object": "realtime.response",
        "id": response_id,
        "status": "in_progress",
        "status_details": None,
        "output": [],
        "conversation_id": conversation_id,
    }
    if dialect == "ga":
        out = {**_audio_section(session, "output"), **_audio_section(overrides, "output")}
        limit = overrides.get("max_output_tokens", session.get("max_output_tokens", "inf"))
        base |= {
            "output_modalities": modalities,
            "max_output_tokens": limit,
            "audio": {"output": {"format": out.get("format"), "voice": out.get("voice")}},
        }
    else:
        limit = overrides.get(
            "max_response_output_tokens", session.get("max_response_output_tokens", "inf")
        )
        base |= {
            "modalities": modalities,
            "voice": overrides.get("voice", session.get("voice")),
            "output_audio_format": overrides.get(
                "output_audio_format", session.get("output_audio_format")
            ),
            "temperature": overrides.get("temperature", session.get("temperature")),
            "max_output_tokens": limit,
        }
    base["usage"] = None
    base["metadata"] = overrides.get("metadata")
    return base


def wants_audio(dialect: Dialect, response: Event) -> bool:
    """Whether a response object asks for audio output (``"audio"`` among its modalities)."""
    modalities = response.get(modalities_key(dialect))
    return isinstance(modalities, list) and "audio" in modalities
