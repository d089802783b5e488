"""`python -m app`: uvicorn started programmatically, configured from the settings.

A bare `uvicorn` command line cannot carry the relay's WebSocket limits,
ping settings, proxy trust, logging and drain, so every way of starting the
relay (make run, the container, the end-to-end tests) goes through here.

Signals: the first SIGTERM or SIGINT starts the drain (`Lifecycle.drain`):
`/readyz` turns 503, new upgrades get 503, open sessions continue for up to
`RELAY_DRAIN_SECONDS`, then the rest get `server_shutting_down` and 1012, and
uvicorn stops. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import SettingsError

from app.agents import AgentsFileError
from app.config import CLOSE_AFTER_DRAIN_SECONDS, SERVER_SHUTDOWN_SECONDS, Settings, env_names
from app.guardrails.spec import GuardrailsError
from app.logs import logging_config
from app.main import create_app
from app.protocols import http_protocol, ws_protocol
from app.tools.spec import ToolsFileError

__all__ = [
    "RelayServer",
    "bind_sockets",
    "build_server",
    "describe_validation_error",
    "freeze_startup_objects",
    "main",
]

logger = logging.getLogger("app.launcher")


class RelayServer(uvicorn.Server):
    """uvicorn's server, plus a listening event and the relay's drain on SIGTERM."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: FastAPI,
        drain_seconds: float,
        freeze_startup: bool = False,
    ) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()
        # `python -m app` only: the process is the relay's alone (not a test's, say).
        self._freeze_startup = freeze_startup
        self._app = app
        self._drain_seconds = drain_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self.drain_task: asyncio.Task[None] | None = None

    @property
    def app(self) -> FastAPI:
        return self._app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if not self.should_exit:
            if self._freeze_startup:
                freeze_startup_objects()
            addresses = [
                sock.getsockname()[:2] for server in self.servers for sock in server.sockets
            ]
            logger.info(
                "relay listening",
                extra={"fields": {"addresses": [f"{host}:{port}" for host, port in addresses]}},
            )
            self.listening.set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_task is None and not self.should_exit and self._loop is not None:
            self._captured_signals.append(sig)
            self._loop.call_soon_threadsafe(self.begin_drain)
        else:
            super().handle_exit(sig, frame)

    def begin_drain(self) -> None:
        """Start the drain; uvicorn stops when it ends. Idempotent."""
        if self.drain_task is None:
            self.drain_task = asyncio.create_task(self._drain(), name="relay-drain")

    async def _drain(self) -> None:
        try:
            runtime = self._app.state.runtime
            await runtime.lifecycle.drain(self._drain_seconds, CLOSE_AFTER_DRAIN_SECONDS)
        finally:
            self.should_exit = True


def freeze_startup_objects() -> None:
    """Take what exists once the relay is started out of the garbage collector's reach.

    The app, its settings, the imported modules and their caches are some 130,000
    objects that live as long as the process; every full collection reads each of
    them again (35-95 ms each during startup, measured on the benchmark machine),
    a pause for every session at once. Collected once here (startup's own garbage),
    then frozen (`gc.freeze`): later collections read only what sessions create.
    """
    gc.collect()
    gc.freeze()


def build_config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    """The uvicorn config for these settings."""
    return uvicorn.Config(
        app=app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=http_protocol(settings.header_timeout_seconds),
        ws=ws_protocol(settings.backpressure_timeout_seconds),
        ws_max_size=settings.max_message_bytes,
        ws_max_queue=max(1, settings.max_buffered_bytes // settings.max_message_bytes),
        ws_ping_interval=settings.ping_interval_seconds,
        ws_ping_timeout=settings.ping_timeout_seconds,
        ws_per_message_deflate=False,
        # Forwarded headers are the app's own middleware's (RELAY_TRUSTED_PROXIES only).
        proxy_headers=False,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=int(SERVER_SHUTDOWN_SECONDS),
    )


def build_server(settings: Settings, freeze_startup: bool = False) -> RelayServer:
    """A uvicorn server for the relay, not yet started (`freeze_startup`: see
    `freeze_startup_objects`)."""
    app = create_app(settings)
    return RelayServer(build_config(settings, app), app, settings.drain_seconds, freeze_startup)


def bind_sockets(settings: Settings, config: uvicorn.Config) -> list[socket.socket]:
    """The listening sockets: the public one, and the metrics one when configured."""
    sockets = [config.bind_socket()]
    if settings.metrics_port is not None:
        metrics = socket.create_server((settings.host, settings.metrics_port))
        metrics.set_inheritable(True)
        sockets.append(metrics)
    return sockets


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the env var rather than the Python field."""
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        if loc in Settings.model_fields:
            loc = env_names(loc)[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc}: {message}" if loc else message)
    return "invalid configuration:\n  " + "\n  ".join(lines)


def main() -> int:
    """Read the settings, then serve until stopped. Exit status 2 for bad config."""
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(describe_validation_error(exc) + "\n")
        return 2
    except SettingsError as exc:  # an env value pydantic-settings could not decode
        sys.stderr.write(f"invalid configuration: {exc}\n")
        return 2
    try:
        server = build_server(settings, freeze_startup=True)
    except ToolsFileError as exc:
        sys.stderr.write(f"invalid configuration: RELAY_TOOLS_FILE: {exc}\n")
        return 2
    except AgentsFileError as exc:
        sys.stderr.write(f"invalid configuration: RELAY_AGENTS_FILE: {exc}\n")
        return 2
    except GuardrailsError as exc:
        sys.stderr.write(f"invalid configuration: RELAY_GUARDRAIL_BLOCKLIST_FILE: {exc}\n")
        return 2
    server.run(sockets=bind_sockets(settings, server.config))
    return 0
