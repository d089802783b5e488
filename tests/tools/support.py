"""Building a relay with server tools in front of a tool server, for the end-to-end suites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.support.tool_server import ToolServer

__all__ = ["MARKER", "client_trace", "tools_file"]

MARKER = "MARKER-7Q3Z"  # only the tool's output holds it


def tools_file(
    directory: Path, server: ToolServer, timeout_seconds: float = 10, **paths: str
) -> Path:
    """A tools file with one tool per `name=path` on `server`."""
    tools = [
        {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            "url": server.url(path),
            "timeout_seconds": timeout_seconds,
        }
        for name, path in paths.items()
    ]
    path = directory / "tools.yaml"
    path.write_bytes(orjson.dumps(tools))  # JSON is valid YAML
    return path


def client_trace(frames: list[str], call_ids: list[str]) -> list[str]:
    """Every client frame that shows something of a server call."""
    signs = ("function_call", "response.function_call_arguments", *call_ids)
    return [frame for frame in frames if any(sign in frame for sign in signs)]


def answer_items(events: list[dict[str, Any]]) -> set[str]:
    """The ids of the assistant message items the client saw."""
    return {
        str(event["item"]["id"])
        for event in events
        if isinstance(event.get("item"), dict) and event["item"].get("type") == "message"
    }
