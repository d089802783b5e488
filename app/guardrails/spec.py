"""The guardrails' configuration: a webhook, a blocklist, or both, per agent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["Guardrails", "GuardrailsError", "guarded_session", "load_blocklist"]


class GuardrailsError(ValueError):
    """The blocklist file cannot be used; the message names the file and the line."""


def load_blocklist(path: Path) -> tuple[re.Pattern[str], ...]:
    """Case-insensitive regular expressions, one per line; blank lines and `#` lines skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise GuardrailsError(f"{path}: cannot be read: {exc.strerror}") from None
    patterns = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            patterns.append(re.compile(text, re.IGNORECASE))
        except re.error as exc:
            raise GuardrailsError(
                f"{path}: line {number}: not a regular expression: {exc}"
            ) from None
    return tuple(patterns)


@dataclass(frozen=True, slots=True)
class Guardrails:
    url: str | None
    blocklist: tuple[re.Pattern[str], ...]
    refusal: str | None
    max_violations: int
    timeout_seconds: float
    failure_mode: Literal["closed", "open"]
    transcription_model: str

    def blocked(self, text: str) -> bool:
        """Whether the blocklist matches `text` anywhere."""
        return any(pattern.search(text) for pattern in self.blocklist)


def guarded_session(
    dialect: str, session: Mapping[str, Any], transcription_model: str
) -> dict[str, Any]:
    """`session` with the relay owning turn-taking: server VAD detects turns but does not
    answer them (`create_response: false`), and input transcription on when it is not."""
    result = dict(session)
    if dialect != "ga":  # preview: both fields at the top of the session
        _guard_input(result, "input_audio_transcription", transcription_model)
        return result
    audio = dict(result.get("audio") or {})
    section = dict(audio.get("input") or {})
    _guard_input(section, "transcription", transcription_model)
    audio["input"] = section
    result["audio"] = audio
    return result


def _guard_input(section: dict[str, Any], transcription: str, model: str) -> None:
    """Set, in the dict that holds a session's input settings, the guarded ones."""
    detection = section.get("turn_detection")
    detection = dict(detection) if isinstance(detection, dict) else {"type": "server_vad"}
    detection["create_response"] = False
    section["turn_detection"] = detection
    if not section.get(transcription):
        section[transcription] = {"model": model}
