"""Logging configuration for the relay and uvicorn's own loggers, all to stdout."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["StdoutHandler", "logging_config"]

_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is at emit time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        return None


def logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict routing every logger to stdout."""
    handler = {"()": StdoutHandler, "formatter": "text"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"text": {"format": _TEXT_FORMAT}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            "websockets": {"level": "WARNING", "handlers": [], "propagate": True},
            "azure": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }
