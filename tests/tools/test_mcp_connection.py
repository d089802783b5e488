"""One MCP server's connection on its own: keepalive, reconnects, listing, a real MCP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.tools.mcp import McpConnection
from app.tools.spec import LoadedMcpServer, McpServerSpec
from tests.support.mcp_server import MCP_MARKER, McpTestServer


@asynccontextmanager
async def connected(
    mcp: McpTestServer, allowed: list[str], changes: list[int]
) -> AsyncIterator[McpConnection]:
    spec = McpServerSpec(type="mcp", label="kb", url=mcp.url, allowed_tools=allowed)
    connection = McpConnection(
        LoadedMcpServer(spec, {}),
        max_output_bytes=1000,
        on_listed=lambda: changes.append(1),
        backoff_seconds=(0.05, 0.2),
        ping_seconds=0.1,
    )
    await connection.start()
    try:
        async with asyncio.timeout(60):  # a hang fails this test instead of stalling the run
            yield connection
    finally:
        await connection.aclose()


async def test_an_idle_connection_notices_a_server_gone_and_comes_back() -> None:
    """The keepalive ping finds the server gone without any call; then it reconnects."""
    changes: list[int] = []
    async with McpTestServer() as mcp, connected(mcp, ["lookup"], changes) as connection:
        await asyncio.wait_for(connection.wait_for(lambda c: c.available.is_set()), 10)
        assert set(connection.tools) == {"kb__lookup"}
        await mcp.stop()
        await asyncio.wait_for(connection.wait_for(lambda c: not c.available.is_set()), 10)
        output, outcome = await connection.call("lookup", {"id": "1"}, {})
        assert (output, outcome) == ('{"error":"tool_unavailable"}', "unavailable")
        await mcp.start()
        await asyncio.wait_for(connection.wait_for(lambda c: c.available.is_set()), 10)
        output, outcome = await connection.call("lookup", {"id": "2"}, {})
    assert (output, outcome) == (f"order 2: {MCP_MARKER}", "ok")
    assert changes == [1]  # the same tools after the reconnect: no second change


async def test_a_server_that_never_started_is_retried_until_it_answers() -> None:
    """Before the first listing the connection is unavailable and keeps trying."""
    changes: list[int] = []
    mcp = McpTestServer()
    await mcp.start()
    await mcp.stop()  # the port is known, nothing listens
    async with connected(mcp, ["lookup", "slow"], changes) as connection:
        assert not connection.listed.is_set()
        await mcp.start()
        try:
            await asyncio.wait_for(connection.listed.wait(), 10)
            assert sorted(connection.tools) == ["kb__lookup", "kb__slow"]
            assert connection.tools["kb__slow"].entry()["name"] == "kb__slow"
        finally:
            await mcp.stop()
