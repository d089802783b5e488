"""The simulator's function calling: calls written in user text, and answers to outputs."""

from __future__ import annotations

from typing import Any

import pytest

from app.simulator.calls import find_calls, function_tools, tool_answer
from app.simulator.items import Conversation, StoredItem
from app.simulator.session import RealtimeSession

TOOLS = frozenset({"lookup_order", "book"})
TOOL = {"type": "function", "name": "lookup_order", "description": "d", "parameters": {}}


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ('lookup_order({"id": "42"})', [("lookup_order", '{"id":"42"}')]),
        (
            'please lookup_order({"id":"1"}) and book({"at": 9})',
            [("lookup_order", '{"id":"1"}'), ("book", '{"at":9}')],
        ),
        ('unknown_tool({"id":"1"})', []),
        ("lookup_order([1, 2])", []),
        ('lookup_order({"id": "1"}', []),
        ('lookup_order({"id": }) lookup_order({})', [("lookup_order", "{}")]),
        ("lookup_order()", []),
    ],
)
def test_calls_are_read_from_text_only_for_session_tools_with_object_arguments(
    text: str, calls: list[tuple[str, str]]
) -> None:
    """Each `name({...})` naming a session tool, with a JSON object and a closing paren."""
    assert find_calls(text, TOOLS) == calls


def test_only_function_tools_with_names_count() -> None:
    session = {"tools": [TOOL, {"type": "mcp", "name": "x"}, {"type": "function"}, "junk"]}
    assert function_tools(session) == {"lookup_order"}
    assert function_tools({"tools": None}) == frozenset()


def test_outputs_after_the_last_message_are_answered_with_the_calls_names() -> None:
    """Outputs before a later message are already answered; an unknown call is `unknown`."""
    conversation = Conversation()
    for item in (
        {"id": "1", "type": "function_call", "call_id": "c1", "name": "lookup_order"},
        {"id": "2", "type": "function_call_output", "call_id": "c1", "output": "old"},
        {"id": "3", "type": "message", "role": "assistant", "content": []},
        {"id": "4", "type": "function_call_output", "call_id": "c1", "output": "new"},
        {"id": "5", "type": "function_call_output", "call_id": "c9", "output": "stray"},
    ):
        conversation.insert(StoredItem(item))
    assert tool_answer(conversation) == (
        "Tool lookup_order returned: new Tool unknown returned: stray"
    )


def session_with_tool() -> RealtimeSession:
    session = RealtimeSession("ga", "m")
    session.handle({"type": "session.update", "session": {"type": "realtime", "tools": [TOOL]}})
    return session


def run(session: RealtimeSession, event: dict[str, Any]) -> list[dict[str, Any]]:
    events = session.handle(event)
    while (batch := session.step()) is not None:
        events += batch
    return events


def test_a_cancelled_call_ends_incomplete_with_its_items_listed() -> None:
    """Cancelling mid-call gives `response.done` cancelled, the call item incomplete."""
    session = session_with_tool()
    text = {"type": "input_text", "text": 'lookup_order({"id":"1"})'}
    run(
        session,
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [text]},
        },
    )
    first = session.handle({"type": "response.create"})
    assert [e["type"] for e in first][:2] == ["response.created", "response.output_item.added"]
    [done] = session.handle({"type": "response.cancel"})
    assert done["response"]["status"] == "cancelled"
    assert [item["status"] for item in done["response"]["output"]] == ["incomplete"]
    assert session.step() is None


def test_an_out_of_band_response_with_input_never_calls() -> None:
    """A response given its own `input` answers that input, not the conversation's calls."""
    session = session_with_tool()
    message = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "lookup_order({})"}],
    }
    events = run(
        session,
        {"type": "response.create", "response": {"conversation": "none", "input": [message]}},
    )
    assert "response.function_call_arguments.done" not in [e["type"] for e in events]
