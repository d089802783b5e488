"""Server event construction shared by the simulator modules: ids, plain events, error events."""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

Event = dict[str, Any]
"""A parsed JSON object: a client event or a server event."""

_WORDS = re.compile(r"\S+\s*")


def new_id(prefix: str) -> str:
    """Return `prefix` + "_" + 20 random hex characters, e.g. ``event_3f0c...``."""
    return f"{prefix}_{secrets.token_hex(10)}"


def server_event(event_type: str, **fields: Any) -> Event:
    """Build a server event with a fresh unique ``event_id``; `fields` are copied deeply.

    Deep copying means later changes to the session or an item never alter an event that
    was already built (the stream serialises events lazily, one batch at a time).
    """
    event: Event = {"type": event_type, "event_id": new_id("event")}
    event.update(copy.deepcopy(fields))
    return event


def error_event(
    code: str,
    message: str,
    *,
    param: str | None = None,
    client_event_id: Any = None,
    error_type: str = "invalid_request_error",
) -> Event:
    """Build an Azure-shaped ``error`` event.

    `client_event_id` is echoed as ``error.event_id`` only when it is a string (the id the
    client put on the offending event); anything else becomes null.
    """
    return server_event(
        "error",
        error={
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id if isinstance(client_event_id, str) else None,
        },
    )


def split_words(text: str) -> list[str]:
    """Split `text` into word deltas whose concatenation is `text` minus leading whitespace.

    Each delta is a word plus the whitespace that follows it; an empty or blank text gives [].
    """
    return _WORDS.findall(text)


def count_words(text: str) -> int:
    """Count whitespace-separated words; an empty text has 0."""
    return len(text.split())
