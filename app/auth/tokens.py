"""Static relay tokens (`RELAY_AUTH=token`), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from app.auth.jwt import AuthError

__all__ = ["StaticTokens"]


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

    async def verify(self, token: str) -> str:
        presented = _digest(token)
        found: str | None = None
        for digest, identity in self._entries:
            if hmac.compare_digest(presented, digest):
                found = identity
        if found is None:
            raise AuthError("invalid token")
        return found
