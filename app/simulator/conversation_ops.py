"""Handlers for ``conversation.item.create`` / ``.delete`` / ``.truncate`` / ``.retrieve``.

Each takes what it uses (the conversation, the dialect for ``create``, the client event) and
returns the server events; invalid input yields one ``error`` event and changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from app.simulator.audio import BYTES_PER_MS, b64encode, duration_ms
from app.simulator.dialect import NAMES, Dialect
from app.simulator.events import Event, error_event, new_id, server_event
from app.simulator.items import Conversation, StoredItem, user_input_of
from app.simulator.response import item_events

ITEM_TYPES: Final = frozenset({"message", "function_call", "function_call_output"})
ROLES: Final = frozenset({"user", "assistant", "system"})
AUDIO_PARTS: Final = frozenset({"input_audio", "audio", "output_audio"})


def error(event: Event, code: str, param: str | None, message: str) -> Event:
    """An ``error`` event answering client `event` (its ``event_id`` is echoed)."""
    return error_event(code, message, param=param, client_event_id=event.get("event_id"))


def _not_found(event: Event, param: str, item_id: Any) -> list[Event]:
    return [error(event, "item_not_found", param, f"Item with item_id not found: {item_id}")]


def emit(
    conversation: Conversation, dialect: Dialect, stored: StoredItem, previous_item_id: Any = None
) -> list[Event]:
    """Insert a complete item and return its announcement (plus GA ``item.done``).

    Raises KeyError when `previous_item_id` names no item.
    """
    previous = conversation.insert(stored, previous_item_id)
    events = item_events(dialect, stored.item, previous)
    if NAMES[dialect].item_lifecycle:
        events.append(
            server_event("conversation.item.done", previous_item_id=previous, item=stored.item)
        )
    return events


def create(conversation: Conversation, dialect: Dialect, event: Event) -> list[Event]:
    """Store ``event.item`` (assigning an ``id`` if absent) and announce it.

    The item is inserted after ``previous_item_id`` (``"root"`` = first; absent = last).
    Inline base64 ``audio`` of user ``input_audio`` parts is decoded and kept as the item's
    pcm so a later response can echo it.
    """
    raw = event.get("item")
    if not isinstance(raw, dict):
        return [error(event, "missing_required_parameter", "item", "Missing 'item'.")]
    item: Event = copy.deepcopy(raw)
    kind = item.get("type")
    if kind not in ITEM_TYPES:
        message = f"Invalid value: '{kind}'. Supported values are: {', '.join(sorted(ITEM_TYPES))}."
        return [error(event, "invalid_value", "item.type", message)]
    if kind == "message":
        if item.get("role") not in ROLES:
            message = f"Invalid value: '{item.get('role')}'. Expected user, assistant or system."
            return [error(event, "invalid_value", "item.role", message)]
        if not isinstance(item.get("content"), list):
            message = "Missing required parameter: 'item.content'."
            return [error(event, "missing_required_parameter", "item.content", message)]
    item_id = item.get("id") or new_id("item")
    if not isinstance(item_id, str):
        return [error(event, "invalid_type", "item.id", "'item.id' must be a string.")]
    if conversation.get(item_id) is not None:
        message = f"Item with id '{item_id}' already exists."
        return [error(event, "duplicate_item_id", "item.id", message)]
    item["id"] = item_id
    item["object"] = "realtime.item"
    item.setdefault("status", "completed")
    found = user_input_of(item)
    stored = StoredItem(item, found.pcm if found is not None else b"")
    try:
        return emit(conversation, dialect, stored, event.get("previous_item_id"))
    except KeyError:
        return _not_found(event, "previous_item_id", event.get("previous_item_id"))


def delete(conversation: Conversation, event: Event) -> list[Event]:
    """Remove an item by ``item_id`` and answer ``conversation.item.deleted``."""
    item_id = event.get("item_id")
    if not conversation.delete(item_id):
        return _not_found(event, "item_id", item_id)
    return [server_event("conversation.item.deleted", item_id=item_id)]


def truncate(conversation: Conversation, event: Event) -> list[Event]:
    """Cut an assistant item's audio at ``audio_end_ms`` and blank its transcript.

    ``audio_end_ms`` must be an integer between 0 and the item's audio length.
    """
    item_id = event.get("item_id")
    stored = conversation.get(item_id)
    if stored is None:
        return _not_found(event, "item_id", item_id)
    if stored.item.get("role") != "assistant":
        message = "Only assistant message items can be truncated."
        return [error(event, "invalid_value", "item_id", message)]
    index = event.get("content_index", 0)
    end = event.get("audio_end_ms")
    content = stored.item.get("content") or []
    if not isinstance(index, int) or not 0 <= index < max(1, len(content)):
        return [error(event, "invalid_value", "content_index", "Invalid content_index.")]
    if not isinstance(end, int) or not 0 <= end <= duration_ms(stored.pcm):
        message = f"audio_end_ms must be between 0 and {duration_ms(stored.pcm)}."
        return [error(event, "invalid_value", "audio_end_ms", message)]
    stored.pcm = stored.pcm[: end * BYTES_PER_MS]
    if index < len(content) and isinstance(content[index], dict):
        content[index]["transcript"] = ""
    return [
        server_event(
            "conversation.item.truncated", item_id=item_id, content_index=index, audio_end_ms=end
        )
    ]


def retrieve(conversation: Conversation, event: Event) -> list[Event]:
    """Answer ``conversation.item.retrieved`` with the item, its audio inline as base64."""
    item_id = event.get("item_id")
    stored = conversation.get(item_id)
    if stored is None:
        return _not_found(event, "item_id", item_id)
    item = copy.deepcopy(stored.item)
    if stored.pcm:
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") in AUDIO_PARTS:
                part["audio"] = b64encode(stored.pcm)
                break
    return [server_event("conversation.item.retrieved", item=item)]
