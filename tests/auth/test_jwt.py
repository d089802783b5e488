"""JwtVerifier with real keys, real signatures and a real JWKS endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import orjson
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

import app.auth.jwt as jwt_module
from app.auth.jwt import AuthError, JwtVerifier

TENANT = "0b7f2a4e-5c1d-4e8f-9a3b-6d2c1e0f9a8b"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
AUDIENCE = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
SECRET = "hs256-test-secret-" + "x" * 46  # 64 bytes: long enough for the HS512 probe too

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
MakeVerifier = Callable[..., Awaitable[JwtVerifier]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HS256_HEADER = b64url(b'{"alg":"HS256"}')


def claims(*, drop: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    """Valid Entra-like v2 claims, with `overrides` applied and `drop` removed."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-sub",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "tid": TENANT,
        "preferred_username": "ada@contoso.example",
        "ver": "2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }
    values.update(overrides)
    for name in drop:
        del values[name]
    return values


def forge(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A hand-built compact JWS, HMAC-SHA256-signed with `hmac_key` or with an empty signature."""
    signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(payload))}"
    if hmac_key is None:
        return signing_input + "."
    digest = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(digest)}"


def self_signed_der(key: PrivateKey) -> bytes:
    """A self-signed certificate for `key`, as Entra publishes in each JWK's x5c."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """A private key, the kid and alg its tokens carry, and its public JWK."""

    kid: str
    alg: str
    private: PrivateKey

    def sign(self, payload: dict[str, Any], alg: str | None = None, kid: str | None = None) -> str:
        headers = {"kid": kid or self.kid}
        return jwt.encode(payload, self.private, algorithm=alg or self.alg, headers=headers)

    def jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        der = self_signed_der(self.private)
        thumbprint = b64url(hashlib.sha1(der).digest())  # noqa: S324 - x5t is SHA-1 by spec
        x5c = [base64.b64encode(der).decode()]
        return {**data, "kid": self.kid, "use": "sig", "x5t": thumbprint, "x5c": x5c, **extra}


@dataclasses.dataclass(frozen=True)
class Keys:
    rsa: SigningKey  # published from the start
    ec: SigningKey  # published from the start
    rotated: SigningKey  # published only after a rotation
    impostor: SigningKey  # never published; claims the kid of `rsa`


@pytest.fixture(scope="module")
def keys() -> Keys:
    """Three RSA-2048 keys and one EC P-256 key, generated once for this module."""

    def rsa_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return Keys(
        rsa=SigningKey("rsa-1", "RS256", rsa_key()),
        ec=SigningKey("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1())),
        rotated=SigningKey("rsa-2", "RS256", rsa_key()),
        impostor=SigningKey("rsa-1", "RS256", rsa_key()),
    )


class FakeClock:
    """Stands in for the module's `time`, so tests move its monotonic clock by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The verifier module's monotonic clock, frozen until a test advances it."""
    fake = FakeClock()
    monkeypatch.setattr(jwt_module, "time", fake)
    return fake


class JwksServer:
    """Serves `keys` (or a raw `body`) as a JWKS on 127.0.0.1 and counts the requests.

    Its port is bound from construction but refuses connections until `start()`.
    """

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.status = 200
        self.body: bytes | None = None
        self.requests = 0
        self.entered = asyncio.Event()  # set when a request arrives
        self.gate: asyncio.Event | None = None  # when set, requests wait for it before answering
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/discovery/v2.0/keys"
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/discovery/v2.0/keys", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()  # release held requests, even when a test failed before doing so
        if self._runner is not None:
            await self._runner.cleanup()
        self._sock.close()

    async def _serve(self, _request: web.Request) -> web.Response:
        self.requests += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        body = self.body if self.body is not None else orjson.dumps({"keys": self.keys})
        return web.Response(status=self.status, body=body, content_type="application/json")


@pytest.fixture
async def jwks(keys: Keys) -> AsyncIterator[JwksServer]:
    """A running JWKS endpoint publishing the `rsa` and `ec` keys."""
    server = JwksServer([keys.rsa.jwk(), keys.ec.jwk()])
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_verifier(clock: FakeClock) -> AsyncIterator[MakeVerifier]:
    """Builds and starts verifiers for ISSUER/AUDIENCE, and closes them afterwards."""
    started: list[JwtVerifier] = []

    async def make(**options: Any) -> JwtVerifier:
        verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, **options)
        await verifier.start()
        started.append(verifier)
        return verifier

    yield make
    for verifier in started:
        await verifier.aclose()


@pytest.fixture
async def verifier(make_verifier: MakeVerifier, jwks: JwksServer) -> JwtVerifier:
    """A started verifier accepting both HS256 (SECRET) and the JWKS's RS256/ES256 keys."""
    return await make_verifier(secret=SECRET, jwks_url=jwks.url)


async def assert_refused(verifier: JwtVerifier, token: str) -> None:
    with pytest.raises(AuthError) as caught:
        await verifier.verify(token)
    assert type(caught.value) is AuthError
    assert str(caught.value) == "invalid token"


def signed(keys: Keys, alg: str, payload: dict[str, Any]) -> str:
    """`payload` signed the way a legitimate issuer would for `alg`."""
    if alg == "HS256":
        return jwt.encode(payload, SECRET, algorithm="HS256")
    return (keys.rsa if alg == "RS256" else keys.ec).sign(payload)


# --- accepted tokens ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
async def test_valid_token_gives_its_subject(verifier: JwtVerifier, keys: Keys, alg: str) -> None:
    """A correctly signed token with valid claims yields its `sub`."""
    assert await verifier.verify(signed(keys, alg, claims())) == "user-sub"


@pytest.mark.parametrize(
    ("claim", "identity"),
    [
        pytest.param("oid", "00000000-0000-0000-66f3-3332eca7ea81", id="oid"),
        pytest.param("preferred_username", "ada@contoso.example", id="preferred_username"),
    ],
)
async def test_custom_identity_claim_is_returned(
    make_verifier: MakeVerifier, jwks: JwksServer, keys: Keys, claim: str, identity: str
) -> None:
    """With `identity_claim` set, that claim's value is the identity."""
    verifier = await make_verifier(jwks_url=jwks.url, identity_claim=claim)
    assert await verifier.verify(keys.rsa.sign(claims())) == identity


async def test_token_expired_within_leeway_is_accepted(verifier: JwtVerifier, keys: Keys) -> None:
    """A token that expired 30 s ago is still inside the 60 s leeway."""
    now = int(time.time())
    token = keys.rsa.sign(claims(exp=now - 30, iat=now - 600, nbf=now - 600))
    assert await verifier.verify(token) == "user-sub"


async def test_audience_list_containing_ours_is_accepted(verifier: JwtVerifier, keys: Keys) -> None:
    """An `aud` list is accepted when it contains our audience."""
    token = keys.rsa.sign(claims(aud=["https://graph.example", AUDIENCE]))
    assert await verifier.verify(token) == "user-sub"


def _public_numbers(key: SigningKey) -> dict[str, Any]:
    public = key.private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    data = RSAAlgorithm.to_jwk(public, as_dict=True)
    return {"n": data["n"], "e": data["e"]}


async def test_entra_style_jwks_with_many_keys_selects_by_kid(
    make_verifier: MakeVerifier, keys: Keys
) -> None:
    """Among several x5c/x5t keys plus unusable members, the key is chosen by the token's kid."""
    published = [
        keys.rotated.jwk(issuer=ISSUER),
        {"kty": "RSA", "kid": "enc-1", "use": "enc", **_public_numbers(keys.impostor)},
        {"kty": "oct", "kid": "oct-1", "k": b64url(SECRET.encode())},
        {"kty": "OKP", "kid": "okp-1", "crv": "X448", "x": "AAAA"},
        keys.rsa.jwk(issuer=ISSUER),
    ]
    server = JwksServer(published)
    await server.start()
    try:
        verifier = await make_verifier(jwks_url=server.url, identity_claim="oid")
        assert await verifier.verify(keys.rsa.sign(claims())) == claims()["oid"]
        assert await verifier.verify(keys.rotated.sign(claims(oid="o2"))) == "o2"
        await assert_refused(verifier, keys.impostor.sign(claims(), kid="enc-1"))
        await assert_refused(verifier, jwt.encode(claims(), SECRET, "HS256", {"kid": "oct-1"}))
        assert server.requests == 1  # the refused kids fell inside the refetch interval
    finally:
        await server.stop()


# --- refused claims ----------------------------------------------------------------------


def from_now(seconds: int) -> int:
    return int(time.time()) + seconds


@pytest.mark.parametrize(
    "make_payload",  # built at test time, so a long session cannot age the timestamps
    [
        pytest.param(
            lambda: claims(exp=from_now(-120), iat=from_now(-900), nbf=from_now(-900)),
            id="expired-120s",
        ),
        pytest.param(lambda: claims(drop=("exp",)), id="missing-exp"),
        pytest.param(lambda: claims(exp="tomorrow"), id="exp-not-a-number"),
        pytest.param(lambda: claims(iss=ISSUER.replace(TENANT, "other")), id="wrong-iss"),
        pytest.param(lambda: claims(iss=ISSUER + "/"), id="iss-trailing-slash"),
        pytest.param(lambda: claims(iss=ISSUER.upper()), id="iss-other-case"),
        pytest.param(lambda: claims(drop=("iss",)), id="missing-iss"),
        pytest.param(lambda: claims(aud="api://someone-else"), id="wrong-aud"),
        pytest.param(lambda: claims(aud=["api://a", "api://b"]), id="aud-list-without-ours"),
        pytest.param(lambda: claims(drop=("aud",)), id="missing-aud"),
        pytest.param(lambda: claims(aud=[]), id="empty-aud-list"),
        pytest.param(lambda: claims(nbf=from_now(600)), id="not-yet-valid-nbf"),
        pytest.param(lambda: claims(iat=from_now(600)), id="issued-in-the-future"),
    ],
)
@pytest.mark.parametrize("alg", ["RS256", "HS256"])
async def test_bad_claims_are_refused(
    verifier: JwtVerifier, keys: Keys, alg: str, make_payload: Callable[[], dict[str, Any]]
) -> None:
    """A correctly signed token with a missing, expired or mismatched claim is refused."""
    await assert_refused(verifier, signed(keys, alg, make_payload()))


@pytest.mark.parametrize(
    "oid",
    [
        pytest.param(None, id="null"),
        pytest.param("", id="empty"),
        pytest.param(42, id="number"),
        pytest.param(["a"], id="list"),
        pytest.param({"id": "a"}, id="object"),
    ],
)
async def test_identity_claim_not_a_non_empty_string_is_refused(
    make_verifier: MakeVerifier, jwks: JwksServer, keys: Keys, oid: object
) -> None:
    """An identity claim that is null, empty or not a string is refused."""
    verifier = await make_verifier(jwks_url=jwks.url, identity_claim="oid")
    await assert_refused(verifier, keys.rsa.sign(claims(oid=oid)))


async def test_missing_identity_claim_is_refused(verifier: JwtVerifier, keys: Keys) -> None:
    """A token without the identity claim (`sub`) is refused."""
    await assert_refused(verifier, keys.rsa.sign(claims(drop=("sub",))))


# --- refused algorithms and keys ---------------------------------------------------------


async def test_alg_none_is_refused(verifier: JwtVerifier) -> None:
    """An unsigned `alg: none` token with valid claims is refused."""
    for alg in ("none", "None", "NONE"):
        await assert_refused(verifier, forge({"alg": alg, "typ": "JWT"}, claims()))


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda k: jwt.encode(claims(), SECRET, "HS512"), id="HS512-with-secret"),
        pytest.param(lambda k: k.rsa.sign(claims(), alg="PS256"), id="PS256-with-jwks-key"),
        pytest.param(lambda k: k.rsa.sign(claims(), alg="RS384"), id="RS384-with-jwks-key"),
        pytest.param(lambda k: forge({"typ": "JWT"}, claims(), SECRET.encode()), id="missing-alg"),
        pytest.param(
            lambda k: forge({"alg": "hs256"}, claims(), SECRET.encode()), id="lowercase-hs256"
        ),
        pytest.param(
            lambda k: forge({"alg": ["HS256"]}, claims(), SECRET.encode()), id="alg-is-a-list"
        ),
    ],
)
async def test_unaccepted_algorithms_are_refused(
    verifier: JwtVerifier, keys: Keys, make_token: Callable[[Keys], str]
) -> None:
    """A token whose alg is not exactly HS256, RS256 or ES256 is refused even if its key verifies."""
    await assert_refused(verifier, make_token(keys))


@pytest.mark.parametrize("with_secret", [True, False], ids=["jwks-and-secret", "jwks-only"])
async def test_hs256_signed_with_the_rsa_public_key_is_refused(
    make_verifier: MakeVerifier, jwks: JwksServer, keys: Keys, with_secret: bool
) -> None:
    """HS256 forged with the JWKS's RSA public key PEM as the HMAC secret is refused."""
    verifier = await make_verifier(jwks_url=jwks.url, secret=SECRET if with_secret else None)
    pem = keys.rsa.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": keys.rsa.kid}
    await assert_refused(verifier, forge(header, claims(), pem))


async def test_hs256_is_refused_when_no_secret_is_configured(
    make_verifier: MakeVerifier, jwks: JwksServer
) -> None:
    """Without a configured secret, even a well-formed HS256 token is refused."""
    verifier = await make_verifier(jwks_url=jwks.url)
    await assert_refused(verifier, jwt.encode(claims(), SECRET, algorithm="HS256"))


async def test_rs256_is_refused_when_no_jwks_url_is_configured(
    make_verifier: MakeVerifier, keys: Keys
) -> None:
    """Without a configured JWKS, RS256 and ES256 tokens are refused."""
    verifier = await make_verifier(secret=SECRET)
    await assert_refused(verifier, keys.rsa.sign(claims()))
    await assert_refused(verifier, keys.ec.sign(claims()))


async def test_other_rsa_key_with_a_published_kid_is_refused(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys
) -> None:
    """A token signed by an unpublished key that claims a published kid is refused without a refetch."""
    await assert_refused(verifier, keys.impostor.sign(claims()))
    assert jwks.requests == 1


@pytest.mark.parametrize(
    ("alg", "kid"),
    [
        pytest.param("RS256", "ec-1", id="RS256-naming-an-EC-key"),
        pytest.param("ES256", "rsa-1", id="ES256-naming-an-RSA-key"),
    ],
)
async def test_key_type_must_fit_the_algorithm(
    verifier: JwtVerifier, keys: Keys, alg: str, kid: str
) -> None:
    """A token whose kid names a JWKS key of the wrong type for its alg is refused."""
    signer = keys.rsa if alg == "RS256" else keys.ec
    await assert_refused(verifier, signer.sign(claims(), kid=kid))


@pytest.mark.parametrize("headers", [None, {"kid": ""}], ids=["no-kid", "empty-kid"])
async def test_token_without_kid_is_refused_without_a_fetch(
    verifier: JwtVerifier,
    jwks: JwksServer,
    keys: Keys,
    clock: FakeClock,
    headers: dict[str, Any] | None,
) -> None:
    """An RS256 token with a missing or empty kid header is refused and fetches nothing."""
    clock.advance(31)
    token = jwt.encode(claims(), keys.rsa.private, algorithm="RS256", headers=headers)
    await assert_refused(verifier, token)
    assert jwks.requests == 1


# --- malformed input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="one-segment"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c", id="bad-base64"),
        pytest.param("a.b.c.d", id="four-segments"),
        pytest.param("." * 10_000, id="10kB-of-dots"),
        pytest.param("ü.ü.ü", id="non-ascii"),
        pytest.param("Bearer " + forge({"alg": "HS256"}, {}, b"k" * 32), id="bearer-prefix"),
        pytest.param(f"{b64url(b'[1]')}.e30.", id="header-json-array"),
        pytest.param(f"{b64url(b'{')}.e30.", id="header-truncated-json"),
        pytest.param(f"{b64url(b'[' * 100_000)}.e30.", id="header-deeply-nested"),
        pytest.param(b64url(b'{"alg":"RS256","kid":7}') + ".e30.", id="kid-not-a-string"),
        pytest.param(f"{HS256_HEADER}.!!!.sig", id="payload-not-base64"),
        pytest.param(forge({"alg": "HS256"}, {}, SECRET.encode())[:-2] + "==", id="bad-padding"),
    ],
)
async def test_garbage_raises_auth_error_only(verifier: JwtVerifier, token: str) -> None:
    """Malformed input raises AuthError and never another exception type."""
    await assert_refused(verifier, token)


async def test_payload_that_is_not_a_json_object_is_refused(verifier: JwtVerifier) -> None:
    """A correctly HMAC-signed token whose payload is a JSON list is refused."""
    signing_input = f"{HS256_HEADER}.{b64url(b'[1,2]')}"
    digest = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    await assert_refused(verifier, f"{signing_input}.{b64url(digest)}")


async def test_auth_error_chains_no_exception(verifier: JwtVerifier, keys: Keys) -> None:
    """The AuthError carries no cause or context that a traceback could leak."""
    for token in ("a.b.c", keys.impostor.sign(claims())):
        with pytest.raises(AuthError) as caught:
            await verifier.verify(token)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None


# --- JWKS caching and refetching ---------------------------------------------------------


async def test_unknown_kid_refetches_once_and_accepts_the_rotated_key(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys, clock: FakeClock
) -> None:
    """After a rotation, a token with the new kid triggers one refetch and is accepted."""
    assert jwks.requests == 1  # the prefetch in start()
    jwks.keys = [keys.rotated.jwk()]
    clock.advance(31)
    assert (
        await verifier.verify(keys.rotated.sign(claims(sub="after-rotation"))) == "after-rotation"
    )
    assert jwks.requests == 2
    assert await verifier.verify(keys.rotated.sign(claims())) == "user-sub"
    assert jwks.requests == 2


async def test_second_unknown_kid_within_interval_does_not_refetch(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys, clock: FakeClock
) -> None:
    """After a refetch, another unknown kid inside the interval is refused without fetching."""
    jwks.keys = [keys.rotated.jwk()]
    clock.advance(31)
    assert await verifier.verify(keys.rotated.sign(claims())) == "user-sub"
    assert jwks.requests == 2
    clock.advance(29)
    await assert_refused(verifier, keys.rotated.sign(claims(), kid="rsa-3"))
    assert jwks.requests == 2
    clock.advance(2)
    await assert_refused(verifier, keys.rotated.sign(claims(), kid="rsa-3"))
    assert jwks.requests == 3


async def test_unknown_kid_right_after_start_does_not_refetch(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys
) -> None:
    """The prefetch in start() opens the interval, so an immediate unknown kid is not fetched."""
    jwks.keys = [keys.rotated.jwk()]
    await assert_refused(verifier, keys.rotated.sign(claims()))
    assert jwks.requests == 1


async def test_refetch_drops_keys_no_longer_published(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys, clock: FakeClock
) -> None:
    """Once a refetch shows a key was rotated out, tokens signed with it are refused."""
    old_token = keys.rsa.sign(claims())
    assert await verifier.verify(old_token) == "user-sub"
    jwks.keys = [keys.rotated.jwk()]
    clock.advance(31)
    assert await verifier.verify(keys.rotated.sign(claims())) == "user-sub"
    await assert_refused(verifier, old_token)


@pytest.mark.parametrize("published", [True, False], ids=["kid-published", "kid-never-published"])
async def test_concurrent_unknown_kid_verifications_share_one_fetch(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys, clock: FakeClock, published: bool
) -> None:
    """Twenty simultaneous verifications of an unknown kid cause a single JWKS request."""
    if published:
        jwks.keys = [keys.rsa.jwk(), keys.rotated.jwk()]
    clock.advance(31)
    token = keys.rotated.sign(claims())
    results = await asyncio.gather(
        *(verifier.verify(token) for _ in range(20)), return_exceptions=True
    )
    assert jwks.requests == 2
    if published:
        assert results == ["user-sub"] * 20
    else:
        assert all(type(result) is AuthError for result in results)


async def test_cancelling_one_waiter_does_not_cancel_the_shared_fetch(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys, clock: FakeClock
) -> None:
    """A verification cancelled mid-fetch leaves the shared fetch running for the others."""
    jwks.keys = [keys.rsa.jwk(), keys.rotated.jwk()]
    jwks.gate, jwks.entered = asyncio.Event(), asyncio.Event()
    clock.advance(31)
    token = keys.rotated.sign(claims())
    cancelled = asyncio.create_task(verifier.verify(token))
    survivor = asyncio.create_task(verifier.verify(token))
    await asyncio.wait_for(jwks.entered.wait(), timeout=5)  # the shared fetch has begun
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    jwks.gate.set()
    assert await survivor == "user-sub"
    assert jwks.requests == 2


async def test_aclose_during_a_fetch_refuses_the_waiting_verification(
    verifier: JwtVerifier, jwks: JwksServer, keys: Keys, clock: FakeClock
) -> None:
    """Closing the verifier while a fetch is in flight turns the waiting verification into AuthError."""
    jwks.keys = [keys.rotated.jwk()]
    jwks.gate, jwks.entered = asyncio.Event(), asyncio.Event()
    clock.advance(31)
    waiting = asyncio.create_task(verifier.verify(keys.rotated.sign(claims())))
    await asyncio.wait_for(jwks.entered.wait(), timeout=5)  # the shared fetch has begun
    await asyncio.wait_for(verifier.aclose(), timeout=2)  # cancels, not waits out, the fetch
    with pytest.raises(AuthError):
        await waiting
    jwks.gate.set()
    assert await verifier.verify(keys.rsa.sign(claims())) == "user-sub"  # cached keys still work


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, b"oops", id="http-500"),
        pytest.param(200, b"<html>", id="not-json"),
        pytest.param(200, b"[]", id="json-array"),
        pytest.param(200, b'{"keys": []}', id="empty-key-set"),
        pytest.param(200, b'{"keys": [{"kty": "RSA", "kid": "x"}]}', id="no-usable-key"),
    ],
)
async def test_failed_refetch_keeps_the_cached_keys(
    verifier: JwtVerifier,
    jwks: JwksServer,
    keys: Keys,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: bytes,
) -> None:
    """A refetch that fails is logged as a warning and the previously fetched keys keep working."""
    jwks.status, jwks.body = status, body
    clock.advance(31)
    await assert_refused(verifier, keys.rotated.sign(claims()))
    assert jwks.requests == 2
    assert any(record.levelno == logging.WARNING for record in caplog.records)
    assert await verifier.verify(keys.rsa.sign(claims())) == "user-sub"
    assert await verifier.verify(keys.ec.sign(claims())) == "user-sub"


async def test_start_survives_a_down_jwks_endpoint_and_verify_recovers(
    make_verifier: MakeVerifier, keys: Keys, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """start() only logs a refused JWKS connection, and verification works once it is up."""
    server = JwksServer([keys.rsa.jwk()])  # bound but not listening: connections are refused
    try:
        verifier = await make_verifier(jwks_url=server.url, fetch_timeout_seconds=2.0)
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.name for r in warnings] == ["app.auth.jwt"]
        token = keys.rsa.sign(claims())
        await assert_refused(verifier, token)  # inside the interval: no new attempt yet
        await server.start()
        clock.advance(31)
        assert await verifier.verify(token) == "user-sub"
        assert server.requests == 1
    finally:
        await server.stop()


async def test_verify_before_start_refuses_jwks_tokens_but_accepts_hs256(
    jwks: JwksServer, keys: Keys
) -> None:
    """An unstarted verifier cannot fetch keys but still verifies HS256 with its secret."""
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=SECRET, jwks_url=jwks.url)
    await assert_refused(verifier, keys.rsa.sign(claims()))
    assert await verifier.verify(signed(keys, "HS256", claims())) == "user-sub"
    assert jwks.requests == 0
    await verifier.aclose()


# --- logging and configuration -----------------------------------------------------------


async def test_verifier_never_logs_the_token(
    verifier: JwtVerifier, keys: Keys, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No log record, at any level, contains a refused token or any of its segments."""
    caplog.set_level(logging.DEBUG, logger="app.auth.jwt")
    now = int(time.time())
    tokens = [
        keys.rsa.sign(claims(exp=now - 3600)),
        keys.rsa.sign(claims(aud="api://leaky-audience-value")),
        keys.impostor.sign(claims()),
        keys.rotated.sign(claims(), kid="kid-that-must-not-be-logged"),
        forge({"alg": "none"}, claims()),
        forge({"alg": "HS256", "crit": ["leaky-crit-extension"]}, claims(), SECRET.encode()),
        jwt.encode(claims(), "wrong-secret-" + "y" * 40, algorithm="HS256"),
        "garbage-token-that-must-not-be-logged",
    ]
    clock.advance(31)  # let the unknown kid trigger a refetch, which logs too
    for token in tokens:
        await assert_refused(verifier, token)
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) >= len(tokens)
    fragments = {part for token in tokens for part in token.split(".") if len(part) >= 8}
    fragments |= {"kid-that-must-not-be-logged", "leaky-audience-value", "leaky-crit-extension"}
    for record in caplog.records:
        message = record.getMessage()
        assert not any(token in message for token in tokens)
        assert not any(fragment in message for fragment in fragments)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"issuer": ISSUER, "audience": AUDIENCE}, id="no-key-source"),
        pytest.param(
            {"issuer": ISSUER, "audience": AUDIENCE, "secret": "x" * 31}, id="secret-too-short"
        ),
        pytest.param({"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": ""}, id="empty-jwks-url"),
        pytest.param({"issuer": "", "audience": AUDIENCE, "secret": SECRET}, id="empty-issuer"),
        pytest.param({"issuer": ISSUER, "audience": "", "secret": SECRET}, id="empty-audience"),
        pytest.param(
            {"issuer": ISSUER, "audience": AUDIENCE, "secret": SECRET, "identity_claim": ""},
            id="empty-identity-claim",
        ),
    ],
)
def test_unusable_configuration_is_rejected_at_construction(options: dict[str, Any]) -> None:
    """A verifier that could never accept a token, or would use a weak secret, fails fast."""
    with pytest.raises(ValueError, match=r"."):
        JwtVerifier(**options)
