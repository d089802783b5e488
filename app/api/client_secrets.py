"""Client secrets, minted the way the OpenAI and Azure SDKs already ask for them.

    POST   /openai/v1/realtime/client_secrets   (alias /v1/realtime/client_secrets)
    DELETE /relay/client_secrets/<value>

Only a backend may call them: a `RELAY_BACKEND_TOKENS` token as `Authorization:
Bearer` or `api-key`; anything else gets 401, and without backend tokens both
answer 404. A secret opens the agent `session.model` names, as the end user
`X-Relay-Identity` names (prefixed with the backend's identity), with the
session values the request set pinned: the browser cannot change them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.agents import Caller, admits, merge_session
from app.agents.live import LiveAgent
from app.api.deps import RuntimeDep
from app.auth import AuthError
from app.client_secrets import (
    MintError,
    SecretRecord,
    SecretStoreFull,
    end_user,
    new_secret,
    parse_mint_request,
    secret_digest,
)
from app.policy.server import redact_session
from app.runtime import Runtime

__all__ = ["MINT_PATHS", "REVOKE_PATH", "router"]

logger = logging.getLogger(__name__)

MINT_PATHS = ("/openai/v1/realtime/client_secrets", "/v1/realtime/client_secrets")
REVOKE_PATH = "/relay/client_secrets/{value}"
_MAX_BODY_BYTES = 64 * 1024

router = APIRouter()


def api_error(error: MintError) -> JSONResponse:
    """An OpenAI-style error body: `{"error": {"message", "type", "code", "param"}}`."""
    kind = "invalid_request_error" if error.status < 500 else "server_error"
    body = {"message": error.message, "type": kind, "code": error.code, "param": error.param}
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse({"error": body}, status_code=error.status, headers=headers)


_NOT_FOUND = MintError(404, "not_found", "Not Found")


async def _backend_identity(request: Request, runtime: Runtime) -> str:
    """The backend's identity, from `Authorization: Bearer` or `api-key`. Raises `MintError`."""
    assert runtime.backend is not None
    authorization = request.headers.get("authorization", "")
    scheme, _, bearer = authorization.partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else request.headers.get("api-key")
    if token:
        try:
            return await runtime.backend.verify(token)
        except AuthError:
            pass
    raise MintError(401, "unauthorized", "A valid backend token is required.")


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            raise MintError(413, "invalid_request_error", "The request body is too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def _agent_for(runtime: Runtime, name: str | None, backend: str) -> LiveAgent:
    found = name if name in runtime.agents else runtime.default_agent
    if found is None:
        raise MintError(400, "agent_not_found", "No agent of that name.", "session.model")
    agent = runtime.agents[found]
    if not admits(agent.agent.callers, Caller(backend)):
        raise MintError(
            400, "agent_not_allowed", "This backend may not use that agent.", "session.model"
        )
    return agent


def effective_session(agent: LiveAgent, pinned: dict[str, Any]) -> dict[str, Any]:
    """The session a secret opens, redacted as session echoes are."""
    session = merge_session(agent.policy.enforced_session, pinned)
    return {"type": "realtime", "model": agent.name, **redact_session(session)}


async def mint(request: Request, runtime: RuntimeDep) -> Response:
    """Mint a client secret: `{"value": "ek_...", "expires_at": <epoch s>, "session": {...}}`."""
    try:
        if runtime.backend is None or runtime.secrets is None:
            raise _NOT_FOUND
        backend = await _backend_identity(request, runtime)
        wanted = parse_mint_request(await _body(request))
        user = end_user(request.headers.get("x-relay-identity"))
        agent = _agent_for(runtime, wanted.agent, backend)
        pinned = agent.policy.client_session(wanted.session)
        value = new_secret()
        expires_at = int(time.time()) + wanted.seconds
        identity = f"{backend}:{user}" if user else backend
        record = SecretRecord(
            secret_digest(value), agent.name, identity, backend, expires_at, pinned
        )
        try:
            await runtime.secrets.put(record)
        except SecretStoreFull:
            raise MintError(
                429, "too_many_client_secrets", "Too many client secrets are outstanding."
            ) from None
    except MintError as error:
        return api_error(error)
    logger.info(
        "client secret minted",
        extra={
            "fields": {
                "backend": backend,
                "agent": agent.name,
                "identity": identity,
                "expires_at": expires_at,
                "pinned_fields": sorted(pinned),
            }
        },
    )
    return JSONResponse(
        {"value": value, "expires_at": expires_at, "session": effective_session(agent, pinned)}
    )


@router.delete(REVOKE_PATH)
async def revoke(value: str, request: Request, runtime: RuntimeDep) -> Response:
    """Revoke a secret this backend minted, at once: 204, or 404 when there is none."""
    try:
        if runtime.backend is None or runtime.secrets is None:
            raise _NOT_FOUND
        backend = await _backend_identity(request, runtime)
        if not await runtime.secrets.revoke(secret_digest(value), backend):
            raise MintError(404, "client_secret_not_found", "No such client secret.")
    except MintError as error:
        return api_error(error)
    logger.info("client secret revoked", extra={"fields": {"backend": backend}})
    return Response(status_code=204)


for _path in MINT_PATHS:
    router.add_api_route(_path, mint, methods=["POST"])
