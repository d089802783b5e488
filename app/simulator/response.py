"""One in-flight response: a deterministic reply streamed as batches of server events.

The reply depends only on the input:

* user text ``T`` -> text/transcript ``"You said: T"``; with audio output a 600 ms 440 Hz tone;
* user audio of N ms -> ``"I heard N milliseconds of audio."``; with audio output the user's
  own pcm16 echoed byte-exact in 4800-byte (100 ms) deltas;
* no user message at all -> ``"Hello from the realtime simulator."`` (and the tone);
* function calls and the answers to their outputs: see `app.simulator.calls`.

Text is streamed one word per delta (each delta carries the word and its trailing spaces).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from app.simulator.audio import b64encode, chunks, duration_ms, tone
from app.simulator.dialect import NAMES, Dialect, wants_audio
from app.simulator.events import Event, count_words, server_event, split_words
from app.simulator.items import Conversation, StoredItem, UserInput

GREETING = "Hello from the realtime simulator."


def compose_reply(
    user: UserInput | None, audio: bool, reply: str | None = None
) -> tuple[str, bytes]:
    """Return (text or transcript, output pcm16) for `user`; the pcm is b"" when not `audio`.

    A given `reply` (the answer to tool outputs) is spoken with the tone."""
    if reply is not None:
        return reply, tone() if audio else b""
    if user is None or user.text is not None:
        text = GREETING if user is None else f"You said: {user.text}"
        return text, tone() if audio else b""
    return f"I heard {duration_ms(user.pcm)} milliseconds of audio.", user.pcm if audio else b""


def transcription_usage(pcm: bytes, transcript: str) -> Event:
    """The deterministic ``usage`` of an input transcription, in the token form.

    Input audio tokens are milliseconds of audio // 100, as for responses; output
    tokens are the words of the transcript.
    """
    audio = duration_ms(pcm) // 100
    words = count_words(transcript)
    return {
        "type": "tokens",
        "total_tokens": audio + words,
        "input_tokens": audio,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
        "output_tokens": words,
    }


def compute_usage(
    dialect: Dialect, user: UserInput | None, output_text: str, output_pcm: bytes
) -> Event:
    """The deterministic ``response.usage`` block.

    * input text tokens = words in the user text answered (0 for audio or no input);
    * input audio tokens = milliseconds of user audio answered // 100;
    * output text tokens = words of text/transcript actually delivered;
    * output audio tokens = milliseconds of audio actually delivered // 50;
    * cached tokens are always 0; input/output/total tokens are the sums.
    """
    in_text = count_words(user.text) if user is not None and user.text is not None else 0
    in_audio = duration_ms(user.pcm) // 100 if user is not None else 0
    out_text = count_words(output_text)
    out_audio = duration_ms(output_pcm) // 50
    cached: dict[str, int] = {"text_tokens": 0, "audio_tokens": 0}
    if dialect == "ga":
        cached["image_tokens"] = 0
    return {
        "total_tokens": in_text + in_audio + out_text + out_audio,
        "input_tokens": in_text + in_audio,
        "output_tokens": out_text + out_audio,
        "input_token_details": {
            "text_tokens": in_text,
            "audio_tokens": in_audio,
            "cached_tokens": 0,
            "cached_tokens_details": cached,
        },
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }


def item_events(dialect: Dialect, item: Event, previous_item_id: str | None) -> list[Event]:
    """Events announcing a new conversation item.

    Both dialects send ``conversation.item.created``; GA then also sends
    ``conversation.item.added``. (GA's ``conversation.item.done`` is sent by the caller,
    immediately for complete items, at the end of the response for output items.)
    """
    events = [
        server_event("conversation.item.created", previous_item_id=previous_item_id, item=item)
    ]
    if NAMES[dialect].item_lifecycle:
        events.append(
            server_event("conversation.item.added", previous_item_id=previous_item_id, item=item)
        )
    return events


class StreamedRun:
    """What every simulated response shares: its id, `step` and `cancel`.

    A subclass sets `response`, `finished` and `_steps` (its `_generate()`), and
    defines `_finish(status)` and `_response_done()`.
    """

    response: Event
    finished: bool
    _steps: Generator[list[Event], None, None]

    @property
    def id(self) -> str:
        """The response id."""
        return str(self.response["id"])

    def step(self) -> list[Event] | None:
        """The next batch of events, or None once the run is finished."""
        return None if self.finished else next(self._steps, None)

    def cancel(self, reason: str) -> list[Event]:
        """Stop streaming and return ``response.done`` with status ``cancelled`` and usage."""
        self._steps.close()
        self._finish("incomplete")
        self.response["status"] = "cancelled"
        self.response["status_details"] = {"type": "cancelled", "reason": reason}
        return [self._response_done()]

    def _finish(self, status: str) -> None:
        raise NotImplementedError

    def _response_done(self) -> Event:
        raise NotImplementedError


class ResponseRun(StreamedRun):
    """Streams one response; `step` yields the next batch until `finished` is set.

    The first batch (``response.created`` ... ``response.content_part.added``) is meant to be
    sent synchronously with the ``response.create`` answer so a cancel can never precede it.
    With a `conversation`, the output item is inserted at the end of it right away and
    updated in place (status, content, audio); without one the response is out-of-band.
    """

    def __init__(
        self,
        dialect: Dialect,
        response: Event,
        user: UserInput | None,
        *,
        item_id: str,
        conversation: Conversation | None,
        reply: str | None = None,
    ) -> None:
        self.dialect = dialect
        self.names = NAMES[dialect]
        self.response = response
        self.user = user
        self.audio = wants_audio(dialect, response)
        self.text, self.pcm = compose_reply(user, self.audio, reply)
        self.words = split_words(self.text)
        self.item: Event = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.stored: StoredItem | None = None
        self.previous_item_id: str | None = None
        if conversation is not None:
            self.stored = StoredItem(self.item)
            self.previous_item_id = conversation.insert(self.stored)
        self.delivered_words = 0
        self.delivered_bytes = 0
        self.finished = False
        self._steps = self._generate()

    def _part(self, *, in_item: bool = False) -> dict[str, Any]:
        """The content part: typed `text`/`audio` in content-part events, as both dialects
        have it; inside the item, the dialect's content type (GA `output_text`/`output_audio`)."""
        text = "".join(self.words[: self.delivered_words])
        if self.audio:
            return {"type": self.names.audio_part if in_item else "audio", "transcript": text}
        return {"type": self.names.text_part if in_item else "text", "text": text}

    def _content_event(self, event_type: str, **fields: Any) -> Event:
        ids = {"response_id": self.id, "item_id": self.item["id"], "output_index": 0}
        return server_event(event_type, **ids, content_index=0, **fields)

    def _generate(self) -> Generator[list[Event], None, None]:
        ids = {"response_id": self.id, "output_index": 0}
        first = [
            server_event("response.created", response=self.response),
            server_event("response.output_item.added", **ids, item=self.item),
        ]
        if self.stored is not None:
            first += item_events(self.dialect, self.item, self.previous_item_id)
        first.append(self._content_event("response.content_part.added", part=self._part()))
        yield first
        pieces = chunks(self.pcm)
        delta_name = self.names.transcript_delta if self.audio else self.names.text_delta
        for index in range(max(len(pieces), len(self.words))):
            batch: list[Event] = []
            if index < len(pieces):
                batch.append(
                    self._content_event(self.names.audio_delta, delta=b64encode(pieces[index]))
                )
                self.delivered_bytes += len(pieces[index])
            if index < len(self.words):
                batch.append(self._content_event(delta_name, delta=self.words[index]))
                self.delivered_words += 1
            yield batch
        self._finish("completed")
        if self.audio:
            last = [
                self._content_event(self.names.audio_done),
                self._content_event(self.names.transcript_done, transcript=self.text),
            ]
        else:
            last = [self._content_event(self.names.text_done, text=self.text)]
        last += [
            self._content_event("response.content_part.done", part=self._part()),
            server_event("response.output_item.done", **ids, item=self.item),
        ]
        if self.stored is not None and self.names.item_lifecycle:
            last.append(
                server_event(
                    "conversation.item.done", previous_item_id=self.previous_item_id, item=self.item
                )
            )
        self.response["status"] = "completed"
        yield [*last, self._response_done()]

    def _finish(self, status: str) -> None:
        self.finished = True
        self.item["status"] = status
        self.item["content"] = [self._part(in_item=True)]
        self.response["output"] = [self.item]
        if self.stored is not None:
            self.stored.pcm = self.pcm[: self.delivered_bytes]

    def _response_done(self) -> Event:
        delivered = "".join(self.words[: self.delivered_words])
        pcm = self.pcm[: self.delivered_bytes]
        self.response["usage"] = compute_usage(self.dialect, self.user, delivered, pcm)
        return server_event("response.done", response=self.response)
