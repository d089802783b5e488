"""`conversation.item.create`: only user messages (and, if enabled, tool outputs)."""

from __future__ import annotations

from typing import Any

import pytest

from app.policy import Dialect
from tests.policy.factories import DIALECTS, assert_forward, assert_refuse, dumps, make_policy

DIALECT_PARAMS = [pytest.param(d, id=d.name) for d in DIALECTS]


def _item_create(item: Any) -> dict[str, Any]:
    return {"type": "conversation.item.create", "event_id": "evt_1", "item": item}


ALLOWED_ITEMS = [
    pytest.param(
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        id="user-message",
    ),
    pytest.param(
        {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "AA"}]},
        id="user-audio-message",
    ),
    pytest.param({"role": "user", "content": []}, id="user-role-without-type"),
    pytest.param(
        {"id": "item_9", "type": "message", "role": "user", "content": []},
        id="user-message-with-id",
    ),
]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize("item", ALLOWED_ITEMS)
def test_user_message_item_is_forwarded_unchanged(dialect: Dialect, item: dict[str, Any]) -> None:
    """A user message item is forwarded as it arrived."""
    decision = make_policy(dialect).decide(dumps(_item_create(item)))
    assert_forward(decision, "conversation.item.create")


REFUSED_ITEMS = [
    pytest.param({"type": "message", "role": "system", "content": []}, id="system-message"),
    pytest.param({"type": "message", "role": "assistant", "content": []}, id="assistant-message"),
    pytest.param({"type": "message", "role": "developer", "content": []}, id="developer-message"),
    pytest.param({"type": "message", "role": "User", "content": []}, id="wrong-case-role"),
    pytest.param({"type": "message", "content": []}, id="message-without-role"),
    pytest.param({"type": "message", "role": None}, id="null-role"),
    pytest.param({"type": "message", "role": 1}, id="number-role"),
    pytest.param({"type": "message", "role": ["user"]}, id="array-role"),
    pytest.param({"role": "system", "content": []}, id="system-role-without-type"),
    pytest.param({"role": None}, id="null-role-without-type"),
    pytest.param(
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        id="function-call",
    ),
    pytest.param(
        {"type": "function_call_output", "call_id": "c", "output": "{}"},
        id="function-call-output-by-default",
    ),
    pytest.param({"type": "item_reference", "id": "item_1"}, id="item-reference"),
    pytest.param({"type": "mcp_approval_response", "approve": True}, id="mcp-approval-response"),
    pytest.param({"type": "mcp_call"}, id="mcp-call"),
    pytest.param({"content": []}, id="no-type-no-role"),
    pytest.param({}, id="empty-item"),
    pytest.param({"type": None, "role": "user"}, id="null-type-with-user-role"),
    pytest.param({"type": 3, "role": "user"}, id="number-type"),
]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize("item", REFUSED_ITEMS)
def test_item_other_than_user_message_is_refused(dialect: Dialect, item: dict[str, Any]) -> None:
    """Items that are not user messages are refused with `item_not_allowed`."""
    decision = make_policy(dialect).decide(dumps(_item_create(item)))
    assert_refuse(decision, "item_not_allowed", "evt_1", param="item")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"type": "conversation.item.create"}, id="item-missing"),
        pytest.param(_item_create(None), id="null"),
        pytest.param(_item_create([]), id="array"),
        pytest.param(_item_create("message"), id="string"),
        pytest.param(_item_create(5), id="number"),
    ],
)
def test_item_that_is_not_an_object_is_refused_as_invalid(
    dialect: Dialect, event: dict[str, Any]
) -> None:
    """A missing or non-object `item` is refused with `invalid_event`."""
    decision = make_policy(dialect).decide(dumps(event))
    expected_id = "evt_1" if "event_id" in event else None
    assert_refuse(decision, "invalid_event", expected_id, param="item")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_function_call_output_is_forwarded_when_tool_outputs_are_enabled(
    dialect: Dialect,
) -> None:
    """With tool outputs enabled, a `function_call_output` item is forwarded."""
    item = {"type": "function_call_output", "call_id": "c", "output": "{}"}
    policy = make_policy(dialect, tool_outputs=True)
    assert_forward(policy.decide(dumps(_item_create(item))), "conversation.item.create")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_function_call_stays_refused_when_tool_outputs_are_enabled(dialect: Dialect) -> None:
    """Enabling tool outputs does not let clients create `function_call` items."""
    item = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    policy = make_policy(dialect, tool_outputs=True)
    assert_refuse(policy.decide(dumps(_item_create(item))), "item_not_allowed", "evt_1")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        pytest.param("assistant", True, id="assistant-allowed"),
        pytest.param("user", True, id="user-allowed"),
        pytest.param("system", False, id="system-still-refused"),
    ],
)
def test_operator_item_roles_decide_which_messages_pass(
    dialect: Dialect, role: str, allowed: bool
) -> None:
    """Operator-configured roles replace the default `user`-only list."""
    policy = make_policy(dialect, item_roles=("user", "assistant"))
    decision = policy.decide(dumps(_item_create({"type": "message", "role": role})))
    if allowed:
        assert_forward(decision, "conversation.item.create")
    else:
        assert_refuse(decision, "item_not_allowed", "evt_1")


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_item_refusal_message_truncates_long_role_and_type(dialect: Dialect) -> None:
    """Refusal messages quote at most 32 characters of a role or item type."""
    policy = make_policy(dialect)
    by_role = assert_refuse(
        policy.decide(dumps(_item_create({"role": "r" * 100}))), "item_not_allowed", "evt_1"
    )
    by_type = assert_refuse(
        policy.decide(dumps(_item_create({"type": "t" * 100}))), "item_not_allowed", "evt_1"
    )
    assert "r" * 32 in by_role.message
    assert "r" * 33 not in by_role.message
    assert "t" * 32 in by_type.message
    assert "t" * 33 not in by_type.message
