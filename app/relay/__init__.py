"""The relay's I/O: pumping one session's events, and closing both sides."""

from app.relay.closing import ClosePlan, EndCause, SessionEnd, plan_close
from app.relay.session import RelaySession
from app.relay.stats import USAGE_KINDS, SessionLimits, SessionStats

__all__ = [
    "USAGE_KINDS",
    "ClosePlan",
    "EndCause",
    "RelaySession",
    "SessionEnd",
    "SessionLimits",
    "SessionStats",
    "plan_close",
]
