"""A real HTTP tool server on 127.0.0.1 (aiohttp), for the server-side tools tests.

Each path has a behaviour: an async function of the request that returns the
response. The server records every request (headers and raw body) and every
request whose handler was cancelled because the relay aborted it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

__all__ = ["ToolRequest", "ToolServer", "answer", "hang", "held"]

Behaviour = Callable[["ToolRequest"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ToolRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


def answer(output: Any, status: int = 200) -> Behaviour:
    """Answer `{"output": output}` with `status`."""

    async def behaviour(_: ToolRequest) -> web.StreamResponse:
        return web.json_response({"output": output}, status=status)

    return behaviour


def raw(body: bytes, status: int = 200) -> Behaviour:
    async def behaviour(_: ToolRequest) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type="application/json")

    return behaviour


def hang() -> Behaviour:
    """Never answer (until the request is aborted)."""

    async def behaviour(_: ToolRequest) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return behaviour


def held(release: asyncio.Event, output: Any) -> Behaviour:
    """Answer `output` once `release` is set."""

    async def behaviour(_: ToolRequest) -> web.StreamResponse:
        await release.wait()
        return web.json_response({"output": output})

    return behaviour


class ToolServer:
    """`async with ToolServer({"/lookup": answer("x")}) as tools:`; `tools.url("/lookup")`."""

    def __init__(self, behaviours: dict[str, Behaviour]) -> None:
        self.behaviours = behaviours
        self.requests: list[ToolRequest] = []
        self.aborted: list[str] = []
        self.abort_seen = asyncio.Event()
        self.changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._port}{path}"

    async def __aenter__(self) -> ToolServer:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        # handler_cancellation: a request the client aborts cancels its handler.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds), self.changed:
            await self.changed.wait_for(predicate)

    async def _record(self, update: Callable[[], None]) -> None:
        async with self.changed:
            update()
            self.changed.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = ToolRequest(request.path, dict(request.headers), await request.read())
        await self._record(lambda: self.requests.append(recorded))
        try:
            return await self.behaviours[request.path](recorded)
        except asyncio.CancelledError:
            self.aborted.append(request.path)  # without awaiting: the handler is being cancelled
            self.abort_seen.set()
            raise
