"""The relay's exceptions, in one tree.

    RelayError                      base of every exception the relay raises on purpose
    ├── Refusal                     refuse a WebSocket upgrade: HTTP status, error code,
    │   │                           message and Retry-After; handled in one place, the route
    │   └── UpstreamUnavailable     the upstream could not be opened (502, 503 or 504,
    │                               code `upstream_unavailable`)
    ├── AuthError                   a client token failed verification (generic message)
    ├── SharedStateError            Redis (the shared state) failed, timed out or is unreachable
    ├── CredentialUnavailableError  no usable upstream credential right now
    └── UpstreamClosed              an open upstream connection ended (its close code and
                                    reason, or dropped, or unresponsive)

Modules keep private exceptions for their own control flow (a retry, a walk
that stops); none of those leaves its module.

A refusal's metric outcome is derived from its code, here, so the route never
branches on the status.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AuthError",
    "CredentialUnavailableError",
    "Refusal",
    "RefusalOutcome",
    "RelayError",
    "SharedStateError",
    "UpstreamClosed",
    "UpstreamUnavailable",
]

RefusalOutcome = Literal[
    "rejected_auth",
    "rejected_origin",
    "rejected_capacity",
    "rejected_agent",
    "rejected_budget",
    "upstream_connect_failed",
]

_OUTCOMES: dict[str, RefusalOutcome] = {
    "unauthorized": "rejected_auth",
    "invalid_host": "rejected_origin",
    "host_not_allowed": "rejected_origin",
    "origin_not_allowed": "rejected_origin",
    "at_capacity": "rejected_capacity",
    "too_many_sessions": "rejected_capacity",
    "server_shutting_down": "rejected_capacity",
    "agent_not_found": "rejected_agent",
    "agent_not_allowed": "rejected_agent",
    "budget_exhausted": "rejected_budget",
    "shared_state_unavailable": "rejected_capacity",
    "upstream_unavailable": "upstream_connect_failed",
}


class RelayError(Exception):
    """Base of the relay's own exceptions."""


class Refusal(RelayError):
    """Refuse the WebSocket upgrade with `status` and the JSON error `code` and `message`."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def outcome(self) -> RefusalOutcome:
        """The `relay_sessions_total` outcome this refusal counts as."""
        return _OUTCOMES[self.code]


class UpstreamUnavailable(Refusal):
    """The upstream could not be opened; `message` says why, without secrets."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(status, "upstream_unavailable", message, retry_after=retry_after)


class AuthError(RelayError):
    """Authentication failed. Its message is generic and safe to show a client."""


class SharedStateError(RelayError):
    """A call to the shared state failed; `op` names it (for the metric), never a secret."""

    def __init__(self, op: str) -> None:
        super().__init__(op)
        self.op = op


class CredentialUnavailableError(RelayError):
    """No usable upstream credential right now (e.g. no valid Entra token)."""


class UpstreamClosed(RelayError):
    """The upstream connection is over.

    `code` and `reason` are from the upstream's close frame, or None and ""
    when the connection dropped without one; `unresponsive` when it stopped
    answering pings.
    """

    def __init__(
        self, code: int | None = None, reason: str = "", *, unresponsive: bool = False
    ) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.unresponsive = unresponsive
