"""The guardrails of one session, Sans-I/O: which turns to check, what to hold, what to mute.

With guardrails the relay owns turn-taking: the upstream's server VAD detects a
turn but does not answer it (`create_response: false`), and the relay answers
a turn only once its text has passed.

Input. A user turn is pending from the moment the relay knows of it (a client
`conversation.item.create` of text, an `input_audio_buffer.committed`) until
its check ends. Its text is the client item's `input_text`, checked at once
(the upstream's echo of the item later names its id, for a delete), or the
transcript of its audio. `CheckText` asks the shell to check it; `verdict`
answers. A client `response.create` that arrives while a
turn is pending is held. Pass: the held one is sent, or the relay's own. Block:
the item is deleted upstream, the client gets `guardrail_blocked`, the optional
refusal is spoken, the held one is dropped; enough blocks end the session.

Output. The model's transcript and text deltas are matched against the
blocklist as they stream; on a hit the relay cancels the response, stops
forwarding that item (audio too), truncates it at the audio delivered and tells
the client. Each completed output text is also checked by the webhook.

Never awaits, logs or touches a socket: the shell drains `commands`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from app.policy.audio import AUDIO_DELTAS, ascii_after, string_after

__all__ = ["CheckText", "GuardClient", "GuardEnd", "GuardUpstream", "GuardrailGate"]

Direction = Literal["input", "output"]

_ITEM_ADDED = frozenset({"conversation.item.added", "conversation.item.created"})
_TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
_TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
_OUTPUT_DELTAS = frozenset(
    {
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "response.audio_transcript.delta",
        "response.text.delta",
    }
)
_OUTPUT_DONE = {
    "response.output_audio_transcript.done": "transcript",
    "response.audio_transcript.done": "transcript",
    "response.output_text.done": "text",
    "response.text.done": "text",
}
_MAX_TRACKED = 256  # output items whose text is kept for the blocklist
BLOCKED = "The guardrail blocked this turn."


@dataclass(frozen=True, slots=True)
class CheckText:
    """Check `text` (None: there is no text, e.g. a failed transcription) for item `key`."""

    key: str
    direction: Direction
    text: str | None


@dataclass(frozen=True, slots=True)
class GuardUpstream:
    text: str


@dataclass(frozen=True, slots=True)
class GuardClient:
    """An `error` event for the client: its code and message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class GuardEnd:
    """Too many blocks: end the session (`policy_violation`, close 1008)."""


GuardCommand = CheckText | GuardUpstream | GuardClient | GuardEnd


def _event(frame: str | bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return {}
    return event if isinstance(event, dict) else {}


def _input_text(item: Any) -> str | None:
    """The text of a user message item's `input_text` parts, if it has any."""
    if not isinstance(item, dict):
        return None
    parts = [
        part.get("text")
        for part in item.get("content") or ()
        if isinstance(part, dict) and part.get("type") == "input_text"
    ]
    texts = [text for text in parts if isinstance(text, str)]
    return " ".join(texts) if texts else None


class GuardrailGate:
    def __init__(
        self,
        *,
        prefix: str,
        refusal: str | None,
        max_violations: int,
        blocklist: Callable[[str], bool] | None,
        check_output: bool,
        delivered_ms: Callable[[str], int | None],
    ) -> None:
        self.commands: list[GuardCommand] = []
        self.muted: set[str] = set()  # output items no longer forwarded
        self.blocks = 0
        self._prefix = prefix  # the relay's own event ids: a secret prefix per session
        self._refusal = refusal
        self._max = max_violations
        self._blocklist = blocklist
        self._check_output = check_output
        self._delivered_ms = delivered_ms
        self._unmatched: list[str] = []  # text turns whose item id the upstream has not named
        self._item_of: dict[str, str] = {}  # text turn -> its item id
        self._delete_on_echo: set[str] = set()  # blocked text turns whose id is not known yet
        self._audio: set[str] = set()  # committed audio turns awaiting their transcript
        self._checking: set[str] = set()
        self._held: str | None = None
        self._output: dict[str, str] = {}
        self._seen: dict[str, None] = {}  # items already handled (GA echoes an item twice)
        self._ids = 0

    @property
    def pending(self) -> bool:
        return bool(self._audio or self._checking)

    def _event_id(self, what: str) -> str:
        self._ids += 1
        return f"{self._prefix}{what}_{self._ids}"

    # -- client frames ----------------------------------------------------------------

    def client(self, event_type: str, text: str) -> bool:
        """Told of each client frame about to go upstream; True means hold it (do not send)."""
        if event_type == "conversation.item.create":
            item = _event(text).get("item")
            said = (
                _input_text(item) if isinstance(item, dict) and item.get("role") == "user" else None
            )
            if said is not None:
                assert isinstance(item, dict)
                key = self._event_id("turn")
                given = item.get("id")
                if isinstance(given, str):
                    self._item_of[key] = given
                else:
                    self._unmatched.append(key)
                self._checking.add(key)
                self.commands.append(CheckText(key, "input", said))
        elif event_type == "response.create" and self.pending:
            if self._held is None:
                self._held = text
            return True
        return False

    # -- upstream frames --------------------------------------------------------------

    def is_muted(self, frame: str | bytes) -> bool:
        """Whether an audio delta (text, or its ASCII bytes) belongs to a muted item
        (called only while one is)."""
        if isinstance(frame, bytes):
            item_id = ascii_after(frame, b'"item_id":"')
        else:
            item_id = string_after(frame, '"item_id":"')
        if item_id is None:
            item_id = str(_event(frame).get("item_id"))
        return item_id in self.muted

    def upstream(self, event_type: str, frame: str) -> bool:
        """Told of an upstream frame; False means drop it (a muted item's). The core's
        audio fast path asks `is_muted` directly, only while an item is muted."""
        if event_type in _OUTPUT_DELTAS:
            return self._output_delta(frame)
        if event_type in _OUTPUT_DONE:
            return self._output_done(event_type, frame)
        if event_type in AUDIO_DELTAS:
            return not (self.muted and self.is_muted(frame))
        if event_type in _ITEM_ADDED:
            self._item_added(_event(frame))
        elif event_type == "input_audio_buffer.committed":
            item_id = _event(frame).get("item_id")
            if isinstance(item_id, str):
                self._audio.add(item_id)
        elif event_type in (_TRANSCRIBED, _TRANSCRIPTION_FAILED):
            event = _event(frame)
            item_id = event.get("item_id")
            if isinstance(item_id, str) and item_id in self._audio:
                self._audio.discard(item_id)
                transcript = event.get("transcript") if event_type == _TRANSCRIBED else None
                self._check(item_id, transcript if isinstance(transcript, str) else None)
        elif event_type == "error" and self._unmatched:
            self._unmatched.pop(0)  # most likely the client's item, refused upstream
        return True

    def _item_added(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            return
        item_id = item.get("id")
        text = _input_text(item) if item.get("role") == "user" else None
        if text is None or not isinstance(item_id, str) or item_id in self._seen:
            return  # not a user's text (audio turns wait for their transcript), or seen
        if len(self._seen) >= _MAX_TRACKED:
            del self._seen[next(iter(self._seen))]
        self._seen[item_id] = None
        if item_id in self._item_of.values():
            return  # a client item that named its own id
        if self._unmatched:  # the echo of the oldest text turn: now its id is known
            key = self._unmatched.pop(0)
            if key in self._checking:
                self._item_of[key] = item_id  # for a delete, should the check block it
            if key in self._delete_on_echo:
                self._delete_on_echo.discard(key)
                self._delete(item_id)

    def _check(self, item_id: str, text: str | None) -> None:
        self._checking.add(item_id)
        self.commands.append(CheckText(item_id, "input", text))

    # -- verdicts ---------------------------------------------------------------------

    def verdict(self, check: CheckText, allowed: bool) -> None:
        """The shell's answer to `check`."""
        if check.direction == "output":
            if not allowed:
                self._block_output(check.key)
            return
        self._checking.discard(check.key)
        if allowed:
            self._item_of.pop(check.key, None)
            if not self.pending:
                self._release()
            return
        self.blocks += 1
        self._held = None
        item_id = (
            self._item_of.pop(check.key, None) if check.key.startswith(self._prefix) else check.key
        )
        if item_id is not None:
            self._delete(item_id)
        else:
            self._delete_on_echo.add(check.key)
        self.commands.append(GuardClient("guardrail_blocked", BLOCKED))
        if self.blocks >= self._max:
            self.commands.append(GuardEnd())
            return
        if self._refusal:
            refusal = {
                "type": "response.create",
                "event_id": self._event_id("refusal"),
                "response": {
                    "conversation": "none",
                    "input": [],
                    "instructions": "Say exactly this sentence, and nothing else: " + self._refusal,
                },
            }
            self.commands.append(GuardUpstream(orjson.dumps(refusal).decode()))

    def _delete(self, item_id: str) -> None:
        delete = {"type": "conversation.item.delete", "event_id": self._event_id("delete")}
        delete["item_id"] = item_id
        self.commands.append(GuardUpstream(orjson.dumps(delete).decode()))

    def _release(self) -> None:
        """Every pending turn passed: answer, with the client's held request if any."""
        held, self._held = self._held, None
        text = (
            held
            or orjson.dumps(
                {"type": "response.create", "event_id": self._event_id("respond")}
            ).decode()
        )
        self.commands.append(GuardUpstream(text))

    # -- output -----------------------------------------------------------------------

    def _output_delta(self, frame: str) -> bool:
        item_id = string_after(frame, '"item_id":"')
        delta = string_after(frame, '"delta":"')
        if item_id is None or delta is None:  # escapes: read it properly
            event = _event(frame)
            item_id, delta = event.get("item_id"), event.get("delta")
        if not isinstance(item_id, str):
            return True
        if item_id in self.muted:
            return False
        if self._blocklist is None or not isinstance(delta, str):
            return True
        so_far = self._output.get(item_id, "") + delta
        if len(self._output) >= _MAX_TRACKED and item_id not in self._output:
            del self._output[next(iter(self._output))]
        self._output[item_id] = so_far
        if self._blocklist(so_far):
            self._block_output(item_id)
            return False
        return True

    def _output_done(self, event_type: str, frame: str) -> bool:
        event = _event(frame)
        item_id = event.get("item_id")
        if not isinstance(item_id, str):
            return True
        self._output.pop(item_id, None)
        if item_id in self.muted:
            return False
        text = event.get(_OUTPUT_DONE[event_type])
        if self._check_output and isinstance(text, str):
            self.commands.append(CheckText(item_id, "output", text))
        return True

    def _block_output(self, item_id: str) -> None:
        if item_id in self.muted:
            return
        self.muted.add(item_id)
        cancel = {"type": "response.cancel", "event_id": self._event_id("cancel")}
        self.commands.append(GuardUpstream(orjson.dumps(cancel).decode()))
        delivered = self._delivered_ms(item_id)
        if delivered is not None:
            truncate = {
                "type": "conversation.item.truncate",
                "event_id": self._event_id("truncate"),
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": delivered,
            }
            self.commands.append(GuardUpstream(orjson.dumps(truncate).decode()))
        self.commands.append(GuardClient("guardrail_blocked", "The guardrail stopped this answer."))
