"""Static relay tokens (`RELAY_AUTH=token`), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from app.auth.caller import Caller
from app.errors import AuthError

__all__ = ["MIN_TOKEN_LENGTH", "StaticTokens", "parse_token_pairs"]

MIN_TOKEN_LENGTH = 16


def parse_token_pairs(pairs: Iterable[str], name: str = "RELAY_AUTH_TOKENS") -> dict[str, str]:
    """`RELAY_AUTH_TOKENS` (or `name`) entries (`identity:token`) as {token: identity}.

    Raises ValueError, naming the identity, for a malformed pair, a token
    shorter than `MIN_TOKEN_LENGTH`, or a token shared by two identities.
    """
    result: dict[str, str] = {}
    for pair in pairs:
        identity, sep, token = pair.partition(":")
        identity, token = identity.strip(), token.strip()
        if not sep or not identity:
            raise ValueError(f"{name} entries must be identity:token")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"{name}: the token for {identity!r} is shorter than {MIN_TOKEN_LENGTH} characters"
            )
        if token in result:
            raise ValueError(f"{name}: two identities share one token")
        result[token] = identity
    return result


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class StaticTokens:
    """Maps each configured token to its identity.

    Every configured token is compared on every attempt, as SHA-256 digests
    with `hmac.compare_digest`, so timing reveals neither which token came
    close nor its length.
    """

    def __init__(self, identities: Mapping[str, str]) -> None:
        self._entries = [(_digest(token), identity) for token, identity in identities.items()]

    async def verify_caller(self, token: str) -> Caller:
        return Caller(await self.verify(token))

    async def verify(self, token: str) -> str:
        presented = _digest(token)
        found: str | None = None
        for digest, identity in self._entries:
            if hmac.compare_digest(presented, digest):
                found = identity
        if found is None:
            raise AuthError("invalid token")
        return found
