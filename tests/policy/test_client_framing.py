"""Client frames: parsing, the event allow-list and events forwarded as they are."""

from __future__ import annotations

import pytest

from app.config import DEFAULT_CLIENT_EVENTS
from app.policy import BINARY_REFUSAL, GA, PREVIEW, Dialect, Refuse, error_event
from tests.policy.factories import DIALECTS, assert_forward, assert_refuse, dumps, make_policy

DIALECT_PARAMS = [pytest.param(d, id=d.name) for d in DIALECTS]

_DEEP = 5000

INVALID_FRAMES = [
    pytest.param("not json", id="bad-json"),
    pytest.param("", id="empty-text"),
    pytest.param("{", id="truncated-object"),
    pytest.param('{"type":"response.cancel"} trailing', id="trailing-garbage"),
    pytest.param('{"type":"response.cancel",}', id="trailing-comma"),
    pytest.param("{'type':'response.cancel'}", id="single-quotes"),
    pytest.param('{"type":"response.cancel","n":NaN}', id="nan-literal"),
    pytest.param('{"type":"response.cancel","n":1e400}', id="number-overflows-double"),
    pytest.param('{"type":"response.cancel","s":"\\ud800"}', id="lone-surrogate-escape"),
    pytest.param(b'{"type":"response.cancel","s":"\xff"}', id="invalid-utf8-bytes"),
    pytest.param("[" * _DEEP + "]" * _DEEP, id="array-nested-5000-levels"),
    pytest.param(
        '{"type":"response.cancel","x":' + '{"a":' * _DEEP + "1" + "}" * _DEEP + "}",
        id="object-nested-5000-levels-inside-valid-event",
    ),
    pytest.param("[]", id="empty-array"),
    pytest.param('[{"type":"response.cancel"}]', id="array-of-event"),
    pytest.param("1", id="number"),
    pytest.param("1.5", id="float"),
    pytest.param('"response.cancel"', id="string"),
    pytest.param("null", id="null"),
    pytest.param("true", id="boolean"),
    pytest.param("{}", id="type-missing"),
    pytest.param('{"type":1}', id="type-number"),
    pytest.param('{"type":null}', id="type-null"),
    pytest.param('{"type":{"name":"response.cancel"}}', id="type-object"),
    pytest.param('{"type":["response.cancel"]}', id="type-array"),
    pytest.param('{"type":true}', id="type-boolean"),
]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize("text", INVALID_FRAMES)
def test_frame_that_is_not_an_object_with_string_type_is_refused_as_invalid_event(
    dialect: Dialect, text: str | bytes
) -> None:
    """Anything but a JSON object with a string `type` is refused with `invalid_event`."""
    assert_refuse(make_policy(dialect).decide(text), "invalid_event")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        pytest.param("evt_1", "evt_1", id="string-id-echoed"),
        pytest.param("", "", id="empty-string-id-echoed"),
        pytest.param(7, None, id="number-id-dropped"),
        pytest.param(None, None, id="null-id-dropped"),
        pytest.param({"id": "x"}, None, id="object-id-dropped"),
        pytest.param(["x"], None, id="array-id-dropped"),
    ],
)
def test_refusal_for_bad_type_echoes_only_a_string_event_id(
    dialect: Dialect, event_id: object, expected: str | None
) -> None:
    """A refusal carries the client's `event_id` only when it is a string."""
    decision = make_policy(dialect).decide(dumps({"type": 3, "event_id": event_id}))
    assert_refuse(decision, "invalid_event", expected, param="type")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_refusal_without_event_id_has_no_client_event_id(dialect: Dialect) -> None:
    """An event without `event_id` is refused with a None `client_event_id`."""
    assert_refuse(make_policy(dialect).decide('{"type":null}'), "invalid_event", None, "type")


@pytest.mark.parametrize(
    ("dialect", "event_type"),
    [
        pytest.param(GA, "transcription_session.update", id="ga-transcription_session.update"),
        pytest.param(
            PREVIEW, "transcription_session.update", id="preview-transcription_session.update"
        ),
        pytest.param(GA, "conversation.item.retrieve", id="ga-conversation.item.retrieve"),
        pytest.param(
            PREVIEW, "conversation.item.retrieve", id="preview-conversation.item.retrieve"
        ),
        pytest.param(GA, "output_audio_buffer.clear", id="ga-output_audio_buffer.clear"),
        pytest.param(PREVIEW, "output_audio_buffer.clear", id="preview-output_audio_buffer.clear"),
        pytest.param(GA, "foo", id="ga-unknown"),
        pytest.param(PREVIEW, "foo", id="preview-unknown"),
        pytest.param(GA, "", id="ga-empty-type"),
        pytest.param(PREVIEW, "", id="preview-empty-type"),
        pytest.param(GA, "Session.Update", id="ga-wrong-case"),
        pytest.param(PREVIEW, "session.update ", id="preview-trailing-space"),
        pytest.param(GA, "error", id="ga-server-event-type"),
        pytest.param(PREVIEW, "session.created", id="preview-server-event-type"),
    ],
)
def test_event_type_outside_allow_list_is_refused(dialect: Dialect, event_type: str) -> None:
    """Event types not in the allowed list are refused with `event_not_allowed`."""
    decision = make_policy(dialect).decide(dumps({"type": event_type, "event_id": "e9"}))
    refusal = assert_refuse(decision, "event_not_allowed", "e9", param="type")
    assert f"'{event_type}'" in refusal.message


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_refusal_message_truncates_a_long_event_type(dialect: Dialect) -> None:
    """The `event_not_allowed` message quotes at most 64 characters of the type."""
    decision = make_policy(dialect).decide(dumps({"type": "x" * 500}))
    refusal = assert_refuse(decision, "event_not_allowed")
    assert "'" + "x" * 64 + "'" in refusal.message
    assert "x" * 65 not in refusal.message


PLAIN_EVENTS = [
    pytest.param(
        {"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "a1"},
        id="input_audio_buffer.append",
    ),
    pytest.param({"type": "input_audio_buffer.commit"}, id="input_audio_buffer.commit"),
    pytest.param({"type": "input_audio_buffer.clear"}, id="input_audio_buffer.clear"),
    pytest.param(
        {
            "type": "conversation.item.truncate",
            "item_id": "item_1",
            "content_index": 0,
            "audio_end_ms": 1500,
        },
        id="conversation.item.truncate",
    ),
    pytest.param(
        {"type": "conversation.item.delete", "item_id": "item_1"}, id="conversation.item.delete"
    ),
    pytest.param({"type": "response.cancel", "response_id": "r1"}, id="response.cancel"),
]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize("event", PLAIN_EVENTS)
def test_allowed_event_without_special_rule_is_forwarded_unchanged(
    dialect: Dialect, event: dict[str, object]
) -> None:
    """Allowed events without a dedicated rule are forwarded as they arrived."""
    assert_forward(make_policy(dialect).decide(dumps(event)), str(event["type"]))


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_bytes_payload_is_decided_like_text(dialect: Dialect) -> None:
    """A UTF-8 payload given as bytes gets the same decision as text."""
    assert_forward(make_policy(dialect).decide(b'{"type":"response.cancel"}'), "response.cancel")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_whitespace_and_key_order_do_not_change_a_forward(dialect: Dialect) -> None:
    """Pretty-printed events with `type` last are still recognised and forwarded."""
    text = '{\n  "event_id": "e1",\n  "type" : "input_audio_buffer.commit"\n}'
    assert_forward(make_policy(dialect).decide(text), "input_audio_buffer.commit")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_forward_decisions_are_shared_per_event_type(dialect: Dialect) -> None:
    """The policy returns the same immutable Forward for every frame of one type."""
    policy = make_policy(dialect)
    first = policy.decide('{"type":"input_audio_buffer.clear"}')
    second = policy.decide('{"type":"input_audio_buffer.clear","event_id":"x"}')
    assert first is second


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize(
    "event_type",
    [
        pytest.param("session.update", id="session.update"),
        pytest.param("response.create", id="response.create"),
        pytest.param("conversation.item.create", id="conversation.item.create"),
    ],
)
def test_event_with_a_rule_is_refused_when_operator_removes_it_from_allow_list(
    dialect: Dialect, event_type: str
) -> None:
    """A rule-bearing event type is still refused when the operator does not allow it."""
    allowed = [e for e in DEFAULT_CLIENT_EVENTS if e != event_type]
    policy = make_policy(dialect, allowed_events=allowed)
    assert_refuse(policy.decide(dumps({"type": event_type})), "event_not_allowed")


@pytest.mark.parametrize(
    ("dialect", "event_type"),
    [
        pytest.param(GA, "conversation.item.retrieve", id="ga-conversation.item.retrieve"),
        pytest.param(PREVIEW, "output_audio_buffer.clear", id="preview-output_audio_buffer.clear"),
    ],
)
def test_operator_may_allow_an_event_outside_the_default_list(
    dialect: Dialect, event_type: str
) -> None:
    """An event the operator adds to the allow-list is forwarded unchanged."""
    policy = make_policy(dialect, allowed_events=[*DEFAULT_CLIENT_EVENTS, event_type])
    assert_forward(policy.decide(dumps({"type": event_type, "event_id": "i"})), event_type)


def test_binary_refusal_has_the_binary_not_supported_code() -> None:
    """The refusal used for binary frames carries `binary_not_supported` and no event id."""
    assert type(BINARY_REFUSAL) is Refuse
    assert BINARY_REFUSAL.code == "binary_not_supported"
    assert BINARY_REFUSAL.client_event_id is None
    assert BINARY_REFUSAL.param is None
    assert "text" in BINARY_REFUSAL.message


def test_error_event_has_the_realtime_error_shape() -> None:
    """`error_event` renders a refusal in the OpenAI Realtime `error` event shape."""
    refusal = Refuse("item_not_allowed", "No.", "evt_client", "item")
    assert error_event("relay_1", refusal) == dumps(
        {
            "type": "error",
            "event_id": "relay_1",
            "error": {
                "type": "invalid_request_error",
                "code": "item_not_allowed",
                "message": "No.",
                "param": "item",
                "event_id": "evt_client",
            },
        }
    )


def test_error_event_renders_missing_param_and_event_id_as_null() -> None:
    """A refusal without param or client event id renders them as JSON null."""
    text = error_event("relay_2", BINARY_REFUSAL)
    assert '"param":null' in text
    assert '"event_id":null' in text
