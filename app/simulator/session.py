"""The per-connection realtime state machine: client event in, server events out, no I/O.

`RealtimeSession.handle` never raises on bad input: anything malformed becomes an Azure-shaped
``error`` event and leaves the state untouched. Responses stream: `handle` returns the first
batch of a response and the owner then calls `step` until it returns None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

from app.simulator import conversation_ops as ops
from app.simulator.audio import b64decode, duration_ms
from app.simulator.calls import FunctionCallRun, find_calls, function_tools, tool_answer
from app.simulator.dialect import (
    Dialect,
    default_session,
    input_transcription,
    response_object,
    turn_detection,
)
from app.simulator.events import Event, error_event, new_id, server_event
from app.simulator.items import Conversation, StoredItem, UserInput, user_input_of
from app.simulator.response import ResponseRun, StreamedRun, transcription_usage
from app.simulator.session_config import check_update, deep_merge
from app.simulator.vad import EnergyVad

SESSION_SECONDS = 1800


class RealtimeSession:
    """State of one simulated realtime session in `dialect` for deployment `model`."""

    def __init__(self, dialect: Dialect, model: str, *, now: float | None = None) -> None:
        self.dialect: Dialect = dialect
        expires_at = int(time.time() if now is None else now) + SESSION_SECONDS
        self.session: Event = default_session(dialect, model, new_id("sess"), expires_at)
        self.conversation = Conversation()
        self.conversation_id = new_id("conv")
        self.buffer = bytearray()
        self.appended_bytes = 0
        """Bytes ever appended: the VAD timeline; ``audio_*_ms`` values count from its start."""
        self.vad = EnergyVad()
        self.active: StreamedRun | None = None
        self._speech_item_id: str | None = None
        # What the deterministic input transcription says; None: "(N ms of audio)".
        self.transcript: str | None = None
        self._handlers: dict[str, Callable[[Event], list[Event]]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._buffer_append,
            "input_audio_buffer.commit": self._buffer_commit,
            "input_audio_buffer.clear": self._buffer_clear,
            "conversation.item.create": partial(ops.create, self.conversation, dialect),
            "conversation.item.delete": partial(ops.delete, self.conversation),
            "conversation.item.truncate": partial(ops.truncate, self.conversation),
            "conversation.item.retrieve": partial(ops.retrieve, self.conversation),
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }

    # -- entry points -------------------------------------------------------------------

    def opening_events(self) -> list[Event]:
        """What the server sends as soon as the socket opens: ``session.created``."""
        return [server_event("session.created", session=self.session)]

    def handle_text(self, text: str | bytes) -> list[Event]:
        """Parse one text frame and handle it; unparseable JSON gives an ``invalid_json`` error."""
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return [error_event("invalid_json", f"Invalid JSON in client event: {exc}")]
        return self.handle(event)

    def handle(self, event: object) -> list[Event]:
        """Handle one parsed client event and return the server events to send now, in order."""
        if not isinstance(event, dict):
            return [error_event("invalid_json", "Client events must be JSON objects.")]
        event_type = event.get("type")
        if not isinstance(event_type, str):
            return [self.error(event, "missing_required_parameter", "type", "Missing 'type'.")]
        handler = self._handlers.get(event_type)
        if handler is None:
            message = f"Invalid value: '{event_type}'. Unknown client event type."
            return [self.error(event, "unknown_event_type", "type", message)]
        return handler(event)

    def step(self) -> list[Event] | None:
        """The next batch of the in-flight response, or None when nothing is streaming."""
        run = self.active
        if run is None:
            return None
        batch = run.step()
        if run.finished:
            self.active = None
        return batch

    def error(self, event: Event, code: str, param: str | None, message: str) -> Event:
        """An ``error`` event answering client `event` (its ``event_id`` is echoed)."""
        return ops.error(event, code, param, message)

    def emit_item(self, stored: StoredItem, previous_item_id: Any = None) -> list[Event]:
        """Insert a complete item and return its announcement (plus GA ``item.done``)."""
        return ops.emit(self.conversation, self.dialect, stored, previous_item_id)

    # -- session ------------------------------------------------------------------------

    def _session_update(self, event: Event) -> list[Event]:
        update = event.get("session")
        problem = check_update(self.dialect, update)
        if problem is not None:
            return [self.error(event, problem.code, problem.param, problem.message)]
        assert isinstance(update, dict)
        deep_merge(self.session, update)
        return [server_event("session.updated", session=self.session)]

    # -- input audio buffer -------------------------------------------------------------

    def _buffer_append(self, event: Event) -> list[Event]:
        audio = event.get("audio")
        if not isinstance(audio, str):
            return [self.error(event, "missing_required_parameter", "audio", "Missing 'audio'.")]
        try:
            pcm = b64decode(audio)
        except ValueError:
            message = "Invalid 'audio'. Expected base64-encoded audio bytes."
            return [self.error(event, "invalid_value", "audio", message)]
        return self.append_audio(pcm)

    def append_audio(self, pcm: bytes) -> list[Event]:
        """Append raw pcm16 to the buffer and run server VAD on it when turn detection is on.

        A detected stop commits the buffer up to the stop point (the rest stays buffered) and,
        unless ``create_response`` is false, starts a response if none is in flight. A detected
        start cancels an in-flight response unless ``interrupt_response`` is false.
        """
        buffer_start = self.appended_bytes - len(self.buffer)
        self.buffer += pcm
        self.appended_bytes += len(pcm)
        detection = turn_detection(self.dialect, self.session)
        if detection is None:
            self.vad.reset(self.appended_bytes)
            return []
        silence = detection.get("silence_duration_ms")
        self.vad.silence_ms = silence if isinstance(silence, int) and silence > 0 else 500
        events: list[Event] = []
        for found in self.vad.feed(pcm):
            if found.kind == "start":
                self._speech_item_id = new_id("item")
                events.append(
                    server_event(
                        "input_audio_buffer.speech_started",
                        audio_start_ms=found.ms,
                        item_id=self._speech_item_id,
                    )
                )
                if self.active is not None and detection.get("interrupt_response") is not False:
                    events += self.active.cancel("turn_detected")
                    self.active = None
                continue
            item_id = self._speech_item_id or new_id("item")
            self._speech_item_id = None
            cut = found.position - buffer_start
            committed = bytes(self.buffer[:cut])
            del self.buffer[:cut]
            buffer_start = found.position
            events.append(
                server_event(
                    "input_audio_buffer.speech_stopped", audio_end_ms=found.ms, item_id=item_id
                )
            )
            events += self._commit(committed, item_id)
            if detection.get("create_response") is not False and self.active is None:
                events += self._start_response({}, None, True)
        return events

    def _buffer_commit(self, event: Event) -> list[Event]:
        if not self.buffer:
            message = "Error committing input audio buffer: the buffer is empty."
            return [self.error(event, "input_audio_buffer_commit_empty", None, message)]
        pcm = bytes(self.buffer)
        item_id = self._speech_item_id or new_id("item")
        self._reset_buffer()
        return self._commit(pcm, item_id)

    def _buffer_clear(self, event: Event) -> list[Event]:
        self._reset_buffer()
        return [server_event("input_audio_buffer.cleared")]

    def _reset_buffer(self) -> None:
        self.buffer.clear()
        self._speech_item_id = None
        self.vad.reset(self.appended_bytes)

    def _commit(self, pcm: bytes, item_id: str) -> list[Event]:
        part: Event = {"type": "input_audio", "transcript": None}
        item: Event = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [part],
        }
        previous = self.conversation.last_id()
        events = [
            server_event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        ]
        events += self.emit_item(StoredItem(item, pcm))
        if input_transcription(self.dialect, self.session):
            part["transcript"] = self.transcript or f"({duration_ms(pcm)} ms of audio)"
            events.append(
                server_event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=part["transcript"],
                    usage=transcription_usage(pcm, part["transcript"]),
                )
            )
        return events

    # -- responses ----------------------------------------------------------------------

    def _response_create(self, event: Event) -> list[Event]:
        if self.active is not None:
            message = (
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one."
            )
            return [self.error(event, "conversation_already_has_active_response", None, message)]
        spec = event.get("response", {})
        if not isinstance(spec, dict):
            return [self.error(event, "invalid_type", "response", "'response' must be an object.")]
        items = spec.get("input")
        if items is not None and not isinstance(items, list):
            return [self.error(event, "invalid_type", "response.input", "'input' must be a list.")]
        user = self._input_from(items) if items is not None else None
        in_conversation = spec.get("conversation", "auto") != "none"
        return self._start_response(spec, user, in_conversation, from_conversation=items is None)

    def _input_from(self, items: list[Any]) -> UserInput | None:
        found: UserInput | None = None
        for entry in items:
            if not isinstance(entry, dict):
                continue
            stored: StoredItem | None = StoredItem(entry)
            if entry.get("type") == "item_reference":
                stored = self.conversation.get(entry.get("id"))
            if stored is not None:
                found = user_input_of(stored.item, stored.pcm) or found
        return found

    def _start_response(
        self,
        spec: Event,
        user: UserInput | None,
        conversation: bool,
        *,
        from_conversation: bool = True,
    ) -> list[Event]:
        """Start a response answering `user`, or with `from_conversation` the conversation:
        its tool outputs if it ends with some, else its last user message (which may call
        the session's function tools)."""
        response = response_object(
            self.dialect,
            self.session,
            spec,
            response_id=new_id("resp"),
            conversation_id=self.conversation_id if conversation else None,
        )
        target = self.conversation if conversation else None
        reply = None
        if from_conversation:
            reply = tool_answer(self.conversation)
            user = self.conversation.last_user_input()
            text = user.text if user is not None and reply is None else None
            calls = find_calls(text, function_tools(self.session)) if text else []
            if calls:
                self.active = FunctionCallRun(self.dialect, response, calls, target)
                return self.step() or []
        self.active = ResponseRun(
            self.dialect, response, user, item_id=new_id("item"), conversation=target, reply=reply
        )
        return self.step() or []

    def _response_cancel(self, event: Event) -> list[Event]:
        wanted = event.get("response_id")
        if self.active is None or (wanted is not None and wanted != self.active.id):
            message = "Cancellation failed: no active response found."
            return [self.error(event, "response_cancel_not_active", None, message)]
        events = self.active.cancel("client_cancelled")
        self.active = None
        return events
