"""Validating and applying ``session.update`` payloads."""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from app.simulator.dialect import (
    GA_SESSION_FIELDS,
    GA_SESSION_TYPES,
    PREVIEW_SESSION_FIELDS,
    Dialect,
)


class Problem(NamedTuple):
    """Why an update is refused: error ``code``, ``param`` and ``message``."""

    code: str
    param: str
    message: str


def check_update(dialect: Dialect, update: object) -> Problem | None:
    """Return the first problem with a ``session.update`` payload, or None if it is valid.

    GA requires ``session.type`` (``realtime`` or ``transcription``); in both dialects a
    top-level field outside the dialect's list is an ``unknown_parameter`` (so a preview
    field sent to GA, or a GA field sent to preview, is refused). Nested fields are not
    checked.
    """
    if not isinstance(update, dict):
        return Problem("missing_required_parameter", "session", "Missing 'session' object.")
    if dialect == "ga":
        kind = update.get("type")
        if kind is None:
            message = "Missing required parameter: 'session.type'."
            return Problem("missing_required_parameter", "session.type", message)
        if kind not in GA_SESSION_TYPES:
            message = f"Invalid value: '{kind}'. Supported values are: 'realtime', 'transcription'."
            return Problem("invalid_value", "session.type", message)
    allowed = GA_SESSION_FIELDS if dialect == "ga" else PREVIEW_SESSION_FIELDS
    for key in update:
        if key not in allowed:
            return Problem(
                "unknown_parameter", f"session.{key}", f"Unknown parameter: 'session.{key}'."
            )
    return None


def deep_merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    """Merge `update` into `target`: objects merge recursively, anything else (null too) replaces."""
    for key, value in update.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            target[key] = copy.deepcopy(value)
