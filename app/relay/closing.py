"""Every close code the relay uses, mapped in one place.

A session ends for one `EndCause`; `plan_close` turns that into what each
side is told. Clients' reconnect logic keys off these codes (openai-python
reconnects on 1001, 1005, 1006, 1011, 1012, 1013 and 1015), so they are a
contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ClosePlan", "EndCause", "SessionEnd", "is_sendable", "plan_close", "truncate_reason"]

MAX_REASON_BYTES = 123


class EndCause(StrEnum):
    CLIENT_CLOSED = "client_closed"
    UPSTREAM_CLOSED = "upstream_closed"
    UPSTREAM_DROPPED = "upstream_dropped"
    UPSTREAM_UNRESPONSIVE = "upstream_unresponsive"
    SESSION_EXPIRED = "session_expired"
    IDLE_TIMEOUT = "idle_timeout"
    BACKPRESSURE = "backpressure"
    SHUTDOWN = "server_shutting_down"
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
    EndCause.UPSTREAM_DROPPED: (1011, "upstream_closed"),
    EndCause.UPSTREAM_UNRESPONSIVE: (1011, "upstream_unresponsive"),
    EndCause.SESSION_EXPIRED: (1001, "session_expired"),
    EndCause.IDLE_TIMEOUT: (1001, "idle_timeout"),
    EndCause.BACKPRESSURE: (1013, "backpressure"),
    EndCause.SHUTDOWN: (1012, "server_shutting_down"),
}


def plan_close(end: SessionEnd) -> ClosePlan:
    """The close plan for a session end."""
    if end.cause is EndCause.CLIENT_CLOSED:
        return ClosePlan(None, "", None, 1000)
    if end.cause is EndCause.UPSTREAM_CLOSED:
        if is_sendable(end.code):
            assert end.code is not None
            return ClosePlan(end.code, truncate_reason(end.reason), None, None)
        return ClosePlan(1011, "upstream_closed", "upstream_closed", None)
    if end.cause is EndCause.ERROR:
        return ClosePlan(1011, "internal_error", None, 1011)
    code, reason = _RELAY_INITIATED[end.cause]
    upstream_code = None if end.cause.value.startswith("upstream_") else 1000
    return ClosePlan(code, reason, reason, upstream_code)
