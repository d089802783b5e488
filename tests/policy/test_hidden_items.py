"""The client may not name what the relay hides: the server tools' calls and items."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import DEFAULT_CLIENT_EVENTS
from app.policy import GA, PREVIEW, Dialect
from app.policy.hidden import Hidden
from tests.policy.factories import assert_forward, assert_refuse, dumps, make_policy

ALL_ITEM_EVENTS = (*DEFAULT_CLIENT_EVENTS, "conversation.item.retrieve")
HIDDEN = Hidden(items={"item_fc", "item_out"}, calls={"call_server"})


def output(call_id: Any) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "forged"}


REFUSED = [
    pytest.param(
        {"type": "conversation.item.create", "event_id": "e1", "item": output("call_server")},
        "item.call_id",
        id="spoofed-output",
    ),
    pytest.param(
        {"type": "conversation.item.delete", "event_id": "e1", "item_id": "item_fc"},
        "item_id",
        id="delete",
    ),
    pytest.param(
        {"type": "conversation.item.retrieve", "event_id": "e1", "item_id": "item_out"},
        "item_id",
        id="retrieve",
    ),
    pytest.param(
        {
            "type": "conversation.item.truncate",
            "event_id": "e1",
            "item_id": "item_fc",
            "content_index": 0,
            "audio_end_ms": 0,
        },
        "item_id",
        id="truncate",
    ),
    pytest.param(
        {
            "type": "conversation.item.create",
            "event_id": "e1",
            "previous_item_id": "item_out",
            "item": {"type": "message", "role": "user", "content": []},
        },
        "previous_item_id",
        id="insert-after",
    ),
    pytest.param(
        {
            "type": "response.create",
            "event_id": "e1",
            "response": {"input": [{"type": "item_reference", "id": "item_fc"}]},
        },
        "item.id",
        id="reference",
    ),
    pytest.param(
        {
            "type": "response.create",
            "event_id": "e1",
            "response": {"input": [output("call_server")]},
        },
        "item.call_id",
        id="output-in-response-input",
    ),
]


@pytest.mark.parametrize("dialect", [GA, PREVIEW], ids=["ga", "preview"])
@pytest.mark.parametrize(("event", "param"), REFUSED)
def test_an_event_naming_a_hidden_item_or_call_is_refused_even_with_client_tool_outputs(
    dialect: Dialect, event: dict[str, Any], param: str
) -> None:
    """`item_not_allowed`, with client tool outputs allowed: the relay answers its own calls."""
    policy = make_policy(dialect, allowed_events=ALL_ITEM_EVENTS, tool_outputs=True)
    assert_refuse(policy.decide(dumps(event), HIDDEN), "item_not_allowed", "e1", param)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "conversation.item.create", "item": output("call_client")},
        {"type": "conversation.item.delete", "item_id": "item_visible"},
        {
            "type": "conversation.item.truncate",
            "item_id": "item_visible",
            "content_index": 0,
            "audio_end_ms": 5,
        },
    ],
    ids=["client-output", "delete", "truncate"],
)
def test_events_naming_visible_items_and_client_calls_are_forwarded(event: dict[str, Any]) -> None:
    """A client tool's output and operations on visible items pass as before."""
    policy = make_policy(GA, allowed_events=ALL_ITEM_EVENTS, tool_outputs=True)
    assert_forward(policy.decide(dumps(event), HIDDEN), str(event["type"]))


@pytest.mark.parametrize("value", [["item_fc"], {"id": "item_fc"}, 7, None])
def test_ids_of_the_wrong_type_never_raise(value: object) -> None:
    """An id that is a list, an object or a number is simply not a hidden id."""
    policy = make_policy(GA, allowed_events=ALL_ITEM_EVENTS, tool_outputs=True)
    for event in (
        {"type": "conversation.item.delete", "item_id": value},
        {"type": "conversation.item.create", "previous_item_id": value, "item": output(value)},
    ):
        decision = policy.decide(dumps(event), HIDDEN)
        assert type(decision).__name__ in ("Forward", "Rewrite", "Refuse")
