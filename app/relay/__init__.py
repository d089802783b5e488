"""The relay: the pure session core, and the thin shell that does its I/O."""

from app.relay.client import ASCII_TEXT, AsgiClient
from app.relay.closing import ClosePlan, EndCause, SessionEnd, plan_close
from app.relay.core import SessionCore
from app.relay.limits import SessionLimits
from app.relay.session import ClientSocket, RelaySession, UpstreamSocket
from app.relay.stats import USAGE_KINDS, SessionStats

__all__ = [
    "ASCII_TEXT",
    "USAGE_KINDS",
    "AsgiClient",
    "ClientSocket",
    "ClosePlan",
    "EndCause",
    "RelaySession",
    "SessionCore",
    "SessionEnd",
    "SessionLimits",
    "SessionStats",
    "UpstreamSocket",
    "plan_close",
]
