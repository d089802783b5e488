"""What the policy decides about one frame, and the error event for a refusal.

A decision is one of three values:

    Decision
    ├── Forward   send the frame exactly as it arrived
    ├── Rewrite   send `text` instead
    └── Refuse    do not send; answer the client with an `error` event
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = ["Decision", "Forward", "Refuse", "Rewrite", "error_event"]


@dataclass(frozen=True, slots=True)
class Forward:
    """Forward the original frame unchanged. `event_type` is for accounting."""

    event_type: str


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Forward `text` in place of the original frame."""

    event_type: str
    text: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """Drop the frame and tell the client why, in the Realtime error shape."""

    code: str
    message: str
    client_event_id: str | None = None
    param: str | None = None


Decision = Forward | Rewrite | Refuse


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
