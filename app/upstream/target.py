"""Where the upstream is: the realtime URL for the configured protocol version."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from app.policy.dialect import Dialect

__all__ = ["UpstreamTarget", "build_target"]

_WS_SCHEME = {"https": "wss", "wss": "wss", "http": "ws", "ws": "ws"}


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """The upstream realtime endpoint, fully resolved."""

    url: str
    host: str
    deployment: str
    api_version: str | None
    dialect: Dialect


def build_target(
    endpoint: str, deployment: str, api_version: str | None, dialect: Dialect
) -> UpstreamTarget:
    """GA: `/openai/v1/realtime?model=D`; preview: `/openai/realtime?api-version=V&deployment=D`.

    Only the endpoint's scheme and host are used; any path on it is ignored.
    """
    parts = urlsplit(endpoint)
    base = f"{_WS_SCHEME[parts.scheme]}://{parts.netloc}"
    if dialect.name == "ga":
        url = f"{base}/openai/v1/realtime?{urlencode({'model': deployment})}"
        version = None
    else:
        assert api_version is not None
        query = urlencode({"api-version": api_version, "deployment": deployment})
        url = f"{base}/openai/realtime?{query}"
        version = api_version
    return UpstreamTarget(
        url=url,
        host=parts.hostname or "",
        deployment=deployment,
        api_version=version,
        dialect=dialect,
    )
