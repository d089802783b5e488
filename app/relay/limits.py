"""One session's limits: its rate, durations and the bounds of its closing steps."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SessionLimits"]


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Per-session limits; every duration is in seconds.

    `close_timeout_seconds` bounds each closing send (the notice, the close
    frame) and the wait for the client's last frames; `notice_grace_seconds`
    is how long client frames are still forwarded after the notice;
    `usage_grace_seconds` how long the relay waits for a cancelled response's
    `response.done`; `tool_max_concurrent_calls` how many server tool calls
    run at once (the rest queue).
    """

    events_per_second: float
    events_burst: int
    max_session_seconds: float
    idle_timeout_seconds: float
    backpressure_timeout_seconds: float
    close_timeout_seconds: float = 5.0
    notice_grace_seconds: float = 0.5
    usage_grace_seconds: float = 5.0
    tool_max_concurrent_calls: int = 4
