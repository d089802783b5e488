"""The HTTP side of server tools, against a real tool server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from app.tools.caller import ToolCaller, ToolOutcome, sign
from app.tools.spec import LoadedTool, ToolSpec
from tests.support.tool_server import ToolRequest, ToolServer, answer, hang, raw

SECRET = "s" * 40
PATHS = {
    "/ok": answer("shipped on Monday"),
    "/json": answer({"status": "shipped", "items": [1, 2]}),
    "/error": answer("boom", status=500),
    "/notjson": raw(b"<html>oops</html>"),
    "/nooutput": raw(b'{"result": "x"}'),
    "/huge": answer("x" * 2000),
    "/hang": hang(),
}


def tool(name: str, url: str, **fields: Any) -> LoadedTool:
    spec = ToolSpec(name=name, description="d", parameters={"type": "object"}, url=url, **fields)
    return LoadedTool(spec, dict(spec.headers))


@pytest.fixture
async def server() -> AsyncIterator[ToolServer]:
    async with ToolServer(dict(PATHS)) as tools:
        yield tools


class Seen:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ToolOutcome]] = []

    def __call__(self, name: str, outcome: ToolOutcome, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append((name, outcome))


@pytest.fixture
async def caller(server: ToolServer) -> AsyncIterator[tuple[ToolCaller, Seen]]:
    seen = Seen()
    tools = [tool(path.strip("/"), server.url(path), timeout_seconds=0.5) for path in PATHS]
    tools.append(tool("ok_headers", server.url("/ok"), headers={"Authorization": "Bearer t"}))
    caller = ToolCaller(tools, signing_secret=SECRET, max_output_bytes=1000, observe=seen)
    await caller.start()
    yield caller, seen
    await caller.aclose()


async def test_a_tool_gets_the_call_and_its_string_output_is_the_models(
    caller: tuple[ToolCaller, Seen], server: ToolServer
) -> None:
    """The body names the call, its parsed arguments, the session and the identity."""
    tools, seen = caller
    result = await tools.call("ok", "call_1", {"id": "42"}, "rs_1", "web")
    assert (result.output, result.outcome) == ("shipped on Monday", "ok")
    assert server.requests[0].json == {
        "name": "ok",
        "call_id": "call_1",
        "arguments": {"id": "42"},
        "session_id": "rs_1",
        "identity": "web",
    }
    assert seen.calls == [("ok", "ok")]


async def test_a_json_output_is_serialised(caller: tuple[ToolCaller, Seen]) -> None:
    """A non-string `output` reaches the model as its JSON text."""
    result = await caller[0].call("json", "c", {}, "rs_1", None)
    assert result.output == '{"status":"shipped","items":[1,2]}'


@pytest.mark.parametrize(
    ("name", "outcome", "output"),
    [
        ("error", "failed", '{"error":"tool_failed"}'),
        ("notjson", "failed", '{"error":"tool_failed"}'),
        ("nooutput", "failed", '{"error":"tool_failed"}'),
        ("huge", "failed", '{"error":"tool_failed"}'),
        ("hang", "timeout", '{"error":"tool_timeout"}'),
    ],
)
async def test_a_failing_tool_gives_an_error_output_and_nothing_of_its_answer(
    caller: tuple[ToolCaller, Seen], name: str, outcome: str, output: str
) -> None:
    """500, a non-JSON body, no `output`, an oversized output, a timeout: only the error code."""
    tools, seen = caller
    result = await tools.call(name, "c", {}, "rs_1", None)
    assert (result.output, result.outcome) == (output, outcome)
    assert seen.calls == [(name, outcome)]


async def test_arguments_that_are_not_an_object_are_never_sent(
    caller: tuple[ToolCaller, Seen], server: ToolServer
) -> None:
    """`invalid_arguments` without a request."""
    result = await caller[0].call("ok", "c", None, "rs_1", None)
    assert (result.output, result.outcome) == ('{"error":"invalid_arguments"}', "invalid_arguments")
    assert server.requests == []


async def test_the_signature_verifies_with_the_documented_recipe(
    caller: tuple[ToolCaller, Seen], server: ToolServer
) -> None:
    """HMAC-SHA256 of "<timestamp>.<body>" with the secret, hex, after `sha256=`."""
    await caller[0].call("ok_headers", "c", {"id": "1"}, "rs_1", None)
    request: ToolRequest = server.requests[0]
    timestamp = request.headers["X-Relay-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["X-Relay-Signature"] == "sha256=" + expected.hexdigest()
    assert request.headers["X-Relay-Signature"] == sign(SECRET, timestamp, request.body)
    assert request.headers["Authorization"] == "Bearer t"


async def test_cancelling_a_call_aborts_its_request(
    caller: tuple[ToolCaller, Seen], server: ToolServer
) -> None:
    """The tool server's handler is cancelled, and the outcome is `cancelled`."""
    tools, seen = caller
    task = asyncio.create_task(tools.call("hang", "c", {}, "rs_1", None))
    await server.wait_for(lambda: len(server.requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(server.abort_seen.wait(), 10)
    assert server.aborted == ["/hang"]
    assert seen.calls == [("hang", "cancelled")]


async def test_a_redirect_is_not_followed() -> None:
    """A 3xx answer is a failure: the relay never follows a tool server elsewhere."""

    async def redirect(_: ToolRequest) -> web.StreamResponse:
        raise web.HTTPFound("http://127.0.0.1:9/elsewhere")

    async with ToolServer({"/r": redirect}) as server:
        caller = ToolCaller(
            [tool("r", server.url("/r"))], signing_secret=None, max_output_bytes=100, observe=Seen()
        )
        await caller.start()
        try:
            result = await caller.call("r", "c", {}, "rs_1", None)
        finally:
            await caller.aclose()
    assert result.outcome == "failed"
    assert "X-Relay-Signature" not in server.requests[0].headers
