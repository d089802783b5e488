"""Enforced session configuration and the filtering of client session fields.

Paths are dotted (`audio.input.format`) and address nested session objects.
A client field survives only when its path is allowed and no enforced path
overlaps it: an enforced path that equals it, lies inside it, or contains it.
That keeps every enforced value out of the client's reach whatever the
upstream's merge rules are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from app.policy.dialect import Dialect

__all__ = [
    "ENFORCED_EVENT_ID",
    "EnforcedRefused",
    "enforced_paths",
    "enforced_reply",
    "enforced_session",
    "enforced_update",
    "filter_session",
    "split_paths",
]

ENFORCED_EVENT_ID = "relay_enforced_session"

Path = tuple[str, ...]


def split_paths(paths: Iterable[str]) -> tuple[Path, ...]:
    """`"audio.input.format"` → `("audio", "input", "format")`, for each path."""
    return tuple(tuple(path.split(".")) for path in paths)


def enforced_session(
    dialect: Dialect, instructions: str | None, session: Mapping[str, Any]
) -> dict[str, Any]:
    """The operator's session object as sent upstream first."""
    result: dict[str, Any] = {"type": "realtime"} if dialect.name == "ga" else {}
    result.update(session)
    if instructions is not None:
        result["instructions"] = instructions
    return result


def enforced_update(dialect: Dialect, instructions: str | None, session: Mapping[str, Any]) -> str:
    """The relay's own `session.update`, as JSON text."""
    return orjson.dumps(
        {
            "type": "session.update",
            "event_id": ENFORCED_EVENT_ID,
            "session": enforced_session(dialect, instructions, session),
        }
    ).decode()


def enforced_paths(session: Mapping[str, Any]) -> tuple[Path, ...]:
    """Every leaf path of the enforced session (non-empty objects are descended)."""
    paths: list[Path] = []

    def walk(node: Mapping[str, Any], prefix: Path) -> None:
        for key, value in node.items():
            path = (*prefix, key)
            if isinstance(value, dict) and value:
                walk(value, path)
            else:
                paths.append(path)

    walk(session, ())
    return tuple(paths)


def _overlaps(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def client_paths(allowed: Iterable[Path], enforced: Iterable[Path]) -> tuple[Path, ...]:
    """The allowed paths that no enforced path overlaps."""
    locked = tuple(enforced)
    return tuple(path for path in allowed if not any(_overlaps(path, e) for e in locked))


def filter_session(session: Mapping[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """A new session holding only the values found at `paths`."""
    result: dict[str, Any] = {}
    for path in paths:
        node: Any = session
        for key in path:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            target = result
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = node
    return result


@dataclass(frozen=True, slots=True)
class EnforcedRefused:
    """The upstream rejected the enforced `session.update`; its error code and param."""

    code: str | None
    param: str | None


def enforced_reply(frame: str) -> Literal["confirmed"] | EnforcedRefused | None:
    """How an upstream frame answers the relay's enforced `session.update`, if it does.

    `session.updated` confirms it (the relay sends no other update before the
    client is admitted); an `error` naming `relay_enforced_session` refuses it.
    Any other frame (`session.created`, say) answers nothing.
    """
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("type") == "session.updated":
        return "confirmed"
    if event.get("type") != "error":
        return None
    error = event.get("error")
    if not isinstance(error, dict) or error.get("event_id") != ENFORCED_EVENT_ID:
        return None
    code, param = error.get("code"), error.get("param")
    return EnforcedRefused(
        code if isinstance(code, str) else None, param if isinstance(param, str) else None
    )
