"""The conversation: an ordered list of items, each with the raw pcm16 audio it carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.simulator.audio import b64decode
from app.simulator.events import Event


@dataclass
class StoredItem:
    """An item as the server reports it, plus its raw audio (input or output) if any."""

    item: Event
    pcm: bytes = b""

    @property
    def id(self) -> str:
        """The item's id (always assigned before storing)."""
        return str(self.item["id"])


@dataclass(frozen=True)
class UserInput:
    """What a response answers: the text of a user message, else its audio."""

    text: str | None
    pcm: bytes = b""


def user_input_of(item: Event, pcm: bytes = b"") -> UserInput | None:
    """Read the user input from a ``message`` item with role ``user``; None for other items.

    Text wins: if any ``input_text`` part exists, their texts joined with a space are the
    input. Otherwise the input is audio: `pcm` if given, else the decoded inline ``audio``
    of the ``input_audio`` parts (undecodable audio counts as none).
    """
    if item.get("type", "message") != "message" or item.get("role") != "user":
        return None
    parts = [p for p in item.get("content") or [] if isinstance(p, dict)]
    texts = [str(p.get("text", "")) for p in parts if p.get("type") == "input_text"]
    if texts:
        return UserInput(text=" ".join(texts))
    if not pcm:
        pcm = b"".join(_inline_audio(p) for p in parts if p.get("type") == "input_audio")
    return UserInput(text=None, pcm=pcm)


def _inline_audio(part: dict[str, Any]) -> bytes:
    audio = part.get("audio")
    if not isinstance(audio, str):
        return b""
    try:
        return b64decode(audio)
    except ValueError:
        return b""


@dataclass
class Conversation:
    """Ordered items with lookup by id; ``previous_item_id`` semantics follow the API."""

    items: list[StoredItem] = field(default_factory=list)

    def last_id(self) -> str | None:
        """Id of the last item, or None when the conversation is empty."""
        return self.items[-1].id if self.items else None

    def get(self, item_id: object) -> StoredItem | None:
        """The item with `item_id`, or None."""
        return next((s for s in self.items if s.id == item_id), None)

    def insert(self, stored: StoredItem, previous_item_id: object = None) -> str | None:
        """Insert `stored` after `previous_item_id` and return the id now preceding it.

        None appends at the end; ``"root"`` inserts first. An unknown id raises KeyError.
        """
        if previous_item_id is None:
            previous = self.last_id()
            self.items.append(stored)
            return previous
        if previous_item_id == "root":
            self.items.insert(0, stored)
            return None
        for index, existing in enumerate(self.items):
            if existing.id == previous_item_id:
                self.items.insert(index + 1, stored)
                return existing.id
        raise KeyError(previous_item_id)

    def delete(self, item_id: object) -> bool:
        """Remove the item with `item_id`; False when there was none."""
        stored = self.get(item_id)
        if stored is None:
            return False
        self.items.remove(stored)
        return True

    def last_user_input(self) -> UserInput | None:
        """The input of the most recent user message, or None if there is none."""
        for stored in reversed(self.items):
            found = user_input_of(stored.item, stored.pcm)
            if found is not None:
                return found
        return None
