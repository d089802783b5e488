"""What the client may not name: the items and calls of the relay's server tools.

The session's `ToolTracker` fills it as calls happen; the client policy reads
it to refuse, with `item_not_allowed`, any client event that names one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Hidden"]


@dataclass(slots=True)
class Hidden:
    """Hidden item ids and server call ids."""

    items: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)

    def names_item(self, value: object) -> bool:
        return isinstance(value, str) and value in self.items

    def names_call(self, value: object) -> bool:
        return isinstance(value, str) and value in self.calls
