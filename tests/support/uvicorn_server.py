"""uvicorn for tests: a server with an event for "listening"."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

__all__ = ["ListeningServer"]


class ListeningServer(uvicorn.Server):
    """uvicorn, with an event for "listening"."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()
