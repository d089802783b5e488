"""Logging configuration for the relay and uvicorn's own loggers, all to stdout."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

__all__ = ["RedactCredentialsFilter", "StdoutHandler", "logging_config", "redact"]

_CREDENTIALS = re.compile(
    r"((?:api-key|api_key|access_token)=)[^&\s\"']*"  # query parameters
    r"|((?:authorization|api-key|x-identity-header)\s*:\s*).*"  # header lines at DEBUG
    r"|(openai-insecure-api-key\.)[^,\s\"']*",  # the browser subprotocol carrier
    re.IGNORECASE,
)


def _mask(match: re.Match[str]) -> str:
    return f"{match.group(1) or match.group(2) or match.group(3)}***"


def redact(message: str) -> str:
    """`message` with every credential-shaped value replaced by `***`."""
    return _CREDENTIALS.sub(_mask, message)


class RedactCredentialsFilter(logging.Filter):
    """Masks credentials in a record before any handler sees it.

    Attached to the loggers of uvicorn and websockets, whose lines carry
    query strings and, at DEBUG, every handshake header (the client's token,
    the relay's own api-key). The relay already strips query credentials from
    the scope; this is the second line of defence.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True

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
        "filters": {"redact": {"()": RedactCredentialsFilter}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"level": level, "filters": ["redact"], "propagate": True},
            "uvicorn.error": {"level": level, "filters": ["redact"], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "filters": ["redact"], "propagate": True},
            "websockets": {"level": "WARNING", "propagate": True},
            "websockets.client": {"filters": ["redact"], "propagate": True},
            "websockets.server": {"filters": ["redact"], "propagate": True},
            "azure": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }
