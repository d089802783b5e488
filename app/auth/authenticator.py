"""Who the client is: one authenticator per `RELAY_AUTH` mode.

Authenticator (protocol)
├── StaticTokens   RELAY_AUTH=token
├── JwtVerifier    RELAY_AUTH=jwt
└── NoAuth         RELAY_AUTH=none (identity None; a loud warning)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from app.auth.caller import Caller
from app.auth.jwt import JwtVerifier
from app.auth.tokens import StaticTokens, parse_token_pairs
from app.errors import AuthError

if TYPE_CHECKING:
    from app.config import Settings

__all__ = ["AuthError", "Authenticator", "NoAuth", "build_authenticator"]


class Authenticator(Protocol):
    async def verify_caller(self, token: str) -> Caller:
        """The caller behind `token`. Raises `AuthError` with a generic message."""
        ...


class NoAuth:
    """Accepts everyone, with no identity."""


def build_authenticator(settings: Settings) -> Authenticator | NoAuth:
    """The authenticator for the configured mode (not yet started)."""
    if settings.auth == "token":
        return StaticTokens(parse_token_pairs(settings.auth_tokens))
    if settings.auth == "jwt":
        assert settings.jwt_issuer is not None
        assert settings.jwt_audience is not None
        return JwtVerifier(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            identity_claim=settings.jwt_identity_claim,
            agent_claim=settings.jwt_agent_claim,
            secret=settings.jwt_secret,
            jwks_url=settings.jwt_jwks_url,
        )
    return NoAuth()
