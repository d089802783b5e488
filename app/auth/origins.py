"""The origin rule that closes cross-site WebSocket hijacking.

A request with an `Origin` header is allowed only when the origin is listed
in `RELAY_ALLOWED_ORIGINS` (or the list is `*`), or when it is the relay's own
origin: the same host and port as the request's `Host` header, with either
scheme. A request with no `Origin` (a server or SDK) is left to authentication.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

__all__ = ["origin_allowed"]

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _host_port(netloc: str, default_port: int) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else default_port


def origin_allowed(
    origin: str | None, host_header: str | None, scheme: str, allowed: Collection[str]
) -> bool:
    """Whether a request with these headers passes the origin rule."""
    if origin is None:
        return True
    if "*" in allowed or origin in allowed:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or host_header is None:
        return False
    own = _host_port(host_header, _DEFAULT_PORTS.get(scheme, 80))
    theirs = _host_port(parts.netloc, _DEFAULT_PORTS[parts.scheme])
    return own is not None and own == theirs
