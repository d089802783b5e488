"""The mint request, checked: the body of `POST /openai/v1/realtime/client_secrets`.

The body is the OpenAI and Azure GA API's:

    {"expires_after": {"anchor": "created_at", "seconds": 600},
     "session": {"type": "realtime", "model": "<agent>", ...}}

`session.model` names the agent; the other session fields are what the secret
pins, once filtered by the agent's client policy. Pure: no I/O.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "DEFAULT_SECONDS",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "SECRET_PREFIX",
    "MintError",
    "MintRequest",
    "end_user",
    "new_secret",
    "parse_mint_request",
]

SECRET_PREFIX = "ek_"  # noqa: S105 - a prefix, not a secret
MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS = 10, 7200, 600
_MAX_BODY_BYTES = 64 * 1024
_END_USER = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")


class MintError(Exception):
    """A mint request the relay refuses: an HTTP status and an OpenAI-style error."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class MintRequest:
    agent: str | None  # session.model, when given
    seconds: int
    session: dict[str, Any] = field(default_factory=dict)  # without type and model


def _invalid(message: str, param: str | None = None) -> MintError:
    return MintError(400, "invalid_request_error", message, param)


def parse_mint_request(body: bytes) -> MintRequest:
    """The request in `body`, or raise `MintError` (400) saying what is wrong."""
    if len(body) > _MAX_BODY_BYTES:
        raise MintError(413, "invalid_request_error", "The request body is too large.")
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        raise _invalid("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _invalid("The request body must be a JSON object.")
    unknown = sorted(set(data) - {"expires_after", "session"})
    if unknown:
        raise _invalid(f"Unknown parameter: {unknown[0][:64]}.", unknown[0][:64])
    return MintRequest(
        agent=_model(data.get("session")),
        seconds=_seconds(data.get("expires_after")),
        session=_session(data.get("session")),
    )


def _seconds(expires: object) -> int:
    if expires is None:
        return DEFAULT_SECONDS
    if not isinstance(expires, dict):
        raise _invalid("`expires_after` must be an object.", "expires_after")
    if expires.get("anchor", "created_at") != "created_at":
        raise _invalid("`expires_after.anchor` must be 'created_at'.", "expires_after.anchor")
    seconds = expires.get("seconds", DEFAULT_SECONDS)
    if (
        not isinstance(seconds, int)
        or isinstance(seconds, bool)
        or not MIN_SECONDS <= seconds <= MAX_SECONDS
    ):
        raise _invalid(
            f"`expires_after.seconds` must be an integer from {MIN_SECONDS} to {MAX_SECONDS}.",
            "expires_after.seconds",
        )
    return seconds


def _model(session: object) -> str | None:
    if not isinstance(session, dict):
        return None
    model = session.get("model")
    if model is None:
        return None
    if not isinstance(model, str) or not model:
        raise _invalid("`session.model` must be a non-empty string.", "session.model")
    return model


def _session(session: object) -> dict[str, Any]:
    if session is None:
        return {}
    if not isinstance(session, dict):
        raise _invalid("`session` must be an object.", "session")
    if session.get("type", "realtime") != "realtime":
        raise _invalid("Only sessions of type 'realtime' can be minted.", "session.type")
    return {key: value for key, value in session.items() if key not in ("type", "model")}


def end_user(header: str | None) -> str | None:
    """The end user named by `X-Relay-Identity`, checked, or None when absent."""
    if header is None:
        return None
    if not _END_USER.match(header):
        raise _invalid(
            "X-Relay-Identity must be 1 to 128 letters, digits or ._@+- characters.",
            "X-Relay-Identity",
        )
    return header


def new_secret() -> str:
    """A new client secret: 256 random bits, URL- and subprotocol-safe, with the `ek_` prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)
