"""Function calling in the simulator: calls written in user text, and answers to their outputs.

When the session has function tools and the user's text holds
``<tool_name>(<JSON object>)``, the response is a function call to that tool with
those arguments (one call per occurrence, all in the same response), streamed
with the dialect's full event sequence. After ``function_call_output`` items,
the next response answers ``Tool <name> returned: <output>`` (see
`tool_answer`), as text or audio like any other reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator

from app.simulator.dialect import NAMES, Dialect
from app.simulator.events import Event, new_id, server_event
from app.simulator.items import Conversation, StoredItem
from app.simulator.response import StreamedRun, compute_usage

__all__ = ["FunctionCallRun", "find_calls", "function_tools", "tool_answer"]

_NAME = re.compile(r"([A-Za-z0-9_-]{1,64})\(")
_DECODER = json.JSONDecoder()


def function_tools(session: Event) -> frozenset[str]:
    """The names of the session's `function` tools."""
    tools = session.get("tools")
    if not isinstance(tools, list):
        return frozenset()
    return frozenset(
        str(tool["name"])
        for tool in tools
        if isinstance(tool, dict) and tool.get("type", "function") == "function" and "name" in tool
    )


def find_calls(text: str, tools: frozenset[str]) -> list[tuple[str, str]]:
    """Each ``name({...})`` in `text` naming one of `tools`: (name, the arguments' JSON)."""
    calls: list[tuple[str, str]] = []
    position = 0
    while (match := _NAME.search(text, position)) is not None:
        position = match.end()
        if match.group(1) not in tools or not text.startswith("{", position):
            continue
        try:
            arguments, end = _DECODER.raw_decode(text, position)
        except ValueError:
            continue
        if isinstance(arguments, dict) and text.startswith(")", end):
            calls.append((match.group(1), json.dumps(arguments, separators=(",", ":"))))
            position = end + 1
    return calls


def tool_answer(conversation: Conversation) -> str | None:
    """``Tool <name> returned: <output>`` for the outputs after the last message, if any."""
    names: dict[str, str] = {}
    outputs: list[Event] = []
    for stored in conversation.items:
        item = stored.item
        kind = item.get("type")
        if kind == "message":
            outputs = []
        elif kind == "function_call":
            names[str(item.get("call_id"))] = str(item.get("name"))
        elif kind == "function_call_output":
            outputs.append(item)
    if not outputs:
        return None
    return " ".join(
        f"Tool {names.get(str(item.get('call_id')), 'unknown')} returned: {item.get('output')}"
        for item in outputs
    )


class FunctionCallRun(StreamedRun):
    """Streams one response made of function calls; the same interface as `ResponseRun`."""

    def __init__(
        self,
        dialect: Dialect,
        response: Event,
        calls: list[tuple[str, str]],
        conversation: Conversation | None,
    ) -> None:
        self.dialect = dialect
        self.response = response
        self.finished = False
        self.items: list[Event] = [
            {
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "name": name,
                "call_id": new_id("call"),
                "arguments": "",
            }
            for name, _ in calls
        ]
        self._arguments = [arguments for _, arguments in calls]
        self._conversation = conversation
        self._previous: list[str | None] = []
        if conversation is not None:
            for item in self.items:
                self._previous.append(conversation.insert(StoredItem(item)))
        self._steps = self._generate()

    def _generate(self) -> Generator[list[Event], None, None]:
        names = NAMES[self.dialect]
        first = [server_event("response.created", response=self.response)]
        for index, item in enumerate(self.items):
            first.append(
                server_event(
                    "response.output_item.added",
                    response_id=self.id,
                    output_index=index,
                    item=item,
                )
            )
            if self._conversation is not None:
                previous = self._previous[index]
                first.append(
                    server_event("conversation.item.created", previous_item_id=previous, item=item)
                )
                if names.item_lifecycle:
                    first.append(
                        server_event(
                            "conversation.item.added", previous_item_id=previous, item=item
                        )
                    )
        yield first
        for index, item in enumerate(self.items):
            arguments = self._arguments[index]
            ids = {
                "response_id": self.id,
                "item_id": item["id"],
                "output_index": index,
                "call_id": item["call_id"],
            }
            half = len(arguments) // 2
            yield [
                server_event("response.function_call_arguments.delta", **ids, delta=piece)
                for piece in (arguments[:half], arguments[half:])
                if piece
            ]
            item["arguments"] = arguments
            item["status"] = "completed"
            named = {"name": item["name"]} if self.dialect == "ga" else {}
            batch = [
                server_event(
                    "response.function_call_arguments.done", **ids, **named, arguments=arguments
                ),
                server_event(
                    "response.output_item.done", response_id=self.id, output_index=index, item=item
                ),
            ]
            if self._conversation is not None and names.item_lifecycle:
                batch.append(
                    server_event(
                        "conversation.item.done",
                        previous_item_id=self._previous[index],
                        item=item,
                    )
                )
            yield batch
        self._finish("completed")
        self.response["status"] = "completed"
        yield [self._response_done()]

    def _finish(self, status: str) -> None:
        self.finished = True
        for item in self.items:
            if item["status"] == "in_progress":
                item["status"] = status
        self.response["output"] = self.items

    def _response_done(self) -> Event:
        arguments = " ".join(self._arguments)
        self.response["usage"] = compute_usage(self.dialect, None, arguments, b"")
        return server_event("response.done", response=self.response)
