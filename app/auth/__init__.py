"""Client trust: who may connect (tokens, JWTs) and from which web origins."""

from app.auth.authenticator import Authenticator, NoAuth, build_authenticator
from app.auth.caller import Caller
from app.auth.carriers import find_token, scope_query_credential
from app.auth.jwt import AuthError, JwtVerifier
from app.auth.middleware import QueryCredentialMiddleware
from app.auth.origins import origin_allowed
from app.auth.tokens import StaticTokens

__all__ = [
    "AuthError",
    "Authenticator",
    "Caller",
    "JwtVerifier",
    "NoAuth",
    "QueryCredentialMiddleware",
    "StaticTokens",
    "build_authenticator",
    "find_token",
    "origin_allowed",
    "scope_query_credential",
]
