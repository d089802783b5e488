"""The checks that run before the WebSocket upgrade, in order.

Host (400 `invalid_host` for a repeated Host header, 403 `host_not_allowed`),
origin (403 `origin_not_allowed`), then authentication (401 `unauthorized`),
then the agent (404 `agent_not_found`, 403 `agent_not_allowed`), then capacity
(503 `at_capacity`, 429 `too_many_sessions`). Each refusal is an HTTP status
with the JSON error body, never an opaque close.

A client secret (`ek_...`, minted by a backend) is a token in every carrier and
in every `RELAY_AUTH` mode, once `RELAY_BACKEND_TOKENS` is set.

The host rule closes DNS rebinding: with `RELAY_ALLOWED_HOSTS` set, only those
hosts are served; without it, a relay with `RELAY_AUTH=none` serves only
loopback hosts, so a remote page cannot drive a local demo relay.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from typing import Any

from fastapi import WebSocket

from app.agents import choose_agent, requested_agent
from app.agents.live import LiveAgent
from app.auth import (
    AuthError,
    Caller,
    NoAuth,
    find_token,
    origin_allowed,
    scope_query_credential,
)
from app.auth.carriers import QUERY_CREDENTIAL_KEY
from app.auth.forwarded import FORWARDED_HOST_KEY
from app.client_secrets import SECRET_PREFIX, secret_digest
from app.errors import Refusal
from app.net import host_of, is_loopback_host
from app.runtime import Runtime

__all__ = ["authenticate", "forget_request", "select_agent"]

_UNAUTHORIZED = "A valid relay token is required."


async def authenticate(websocket: WebSocket, runtime: Runtime) -> Caller:
    """Who the caller is (identity None with RELAY_AUTH=none). Raises `Refusal`."""
    headers = websocket.headers
    scope = websocket.scope
    settings = runtime.settings
    hosts = headers.getlist("host")
    if len(hosts) > 1:
        raise Refusal(400, "invalid_host", "The request has more than one Host header.")
    host = scope.get(FORWARDED_HOST_KEY) or (hosts[0] if hosts else None)
    if not _host_allowed(host, settings.allowed_hosts, settings.auth == "none"):
        raise Refusal(403, "host_not_allowed", "This host name is not served by the relay.")
    if not origin_allowed(
        headers.get("origin"), host, scope.get("scheme", "ws"), settings.allowed_origins
    ):
        raise Refusal(403, "origin_not_allowed", "This origin may not connect to the relay.")
    authenticator = runtime.authenticator
    token = find_token(headers, scope.get("subprotocols") or (), scope_query_credential(scope))
    if token and runtime.secrets is not None and token.startswith(SECRET_PREFIX):
        record = await runtime.secrets.get(secret_digest(token))
        if record is None:  # expired, revoked or never minted
            raise Refusal(401, "unauthorized", _UNAUTHORIZED)
        return Caller(record.identity, agent=record.agent, pinned=record.pinned, minted=True)
    if isinstance(authenticator, NoAuth):
        return Caller(None)
    if not token:
        raise Refusal(401, "unauthorized", _UNAUTHORIZED)
    try:
        return await authenticator.verify_caller(token)
    except AuthError:
        raise Refusal(401, "unauthorized", _UNAUTHORIZED) from None


def select_agent(websocket: WebSocket, runtime: Runtime, caller: Caller) -> LiveAgent:
    """The agent this connection opens. Raises `Refusal` (404, 403)."""
    requested = requested_agent(websocket.path_params.get("agent"), websocket.query_params)
    rules = {name: live.agent.callers for name, live in runtime.agents.items()}
    return runtime.agents[choose_agent(rules, runtime.default_agent, requested, caller)]


def _host_allowed(host: str | None, allowed: Collection[str], loopback_only: bool) -> bool:
    if allowed:
        return host is not None and ("*" in allowed or host_of(host) in allowed)
    if loopback_only:
        return host is not None and is_loopback_host(host_of(host))
    return True


def forget_request(scope: MutableMapping[str, Any]) -> None:
    """Let go of the request once its session is open: nothing reads it again.

    Its headers, the subprotocols it offered and the credential lifted from its
    query (the client's token among them) would otherwise stay in memory for
    the session's life, about 1.4 KiB per session. The lists are emptied in place:
    Starlette's `WebSocket.headers` holds the same headers list.
    """
    for key in ("headers", "subprotocols"):
        held = scope.get(key)
        if isinstance(held, list):
            held.clear()
    scope.pop(QUERY_CREDENTIAL_KEY, None)
