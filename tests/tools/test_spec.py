"""The tools file: what it may hold, and the message that names the file, tool and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tools.spec import LoadedTool, ToolsFileError, load_tools, session_tool_names
from tests.support.relay_process import run_relay_to_exit

GOOD = """
- name: lookup_order
  description: Look up an order by its id.
  parameters: {type: object, properties: {id: {type: string}}, required: [id]}
  url: https://orders.example/lookup
  headers: {Authorization: "Bearer ${ORDERS_TOKEN}", X-Team: support}
- {"name": "book_slot", "description": "Book.", "parameters": {"type": "object"},
   "url": "http://127.0.0.1:8100/book", "timeout_seconds": 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tools.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_its_env_references_resolved(tmp_path: Path) -> None:
    """Headers name env vars as ${NAME}; YAML and inline JSON entries both load."""
    tools = load_tools(write(tmp_path, GOOD), {"ORDERS_TOKEN": "t0ken"})
    assert all(isinstance(t, LoadedTool) for t in tools)
    webhooks = [t for t in tools if isinstance(t, LoadedTool)]
    assert [t.spec.name for t in webhooks] == ["lookup_order", "book_slot"]
    assert webhooks[0].headers == {"Authorization": "Bearer t0ken", "X-Team": "support"}
    assert webhooks[0].spec.timeout_seconds == 10
    assert webhooks[1].spec.function() == {
        "type": "function",
        "name": "book_slot",
        "description": "Book.",
        "parameters": {"type": "object"},
    }


ENTRY = "- {name: %s, description: d, parameters: {type: object}, url: %s%s}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ENTRY % ("bad name", "https://x.example", ""),
            "tool 'bad name': name: String should match",
        ),
        (ENTRY % ("t", "http://tools.example", ""), "tool 't': url: must use https://"),
        (ENTRY % ("t", "ftp://x", ""), "tool 't': url: must be an https:// URL"),
        (ENTRY % ("t", "https://u:p@x.example", ""), "tool 't': url: must not carry credentials"),
        (ENTRY % ("t", "https://x.example", ", timeout_seconds: 0"), "tool 't': timeout_seconds:"),
        (ENTRY % ("t", "https://x.example", ", extra: 1"), "tool 't': extra: Extra inputs"),
        (
            ENTRY % ("t", "https://x.example", ", headers: {X-Relay-Signature: x}"),
            "is set by the relay",
        ),
        (
            ENTRY % ("t", "https://x.example", ', headers: {A: "${NOT_SET_ANYWHERE}"}'),
            "tool 't': headers.A: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "- {name: t, description: d, url: 'https://x.example'}\n",
            "tool 't': parameters: Field required",
        ),
        (
            "- {name: t, description: d, parameters: {type: string}, url: 'https://x.example'}\n",
            "parameters: must be a JSON Schema object",
        ),
        (ENTRY % ("t", "https://x.example", "") * 2, "tool 't': name: t declared twice"),
        ("- 42\n", "tool #1: (entry): Input should be a valid dictionary"),
        ("name: t\n", "must hold a list of tools"),
        ("- [unclosed\n", "is not valid YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_the_tool_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    """Every problem names where it is."""
    path = write(tmp_path, text)
    with pytest.raises(ToolsFileError) as caught:
        load_tools(path, {})
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_server_tool_may_not_share_a_name_with_a_session_tool(tmp_path: Path) -> None:
    """A name also in RELAY_SESSION's tools would make a call ambiguous."""
    path = write(tmp_path, ENTRY % ("lookup", "https://x.example", ""))
    session = {"tools": [{"type": "function", "name": "lookup"}, "junk"]}
    with pytest.raises(ToolsFileError, match="also declared in the session's tools"):
        load_tools(path, {}, session_tool_names(session))


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolsFileError, match="cannot be read"):
        load_tools(tmp_path / "missing.yaml", {})


def test_session_tool_names_ignore_a_malformed_tools_value() -> None:
    assert session_tool_names({"tools": "nope"}) == set()


async def test_a_bad_tools_file_stops_python_m_app_with_status_2(tmp_path: Path) -> None:
    """The real launcher refuses to start and says which file, tool and field are wrong."""
    path = write(tmp_path, ENTRY % ("lookup_order", "http://tools.example", ""))
    returncode, stderr = await run_relay_to_exit(
        tmp_path, RELAY_UPSTREAM="simulator", RELAY_AUTH="none", RELAY_TOOLS_FILE=str(path)
    )
    assert returncode == 2
    message = stderr.decode()
    assert "invalid configuration: RELAY_TOOLS_FILE" in message
    assert f"{path}: tool 'lookup_order': url: must use https://" in message
    assert "Traceback" not in message


async def test_a_missing_tools_file_is_named_by_its_variable(tmp_path: Path) -> None:
    returncode, stderr = await run_relay_to_exit(
        tmp_path, RELAY_UPSTREAM="simulator", RELAY_TOOLS_FILE=str(tmp_path / "none.yaml")
    )
    assert returncode == 2
    assert b"RELAY_TOOLS_FILE does not exist" in stderr
