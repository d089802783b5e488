"""Every close code the relay uses, mapped in one place.

A session ends for one `EndCause`; `plan_close` turns that into what each
side is told. Clients' reconnect logic keys off these codes (openai-python
reconnects on 1001, 1005, 1006, 1011, 1012, 1013 and 1015), so they are a
contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CLEAN_CLIENT_CLOSES",
    "CLOSE_ABNORMAL",
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_INVALID_TEXT",
    "CLOSE_NORMAL",
    "CLOSE_NO_STATUS",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_RESTART",
    "CLOSE_TRY_AGAIN_LATER",
    "NOTICES",
    "ClosePlan",
    "EndCause",
    "SessionEnd",
    "is_sendable",
    "plan_close",
    "truncate_reason",
]

MAX_REASON_BYTES = 123

CLOSE_NORMAL = 1000
CLOSE_POLICY_VIOLATION = 1008  # the caller's daily token budget is used up: do not retry
CLOSE_GOING_AWAY = 1001  # session expiry and idling: clients reconnect
CLOSE_ABNORMAL = 1006  # never sent: a connection lost without a close frame
CLOSE_INTERNAL_ERROR = 1011  # upstream failures and the relay's own errors
CLOSE_RESTART = 1012  # the drain: reconnect to another replica
CLOSE_TRY_AGAIN_LATER = 1013  # backpressure
CLOSE_NO_STATUS = 1005  # never sent: a close frame without a code
CLOSE_INVALID_TEXT = 1007  # to the upstream only: a text frame that is not UTF-8
# Client close codes that count as a clean end in the metrics.
CLEAN_CLIENT_CLOSES = frozenset({CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS})

# The sentence of each close notice, the `error` event sent before the close frame.
NOTICES = {
    "upstream_closed": "The upstream service closed the connection.",
    "upstream_unresponsive": "The upstream service stopped responding.",
    "session_expired": "The session reached its maximum duration.",
    "idle_timeout": "The session was idle for too long.",
    "backpressure": "The client did not keep up with the audio stream.",
    "server_shutting_down": "The relay is restarting; reconnect to continue.",
    "budget_exhausted": "The caller's daily token budget is used up.",
    "policy_violation": "Too many turns were blocked by the guardrails.",
}


class EndCause(StrEnum):
    CLIENT_CLOSED = "client_closed"
    UPSTREAM_CLOSED = "upstream_closed"
    UPSTREAM_DROPPED = "upstream_dropped"
    UPSTREAM_UNRESPONSIVE = "upstream_unresponsive"
    SESSION_EXPIRED = "session_expired"
    IDLE_TIMEOUT = "idle_timeout"
    BACKPRESSURE = "backpressure"
    SHUTDOWN = "server_shutting_down"
    BUDGET_EXHAUSTED = "budget_exhausted"
    POLICY_VIOLATION = "policy_violation"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """Why a session ended, with the code and reason the ending side gave."""

    cause: EndCause
    code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """What to tell each side. A None code means that side is already closed."""

    client_code: int | None
    client_reason: str
    notify: str | None  # the `error` event code sent to the client before closing
    upstream_code: int | None


def is_sendable(code: int | None) -> bool:
    """Whether a close code may appear in a close frame (RFC 6455, section 7.4)."""
    if code is None:
        return False
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


def truncate_reason(reason: str) -> str:
    """Cut a reason to the 123 bytes a close frame can carry, on a character boundary."""
    data = reason.encode()
    if len(data) <= MAX_REASON_BYTES:
        return reason
    return data[:MAX_REASON_BYTES].decode(errors="ignore")


_RELAY_INITIATED: dict[EndCause, tuple[int, str]] = {
    EndCause.UPSTREAM_DROPPED: (CLOSE_INTERNAL_ERROR, "upstream_closed"),
    EndCause.UPSTREAM_UNRESPONSIVE: (CLOSE_INTERNAL_ERROR, "upstream_unresponsive"),
    EndCause.SESSION_EXPIRED: (CLOSE_GOING_AWAY, "session_expired"),
    EndCause.IDLE_TIMEOUT: (CLOSE_GOING_AWAY, "idle_timeout"),
    EndCause.BACKPRESSURE: (CLOSE_TRY_AGAIN_LATER, "backpressure"),
    EndCause.SHUTDOWN: (CLOSE_RESTART, "server_shutting_down"),
    EndCause.BUDGET_EXHAUSTED: (CLOSE_POLICY_VIOLATION, "budget_exhausted"),
    EndCause.POLICY_VIOLATION: (CLOSE_POLICY_VIOLATION, "policy_violation"),
}


def plan_close(end: SessionEnd) -> ClosePlan:
    """The close plan for a session end."""
    if end.cause is EndCause.CLIENT_CLOSED:
        return ClosePlan(None, "", None, CLOSE_NORMAL)
    if end.cause is EndCause.UPSTREAM_CLOSED:
        if is_sendable(end.code):
            assert end.code is not None
            return ClosePlan(end.code, truncate_reason(end.reason), None, None)
        return ClosePlan(CLOSE_INTERNAL_ERROR, "upstream_closed", "upstream_closed", None)
    if end.cause is EndCause.ERROR:
        return ClosePlan(CLOSE_INTERNAL_ERROR, "internal_error", None, CLOSE_INTERNAL_ERROR)
    code, reason = _RELAY_INITIATED[end.cause]
    upstream_code = None if end.cause.value.startswith("upstream_") else CLOSE_NORMAL
    return ClosePlan(code, reason, reason, upstream_code)
