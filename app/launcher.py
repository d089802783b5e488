"""`python -m app`: uvicorn started programmatically, configured from the settings.

A bare `uvicorn` command line cannot carry the relay's WebSocket limits,
ping settings, proxy trust and logging, so every way of starting the relay
(make run, the container, the end-to-end tests) goes through here.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import uvicorn
from pydantic import ValidationError

from app.config import Settings, describe_validation_error
from app.logs import logging_config
from app.main import create_app

__all__ = ["RelayServer", "build_server", "main"]


class RelayServer(uvicorn.Server):
    """uvicorn's server, plus an event set once it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.listening.set()


def build_config(settings: Settings) -> uvicorn.Config:
    """The uvicorn config for these settings."""
    return uvicorn.Config(
        app=create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=settings.ping_interval_seconds,
        ws_ping_timeout=settings.ping_timeout_seconds,
        ws_per_message_deflate=False,
        proxy_headers=False,
        log_config=logging_config(settings.log_level),
        access_log=False,
        server_header=False,
        lifespan="on",
    )


def build_server(settings: Settings) -> RelayServer:
    """A uvicorn server for the relay, not yet started."""
    return RelayServer(build_config(settings))


def main() -> int:
    """Read the settings, then serve until stopped. Exit status 2 for bad config."""
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(describe_validation_error(exc) + "\n")
        return 2
    build_server(settings).run()
    return 0
