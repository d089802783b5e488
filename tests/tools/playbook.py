"""Upstream event sequences of function calls, as Azure streams them, for tracker playbooks."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["PREFIX", "call_events", "call_item", "frame", "message_added", "response_done"]

PREFIX = "relay_tool_secret_"
Event = dict[str, Any]


def frame(event_type: str, **fields: Any) -> str:
    return orjson.dumps({"type": event_type, "event_id": "ev", **fields}).decode()


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Event:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "name": name,
        "call_id": call_id,
        "arguments": arguments,
    }


def call_events(
    response_id: str,
    item_id: str,
    call_id: str,
    name: str,
    arguments: str = '{"id":"42"}',
    *,
    index: int = 0,
    previous: str | None = "item_user",
    dialect: str = "ga",
) -> list[str]:
    """Every event of one function call in a response, in the dialect's order."""
    ids = {"response_id": response_id, "item_id": item_id, "output_index": index}
    started = call_item(item_id, call_id, name, "", "in_progress")
    finished = call_item(item_id, call_id, name, arguments, "completed")
    events = [
        frame(
            "response.output_item.added", response_id=response_id, output_index=index, item=started
        ),
        frame("conversation.item.created", previous_item_id=previous, item=started),
    ]
    if dialect == "ga":
        events.append(frame("conversation.item.added", previous_item_id=previous, item=started))
    events.append(
        frame("response.function_call_arguments.delta", **ids, call_id=call_id, delta=arguments)
    )
    named = {"name": name} if dialect == "ga" else {}
    events += [
        frame(
            "response.function_call_arguments.done",
            **ids,
            call_id=call_id,
            **named,
            arguments=arguments,
        ),
        frame(
            "response.output_item.done", response_id=response_id, output_index=index, item=finished
        ),
    ]
    if dialect == "ga":
        events.append(frame("conversation.item.done", previous_item_id=previous, item=finished))
    return events


def message_added(item_id: str, previous: str | None) -> str:
    item = {"id": item_id, "type": "message", "role": "assistant", "content": []}
    return frame("conversation.item.added", previous_item_id=previous, item=item)


def response_done(response_id: str, *output: Event, status: str = "completed") -> str:
    return frame(
        "response.done",
        response={"id": response_id, "status": status, "output": list(output), "usage": None},
    )
