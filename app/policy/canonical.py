"""One check, for every client event, that what is forwarded means one thing.

JSON parsers disagree on repeated keys (first or last wins), and some match
keys without regard to case. So a frame is forwarded only in a form that
every parser reads as the same event:

- **Repeated keys** at any depth, however spelled (`"\\u0074ype"` is `type`),
  are refused: the relay cannot know which one the client meant.
- **Case variants** of a known key (`"TYPE"`, `"Role"`) are refused.
- **Unknown keys** are removed, so only keys the relay knows reach the upstream.
- **Structure** is bounded: at most `MAX_DEPTH` levels and `MAX_NODES` keys
  and array elements in all.

The check is one walk over what orjson parsed, plus a count of the frame's
quote characters: every string in the document (keys and values) accounts
for two of them, so a repeated key that the parse folded away shows up as a
surplus. Without a backslash in the frame the count is exact with no further
work; with one, escaped quotes and backslashes are discounted first.

The original bytes may be forwarded only when nothing was removed and the
frame holds no backslash at all (so no key is spelled with escapes); any
other frame that passes is forwarded in orjson's canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.policy.shapes import FREE, Choice, Free, ListOf, Obj, Shape

__all__ = ["MAX_DEPTH", "MAX_NODES", "Checked", "Unfit", "check_event"]

MAX_DEPTH = 32
MAX_NODES = 10_000


class Checked:
    """The event as it may be forwarded; `exact` when the original bytes may go as they are."""

    __slots__ = ("event", "exact")  # a plain class: built for every frame, so kept cheap

    def __init__(self, event: dict[str, Any], exact: bool) -> None:
        self.event = event
        self.exact = exact


@dataclass(frozen=True, slots=True)
class Unfit:
    """Why the frame may not be forwarded in any form, and the key at fault."""

    message: str
    param: str | None = None


class _Stop(Exception):
    def __init__(self, unfit: Unfit) -> None:
        self.unfit = unfit


_TOO_DEEP = Unfit(f"The event is nested more than {MAX_DEPTH} levels deep.")
_TOO_BIG = Unfit(f"The event has more than {MAX_NODES} keys and array elements.")
_REPEATED = Unfit("The event repeats a key; send each key once.")


class _Walk:
    """Counts over one document: strings (keys and values) and nodes."""

    __slots__ = ("changed", "nodes", "strings")

    def __init__(self) -> None:
        self.strings = 0
        self.nodes = 0
        self.changed = False

    def value(self, value: Any, shape: Shape, depth: int) -> Any:
        """`value` with unknown keys removed (the same object when none were)."""
        if type(value) is str:
            self.strings += 1
            return value
        if type(value) is dict:
            if depth >= MAX_DEPTH:
                raise _Stop(_TOO_DEEP)
            self.nodes += len(value)
            self.strings += len(value)
            if self.nodes > MAX_NODES:
                raise _Stop(_TOO_BIG)
            if type(shape) is Choice:
                shape = shape.pick(value)
            if type(shape) is Obj:
                return self._known(value, shape, depth + 1)
            if len({key.lower() for key in value}) != len(value):
                # Case-insensitive parsers would merge these keys: two readings of one frame.
                raise _Stop(Unfit("An object repeats a key in another case."))
            for child in value.values():
                self.value(child, FREE, depth + 1)
            return value
        if type(value) is list:
            if depth >= MAX_DEPTH:
                raise _Stop(_TOO_DEEP)
            self.nodes += len(value)
            if self.nodes > MAX_NODES:
                raise _Stop(_TOO_BIG)
            item = shape.item if type(shape) is ListOf else FREE
            out = [self.value(element, item, depth + 1) for element in value]
            if any(new is not old for new, old in zip(out, value, strict=True)):
                return out
            return value
        return value  # numbers, booleans, null

    def _known(self, value: dict[str, Any], shape: Obj, depth: int) -> dict[str, Any]:
        fields = shape.fields
        kept: dict[str, Any] = {}
        same = True
        for key, child in value.items():
            sub = fields.get(key)
            if sub is None:
                if key.lower() in shape.folded:
                    raise _Stop(
                        Unfit(f"The key '{key[:64]}' differs from a known key in case.", key[:64])
                    )
                self.value(child, FREE, depth)  # counted, then left out
                same = False
                continue
            if type(sub) is Free and type(child) is str:
                self.strings += 1
                kept[key] = child
                continue
            new = self.value(child, sub, depth)
            kept[key] = new
            if new is not child:
                same = False
        if same:
            return value
        self.changed = True
        return kept


def _quotes(text: str | bytes) -> tuple[int, bool]:
    """The number of unescaped `"` in `text`, and whether it holds a backslash."""
    if isinstance(text, str):
        if "\\" not in text:
            return text.count('"'), False
        bare = text.replace("\\\\", "")
        return bare.count('"') - bare.count('\\"'), True
    if b"\\" not in text:
        return text.count(b'"'), False
    raw = text.replace(b"\\\\", b"")
    return raw.count(b'"') - raw.count(b'\\"'), True


def _compact_flat(text: str | bytes, event: dict[str, Any], shape: Obj) -> bool:
    """Whether `text` is exactly `event`'s known string pairs, compact and unescaped.

    The cheap proof for the common flat events (appends above all): with no
    backslash, each pair takes `len(key) + len(value) + 6` characters at the
    least, so a text of exactly that length has no room for another key.
    """
    if type(text) is not str:
        return False
    fields = shape.fields
    size = 1
    for key, value in event.items():
        if type(value) is not str or key not in fields:
            return False
        size += len(key) + len(value) + 6
    return size == len(text) and "\\" not in text


def check_event(text: str | bytes, event: dict[str, Any], shape: Obj) -> Checked | Unfit:
    """Check one parsed event against its shape and its own text. Never raises.

    `event` must be what orjson parsed from `text`, which must be valid JSON:
    backslashes then occur only inside strings, so the quote count is exact.
    """
    if _compact_flat(text, event, shape):
        return Checked(event, exact=True)
    walk = _Walk()
    try:
        checked = walk.value(event, shape, 0)
    except _Stop as stop:
        return stop.unfit
    quotes, escaped = _quotes(text)
    if quotes != 2 * walk.strings:
        return _REPEATED
    return Checked(checked, exact=not (walk.changed or escaped))
