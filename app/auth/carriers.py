"""Where a client's relay token can travel, and getting it out of a request.

A client sends its token as exactly one of:

- `Authorization: Bearer <t>`;
- `api-key: <t>` (Azure SDK clients, with the relay token as their "key");
- the subprotocol `openai-insecure-api-key.<t>` (browser SDKs);
- the query parameter `api-key` or `access_token` (browsers that cannot set headers).

Query credentials are lifted out of the ASGI scope by `QueryCredentialMiddleware`
before anything can log the query string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "QUERY_CREDENTIAL_KEY",
    "QUERY_TOKEN_PARAMS",
    "SUBPROTOCOL_TOKEN_PREFIX",
    "find_token",
    "split_query_credential",
]

QUERY_TOKEN_PARAMS = frozenset({"api-key", "access_token"})
SUBPROTOCOL_TOKEN_PREFIX = "openai-insecure-api-key."  # noqa: S105 - a prefix, not a secret
QUERY_CREDENTIAL_KEY = "relay.query_credential"


def split_query_credential(query_string: bytes) -> tuple[bytes, str | None]:
    """The query string without credential parameters, and the first credential found."""
    text = query_string.decode("latin-1")
    if "api-key" not in text and "access_token" not in text and "%" not in text:
        return query_string, None  # no name could decode to a credential parameter
    kept: list[tuple[str, str]] = []
    token: str | None = None
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name in QUERY_TOKEN_PARAMS:
            token = token or value
        else:
            kept.append((name, value))
    return urlencode(kept).encode("latin-1"), token


def find_token(
    headers: Mapping[str, str], subprotocols: Iterable[str], query_credential: str | None
) -> str | None:
    """The client's token from the first carrier present, or None."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    api_key = headers.get("api-key")
    if api_key is not None:
        return api_key.strip()
    for protocol in subprotocols:
        if protocol.startswith(SUBPROTOCOL_TOKEN_PREFIX):
            return protocol[len(SUBPROTOCOL_TOKEN_PREFIX) :]
    return query_credential


def scope_query_credential(scope: Mapping[str, Any]) -> str | None:
    """The credential `QueryCredentialMiddleware` lifted out of this request."""
    value = scope.get(QUERY_CREDENTIAL_KEY)
    return value if isinstance(value, str) else None
