"""The client policy: what may pass from an untrusted client to the upstream.

Deny by default. Unknown event types are refused; every event is reduced to
the keys the relay knows and checked for repeated or case-variant keys
(`app.policy.canonical`); `session.update` keeps only the fields clients may
set; `response.create` keeps only allowed fields; items are checked by type
and role. The policy parses each frame once and, when it changes nothing and
the frame is unambiguous, lets the relay forward the original text. An append
in the plain forms the browsers and SDKs send (`plain_append`) is proven
unambiguous by its characters, so its parsed event is not walked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.policy.audio import AudioLedger
from app.policy.canonical import MAX_NODES, Checked, Unfit, check_event
from app.policy.decisions import Decision, Forward, Refuse, Rewrite
from app.policy.dialect import Dialect
from app.policy.hidden import Hidden
from app.policy.session import Path, client_paths, enforced_paths, filter_session, split_paths
from app.policy.shapes import EVENT_SHAPES

__all__ = ["BINARY_REFUSAL", "ClientPolicy", "ClientRules", "rate_limited"]

BINARY_REFUSAL = Refuse(
    "binary_not_supported", "Binary frames are not supported; send JSON events as text frames."
)

Event = dict[str, Any]
# A per-type rule: the event, the client's event id, the hidden items and calls (server
# tools), the audio the client was sent (truncates).
Handler = Callable[[Event, str | None, Hidden | None, AudioLedger | None], Decision]

_RATE_LIMITED = "Too many events; this one was not forwarded."
_HIDDEN_ITEM = "The item is not the client's."
_HIDDEN_CALL = "The call is answered by the relay."
_NAMING_ITEMS = (
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
)
# The client's event id, read without a parse: only for echoing it in a refusal.
_EVENT_ID = re.compile(r'"event_id"\s*:\s*"([^"\\]{0,128})"')


# Frames larger than this are checked for their number of `{` and `[` before the parse.
_PRECHECK_BYTES = 64 * 1024
_TOO_MANY_CONTAINERS = f"The event has more than {MAX_NODES} objects and arrays."
_NOT_JSON = Refuse("invalid_event", "The frame is not valid JSON.")


# An append as browsers and the JS SDK (compact) and the Python SDK (`json.dumps`'
# separators) write it: one of these heads, the base64 audio, then `"}`.
_APPEND_COMPACT = '{"type":"input_audio_buffer.append","audio":"'
_APPEND_SPACED = '{"type": "input_audio_buffer.append", "audio": "'


def plain_append(text: str) -> bool:
    """Whether `text` is an append in one of its plain forms, proven without a walk.

    One head, then no quote and no backslash up to the closing `"}`: if it is JSON
    at all (the caller's one parse tells), it is exactly an object of `type` and
    a string `audio`, with no escapes, no other key and no repeated one, which
    every parser reads alike: what `check_event` would prove exact, at a fraction
    of its cost. An append is most of what a client sends.
    """
    if text.startswith(_APPEND_COMPACT):
        opening = len(_APPEND_COMPACT) - 1  # where the audio's opening quote is
    elif text.startswith(_APPEND_SPACED):
        opening = len(_APPEND_SPACED) - 1
    else:
        return False
    return text.endswith('"}') and text.rfind('"', 0, -2) == opening and "\\" not in text


def _containers(text: str | bytes) -> int:
    """An upper bound on the objects and arrays in `text` (braces in strings count too)."""
    if isinstance(text, str):
        return text.count("{") + text.count("[")
    return text.count(b"{") + text.count(b"[")


def rate_limited(text: str | None) -> Refuse:
    """The refusal for an event over the rate limit, echoing its `event_id` if plainly given.

    The bucket runs before the parse, so the id is read with one bounded regex
    search instead; an id written with escapes is not echoed.
    """
    match = _EVENT_ID.search(text) if text is not None else None
    return Refuse("rate_limited", _RATE_LIMITED, match.group(1) if match else None)


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

    __slots__ = (
        "_append",
        "_forward",
        "_handlers",
        "_item_roles",
        "_paths",
        "_rules",
        "_shapes",
    )

    def __init__(self, rules: ClientRules) -> None:
        self._rules = rules
        self._item_roles = rules.item_roles
        self._paths: tuple[Path, ...] = client_paths(
            split_paths(rules.session_fields), enforced_paths(rules.enforced_session)
        )
        # One immutable Forward per allowed type: the hot path allocates nothing.
        self._forward = {t: Forward(t) for t in rules.allowed_events}
        self._append = self._forward.get("input_audio_buffer.append")  # None: not allowed
        self._shapes = EVENT_SHAPES[rules.dialect.name]
        handlers: dict[str, Handler] = {
            "session.update": self._session_update,
            "response.create": self._response_create,
            "conversation.item.create": self._item_create,
            **dict.fromkeys(_NAMING_ITEMS, self._item_named),
            "conversation.item.truncate": self._truncate,
        }
        self._handlers = {t: h for t, h in handlers.items() if t in rules.allowed_events}

    @property
    def enforced_session(self) -> Mapping[str, Any]:
        """The operator's session, as sent upstream first."""
        return self._rules.enforced_session

    def client_session(self, session: Mapping[str, Any]) -> dict[str, Any]:
        """The part of `session` a client may set, as a `session.update` would keep it."""
        return filter_session(session, self._paths)

    def decide(
        self, text: str | bytes, hidden: Hidden | None = None, audio: AudioLedger | None = None
    ) -> Decision:
        """The decision for one text frame's payload. Never raises.

        `hidden`, with server tools, holds the items and calls the client may not
        name (`item_not_allowed`); `audio`, the audio the client was sent of each
        assistant item, against which a truncate is clamped."""
        if len(text) > _PRECHECK_BYTES and _containers(text) > MAX_NODES:
            # Refused before the parse: building that many objects is the costly part.
            return Refuse("invalid_event", _TOO_MANY_CONTAINERS)
        append = self._append
        if append is not None and type(text) is str and plain_append(text):
            try:
                orjson.loads(text)  # the one parse: no control character in the audio
            except orjson.JSONDecodeError:
                return _NOT_JSON
            return append
        return self._judge(text, hidden, audio)

    def _judge(
        self, text: str | bytes, hidden: Hidden | None, audio: AudioLedger | None
    ) -> Decision:
        """`decide` for any event: the parse, the shape, the per-type rule."""
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return _NOT_JSON
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
        checked = check_event(text, event, self._shapes[event_type])
        if type(checked) is Unfit:
            return Refuse("invalid_event", checked.message, client_event_id, checked.param)
        assert type(checked) is Checked
        handler = self._handlers.get(event_type)
        decision = (
            forward if handler is None else handler(checked.event, client_event_id, hidden, audio)
        )
        if decision is forward and not checked.exact:
            # Unknown keys were removed, or keys may be spelled with escapes: send the
            # canonical form, which every JSON parser reads the same way.
            return Rewrite(event_type, orjson.dumps(checked.event).decode())
        return decision

    # -- per-type rules ---------------------------------------------------

    def _session_update(
        self, event: Event, event_id: str | None, _: Hidden | None, __: AudioLedger | None
    ) -> Decision:
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

    def _response_create(
        self, event: Event, event_id: str | None, hidden: Hidden | None, _: AudioLedger | None
    ) -> Decision:
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
                refusal = self._check_item(item, event_id, hidden, in_response=True)
                if refusal is not None:
                    return refusal
        allowed = self._rules.response_fields
        kept = {key: value for key, value in response.items() if key in allowed}
        if len(kept) == len(response):
            return self._forward["response.create"]
        return _rewrite(event, "response", kept)

    def _item_create(
        self, event: Event, event_id: str | None, hidden: Hidden | None, _: AudioLedger | None
    ) -> Decision:
        if hidden is not None and hidden.names_item(event.get("previous_item_id")):
            return Refuse("item_not_allowed", _HIDDEN_ITEM, event_id, "previous_item_id")
        refusal = self._check_item(event.get("item"), event_id, hidden, in_response=False)
        return refusal or self._forward["conversation.item.create"]

    def _item_named(
        self,
        event: Event,
        event_id: str | None,
        hidden: Hidden | None,
        _: AudioLedger | None = None,
    ) -> Decision:
        """Delete, retrieve and truncate: never of an item the relay hides."""
        if hidden is not None and hidden.names_item(event.get("item_id")):
            return Refuse("item_not_allowed", _HIDDEN_ITEM, event_id, "item_id")
        return self._forward[str(event["type"])]

    def _truncate(
        self,
        event: Event,
        event_id: str | None,
        hidden: Hidden | None,
        audio: AudioLedger | None,
    ) -> Decision:
        """Truncate at most the audio the client was sent of the item: a later
        `audio_end_ms` is clamped to it, and an item with no audio sent is refused."""
        named = self._item_named(event, event_id, hidden)
        if type(named) is not Forward:
            return named
        end = event.get("audio_end_ms")
        if not isinstance(end, int) or isinstance(end, bool) or end < 0:
            return Refuse(
                "invalid_event",
                "`audio_end_ms` must be a non-negative integer.",
                event_id,
                "audio_end_ms",
            )
        delivered = audio.delivered_ms(event.get("item_id")) if audio is not None else None
        if delivered is None:  # an item the relay has not seen: the upstream decides
            return named
        if delivered == 0:
            return Refuse(
                "nothing_to_truncate",
                "No audio of this item has been delivered yet; there is nothing to truncate.",
                event_id,
                "item_id",
            )
        if end > delivered:
            return _rewrite(event, "audio_end_ms", delivered)
        return named

    def _check_item(
        self, item: object, event_id: str | None, hidden: Hidden | None, *, in_response: bool
    ) -> Refuse | None:
        if not isinstance(item, dict):
            return Refuse("invalid_event", "An item must be an object.", event_id, "item")
        if hidden is not None:
            if hidden.names_call(item.get("call_id")):
                return Refuse("item_not_allowed", _HIDDEN_CALL, event_id, "item.call_id")
            if hidden.names_item(item.get("id")):
                return Refuse("item_not_allowed", _HIDDEN_ITEM, event_id, "item.id")
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


def _item_refusal(message: str, event_id: str | None) -> Refuse:
    return Refuse("item_not_allowed", message, event_id, "item")


def _rewrite(event: Event, key: str, value: Any) -> Rewrite:
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
