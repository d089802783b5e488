"""Helpers for the observability suite: log capture, /metrics scraping, scripted upstreams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from app.relay import USAGE_KINDS
from app.simulator import Simulator
from tests.e2e.conftest import relay_settings

ALICE = "alice-token-obs-0123456789"
BOB = "bob-token-obs-9876543210xx"
ORIGIN = "https://app.example.com"
SIM_KEY = "sim-api-key-obs-5f3a9c0e7d21"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator on an ephemeral loopback port that requires `SIM_KEY`."""
    async with Simulator(api_key=SIM_KEY) as sim:
        yield sim


def relay_values(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    """Settings values for a GA relay in front of `sim` with its api-key."""
    return relay_settings(sim, "ga", **{"azure_api_key": SIM_KEY, **overrides})


# -- log capture ---------------------------------------------------------------

_DEBUG_LOGGERS = (
    "",
    "app",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "websockets",
    "websockets.client",
    "websockets.server",
    "aiohttp",
    "aiohttp.client",
    "aiohttp.websocket",
)


class LogCapture(logging.Handler):
    """Keeps every record it sees; `wait_for` wakes on each new record."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if threading.get_ident() == self._thread:
            self._notify()
        else:
            self._loop.call_soon_threadsafe(self._notify)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 5.0) -> None:
        """Return once `predicate()` holds, re-checking after every new record."""
        async with asyncio.timeout(seconds):
            while not predicate():
                await self._changed.wait()

    def session_lines(self, message: str) -> list[logging.LogRecord]:
        """The `app.session` records with this message."""
        return [r for r in self.records if r.name == "app.session" and r.getMessage() == message]

    async def session_line(self, message: str, session_id: str | None = None) -> dict[str, Any]:
        """The fields of the (first) `app.session` line with `message`, waiting for it."""

        def matching() -> list[logging.LogRecord]:
            return [
                r
                for r in self.session_lines(message)
                if session_id is None or fields_of(r).get("session_id") == session_id
            ]

        await self.wait_for(lambda: bool(matching()))
        return fields_of(matching()[0])


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured `extra={"fields": ...}` of a record, or {}."""
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


@contextlib.contextmanager
def captured_logs(*, debug: bool = False) -> Iterator[LogCapture]:
    """A handler on the root logger; attach it only after the relay has configured logging.

    With `debug`, the root, `app`, `uvicorn`, `websockets` and `aiohttp` loggers are set to DEBUG
    for the duration and restored afterwards.
    """
    handler = LogCapture()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in _DEBUG_LOGGERS}
    if debug:
        for name in _DEBUG_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


# -- metrics -------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET `url`; the status and body text."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(url, headers=headers or {}) as response,
    ):
        return response.status, await response.text()


async def scrape(base_url: str, token: str | None = None) -> Samples:
    """Every sample of `GET /metrics`, keyed by name and labels."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    status, body = await get(f"{base_url}/metrics", headers)
    assert status == 200, body
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return sample(after, name, **labels) - sample(before, name, **labels)


# -- usage ---------------------------------------------------------------------


def usage_split(usage: dict[str, Any]) -> dict[str, int]:
    """A `response.usage` block as the relay's five token kinds."""
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    split = {
        "input_text": inputs.get("text_tokens", 0),
        "input_audio": inputs.get("audio_tokens", 0),
        "input_cached": inputs.get("cached_tokens", 0),
        "output_text": outputs.get("text_tokens", 0),
        "output_audio": outputs.get("audio_tokens", 0),
    }
    assert set(split) == set(USAGE_KINDS)
    return split


def usage_block(
    input_text: int, input_audio: int, input_cached: int, output_text: int, output_audio: int
) -> dict[str, Any]:
    """A `response.usage` block with the given split."""
    return {
        "total_tokens": input_text + input_audio + output_text + output_audio,
        "input_tokens": input_text + input_audio,
        "output_tokens": output_text + output_audio,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "cached_tokens": input_cached,
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }


# -- a scripted fake upstream -----------------------------------------------------

OnEvent = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


class ScriptedUpstream:
    """A tiny WebSocket server standing in for Azure: `on_event` answers each client event.

    `received` holds every parsed event in arrival order (the relay's enforced
    session.update first); `close_codes` the close code of each finished connection.
    """

    def __init__(self, on_event: OnEvent) -> None:
        self.received: list[dict[str, Any]] = []
        self.close_codes: list[int | None] = []
        self._on_event = on_event
        self._server: Server | None = None
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def received_types(self) -> list[str]:
        return [str(event.get("type")) for event in self.received]

    async def __aenter__(self) -> ScriptedUpstream:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 8.0) -> None:
        async with asyncio.timeout(seconds):
            while not predicate():
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                event = orjson.loads(message)
                self.received.append(event)
                self._notify()
                if event.get("event_id") == "relay_enforced_session":  # as Azure confirms it
                    await send_json(ws, {"type": "session.updated", "session": {}})
                await self._on_event(ws, event)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        self.close_codes.append(ws.close_code)
        self._notify()


async def send_json(ws: ServerConnection, event: dict[str, Any]) -> None:
    """Send a server event; like Azure's, it gets an `event_id` if the script gave none."""
    await ws.send(orjson.dumps({"event_id": f"event_{id(event):x}", **event}).decode())


# -- `python -m app` as a subprocess ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RelayProcess:
    """`python -m app` with a given environment; stdout lines are kept in `lines`."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "RELAY_HOST": "127.0.0.1",
            "RELAY_PORT": str(self.port),
            "RELAY_DRAIN_SECONDS": "1",
            **env,
        }
        self.cwd = cwd
        self.lines: list[str] = []
        self.stderr = b""
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def read_until(self, marker: str, seconds: float = 20.0) -> str:
        """Read stdout lines until one contains `marker`; returns that line."""
        assert self._proc is not None
        assert self._proc.stdout is not None
        async with asyncio.timeout(seconds):
            while True:
                raw = await self._proc.stdout.readline()
                if not raw:
                    raise AssertionError("the relay exited early:\n" + "".join(self.lines))
                line = raw.decode()
                self.lines.append(line)
                if marker in line:
                    return line

    async def stop(self) -> None:
        """SIGTERM, then keep the rest of stdout."""
        assert self._proc is not None
        if self._proc.returncode is None:
            self._proc.terminate()
        stdout, stderr = await asyncio.wait_for(self._proc.communicate(), 30)
        self.lines.extend(stdout.decode().splitlines(keepends=True))
        self.stderr = stderr

    async def __aenter__(self) -> RelayProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            env=self.env,
            cwd=self.cwd,  # no developer .env is read
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await self.read_until("relay listening")
        except BaseException:
            self._proc.kill()
            await self._proc.wait()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._proc is not None
        if self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()


@contextlib.asynccontextmanager
async def relay_process(env: dict[str, str], cwd: Path) -> AsyncIterator[RelayProcess]:
    async with RelayProcess(env, cwd) as process:
        yield process
