"""The HTTP calls to the operator's tool servers: one shared aiohttp session, bounded.

The call is `POST <url>` with `{"name", "call_id", "arguments", "session_id",
"identity"}`; with a signing secret it carries `X-Relay-Timestamp` and
`X-Relay-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. The answer
must be a 2xx JSON object with `output` (a string, or any JSON value, which is
serialised). Every other ending becomes an error output for the model,
`{"error":"tool_timeout" | "tool_failed" | "invalid_arguments"}`: no exception
text and no tool-server body ever reaches the model or the client, and nothing
of the arguments or the output is logged.

Cancelling `call` is safe: the HTTP request is aborted (the connection is
closed) and the outcome is `cancelled`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import aiohttp
import orjson
from mcp.types import RequestParamsMeta

from app.tools.mcp import McpConnection
from app.tools.spec import MCP_SEPARATOR, LoadedTool

__all__ = ["OUTCOMES", "ToolCaller", "ToolOutcome", "ToolResult", "sign"]

ToolOutcome = Literal["ok", "timeout", "failed", "invalid_arguments", "unavailable", "cancelled"]
OUTCOMES: tuple[ToolOutcome, ...] = (
    "ok",
    "timeout",
    "failed",
    "invalid_arguments",
    "unavailable",
    "cancelled",
)

_ERROR_OUTPUT: dict[ToolOutcome, str] = {
    "timeout": '{"error":"tool_timeout"}',
    "failed": '{"error":"tool_failed"}',
    "invalid_arguments": '{"error":"invalid_arguments"}',
    "unavailable": '{"error":"tool_unavailable"}',
    "cancelled": '{"error":"tool_failed"}',
}
_MAX_CONNECTIONS = 100  # across all sessions; further calls wait for a free connection
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What to tell the model (`output`) and how the call ended."""

    output: str
    outcome: ToolOutcome


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Relay-Signature` value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class _Failed(Exception):
    """The tool's answer cannot be used (the reason stays here, never in the output)."""


def _output_of(body: bytes, max_output_bytes: int) -> str:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _Failed("not JSON") from None
    if not isinstance(answer, dict) or "output" not in answer:
        raise _Failed("no output")
    output = answer["output"]
    text = output if isinstance(output, str) else orjson.dumps(output).decode()
    if len(text.encode()) > max_output_bytes:
        raise _Failed("output too large")
    return text


class ToolCaller:
    """Calls server tools for every session: webhooks over HTTP, MCP tools through their
    server's `McpConnection`. Built and closed in the lifespan.

    `observe(tool, outcome, seconds)` is told of every call's end, cancellations
    included (for the metrics).
    """

    def __init__(
        self,
        tools: Iterable[LoadedTool],
        *,
        signing_secret: str | None,
        max_output_bytes: int,
        observe: Callable[[str, ToolOutcome, float], None],
        mcp: Iterable[McpConnection] = (),
    ) -> None:
        self._tools: Mapping[str, LoadedTool] = {tool.spec.name: tool for tool in tools}
        self._mcp: Mapping[str, McpConnection] = {server.label: server for server in mcp}
        self._secret = signing_secret
        self._max_output = max_output_bytes
        # JSON escapes can make the body several times the output: read at most this much.
        self._max_body = 6 * max_output_bytes + 4096
        self._observe = observe
        self._http: aiohttp.ClientSession | None = None

    @property
    def names(self) -> frozenset[str]:
        """The server tools now: webhooks, and the MCP tools as last listed."""
        names = set(self._tools)
        for server in self._mcp.values():
            names.update(server.tools)
        return frozenset(names)

    def functions(self) -> list[dict[str, Any]]:
        """The session `tools` entries of every server tool now."""
        entries = [tool.spec.function() for tool in self._tools.values()]
        for server in self._mcp.values():
            entries += [tool.entry() for tool in server.tools.values()]
        return entries

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=_MAX_CONNECTIONS)
        self._http = aiohttp.ClientSession(connector=connector, raise_for_status=False)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def call(
        self,
        name: str,
        call_id: str,
        arguments: dict[str, Any] | None,
        session_id: str,
        identity: str | None,
    ) -> ToolResult:
        """Run one call; never raises except `CancelledError` (counted as `cancelled`)."""
        started = time.monotonic()
        outcome: ToolOutcome = "cancelled"
        try:
            if arguments is None:
                outcome = "invalid_arguments"
                return ToolResult(_ERROR_OUTPUT[outcome], outcome)
            label, _, mcp_tool = name.partition(MCP_SEPARATOR)
            server = self._mcp.get(label) if mcp_tool and name not in self._tools else None
            if server is not None:
                # An open map in MCP (`extra_items`), which mypy's TypedDict does not model.
                meta = cast(
                    RequestParamsMeta,
                    {"identity": identity, "session_id": session_id, "call_id": call_id},
                )
                output, outcome = await server.call(mcp_tool, arguments, meta)
                return ToolResult(output, outcome)
            try:
                output = await self._post(name, call_id, arguments, session_id, identity)
            except TimeoutError:
                outcome = "timeout"
            except (
                Exception
            ):  # any other end of the call is the tool's failure; never the session's
                outcome = "failed"
            else:
                outcome = "ok"
                return ToolResult(output, outcome)
            return ToolResult(_ERROR_OUTPUT[outcome], outcome)
        finally:
            self._observe(name, outcome, time.monotonic() - started)

    async def _post(
        self,
        name: str,
        call_id: str,
        arguments: dict[str, Any],
        session_id: str,
        identity: str | None,
    ) -> str:
        assert self._http is not None, "ToolCaller.start() was not awaited"
        tool = self._tools[name]
        body = orjson.dumps(
            {
                "name": name,
                "call_id": call_id,
                "arguments": arguments,
                "session_id": session_id,
                "identity": identity,
            }
        )
        headers = {**tool.headers, "Content-Type": "application/json"}
        if self._secret is not None:
            timestamp = str(int(time.time()))
            headers["X-Relay-Timestamp"] = timestamp
            headers["X-Relay-Signature"] = sign(self._secret, timestamp, body)
        timeout = aiohttp.ClientTimeout(total=tool.spec.timeout_seconds)
        async with self._http.post(
            tool.spec.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            if not 200 <= response.status < 300:
                raise _Failed(f"status {response.status}")
            answer = bytearray()
            async for chunk in response.content.iter_chunked(_READ_CHUNK):
                answer += chunk
                if len(answer) > self._max_body:
                    raise _Failed("body too large")
        return _output_of(bytes(answer), self._max_output)
