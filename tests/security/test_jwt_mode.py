"""RELAY_AUTH=jwt through the real relay: signed tokens in, forged ones out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import orjson
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_event
from tests.support.settings import relay_settings

ISSUER = "https://issuer.example.com"
AUDIENCE = "realtime-relay"
SECRET = "an-hs256-secret-that-is-long-enough-0123456789"
KID = "key-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "exp": int(time.time()) + 300,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """The RSA key the JWKS publishes."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def jwks_url(rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[str]:
    """A JWKS endpoint on 127.0.0.1 publishing the RSA public key as `key-1`."""
    jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    jwk |= {"kid": KID, "use": "sig", "alg": "RS256"}

    async def keys(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/keys", keys)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/keys"
    finally:
        await runner.cleanup()


@pytest.fixture
async def relay(simulator: Simulator, jwks_url: str) -> AsyncIterator[RunningRelay]:
    """A relay that accepts RS256 tokens from the JWKS and HS256 tokens from the secret."""
    settings = make_settings(
        **relay_settings(simulator, "ga"),
        auth="jwt",
        jwt_jwks_url=jwks_url,
        jwt_secret=SECRET,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    async with running_relay(settings) as running:
        yield running


async def _status(relay: RunningRelay, token: str) -> int:
    try:
        async with connect(
            relay.ws_url(), additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=5
        ) as ws:
            await recv_event(ws)
            return 101
    except InvalidStatus as refused:
        status: int = refused.response.status_code
        return status


async def test_valid_rs256_and_hs256_tokens_are_accepted(
    relay: RunningRelay, rsa_key: rsa.RSAPrivateKey
) -> None:
    """A JWKS-signed RS256 token and a secret-signed HS256 token both open a session."""
    rs256 = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": KID})
    hs256 = jwt.encode(_claims(), SECRET, algorithm="HS256")
    assert await _status(relay, rs256) == 101
    assert await _status(relay, hs256) == 101


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(_claims(exp=int(time.time()) - 120), id="expired"),
        pytest.param(_claims(exp=None), id="no-exp"),
        pytest.param(_claims(iss="https://other-issuer.example.com"), id="wrong-issuer"),
        pytest.param(_claims(aud="someone-else"), id="wrong-audience"),
    ],
)
async def test_bad_claims_are_refused_with_401(
    relay: RunningRelay, simulator: Simulator, rsa_key: rsa.RSAPrivateKey, claims: dict[str, Any]
) -> None:
    """Expired tokens, missing exp, and the wrong issuer or audience get 401."""
    token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": KID})
    assert await _status(relay, token) == 401
    assert simulator.handshakes == []


async def test_alg_none_is_refused(relay: RunningRelay) -> None:
    """An unsigned token (`alg: none`) gets 401."""
    token = _unsigned({"alg": "none", "typ": "JWT"}, _claims(), None)
    assert await _status(relay, token) == 401


async def test_hs256_signed_with_the_jwks_public_key_is_refused(
    relay: RunningRelay, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The classic key-confusion forgery (HS256 keyed with the RSA public key) gets 401."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = _unsigned({"alg": "HS256", "typ": "JWT", "kid": KID}, _claims(), public_pem)
    assert await _status(relay, token) == 401


async def test_token_from_an_unknown_key_is_refused(relay: RunningRelay) -> None:
    """A token signed by a key the JWKS does not publish gets 401."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), stranger, algorithm="RS256", headers={"kid": KID})
    assert await _status(relay, token) == 401


async def test_unauthorized_body_does_not_say_what_was_wrong(
    relay: RunningRelay, rsa_key: rsa.RSAPrivateKey
) -> None:
    """An expired and a forged token get the very same 401 body."""
    expired = jwt.encode(
        _claims(exp=int(time.time()) - 120), rsa_key, algorithm="RS256", headers={"kid": KID}
    )
    forged = _unsigned({"alg": "none"}, _claims(), None)
    bodies = []
    for token in (expired, forged):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                relay.ws_url(), additional_headers={"api-key": token}, open_timeout=5
            ):
                pass
        bodies.append(refused.value.response.body)
    assert bodies[0] == bodies[1]
    assert orjson.loads(bodies[0] or b"{}")["error"]["code"] == "unauthorized"
