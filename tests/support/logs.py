"""Capturing the relay's log records in-process: every record, and its structured fields."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

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
