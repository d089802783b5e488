"""Per-session counters.

Counters are plain ints and dicts bumped per event; nothing here logs or
touches Prometheus. The metrics collector reads live sessions' counters at
scrape time, so the hot path pays only for a dict update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from app.relay.closing import SessionEnd

__all__ = ["USAGE_KINDS", "SessionStats"]

USAGE_KINDS = ("input_text", "input_audio", "input_cached", "output_text", "output_audio")
_MAX_TRACKED_RESPONSES = 4096


@dataclass(slots=True)
class SessionStats:
    """What one session did, for the close log line and the metrics."""

    up_events: dict[str, int] = field(default_factory=dict)
    up_bytes: int = 0
    down_events: dict[str, int] = field(default_factory=dict)
    down_bytes: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_KINDS, 0))
    responses: set[str] = field(default_factory=set)
    tool_calls: dict[str, int] = field(default_factory=dict)
    tokens: int = 0  # input + output tokens (cached input is part of input), for budgets
    end: SessionEnd | None = None

    def count_up(self, event_type: str, size: int) -> None:
        events = self.up_events
        events[event_type] = events.get(event_type, 0) + 1
        self.up_bytes += size

    def count_down(self, event_type: str, size: int) -> None:
        events = self.down_events
        events[event_type] = events.get(event_type, 0) + 1
        self.down_bytes += size

    def count_dropped(self) -> None:
        """An upstream frame the client may not see (unreadable, binary) was not forwarded."""
        self.dropped += 1

    def count_refused(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1

    def count_tool_call(self, outcome: str) -> None:
        self.tool_calls[outcome] = self.tool_calls.get(outcome, 0) + 1

    def record_usage(self, frame: str) -> None:
        """Add the usage of a `response.done` frame, once per response id."""
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return
        self.record_usage_event(event)

    def record_usage_event(self, event: object) -> None:
        """Add the usage of a parsed `response.done` event, once per response id."""
        response = event.get("response") if isinstance(event, dict) else None
        if not isinstance(response, dict):
            return
        response_id = response.get("id")
        if isinstance(response_id, str):
            if response_id in self.responses:
                return
            if len(self.responses) < _MAX_TRACKED_RESPONSES:
                self.responses.add(response_id)
        self._add(response.get("usage"))

    def record_transcription_usage(self, frame: str) -> None:
        """Add the token usage of an input-audio transcription, where present."""
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return
        if isinstance(event, dict):
            self._add(event.get("usage"))

    def _add(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        inputs = _details(usage, "input_token_details")
        outputs = _details(usage, "output_token_details")
        # Transcription usage may give a side only as a total: count it as text.
        if not inputs:
            inputs = {"text_tokens": usage.get("input_tokens")}
        if not outputs:
            outputs = {"text_tokens": usage.get("output_tokens")}
        total = self.usage
        total["input_text"] += _int(inputs.get("text_tokens"))
        total["input_audio"] += _int(inputs.get("audio_tokens"))
        total["input_cached"] += _int(inputs.get("cached_tokens"))
        total["output_text"] += _int(outputs.get("text_tokens"))
        total["output_audio"] += _int(outputs.get("audio_tokens"))
        self.tokens = (
            total["input_text"]
            + total["input_audio"]
            + total["output_text"]
            + total["output_audio"]
        )

    @property
    def events_up(self) -> int:
        return sum(self.up_events.values())

    @property
    def events_down(self) -> int:
        return sum(self.down_events.values())


def _details(usage: dict[str, Any], key: str) -> dict[str, Any]:
    value = usage.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
