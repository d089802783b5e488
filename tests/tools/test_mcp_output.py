"""How an MCP tool result becomes the model's output, and MCP entries of the tools file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from mcp.types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
)

from app.tools.mcp import result_output
from app.tools.spec import LoadedMcpServer, ToolsFileError, load_tools

IMAGE = ImageContent(type="image", data="AAAA", mime_type="image/png")
RESOURCE = EmbeddedResource(
    type="resource", resource=TextResourceContents(uri="file:///x", text="secret file")
)


def text(value: str) -> TextContent:
    return TextContent(type="text", text=value)


@pytest.mark.parametrize(
    ("result", "output"),
    [
        (CallToolResult(content=[text("a"), text("b")]), "a\nb"),
        (CallToolResult(content=[text("chart:"), IMAGE]), "chart:\n[image omitted]"),
        (CallToolResult(content=[RESOURCE]), "[resource omitted]"),
        (CallToolResult(content=[], structured_content={"n": 1}), '{"n":1}'),
        (CallToolResult(content=[]), ""),
    ],
    ids=["texts", "image", "resource", "structured", "empty"],
)
def test_content_maps_to_text_with_other_types_described(
    result: CallToolResult, output: str
) -> None:
    """Text parts are joined; images and resources are described, never passed on."""
    assert result_output(result, 1000) == (output, "ok")


def test_an_error_result_is_tool_failed_with_its_text_cut_to_the_limit() -> None:
    """`isError`: {"error":"tool_failed","text":...}, the whole output within the limit."""
    output, outcome = result_output(CallToolResult(content=[text("x" * 500)], is_error=True), 100)
    assert outcome == "failed"
    assert len(output.encode()) <= 100
    parsed = orjson.loads(output)
    assert parsed["error"] == "tool_failed"
    assert parsed["text"].startswith("xxx")


def test_an_output_over_the_limit_is_tool_failed() -> None:
    assert result_output(CallToolResult(content=[text("x" * 101)]), 100) == (
        '{"error":"tool_failed"}',
        "failed",
    )


def write(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "tools.yaml"
    path.write_text(entries, encoding="utf-8")
    return path


MCP = "- {type: mcp, label: %s, url: '%s', allowed_tools: %s}\n"
WEBHOOK = (
    "- {name: kb__search, description: d, parameters: {type: object}, url: 'https://x.example'}\n"
)


def test_an_mcp_entry_loads_with_its_function_names(tmp_path: Path) -> None:
    entry = "- {type: mcp, label: kb, url: 'https://kb.example/mcp', headers: {X-Key: '${K}'}, allowed_tools: [search]}\n"
    [server] = load_tools(write(tmp_path, entry), {"K": "v"})
    assert isinstance(server, LoadedMcpServer)
    assert server.functions() == {"kb__search"}
    assert server.headers == {"X-Key": "v"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            MCP % ("k_b", "https://x.example/mcp", "[]"),
            "MCP server 'k_b': label: String should match",
        ),
        (MCP % ("kb", "http://x.example/mcp", "[]"), "MCP server 'kb': url: must use https://"),
        (MCP % ("kb", "https://x.example", "[]") * 2, "MCP server 'kb': label: declared twice"),
        (
            MCP % ("kb", "https://x.example", "['bad name']"),
            "allowed_tools: 'kb__bad name' is not a valid name",
        ),
        (
            WEBHOOK + MCP % ("kb", "https://x.example", "[search]"),
            "name: kb__search declared twice",
        ),
        ("- {type: mcp, url: 'https://x.example'}\n", "entry #1: label: Field required"),
    ],
)
def test_a_bad_mcp_entry_is_refused_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ToolsFileError) as caught:
        load_tools(path, {})
    assert message in str(caught.value)
