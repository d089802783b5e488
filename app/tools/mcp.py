"""The operator's MCP servers: the relay is their MCP client (the official `mcp` SDK).

One `McpConnection` per server, opened in the lifespan, holds a long-lived
client session over the Streamable HTTP transport. It lists the server's tools
at once and again on `notifications/tools/list_changed`, keeping only
`allowed_tools` (none when absent), each offered to the model as the function
`<label>__<tool>` with the server's description and input schema. A server
that goes away is reconnected with jittered exponential backoff; meanwhile its
calls answer `tool_unavailable` at once.

`call` maps the MCP result to the `function_call_output`: text parts joined,
other content described as `[<type> omitted]`, structured content (when there
is no content) as JSON, `isError` as `{"error":"tool_failed", "text": ...}`.
The caller's identity and the session id travel in the request's `_meta`.
Cancelling `call` is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
import orjson
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CONNECTION_CLOSED,
    INVALID_REQUEST,
    CallToolResult,
    PaginatedRequestParams,
    RequestParamsMeta,
    TextContent,
    ToolListChangedNotification,
)

from app.tools.spec import LoadedMcpServer

__all__ = ["McpConnection", "McpOutcome", "McpTool", "result_output"]

logger = logging.getLogger(__name__)

McpOutcome = Literal["ok", "timeout", "failed", "unavailable"]
_MAX_PAGES = 20  # tools/list pages read per listing
_FAILED = '{"error":"tool_failed"}'
_UNAVAILABLE = '{"error":"tool_unavailable"}'
# Errors the SDK makes up when the transport broke (the connection closed, or the server
# no longer knows the session, as after a restart), not answers of the server.
_TRANSPORT_ERRORS = frozenset({CONNECTION_CLOSED, INVALID_REQUEST})
_CLOSE_ATTEMPTS, _CLOSE_SECONDS = 3, 2.0  # stopping the session task at shutdown
_PING_SECONDS = 15.0  # an idle session is pinged this often, to notice a server gone


@dataclass(frozen=True, slots=True)
class McpTool:
    """One allowed tool of a server, as the model is offered it."""

    function: str  # <label>__<tool>
    name: str
    description: str
    parameters: dict[str, Any]

    def entry(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.function,
            "description": self.description,
            "parameters": self.parameters,
        }


def result_output(result: CallToolResult, max_output_bytes: int) -> tuple[str, McpOutcome]:
    """The model's output for an MCP tool result, bounded by `max_output_bytes`."""
    parts = [
        block.text if isinstance(block, TextContent) else f"[{block.type} omitted]"
        for block in result.content
    ]
    if parts:
        text = "\n".join(parts)
    elif result.structured_content is not None:
        text = orjson.dumps(result.structured_content).decode()
    else:
        text = ""
    if result.is_error:
        # The error, plus as much of the server's text as fits in the limit.
        room = max(0, max_output_bytes - len(_FAILED) - 16)
        cut = text.encode()[:room].decode(errors="ignore")
        return orjson.dumps({"error": "tool_failed", "text": cut}).decode(), "failed"
    if len(text.encode()) > max_output_bytes:
        return _FAILED, "failed"
    return text, "ok"


class McpConnection:
    """One MCP server's client session, kept open and listed; reconnects when it drops.

    `on_listed()` is called after every listing that changed the tools. `listed`
    is set once the first listing succeeded (for `/readyz`).
    """

    def __init__(
        self,
        server: LoadedMcpServer,
        *,
        max_output_bytes: int,
        on_listed: Callable[[], None],
        backoff_seconds: tuple[float, float] = (0.25, 15.0),
        ping_seconds: float = _PING_SECONDS,
    ) -> None:
        self.label = server.spec.label
        self._server = server
        self._allowed = frozenset(server.spec.allowed_tools)
        self._max_output = max_output_bytes
        self._on_listed = on_listed
        self._backoff = backoff_seconds
        self._ping_seconds = ping_seconds
        self.tools: Mapping[str, McpTool] = {}  # by function name
        self.listed = asyncio.Event()
        self.available = asyncio.Event()
        self._changed = asyncio.Event()  # set, and replaced, when `available` or `tools` change
        self._session: ClientSession | None = None
        self._wake = asyncio.Event()
        self._lost = False
        self._up = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"mcp-{self.label}")

    async def aclose(self) -> None:
        """Stop the session task, bounded: a cancel the SDK's task groups absorb is repeated."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True  # a cancel the SDK absorbs still ends the loop
        for _ in range(_CLOSE_ATTEMPTS):
            task.cancel()
            await asyncio.wait([task], timeout=_CLOSE_SECONDS)
            if task.done():
                break
        else:
            logger.error(
                "MCP session task did not stop", extra={"fields": {"mcp_server": self.label}}
            )
        if task.done() and not task.cancelled():
            with contextlib.suppress(BaseException):
                task.result()

    async def wait_for(self, predicate: Callable[[McpConnection], bool]) -> None:
        """Return once `predicate(self)` holds, checked after every change of state."""
        while not predicate(self):
            await self._changed.wait()

    def _state_changed(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _set_available(self, available: bool) -> None:
        if self.available.is_set() is available:
            return
        if available:
            self.available.set()
        else:
            self.available.clear()
        self._state_changed()

    async def call(
        self, tool: str, arguments: dict[str, Any], meta: RequestParamsMeta
    ) -> tuple[str, McpOutcome]:
        """Call `tool`; the output for the model and the outcome. Raises only on cancel."""
        session = self._session
        if session is None or not self.available.is_set():
            return _UNAVAILABLE, "unavailable"
        try:
            async with asyncio.timeout(self._server.spec.timeout_seconds):
                result = await session.call_tool(tool, arguments, meta=meta)
        except TimeoutError:
            return '{"error":"tool_timeout"}', "timeout"
        except MCPError as exc:
            if exc.code in _TRANSPORT_ERRORS:  # the SDK's word for a connection that broke
                self._connection_lost()
                return _UNAVAILABLE, "unavailable"
            return _FAILED, "failed"  # the server answered with a JSON-RPC error
        except Exception:  # the transport failed: the server is gone
            self._connection_lost()
            return _UNAVAILABLE, "unavailable"
        return result_output(result, self._max_output)

    # -- the session ------------------------------------------------------

    async def _run(self) -> None:
        low, high = self._backoff
        delay = low
        while not self._closing:
            try:
                await self._serve_session()
            except Exception as exc:
                if self._closing:
                    return
                logger.warning(
                    "MCP server unavailable; reconnecting",
                    extra={"fields": {"mcp_server": self.label, "error": type(exc).__name__}},
                )
            if self._up:
                delay = low  # the session was up: its first retry comes soon
            self._up = False
            self._set_available(False)
            self._session = None
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
            delay = min(delay * 2, high)

    async def _serve_session(self) -> None:
        # The SDK's own defaults: a long read timeout, as the server may hold a stream open.
        timeout = httpx2.Timeout(30.0, read=300.0)
        async with (
            httpx2.AsyncClient(headers=dict(self._server.headers), timeout=timeout) as http,
            streamable_http_client(self._server.spec.url, http_client=http) as streams,
            ClientSession(streams[0], streams[1], message_handler=self._on_message) as session,
        ):
            async with asyncio.timeout(self._server.spec.timeout_seconds):
                await session.initialize()
                self._lost = False
                await self._list(session)
            self._session = session
            self._up = True
            self._set_available(True)
            logger.info(
                "MCP server listed",
                extra={"fields": {"mcp_server": self.label, "tools": sorted(self.tools)}},
            )
            while True:
                try:
                    async with asyncio.timeout(self._ping_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    async with asyncio.timeout(self._ping_seconds):
                        await session.send_ping()  # an MCPError here means: reconnect
                    continue
                self._wake.clear()
                if self._lost:
                    raise ConnectionError("the MCP transport failed")
                async with asyncio.timeout(self._server.spec.timeout_seconds):
                    await self._list(session)

    async def _list(self, session: ClientSession) -> None:
        found: dict[str, McpTool] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params = PaginatedRequestParams(cursor=cursor) if cursor is not None else None
            page = await session.list_tools(params=params)
            for tool in page.tools:
                if tool.name in self._allowed:
                    function = self._server.spec.function_name(tool.name)
                    found[function] = McpTool(
                        function, tool.name, tool.description or "", dict(tool.input_schema)
                    )
            cursor = page.next_cursor
            if cursor is None:
                break
        changed = found != self.tools
        self.tools = found
        self.listed.set()
        if changed:
            self._on_listed()
        self._state_changed()

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            self._connection_lost()
        elif isinstance(message, ToolListChangedNotification):
            self._wake.set()

    def _connection_lost(self) -> None:
        self._lost = True
        self._set_available(False)
        self._wake.set()
