"""Logging: the configuration for the relay's and uvicorn's loggers (all to stdout), the
credential filter, and the startup summary of the settings."""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import orjson
from websockets.frames import Frame

from app.auth.tokens import parse_token_pairs
from app.tools.spec import LoadedMcpServer

if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.agents import Agent
    from app.config import Settings

__all__ = [
    "JsonFormatter",
    "RedactCredentialsFilter",
    "StdoutHandler",
    "TextFormatter",
    "logging_config",
    "redact",
    "settings_summary",
]

_SPURIOUS_DENIAL = "ASGI callable returned without completing handshake."


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus `extra["fields"]`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """Readable lines; `extra["fields"]` follow the message as key=value pairs."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            pairs = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
            line = f"{line} {pairs}"
        return line


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


_CREDENTIALS = re.compile(
    r"((?:api-key|api_key|access_token)=)[^&\s\"']*"  # query parameters
    r"|((?:authorization|api-key|x-identity-header)\s*:\s*).*"  # header lines at DEBUG
    r"|(openai-insecure-api-key\.)[^,\s\"']*",  # the browser subprotocol carrier
    re.IGNORECASE,
)


# Any query parameter whose name has an escape: it is decoded before it is judged.
_ESCAPED_PARAM = re.compile(r"([^=&\s\"'?]*%[^=&\s\"'?]*=)[^&\s\"']*")
_CREDENTIAL_NAMES = frozenset({"api-key", "api_key", "access_token"})


def _mask(match: re.Match[str]) -> str:
    return f"{match.group(1) or match.group(2) or match.group(3)}***"


def _mask_escaped(match: re.Match[str]) -> str:
    name = match.group(1)
    if unquote_plus(name[:-1]).lower() in _CREDENTIAL_NAMES:
        return f"{name}***"
    return match.group(0)


def redact(message: str) -> str:
    """`message` with every credential-shaped value replaced by `***`.

    Query parameter names are matched after percent-decoding, so `?api%2Dkey=`
    is masked like `?api-key=`.
    """
    message = _CREDENTIALS.sub(_mask, message)
    if "%" in message:
        message = _ESCAPED_PARAM.sub(_mask_escaped, message)
    return message


class RedactCredentialsFilter(logging.Filter):
    """Masks credentials, and drops frame dumps, before any handler sees a record.

    Attached to the loggers of uvicorn, websockets and aiohttp; uvicorn's and
    websockets' lines carry query strings and, at DEBUG, every handshake
    header (the client's token). The relay already strips query credentials from
    the scope; this is the second line of defence.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and isinstance(args[0], Frame):
            # websockets' DEBUG frame dumps ("< TEXT '...'") quote payloads: audio,
            # transcripts, instructions. Never let them out.
            return False
        message = record.getMessage()
        if message == _SPURIOUS_DENIAL:
            # uvicorn's sansio WebSocket protocol logs this after every HTTP denial
            # response (websocket.http.response), which the relay uses on purpose.
            return False
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


def logging_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict routing every logger to stdout."""
    handler = {"()": StdoutHandler, "formatter": log_format}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"text": {"()": TextFormatter}, "json": {"()": JsonFormatter}},
        "filters": {"redact": {"()": RedactCredentialsFilter}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"level": level, "filters": ["redact"], "propagate": True},
            "uvicorn.error": {"level": level, "filters": ["redact"], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "filters": ["redact"], "propagate": True},
            "websockets": {"level": "WARNING", "propagate": True},
            "websockets.server": {"filters": ["redact"], "propagate": True},
            "aiohttp": {"level": "WARNING", "propagate": True},
            "aiohttp.client": {"filters": ["redact"], "propagate": True},
            "aiohttp.websocket": {"filters": ["redact"], "propagate": True},
            "azure": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }


_NOT_SHOWN = frozenset({"instructions", "session", "auth_tokens", "backend_tokens"})


def _fingerprint(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}


def settings_summary(settings: Settings, agents: Iterable[Agent] = ()) -> dict[str, Any]:
    """The effective configuration for the startup log line.

    Secrets are masked as `***`; instructions appear only as their length and a
    hash, sessions as their keys, the tokens as their identities, and each agent
    as its public settings.
    """
    summary: dict[str, Any] = {}
    for name, info in type(settings).model_fields.items():
        if name in _NOT_SHOWN:
            continue
        value = getattr(settings, name)
        if not info.repr:
            value = "***" if value else None
        elif isinstance(value, Path):
            value = str(value)
        summary[name] = value
    summary["auth_identities"] = sorted(set(parse_token_pairs(settings.auth_tokens).values()))
    summary["backend_identities"] = sorted(
        set(parse_token_pairs(settings.backend_tokens, "RELAY_BACKEND_TOKENS").values())
    )
    summary["shutdown_budget_seconds"] = settings.shutdown_budget_seconds
    summary["agents"] = [
        {
            **agent.public(),
            "instructions": _fingerprint(agent.instructions),
            "session_fields": sorted(agent.session),
            "server_tools": sorted(
                name
                for tool in agent.tools
                for name in (
                    tool.functions() if isinstance(tool, LoadedMcpServer) else (tool.spec.name,)
                )
            ),
        }
        for agent in agents
    ]
    return summary
