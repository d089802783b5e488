"""Pure, Sans-I/O decisions about every event that crosses the relay.

Nothing in this package awaits, logs or touches a socket: frames go in,
decisions come out. The relay does all the I/O.
"""

from app.policy.client import BINARY_REFUSAL, ClientPolicy, ClientRules, make_rules
from app.policy.decisions import Decision, Drop, Forward, Refuse, Rewrite, error_event
from app.policy.dialect import GA, PREVIEW, Dialect, dialect_for_version
from app.policy.server import decide_server
from app.policy.session import enforced_session, enforced_update

__all__ = [
    "BINARY_REFUSAL",
    "GA",
    "PREVIEW",
    "ClientPolicy",
    "ClientRules",
    "Decision",
    "Dialect",
    "Drop",
    "Forward",
    "Refuse",
    "Rewrite",
    "decide_server",
    "dialect_for_version",
    "enforced_session",
    "enforced_update",
    "error_event",
    "make_rules",
]
