"""A real MCP server on 127.0.0.1, built with the `mcp` SDK (`MCPServer`, Streamable HTTP).

Its tools: `lookup(id)` (answers with `MCP_MARKER`, and records the request's
`_meta`), `slow()` (answers once `release` is set), `broken()` (a tool error),
`unlock()` (adds the tool `fresh` and tells the client the list changed), and
`admin()` (never in a relay's `allowed_tools`). `stop` and `start` again keep
the port, so a test can kill and restart it.
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.support.uvicorn_server import ListeningServer

__all__ = ["MCP_MARKER", "McpTestServer"]

MCP_MARKER = "MCP-MARK-5tR8"


class McpTestServer:
    """`async with McpTestServer() as mcp:`; the relay dials `mcp.url`."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.metas: list[dict[str, Any]] = []
        self.port = 0
        self._server: ListeningServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def _app(self) -> Any:
        server = MCPServer("relay-test")
        metas = self.metas
        release = self.release

        @server.tool()
        def lookup(id: str, ctx: Context) -> str:
            """Look up an order by its id."""
            metas.append(dict(ctx.request_context.meta or {}))
            return f"order {id}: {MCP_MARKER}"

        @server.tool()
        async def slow() -> str:
            """Answer once released."""
            await release.wait()
            return "slow done"

        @server.tool()
        def broken() -> str:
            """Always fails."""
            raise ToolError("the kb index is offline")

        @server.tool()
        async def unlock(ctx: Context) -> str:
            """Add the tool `fresh`, and say so."""
            server.add_tool(lambda: "fresh result", name="fresh", description="A new tool.")
            await ctx.session.send_tool_list_changed()
            return "unlocked"

        @server.tool()
        def admin() -> str:
            """Never offered by the relay."""
            return "admin"

        return server.streamable_http_app()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(), log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self._server = ListeningServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        listening = asyncio.create_task(self._server.listening.wait())
        await asyncio.wait([self._task, listening], return_when=asyncio.FIRST_COMPLETED, timeout=30)
        if not listening.done():
            listening.cancel()
            if not self._task.done():
                raise AssertionError("the MCP test server did not start within 30 s")
            self._task.result()

    async def stop(self) -> None:
        assert self._server is not None
        assert self._task is not None
        self.release.set()  # a held call must not keep the server from stopping
        self._server.should_exit = True
        self._server.force_exit = True
        await asyncio.wait([self._task], timeout=10)
        if not self._task.done():  # bounded: a stop that hangs fails the test, not CI
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)
            raise AssertionError("the MCP test server did not stop within 10 s")
        self.release = asyncio.Event()

    async def __aenter__(self) -> McpTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None and not self._task.done():
            await self.stop()
