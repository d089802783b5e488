"""The server tools' calls in one session, Sans-I/O: upstream events in, commands out.

`ToolTracker` sees the upstream events that concern function calls (the
core hands it only the types in `WATCHED`; audio and text deltas never reach
it) and decides, for each, what the client sees: the frame as it came, a
rewrite, or nothing. Along the way it queues commands for the shell in
`commands`, which the shell drains after every input:

- `CallTool`: run this server tool (its `arguments` None when they were not
  a JSON object: the shell then answers `invalid_arguments` without a call);
- `SendUpstream`: send this text upstream (a `function_call_output` item, or
  the one `response.create` that lets the model speak the results).

Every trace of a server call is hidden: its `function_call` item and the
relay's `function_call_output` item in every `response.output_item.*`,
`response.function_call_arguments.*` and `conversation.item.*` event; the
items in `response.done`'s `output`; errors answering the relay's own events.
An event whose `previous_item_id` names a hidden item names the nearest
visible item before it instead, so the client's view of the conversation is
the conversation without the hidden items. `hidden` holds the ids the client
may not name (its policy reads it).

Once a response that made server calls is done and every call has its output,
exactly one `response.create` follows, when no other response is in flight.
At most `max_concurrent` calls run at once; the rest wait in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import orjson

from app.policy.hidden import Hidden

__all__ = [
    "WATCHED",
    "CallTool",
    "Hidden",
    "SendUpstream",
    "ToolCommand",
    "ToolTracker",
    "parse_event",
]

Event = dict[str, Any]

# The upstream event types that can concern a function call or name its items.
WATCHED = frozenset(
    {
        "response.created",
        "response.output_item.added",
        "response.output_item.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "conversation.item.created",
        "conversation.item.added",
        "conversation.item.done",
        "input_audio_buffer.committed",
        "error",
    }
)
_ITEM_EVENTS = ("conversation.item.created", "conversation.item.added", "conversation.item.done")


@dataclass(frozen=True, slots=True)
class CallTool:
    """Run server tool `name` for `call_id`; `arguments` None means they were not an object."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SendUpstream:
    """Send `text` to the upstream."""

    text: str


ToolCommand = CallTool | SendUpstream


@dataclass(slots=True)
class _Call:
    call_id: str
    name: str
    response_id: str | None
    started: bool = False


@dataclass(slots=True)
class _Response:
    """A response that made server calls: how many still lack an output, and whether it is done."""

    unanswered: int = 0
    done: bool = False


def parse_event(frame: str) -> Event | None:
    """`frame` parsed, when it is a JSON object; else None."""
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class ToolTracker:
    """One session's server calls. Never raises on any frame."""

    __slots__ = (
        "_before",
        "_by_item",
        "_calls",
        "_create_id",
        "_create_sent",
        "_ids",
        "_in_flight",
        "_max_concurrent",
        "_names",
        "_prefix",
        "_queue",
        "_responses",
        "_running",
        "_want_create",
        "commands",
        "hidden",
    )

    def __init__(self, names: frozenset[str], max_concurrent: int, event_prefix: str) -> None:
        """`names`: the server tools; `event_prefix`: a per-session unguessable prefix for the
        event ids of the relay's own events, so that only their errors are hidden."""
        self.hidden = Hidden()
        self.commands: list[ToolCommand] = []
        self._names = names
        self._max_concurrent = max_concurrent
        self._prefix = event_prefix
        self._ids = count(1)
        self._calls: dict[str, _Call] = {}  # by call id
        self._by_item: dict[str, _Call] = {}  # by function_call item id
        self._before: dict[str, str | None] = {}  # hidden item -> the item announced before it
        self._responses: dict[str, _Response] = {}
        self._running = 0
        self._queue: deque[CallTool] | None = None  # made on the first call that must wait
        self._in_flight = False
        self._create_sent = False
        self._want_create = False
        self._create_id: str | None = None  # the event id of our last response.create

    # -- inputs -----------------------------------------------------------------------

    def upstream(self, event_type: str, frame: str) -> str | None:
        """What the client sees of an upstream frame of a `WATCHED` type (None: nothing)."""
        return _HANDLERS[event_type](self, frame)

    def response_done(self, event: Event | None, frame: str) -> str:
        """What the client sees of `response.done` (`event` is `frame` parsed, or None)."""
        self._in_flight = False
        response = event.get("response") if event is not None else None
        if not isinstance(response, dict):
            self._maybe_create()
            return frame
        response_id = _str(response.get("id"))
        output = response.get("output")
        kept = frame
        if isinstance(output, list):
            for item in output:
                if isinstance(item, dict) and item.get("type") == "function_call":
                    self._call_item(item, response_id, start=True)
            visible = [item for item in output if not self._is_hidden_item(item)]
            if len(visible) != len(output):
                response["output"] = visible
                kept = orjson.dumps(event).decode()
        pending = self._responses.get(response_id) if response_id is not None else None
        if pending is not None:
            pending.done = True
            self._settle(response_id)
        self._maybe_create()
        return kept

    def tool_done(self, call_id: str, output: str) -> None:
        """A call ended with `output` (an error output included): send it upstream."""
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        self._send({"type": "conversation.item.create", "item": item})
        self._running -= 1
        while self._queue and self._running < self._max_concurrent:
            self._running += 1
            self.commands.append(self._queue.popleft())
        pending = self._responses.get(call.response_id) if call.response_id else None
        if pending is not None:
            pending.unanswered -= 1
            self._settle(call.response_id)
        self._maybe_create()

    # -- handlers ---------------------------------------------------------------------

    def _response_created(self, frame: str) -> str:
        self._in_flight = True
        self._create_sent = False  # ours or not, a response is active: never send a second
        return frame

    def _output_item(self, frame: str) -> str | None:
        event = parse_event(frame)
        item = event.get("item") if event is not None else None
        if event is None or not isinstance(item, dict) or item.get("type") != "function_call":
            return frame
        done = event.get("type") == "response.output_item.done"
        return None if self._call_item(item, _str(event.get("response_id")), start=done) else frame

    def _arguments_delta(self, frame: str) -> str | None:
        event = parse_event(frame)
        if event is None:
            return frame
        call = self._by_item.get(str(event.get("item_id")))
        hidden = call is not None or self.hidden.names_call(event.get("call_id"))
        return None if hidden else frame

    def _arguments_done(self, frame: str) -> str | None:
        event = parse_event(frame)
        if event is None:
            return frame
        item = {
            "type": "function_call",
            "id": event.get("item_id"),
            "call_id": event.get("call_id"),
            "name": event.get("name"),
            "arguments": event.get("arguments"),
        }
        response_id = _str(event.get("response_id"))
        return None if self._call_item(item, response_id, start=True) else frame

    def _conversation_item(self, frame: str) -> str | None:
        if '"function_call' not in frame and not self._before:
            return frame  # nothing hidden yet, and not a call: no parse
        event = parse_event(frame)
        if event is None:
            return frame
        item = event.get("item")
        if isinstance(item, dict):
            kind = item.get("type")
            item_id = _str(item.get("id"))
            if kind == "function_call" and self._call_item(item, None, start=False):
                self._remember(item_id, event.get("previous_item_id"))
                return None
            if kind == "function_call_output" and self.hidden.names_call(item.get("call_id")):
                if item_id is not None:
                    self.hidden.items.add(item_id)
                self._remember(item_id, event.get("previous_item_id"))
                return None
        return self._visible_previous(event, frame)

    def _committed(self, frame: str) -> str | None:
        if not self._before:
            return frame
        event = parse_event(frame)
        return frame if event is None else self._visible_previous(event, frame)

    def _error(self, frame: str) -> str | None:
        if self._prefix not in frame:
            return frame
        event = parse_event(frame)
        error = event.get("error") if event is not None else None
        answered = _str(error.get("event_id")) if isinstance(error, dict) else None
        if answered is None or not answered.startswith(self._prefix):
            return frame
        if answered == self._create_id:
            # Our response.create met another response (one the client asked for at the same
            # moment): ask again once that one is done.
            self._create_id = None
            self._create_sent = False
            self._want_create = True
            self._maybe_create()
        return None

    # -- helpers ----------------------------------------------------------------------

    def _call_item(self, item: Event, response_id: str | None, *, start: bool) -> bool:
        """Note a `function_call` item; True when it is a server call (then hidden)."""
        item_id = _str(item.get("id"))
        call = self._by_item.get(item_id) if item_id is not None else None
        if call is None:
            call_id = _str(item.get("call_id"))
            name = item.get("name")
            if call_id is None:
                return False
            if call_id in self.hidden.calls:  # seen before, under another item event
                call = self._calls.get(call_id)
            elif isinstance(name, str) and name in self._names:
                call = _Call(call_id, name, response_id)
                self.hidden.calls.add(call_id)
                self._calls[call_id] = call
                if response_id is not None:
                    self._responses.setdefault(response_id, _Response()).unanswered += 1
            else:
                return False  # a client tool's call: the client's to see and answer
            if item_id is not None:
                self.hidden.items.add(item_id)
                self._before.setdefault(item_id, None)
                if call is not None:
                    self._by_item[item_id] = call
        late = call is not None and call.response_id is None and call.call_id in self._calls
        if late and response_id is not None:
            assert call is not None
            call.response_id = response_id  # first seen in a conversation event
            self._responses.setdefault(response_id, _Response()).unanswered += 1
        if start and call is not None and not call.started:
            call.started = True
            self._start(call, item.get("arguments"))
        return True

    def _start(self, call: _Call, arguments: object) -> None:
        parsed = parse_event(arguments) if isinstance(arguments, str) else None
        command = CallTool(call.call_id, call.name, parsed)
        if self._running < self._max_concurrent:
            self._running += 1
            self.commands.append(command)
        else:
            if self._queue is None:
                self._queue = deque()
            self._queue.append(command)

    def _settle(self, response_id: str | None) -> None:
        """A response that is done and has every output: the model may speak them."""
        if response_id is None:
            return
        pending = self._responses.get(response_id)
        if pending is not None and pending.done and pending.unanswered <= 0:
            del self._responses[response_id]
            self._want_create = True

    def _maybe_create(self) -> None:
        if self._want_create and not self._in_flight and not self._create_sent:
            self._want_create = False
            self._create_sent = True
            self._create_id = self._send({"type": "response.create"})

    def _send(self, event: Event) -> str:
        event_id = f"{self._prefix}{next(self._ids)}"
        self.commands.append(SendUpstream(orjson.dumps({**event, "event_id": event_id}).decode()))
        return event_id

    def _remember(self, item_id: str | None, previous: object) -> None:
        if item_id is not None:
            self._before[item_id] = self._visible(previous)

    def _visible(self, item_id: object) -> str | None:
        """The nearest visible item at or before `item_id`."""
        current = _str(item_id)
        while current is not None and current in self._before:
            current = self._before[current]
        return current

    def _visible_previous(self, event: Event, frame: str) -> str:
        previous = event.get("previous_item_id")
        if not isinstance(previous, str) or previous not in self._before:
            return frame
        event["previous_item_id"] = self._visible(previous)
        return orjson.dumps(event).decode()

    def _is_hidden_item(self, item: object) -> bool:
        if not isinstance(item, dict):
            return False
        if self.hidden.names_item(item.get("id")):
            return True
        kind = item.get("type")
        calls = ("function_call", "function_call_output")
        return kind in calls and self.hidden.names_call(item.get("call_id"))


# Per type, the method that decides; shared by every session (no per-session dict).
_HANDLERS: dict[str, Callable[[ToolTracker, str], str | None]] = {
    "response.created": ToolTracker._response_created,
    "response.output_item.added": ToolTracker._output_item,
    "response.output_item.done": ToolTracker._output_item,
    "response.function_call_arguments.delta": ToolTracker._arguments_delta,
    "response.function_call_arguments.done": ToolTracker._arguments_done,
    "conversation.item.created": ToolTracker._conversation_item,
    "conversation.item.added": ToolTracker._conversation_item,
    "conversation.item.done": ToolTracker._conversation_item,
    "input_audio_buffer.committed": ToolTracker._committed,
    "error": ToolTracker._error,
}
assert set(_HANDLERS) == WATCHED
