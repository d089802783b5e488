"""The relay's I/O: pumping one session's events, and closing both sides."""

from app.relay.closing import ClosePlan, EndCause, SessionEnd, plan_close
from app.relay.session import RelaySession, SessionLimits, SessionStats

__all__ = [
    "ClosePlan",
    "EndCause",
    "RelaySession",
    "SessionEnd",
    "SessionLimits",
    "SessionStats",
    "plan_close",
]
