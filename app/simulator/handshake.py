"""Opening-handshake rules: which path, query and credentials the simulated Azure accepts."""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

import orjson

from app.simulator.dialect import GA_PATH, PREVIEW_PATH, Dialect

UNAUTHORIZED_BODY: Final = orjson.dumps(
    {
        "error": {
            "code": "401",
            "message": "Access denied due to invalid subscription key or wrong API endpoint.",
        }
    }
).decode()


@dataclass
class Handshake:
    """One handshake attempt as the simulator saw it, accepted (101) or refused."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Header names lower-cased; a repeated header keeps its last value."""
    status: int


@dataclass(frozen=True)
class Verdict:
    """The outcome of `judge`: `status` 101 means accept in `dialect` for deployment `model`."""

    status: int
    body: str = ""
    dialect: Dialect = "ga"
    model: str = ""


def _authorized(
    headers: dict[str, str],
    query: dict[str, str],
    api_key: str | None,
    bearer_tokens: Collection[str] | None,
) -> bool:
    if api_key is None and bearer_tokens is None:
        return True
    if api_key is not None:
        for offered in (headers.get("api-key"), query.get("api-key")):
            if offered is not None and hmac.compare_digest(offered.encode(), api_key.encode()):
                return True
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return bool(
        bearer_tokens is not None and scheme.lower() == "bearer" and token.strip() in bearer_tokens
    )


def judge(
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    *,
    api_key: str | None,
    bearer_tokens: Collection[str] | None,
) -> Verdict:
    """Decide a handshake the way Azure does, checking in this order.

    1. Unknown path -> 404.
    2. GA path with an ``api-version`` query parameter -> 401 (Azure refuses it).
    3. Credentials, when any are configured: ``api-key`` header (or ``api-key`` query
       parameter, which Azure also honours) equal to `api_key`, or ``Authorization: Bearer
       <t>`` with t in `bearer_tokens` (read at call time, so the set can change) -> else 401.
    4. Missing ``model`` (GA) or ``api-version``/``deployment`` (preview) -> 400.
    """
    if path not in (GA_PATH, PREVIEW_PATH):
        return Verdict(404, "Resource not found")
    if path == GA_PATH and "api-version" in query:
        return Verdict(401, UNAUTHORIZED_BODY)
    if not _authorized(headers, query, api_key, bearer_tokens):
        return Verdict(401, UNAUTHORIZED_BODY)
    if path == GA_PATH:
        model = query.get("model", "")
        if not model:
            return Verdict(400, "Missing required query parameter: model")
        return Verdict(101, dialect="ga", model=model)
    model = query.get("deployment", "")
    if not query.get("api-version") or not model:
        return Verdict(400, "Missing required query parameters: api-version and deployment")
    return Verdict(101, dialect="preview", model=model)
