"""Verify the bearer JWTs that untrusted browser clients present. Behaviour at the edges:

* The token header's ``alg`` picks the one key source, and ``jwt.decode`` is given exactly
  that one algorithm: ``HS256`` verifies only with ``secret``; ``RS256`` / ``ES256`` only with
  the JWKS key whose ``kid`` equals the header ``kid`` and whose type fits (RSA / EC P-256).
  Anything else (``none``, ``HS512``, ``PS256``, no ``alg``), or an ``alg`` whose key source is
  not configured, is refused. So is an RSA or HMAC key shorter than PyJWT's minimum.
* ``exp``, ``iss`` (equal to ``issuer``) and ``aud`` (``audience`` or a list containing it) are
  required; ``exp``, ``nbf``, ``iat`` allow ``leeway_seconds``. The ``identity_claim`` must be
  a non-empty string; it is the result.
* Every failure, malformed input included, raises ``AuthError("invalid token")`` with no
  chained exception. The reason is logged at DEBUG as a fixed phrase or PyJWT's exception
  class name; no part of the token is ever logged.
* JWKS keys are cached by ``kid``; keys without a ``kid``, not RSA or EC, with a ``use`` other
  than ``sig``, or that PyJWT cannot load are ignored. An unknown ``kid`` refetches the JWKS at
  most once per ``refetch_interval_seconds`` (the prefetch in ``start()`` and failed attempts
  count); concurrent callers share one in-flight fetch, which a caller's cancellation does not
  cancel. A failed fetch (network, timeout, non-2xx, bad JSON, no usable key) is logged at
  WARNING and keeps the old keys; a good one replaces them, so keys dropped upstream stop working.
* Before ``start()`` or after ``aclose()`` no fetch is attempted: HS256 and cached keys work.
* The constructor raises ``ValueError`` for an empty ``issuer``, ``audience`` or
  ``identity_claim``, for neither ``secret`` nor ``jwks_url``, and for a secret under 32 bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

import aiohttp
import jwt
import orjson

from app.auth.caller import Caller
from app.errors import AuthError

__all__ = ["AuthError", "JwtVerifier"]

logger = logging.getLogger(__name__)

_JWKS_KEY_TYPES: Final = {"RS256": "RSA", "ES256": "EC"}


class _Refused(Exception):
    """A refusal whose message is a fixed phrase, free of token content, for the DEBUG log."""


class JwtVerifier:
    """Verifies HS256 tokens with a shared secret and RS256/ES256 tokens with a JWKS."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        identity_claim: str = "sub",
        agent_claim: str | None = None,
        secret: str | None = None,
        jwks_url: str | None = None,
        refetch_interval_seconds: float = 30.0,
        leeway_seconds: float = 60.0,
        fetch_timeout_seconds: float = 5.0,
    ) -> None:
        if not issuer or not audience or not identity_claim:
            raise ValueError("issuer, audience and identity_claim must be non-empty")
        if secret is None and not jwks_url:
            raise ValueError("configure a secret, a jwks_url, or both")
        if secret is not None and len(secret.encode()) < 32:  # HS256's digest size (RFC 7518)
            raise ValueError("the HS256 secret must be at least 32 bytes")
        self._issuer = issuer
        self._audience = audience
        self._identity_claim = identity_claim
        self._agent_claim = agent_claim
        self._secret = secret
        self._jwks_url = jwks_url or None
        self._refetch_interval = refetch_interval_seconds
        self._leeway = leeway_seconds
        self._fetch_timeout = aiohttp.ClientTimeout(total=fetch_timeout_seconds)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._session: aiohttp.ClientSession | None = None
        self._fetch_task: asyncio.Task[None] | None = None
        self._last_fetch_attempt: float | None = None

    async def start(self) -> None:
        """Open the HTTP session and prefetch the JWKS; a failed prefetch is only logged."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._fetch_timeout)
        if self._jwks_url is not None:
            await self._refresh_keys()

    async def aclose(self) -> None:
        """Cancel any in-flight JWKS fetch and close the HTTP session."""
        task, self._fetch_task = self._fetch_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def verify(self, token: str) -> str:
        """Return the token's identity claim, or raise ``AuthError("invalid token")``."""
        identity = (await self.verify_caller(token)).identity
        assert identity is not None
        return identity

    async def verify_caller(self, token: str) -> Caller:
        """The token's caller: its identity claim, its claims, and the agent its agent claim
        pins (with `agent_claim` set). Raises ``AuthError("invalid token")``."""
        try:
            return await self._verify(token)
        except _Refused as exc:
            logger.debug("token refused: %s", exc)
        except jwt.PyJWTError as exc:
            logger.debug("token refused by PyJWT: %s", type(exc).__name__)
        except Exception as exc:  # malformed input must never escape as another type
            logger.debug("token refused on unexpected %s", type(exc).__name__)
        raise AuthError("invalid token")  # outside the handlers: nothing chained

    async def _verify(self, token: str) -> Caller:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        key: jwt.PyJWK | str
        if alg == "HS256":
            if self._secret is None:
                raise _Refused("HS256 token but no secret is configured")
            key, algorithm = self._secret, "HS256"
        elif alg in ("RS256", "ES256"):
            algorithm = "RS256" if alg == "RS256" else "ES256"  # a constant, not token data
            key = await self._jwks_key(header.get("kid"), algorithm)
        else:
            raise _Refused("algorithm not accepted")
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
            options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
        )
        identity = claims.get(self._identity_claim)
        if not isinstance(identity, str) or not identity:
            raise _Refused("identity claim missing or not a non-empty string")
        agent = claims.get(self._agent_claim) if self._agent_claim is not None else None
        if agent is not None and (not isinstance(agent, str) or not agent):
            raise _Refused("agent claim not a non-empty string")
        return Caller(identity, claims, agent)

    async def _jwks_key(self, kid: object, algorithm: str) -> jwt.PyJWK:
        if self._jwks_url is None:
            raise _Refused(f"{algorithm} token but no jwks_url is configured")
        if not isinstance(kid, str) or not kid:
            raise _Refused("no kid header")
        key = self._keys.get(kid)
        if key is None:
            await self._refresh_keys()
            key = self._keys.get(kid)
        if key is None:
            raise _Refused("no JWKS key for the kid")
        if key.key_type != _JWKS_KEY_TYPES[algorithm] or key.algorithm_name != algorithm:
            raise _Refused(f"the kid's JWKS key does not fit {algorithm}")
        return key

    async def _refresh_keys(self) -> None:
        """Join the in-flight fetch, or start one unless the last attempt was too recent."""
        task, session, url = self._fetch_task, self._session, self._jwks_url
        if task is None:
            if session is None or url is None:
                return  # not started, or closed: no attempt, and the interval stays open
            now = time.monotonic()
            last = self._last_fetch_attempt
            if last is not None and now - last < self._refetch_interval:
                return
            self._last_fetch_attempt = now
            task = self._fetch_task = asyncio.create_task(self._fetch_keys(session, url))
            task.add_done_callback(self._forget_fetch)
        await asyncio.wait([task])  # never raises the task's outcome; never cancels it

    def _forget_fetch(self, task: asyncio.Task[None]) -> None:
        if self._fetch_task is task:
            self._fetch_task = None

    async def _fetch_keys(self, session: aiohttp.ClientSession, url: str) -> None:
        try:
            self._keys = await self._download_keys(session, url)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            logger.warning("JWKS fetch from %s failed (%s); keeping the cached keys", url, reason)
        else:
            logger.info("loaded %d signing key(s) from %s", len(self._keys), url)

    @staticmethod
    async def _download_keys(session: aiohttp.ClientSession, url: str) -> dict[str, jwt.PyJWK]:
        async with session.get(url) as response:
            response.raise_for_status()
            document = orjson.loads(await response.read())
        if not isinstance(document, dict):
            raise ValueError("the JWKS is not a JSON object")
        keys: dict[str, jwt.PyJWK] = {}
        for key in jwt.PyJWKSet.from_dict(document):
            kid = key.key_id
            usable = key.key_type in ("RSA", "EC") and key.public_key_use in (None, "sig")
            if usable and isinstance(kid, str) and kid:
                keys[kid] = key
        if not keys:
            raise ValueError("the JWKS has no usable signing key with a kid")
        return keys
