"""What the policy decides about one frame, and the error event for a refusal.

A decision is one of these values; the client policy returns the first three,
the server policy the first two and `Drop`:

    Decision
    ├── Forward   send the frame exactly as it arrived
    ├── Rewrite   send `text` instead
    ├── Refuse    do not send; answer the client with an `error` event
    └── Drop      do not send, and tell nobody (an upstream frame the client may not see)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Decision", "Drop", "Forward", "Refuse", "Rewrite", "ServerDecision", "error_event"]


@dataclass(frozen=True, slots=True)
class Forward:
    """Forward the original frame unchanged. `event_type` is for accounting."""

    event_type: str


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Forward `text` in place of the original frame. A redacted session echo also
    carries the `session` the upstream gave (for the session's output format)."""

    event_type: str
    text: str
    session: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Refuse:
    """Drop the frame and tell the client why, in the Realtime error shape."""

    code: str
    message: str
    client_event_id: str | None = None
    param: str | None = None


@dataclass(frozen=True, slots=True)
class Drop:
    """Do not forward the frame; nobody is told. `event_type` is for accounting."""

    event_type: str


Decision = Forward | Rewrite | Refuse
ServerDecision = Forward | Rewrite | Drop


def error_event(relay_event_id: str, refusal: Refuse) -> str:
    """The OpenAI-style `error` event for a refusal, as JSON text."""
    return orjson.dumps(
        {
            "type": "error",
            "event_id": relay_event_id,
            "error": {
                "type": "invalid_request_error",
                "code": refusal.code,
                "message": refusal.message,
                "param": refusal.param,
                "event_id": refusal.client_event_id,
            },
        }
    ).decode()
