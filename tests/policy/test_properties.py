"""Property tests: whatever a client sends, nothing forbidden is forwarded upstream."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import DEFAULT_CLIENT_EVENTS, DEFAULT_RESPONSE_FIELDS
from app.policy import (
    GA,
    PREVIEW,
    ClientPolicy,
    Decision,
    Dialect,
    Refuse,
    Rewrite,
)
from app.policy.shapes import EVENT_SHAPES, FREE, Choice, ListOf, Obj, Shape
from tests.policy.factories import INSTRUCTIONS, make_policy, server_pair

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None)

EVENT_TYPES = sorted(GA.client_events | PREVIEW.client_events | {"foo", "", "error"})
FIELD_NAMES = (
    "type",
    "session",
    "response",
    "item",
    "input",
    "output",
    "role",
    "instructions",
    "tools",
    "tool_choice",
    "prompt",
    "audio",
    "voice",
    "event_id",
    "format",
    "transcription",
    "turn_detection",
    "output_modalities",
    "modalities",
    "content",
    "metadata",
    "conversation",
    "model",
    "temperature",
)
WORDS = (
    "user",
    "system",
    "assistant",
    "developer",
    "message",
    "function_call",
    "function_call_output",
    "item_reference",
    "mcp_approval_response",
    "realtime",
    "transcription",
)
ROLES = ("user", "user", "user", "system", "assistant", "developer")
ITEM_TYPES = (
    "message",
    "message",
    "message",
    "function_call",
    "function_call_output",
    "item_reference",
    "mcp_approval_response",
)
# Fields no client may set in the default policy, at session or response top level.
FORBIDDEN = frozenset({"instructions", "tools", "tool_choice", "prompt", "voice"})
ALLOWED_EVENTS = frozenset(DEFAULT_CLIENT_EVENTS)

keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(WORDS + tuple(EVENT_TYPES)),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=20,
)


def _some(*names: str) -> dict[str, st.SearchStrategy[Any]]:
    return dict.fromkeys(names, json_values)


def _mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`common` about three times in four, else `rare`.

    `st.one_of` deduplicates identical branches, so weights come from a draw.
    """
    return st.sampled_from((True, True, True, False)).flatmap(lambda c: common if c else rare)


item_objects = st.fixed_dictionaries(
    {},
    optional={
        "type": _mostly(st.sampled_from(ITEM_TYPES), json_values),
        "role": _mostly(st.sampled_from(ROLES), json_values),
        **_some("content", "id", "instructions"),
    },
)
items = _mostly(item_objects, json_values)
audio_parts = st.fixed_dictionaries(
    {},
    optional={
        "input": _mostly(
            st.dictionaries(
                st.sampled_from(
                    ("format", "transcription", "turn_detection", "noise_reduction", "voice")
                ),
                json_values,
            ),
            json_values,
        ),
        "output": _mostly(
            st.dictionaries(st.sampled_from(("format", "voice", "speed")), json_values),
            json_values,
        ),
    },
)
session_objects = st.fixed_dictionaries(
    {},
    optional={
        "type": _mostly(st.just("realtime"), st.sampled_from(("transcription", 1, None))),
        "audio": _mostly(audio_parts, json_values),
        **_some(
            "instructions",
            "tools",
            "tool_choice",
            "prompt",
            "voice",
            "model",
            "tracing",
            "output_modalities",
            "modalities",
            "input_audio_format",
            "output_audio_format",
            "input_audio_transcription",
            "turn_detection",
            "input_audio_noise_reduction",
            "temperature",
        ),
    },
)
response_objects = st.fixed_dictionaries(
    {},
    optional={
        "input": _mostly(st.lists(items, max_size=3), json_values),
        **_some(
            "instructions",
            "tools",
            "tool_choice",
            "prompt",
            "voice",
            "audio",
            "conversation",
            "metadata",
            "output_modalities",
            "modalities",
            "temperature",
        ),
    },
)
# Sessions and responses made only of allowed fields, so forwards are common too.
clean_sessions = st.fixed_dictionaries(
    {},
    optional={
        "type": st.just("realtime"),
        "output_modalities": json_values,
        "audio": st.fixed_dictionaries(
            {},
            optional={
                "input": st.dictionaries(
                    st.sampled_from(
                        ("format", "transcription", "turn_detection", "noise_reduction")
                    ),
                    json_values,
                ),
                "output": st.dictionaries(st.just("format"), json_values),
            },
        ),
        **_some(*PREVIEW.default_client_session_fields),
    },
)
clean_responses = st.fixed_dictionaries(
    {},
    optional={
        "input": st.lists(item_objects, max_size=3),
        **_some("conversation", "metadata", "output_modalities", "modalities"),
    },
)
# Rule-bearing types are listed several times so most examples exercise a rule.
RULE_TYPES = ("session.update", "response.create", "conversation.item.create") * 4
events = st.fixed_dictionaries(
    {"type": _mostly(st.sampled_from(RULE_TYPES + tuple(EVENT_TYPES)), json_values)},
    optional={
        "event_id": json_values,
        "session": _mostly(st.one_of(session_objects, clean_sessions), json_values),
        "response": _mostly(st.one_of(response_objects, clean_responses), json_values),
        "item": _mostly(item_objects, json_values),
    },
)
frames = _mostly(
    events.map(lambda e: orjson.dumps(e).decode()),
    st.one_of(json_values.map(lambda v: orjson.dumps(v).decode()), st.text(max_size=20)),
)


def _spell_key(key: str, draw: st.DrawFn) -> str:
    """The key as a JSON string, sometimes with one character written as an escape."""
    text = json.dumps(key)
    if key and draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(key) - 1))
        text = json.dumps(key[:at])[:-1] + f"\\u{ord(key[at]):04x}" + json.dumps(key[at + 1 :])[1:]
    return text


def _render(value: Any, draw: st.DrawFn) -> str:
    """JSON text for `value`, with repeated keys, case variants and unknown keys mixed in."""
    if isinstance(value, list):
        return "[" + ",".join(_render(child, draw) for child in value) + "]"
    if not isinstance(value, dict):
        return orjson.dumps(value).decode()
    pairs = list(value.items())
    if pairs and draw(st.integers(0, 5)) == 0:  # the same key again, with another value
        key, _ = pairs[draw(st.integers(0, len(pairs) - 1))]
        pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(json_values)))
    if pairs and draw(st.integers(0, 5)) == 0:  # a case variant of a key
        key, _ = pairs[draw(st.integers(0, len(pairs) - 1))]
        pairs.append(
            (key.swapcase() if key.swapcase() != key else key.upper() + "X", draw(json_values))
        )
    if draw(st.integers(0, 5)) == 0:  # a key the relay does not know
        pairs.append(
            (
                draw(st.sampled_from(("x_extra", "Instructions", "session", "TYPE"))),
                draw(json_values),
            )
        )
    return "{" + ",".join(f"{_spell_key(k, draw)}:{_render(v, draw)}" for k, v in pairs) + "}"


@st.composite
def tricky_frames(draw: st.DrawFn) -> str:
    """Valid JSON events written the way an attacker would: ambiguous to some parser."""
    return _render(draw(events), draw)


POLICIES: dict[str, ClientPolicy] = {d.name: make_policy(d) for d in (GA, PREVIEW)}
DIALECT_PARAMS = [pytest.param(d, id=d.name) for d in (GA, PREVIEW)]


def _assert_within(
    node: dict[str, Any], allowed: frozenset[tuple[str, ...]], prefix: tuple[str, ...]
) -> None:
    """Every key path of `node` is an allowed path or leads to one through objects."""
    for key, value in node.items():
        path = (*prefix, key)
        if path in allowed:
            continue
        assert isinstance(value, dict), path
        assert any(p[: len(path)] == path for p in allowed), path
        _assert_within(value, allowed, path)


def _assert_user_item(item: Any, *, reference_ok: bool) -> None:
    assert isinstance(item, dict)
    item_type = item.get("type", "message" if "role" in item else None)
    if reference_ok and item_type == "item_reference":
        return
    assert item_type == "message"
    assert item["role"] == "user"


def _check_forwarded(dialect: Dialect, text: str, decision: Decision) -> None:
    """The upstream-bound event obeys every policy rule."""
    assert not isinstance(decision, Refuse)
    assert decision.event_type in ALLOWED_EVENTS
    original = orjson.loads(text)
    event = orjson.loads(decision.text) if isinstance(decision, Rewrite) else original
    assert isinstance(event, dict)
    assert event["type"] == decision.event_type
    kind = decision.event_type
    forwarded = decision.text if isinstance(decision, Rewrite) else text
    _assert_one_reading(forwarded)
    shape = EVENT_SHAPES[dialect.name][kind]
    _assert_known_keys(event, shape)
    for key, value in event.items():  # plain values are kept as the client sent them
        if shape.fields[key] is FREE:
            assert original[key] == value, key
    if kind == "session.update":
        session = event["session"]
        assert isinstance(session, dict)
        assert not FORBIDDEN & session.keys()
        if dialect is GA:
            assert session["type"] == "realtime"
            session = {k: v for k, v in session.items() if k != "type"}
        allowed = frozenset(tuple(p.split(".")) for p in dialect.default_client_session_fields)
        _assert_within(session, allowed, ())
    elif kind == "response.create":
        if "response" in event:
            response = event["response"]
            assert isinstance(response, dict)
            assert set(response) <= set(DEFAULT_RESPONSE_FIELDS)
            for item in response.get("input", []):
                _assert_user_item(item, reference_ok=True)
    elif kind == "conversation.item.create":
        _assert_user_item(event["item"], reference_ok=False)


def _pairs_first(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def _pairs_folded(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        folded = key.lower()
        assert folded not in result, f"keys that fold to {folded!r} twice"
        result[folded] = value
    return result


def _folded(value: Any) -> Any:
    if isinstance(value, dict):
        return {key.lower(): _folded(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_folded(child) for child in value]
    return value


def _assert_one_reading(text: str) -> None:
    """Last-key-wins, first-key-wins and case-insensitive parsers read the same event."""
    last = json.loads(text)
    assert json.loads(text, object_pairs_hook=_pairs_first) == last
    assert json.loads(text, object_pairs_hook=_pairs_folded) == _folded(last)
    assert orjson.loads(text) == last


def _assert_known_keys(value: Any, shape: Shape) -> None:
    """Every key of every object the shape describes is one it knows."""
    if isinstance(shape, Choice) and isinstance(value, dict):
        shape = shape.pick(value)
    if isinstance(shape, Obj) and isinstance(value, dict):
        assert value.keys() <= shape.fields.keys(), sorted(value.keys() - shape.fields.keys())
        for key, child in value.items():
            _assert_known_keys(child, shape.fields[key])
    elif isinstance(shape, ListOf) and isinstance(value, list):
        for child in value:
            _assert_known_keys(child, shape.item)


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@FAST
@given(text=frames)
def test_no_frame_forwards_a_forbidden_field_or_item(dialect: Dialect, text: str) -> None:
    """For arbitrary JSON, decide never raises and forwards only policy-conforming events."""
    decision = POLICIES[dialect.name].decide(text)
    if isinstance(decision, Refuse):
        assert decision.code in {
            "invalid_event",
            "event_not_allowed",
            "session_type_not_allowed",
            "item_not_allowed",
        }
        return
    _check_forwarded(dialect, text, decision)


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@FAST
@given(text=tricky_frames())
def test_every_forwarded_frame_reads_as_one_event_under_three_parsers(
    dialect: Dialect, text: str
) -> None:
    """Frames with escaped, repeated, case-variant or unknown keys are refused or made unambiguous."""
    decision = POLICIES[dialect.name].decide(text)
    if isinstance(decision, Refuse):
        return
    _check_forwarded(dialect, text, decision)


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@FAST
@given(text=frames)
def test_policy_decision_is_stable_on_its_own_rewrite(dialect: Dialect, text: str) -> None:
    """Feeding a rewrite back to the policy forwards it unchanged: filtering is idempotent."""
    policy = POLICIES[dialect.name]
    decision = policy.decide(text)
    if isinstance(decision, Rewrite):
        again = policy.decide(decision.text)
        assert not isinstance(again, Refuse)
        assert again.event_type == decision.event_type
        if isinstance(again, Rewrite):  # canonical text with escapes is rewritten to itself
            assert again.text == decision.text


@FAST
@given(
    event_type=st.sampled_from(("session.created", "session.updated")),
    session=st.dictionaries(keys, json_values, max_size=6),
    extra=st.dictionaries(
        keys.filter(lambda k: k not in ("type", "session")), json_values, max_size=3
    ),
    indent=st.one_of(st.none(), st.integers(min_value=0, max_value=2)),
    type_last=st.booleans(),
    escape_dot=st.booleans(),
)
def test_session_echo_is_always_redacted(
    event_type: str,
    session: dict[str, Any],
    extra: dict[str, Any],
    indent: int | None,
    type_last: bool,
    escape_dot: bool,
) -> None:
    """However a session echo is laid out, the client never sees instructions, tools or prompt."""
    session = {
        **session,
        "instructions": INSTRUCTIONS,
        "tools": [{"type": "function"}],
        "prompt": {"id": "p"},
    }
    event: dict[str, Any] = {"type": event_type, **extra, "session": session}
    if type_last:
        event = {**extra, "session": session, "type": event_type}
    text = json.dumps(event, indent=indent)
    if escape_dot:
        text = text.replace(event_type, event_type.replace(".", "\\u002e"), 1)
    kind, replacement = server_pair(text)
    assert kind == event_type
    assert replacement is not None
    visible = orjson.loads(replacement)
    assert visible["session"]["instructions"] == ""
    assert visible["session"]["tools"] == []
    assert "prompt" not in visible["session"]
