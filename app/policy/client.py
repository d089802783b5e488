"""The client policy: what may pass from an untrusted client to the upstream.

Deny by default. Unknown event types are refused; `session.update` keeps only
the fields clients may set; `response.create` keeps only allowed fields; items
are checked by type and role. The policy parses each frame once and, when it
changes nothing, lets the relay forward the original text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.policy.decisions import Decision, Forward, Refuse, Rewrite
from app.policy.dialect import Dialect
from app.policy.session import Path, client_paths, enforced_paths, filter_session, split_paths

__all__ = ["BINARY_REFUSAL", "ClientPolicy", "ClientRules"]

BINARY_REFUSAL = Refuse(
    "binary_not_supported", "Binary frames are not supported; send JSON events as text frames."
)

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClientRules:
    """The operator's choices, as plain values."""

    dialect: Dialect
    allowed_events: frozenset[str]
    session_fields: tuple[str, ...]
    enforced_session: Mapping[str, Any]
    response_fields: frozenset[str]
    item_roles: frozenset[str]
    tool_outputs: bool


class ClientPolicy:
    """Decides, per client frame, to forward, rewrite or refuse. Never raises."""

    __slots__ = ("_forward", "_handlers", "_item_roles", "_paths", "_rules")

    def __init__(self, rules: ClientRules) -> None:
        self._rules = rules
        self._item_roles = rules.item_roles
        self._paths: tuple[Path, ...] = client_paths(
            split_paths(rules.session_fields), enforced_paths(rules.enforced_session)
        )
        # One immutable Forward per allowed type: the hot path allocates nothing.
        self._forward = {t: Forward(t) for t in rules.allowed_events}
        handlers: dict[str, Callable[[Event, str | None], Decision]] = {
            "session.update": self._session_update,
            "response.create": self._response_create,
            "conversation.item.create": self._item_create,
        }
        self._handlers = {t: h for t, h in handlers.items() if t in rules.allowed_events}

    def decide(self, text: str | bytes) -> Decision:
        """The decision for one text frame's payload."""
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return Refuse("invalid_event", "The frame is not valid JSON.")
        if not isinstance(event, dict):
            return Refuse("invalid_event", "An event must be a JSON object.")
        event_type = event.get("type")
        event_id = event.get("event_id")
        client_event_id = event_id if isinstance(event_id, str) else None
        if not isinstance(event_type, str):
            return Refuse(
                "invalid_event", "An event needs a string `type`.", client_event_id, "type"
            )
        forward = self._forward.get(event_type)
        if forward is None:
            return Refuse(
                "event_not_allowed",
                f"The event type '{event_type[:64]}' is not allowed by this relay.",
                client_event_id,
                "type",
            )
        handler = self._handlers.get(event_type)
        if handler is None:
            if _count_type_keys(text) != 1 and _has_duplicate_keys(text):
                # A second "type" key could make a first-key-wins parser see another event.
                return _ambiguous(client_event_id)
            return forward
        decision = handler(event, client_event_id)
        if type(decision) is not Refuse and _has_duplicate_keys(text):
            # Parsers disagree on repeated keys (first wins or last wins): refuse.
            return _ambiguous(client_event_id)
        return decision

    # -- per-type rules ---------------------------------------------------

    def _session_update(self, event: Event, event_id: str | None) -> Decision:
        session = event.get("session", {})
        if not isinstance(session, dict):
            return Refuse("invalid_event", "`session` must be an object.", event_id, "session")
        ga = self._rules.dialect.name == "ga"
        if ga and session.get("type", "realtime") != "realtime":
            return Refuse(
                "session_type_not_allowed",
                "Only sessions of type 'realtime' are allowed by this relay.",
                event_id,
                "session.type",
            )
        kept = filter_session(session, self._paths)
        if ga:
            kept = {"type": "realtime", **kept}
        if kept == session and "session" in event:
            return self._forward["session.update"]
        return _rewrite(event, "session", kept)

    def _response_create(self, event: Event, event_id: str | None) -> Decision:
        if "response" not in event:
            return self._forward["response.create"]
        response = event["response"]
        if not isinstance(response, dict):
            return Refuse("invalid_event", "`response` must be an object.", event_id, "response")
        if "input" in response:
            items = response["input"]
            if not isinstance(items, list):
                return Refuse(
                    "invalid_event",
                    "`response.input` must be a list.",
                    event_id,
                    "response.input",
                )
            for item in items:
                refusal = self._check_item(item, event_id, in_response=True)
                if refusal is not None:
                    return refusal
        allowed = self._rules.response_fields
        kept = {key: value for key, value in response.items() if key in allowed}
        if len(kept) == len(response):
            return self._forward["response.create"]
        return _rewrite(event, "response", kept)

    def _item_create(self, event: Event, event_id: str | None) -> Decision:
        refusal = self._check_item(event.get("item"), event_id, in_response=False)
        return refusal or self._forward["conversation.item.create"]

    def _check_item(
        self, item: object, event_id: str | None, *, in_response: bool
    ) -> Refuse | None:
        if not isinstance(item, dict):
            return Refuse("invalid_event", "An item must be an object.", event_id, "item")
        item_type = item.get("type", "message" if "role" in item else None)
        if item_type == "message":
            role = item.get("role")
            if isinstance(role, str) and role in self._item_roles:
                return None
            return _item_refusal(
                f"Messages with role '{str(role)[:32]}' are not allowed.", event_id
            )
        if item_type == "function_call_output" and self._rules.tool_outputs:
            return None
        if item_type == "item_reference" and in_response:
            return None
        return _item_refusal(f"Items of type '{str(item_type)[:32]}' are not allowed.", event_id)


def _ambiguous(event_id: str | None) -> Refuse:
    return Refuse("invalid_event", "The event repeats a key; send each key once.", event_id)


def _count_type_keys(text: str | bytes) -> int:
    return text.count('"type"') if isinstance(text, str) else text.count(b'"type"')


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKeyError
    return result


class _DuplicateKeyError(ValueError):
    pass


def _has_duplicate_keys(text: str | bytes) -> bool:
    """Whether any object in the JSON repeats a key (parsed again, slowly: rare events only)."""
    try:
        json.loads(text, object_pairs_hook=_reject_duplicates)
    except _DuplicateKeyError:
        return True
    except (ValueError, RecursionError):  # unreadable here: send the canonical form
        return True
    return False


def _item_refusal(message: str, event_id: str | None) -> Refuse:
    return Refuse("item_not_allowed", message, event_id, "item")


def _rewrite(event: Event, key: str, value: dict[str, Any]) -> Rewrite:
    rewritten = dict(event)
    rewritten[key] = value
    return Rewrite(str(event["type"]), orjson.dumps(rewritten).decode())


def make_rules(
    dialect: Dialect,
    *,
    allowed_events: Iterable[str],
    session_fields: Iterable[str],
    enforced_session: Mapping[str, Any],
    response_fields: Iterable[str],
    item_roles: Iterable[str],
    tool_outputs: bool,
) -> ClientRules:
    """Build `ClientRules` from plain iterables."""
    return ClientRules(
        dialect=dialect,
        allowed_events=frozenset(allowed_events),
        session_fields=tuple(session_fields),
        enforced_session=dict(enforced_session),
        response_fields=frozenset(response_fields),
        item_roles=frozenset(item_roles),
        tool_outputs=tool_outputs,
    )
