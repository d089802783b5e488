"""A real relay on 127.0.0.1, started the way `python -m app` starts it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.launcher import RelayServer, build_server
from app.runtime import Runtime


@dataclass(frozen=True)
class RunningRelay:
    """A relay serving on `port`, with helpers to reach it."""

    port: int
    settings: Settings
    server: RelayServer

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Runtime:
        """The live runtime (credential, lifecycle, metrics) of the relay's app."""
        runtime: Runtime = self.server.app.state.runtime
        return runtime

    def ws_url(self, path: str = "/realtime") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


def make_settings(**values: Any) -> Settings:
    """Settings for a test relay on an ephemeral loopback port; no `.env` is read."""
    values.setdefault("host", "127.0.0.1")
    values.setdefault("port", 0)
    values.setdefault("auth", "none")
    return Settings(_env_file=None, **by_alias(values))


def by_alias(values: dict[str, Any]) -> dict[str, Any]:
    """Field names turned into the names `Settings` reads (the Azure fields have aliases)."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        alias = (
            Settings.model_fields[name].validation_alias if name in Settings.model_fields else None
        )
        if isinstance(alias, AliasChoices):
            alias = alias.choices[0]
        result[str(alias) if alias is not None else name] = value
    return result


@contextlib.asynccontextmanager
async def running_relay(
    settings: Settings, freeze_startup: bool = False
) -> AsyncIterator[RunningRelay]:
    """Serve the relay with uvicorn on a pre-bound loopback socket until exit
    (`freeze_startup` as `python -m app` does; it changes the whole test process)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = build_server(settings, freeze_startup)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    listening = asyncio.create_task(server.listening.wait())
    try:
        await asyncio.wait([task, listening], return_when=asyncio.FIRST_COMPLETED)
        if not server.listening.is_set():
            listening.cancel()
            task.result()
            raise RuntimeError("the relay stopped during startup")
        yield RunningRelay(port=port, settings=settings, server=server)
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def client(
    relay: RunningRelay, path: str = "/realtime", **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A plain `websockets` client connected to the relay."""
    async with connect(relay.ws_url(path), compression=None, open_timeout=5, **kwargs) as ws:
        yield ws
