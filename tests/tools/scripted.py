"""A scripted upstream that makes one server call per client `response.create` (GA events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_upstream import FakeConnection
from tests.tools.playbook import call_events, call_item, frame, message_added, response_done

__all__ = ["ANSWER", "ToolCallScript"]

ANSWER = "The relay's tool answered."


@dataclass
class ToolCallScript:
    """`FakeUpstream.answering(ToolCallScript())`: a call to `name` with `arguments`.

    `extra` frames (audio deltas, say) are sent right after the call's events.
    """

    name: str = "lookup_order"
    arguments: str = '{"id":"42"}'
    extra: list[str] = field(default_factory=list)
    responses: int = 0

    async def __call__(self, conn: FakeConnection, event: dict[str, Any]) -> None:
        kind = event["type"]
        relays = str(event.get("event_id", "")).startswith("relay_tool_")
        if kind == "response.create" and not relays:
            await self._call(conn)
        elif kind == "conversation.item.create" and event["item"]["type"] == "function_call_output":
            item = {**event["item"], "id": "item_out", "object": "realtime.item"}
            await conn.ws.send(
                frame("conversation.item.added", previous_item_id="item_fc", item=item)
            )
            await conn.ws.send(
                frame("conversation.item.done", previous_item_id="item_fc", item=item)
            )
        elif kind == "response.create":
            await self._answer(conn)

    async def _call(self, conn: FakeConnection) -> None:
        await conn.ws.send(frame("response.created", response={"id": "resp_call", "output": []}))
        for text in call_events("resp_call", "item_fc", "call_srv", self.name, self.arguments):
            await conn.ws.send(text)
        for text in self.extra:
            await conn.ws.send(text)
        item = call_item("item_fc", "call_srv", self.name, self.arguments, "completed")
        await conn.ws.send(response_done("resp_call", item))

    async def _answer(self, conn: FakeConnection) -> None:
        self.responses += 1
        response_id = f"resp_answer_{self.responses}"
        await conn.ws.send(frame("response.created", response={"id": response_id, "output": []}))
        await conn.ws.send(message_added("item_answer", "item_out"))
        message = {
            "id": "item_answer",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": ANSWER}],
        }
        await conn.ws.send(response_done(response_id, message))
