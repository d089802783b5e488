"""One check for every event: repeated, escaped, case-variant and unknown keys, and bounds."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.policy import Forward, Refuse, Rewrite
from app.policy.canonical import MAX_DEPTH, MAX_NODES
from tests.policy.factories import DIALECTS, assert_forward, assert_refuse, make_policy

DIALECT_PARAMS = [pytest.param(d, id=d.name) for d in DIALECTS]

AMBIGUOUS = [
    pytest.param(
        '{"type":"session.update","session":{"instructions":"X"},"\\u0074ype":"response.cancel"}',
        id="escaped-type-key-repeats-type",
    ),
    pytest.param(
        '{"\\u0074ype":"response.cancel","type":"response.cancel"}',
        id="escaped-and-plain-type-same-value",
    ),
    pytest.param(
        '{"type":"input_audio_buffer.append","audio":"AAAA","audio":"BBBB"}',
        id="append-repeats-audio",
    ),
    pytest.param(
        '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
        '"role":"system","content":[]}}',
        id="item-repeats-role",
    ),
    pytest.param(
        '{"type":"response.create","response":{"metadata":{"k":"a","k":"b"}}}',
        id="repeat-inside-free-form-metadata",
    ),
    pytest.param(
        '{"type":"response.cancel","x":{"a":1,"\\u0061":2}}',
        id="repeat-inside-a-removed-key",
    ),
    pytest.param(
        '{"type":"input_audio_buffer.commit","event_id":"a\\\\","event_id":"b"}',
        id="repeat-after-an-escaped-backslash",
    ),
]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize("text", AMBIGUOUS)
def test_a_repeated_key_however_spelled_is_refused(dialect: Any, text: str) -> None:
    """Keys repeated at any depth, plainly or through escapes, are refused as `invalid_event`."""
    refusal = make_policy(dialect).decide(text)
    assert type(refusal) is Refuse
    assert refusal.code == "invalid_event"
    assert "repeats a key" in refusal.message


CASE_VARIANTS = [
    pytest.param(
        '{"type":"response.cancel","TYPE":"session.update","Session":{}}', "TYPE", id="TYPE"
    ),
    pytest.param(
        '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
        '"Role":"system","content":[{"type":"input_text","text":"hi"}]}}',
        "Role",
        id="item-Role",
    ),
    pytest.param(
        '{"type":"input_audio_buffer.append","Audio":"AAAA","audio":"AAAA"}', "Audio", id="Audio"
    ),
]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize(("text", "key"), CASE_VARIANTS)
def test_a_case_variant_of_a_known_key_is_refused(dialect: Any, text: str, key: str) -> None:
    """A key that differs from a known one only in case is refused, naming the key."""
    assert_refuse(make_policy(dialect).decide(text), "invalid_event", param=key)


UNKNOWN = [
    pytest.param(
        {"type": "response.cancel", "instructions": "ignored", "event_id": "e1"},
        {"type": "response.cancel", "event_id": "e1"},
        id="top-level",
    ),
    pytest.param(
        {
            "type": "response.create",
            "response": {"input": [{"type": "item_reference", "id": "i1", "role": "system"}]},
        },
        {
            "type": "response.create",
            "response": {"input": [{"type": "item_reference", "id": "i1"}]},
        },
        id="extra-field-on-item_reference",
    ),
    pytest.param(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi", "instructions": "x"}],
                "x_meta": 1,
            },
        },
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        },
        id="inside-an-item-and-its-content",
    ),
]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize(("event", "expected"), UNKNOWN)
def test_unknown_keys_are_removed_in_a_rewrite(
    dialect: Any, event: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Keys the relay does not know for the event or item type are removed, the rest kept."""
    decision = make_policy(dialect).decide(orjson.dumps(event).decode())
    assert type(decision) is Rewrite, decision
    assert orjson.loads(decision.text) == expected


def test_unknown_keys_inside_an_allowed_session_subtree_are_removed() -> None:
    """Inside a session field clients may set, only the keys of that field survive."""
    event = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "instructions": "x"}}},
        },
    }
    decision = make_policy(DIALECTS[0]).decide(orjson.dumps(event).decode())
    assert type(decision) is Rewrite
    sent = orjson.loads(decision.text)
    assert sent["session"]["audio"]["input"]["turn_detection"] == {"type": "server_vad"}


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_an_escaped_key_without_a_repeat_is_sent_in_canonical_form(dialect: Any) -> None:
    """A frame with escapes is never forwarded as is: its canonical form is sent instead."""
    text = '{"\\u0074ype":"input_audio_buffer.commit","event_id":"a\\"b"}'
    decision = make_policy(dialect).decide(text)
    assert type(decision) is Rewrite
    assert decision.text == '{"type":"input_audio_buffer.commit","event_id":"a\\"b"}'


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_a_plain_compact_append_is_forwarded_as_it_arrived(dialect: Any) -> None:
    """The hot path: a compact append with known keys is proven unambiguous and forwarded."""
    text = '{"type":"input_audio_buffer.append","audio":"' + "A" * 1280 + '","event_id":"e"}'
    assert_forward(make_policy(dialect).decide(text), "input_audio_buffer.append")


def _nested(levels: int) -> str:
    return '{"type":"response.cancel","x":' + '{"a":' * levels + "1" + "}" * levels + "}"


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_nested(MAX_DEPTH), id="object-depth"),
        pytest.param(_nested(255), id="object-depth-255"),
        pytest.param(_nested(1000), id="object-depth-1000"),
        pytest.param(
            '{"type":"response.cancel","x":' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}",
            id="array-depth",
        ),
        pytest.param(
            '{"type":"response.cancel","x":[' + ",".join(["{}"] * 340_000) + "]}",
            id="340k-empty-objects",
        ),
        pytest.param(
            orjson.dumps({"type": "response.cancel", "x": {str(i): 0 for i in range(MAX_NODES)}}),
            id="too-many-keys",
        ),
    ],
)
def test_a_frame_beyond_the_structure_bounds_is_refused(dialect: Any, text: str | bytes) -> None:
    """Too deep or too wide: refused with `invalid_event`, and the policy does not raise."""
    assert_refuse(make_policy(dialect).decide(text), "invalid_event")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_a_frame_just_inside_the_bounds_passes(dialect: Any) -> None:
    """Nesting one level less than the bound is still decided normally."""
    decision = make_policy(dialect).decide(_nested(MAX_DEPTH - 2))
    assert not isinstance(decision, Refuse)


deep_or_wide = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    lambda children: st.one_of(
        st.lists(children, max_size=40), st.dictionaries(st.text(max_size=3), children, max_size=40)
    ),
    max_leaves=400,
)


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    value=deep_or_wide,
    levels=st.integers(min_value=0, max_value=1100),
    event_type=st.sampled_from(
        ("response.cancel", "session.update", "response.create", "conversation.item.create")
    ),
    key=st.sampled_from(("x", "session", "response", "item")),
)
def test_the_policy_never_raises_on_deep_and_wide_frames(
    dialect: Any, value: Any, levels: int, event_type: str, key: str
) -> None:
    """Whatever the depth and width, `decide` returns a decision; JSON nested too deep is refused."""
    inner = json.dumps(value)
    text = f'{{"type":"{event_type}","{key}":' + "[" * levels + inner + "]" * levels + "}"
    decision = make_policy(dialect).decide(text)
    assert isinstance(decision, Forward | Rewrite | Refuse)
    if levels >= MAX_DEPTH:
        assert isinstance(decision, Refuse)
