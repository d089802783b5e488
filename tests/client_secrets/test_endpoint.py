"""The mint and revoke endpoints of a real relay, and a secret's life as a client token."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from app.client_secrets import MemorySecretStore
from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_until
from tests.support.logs import captured_logs, fields_of

SHOP = "shop-backend-token-0123456789"
PARTNER = "partner-backend-token-0123456789"
WEB = "web-client-token-0123456789"
AGENTS = [
    {
        "name": "support",
        "default": True,
        "instructions": "SUPPORT-INSTRUCTIONS",
        "session": {"audio": {"output": {"voice": "marin"}}},
        "callers": ["shop", "web"],
    },
    {"name": "sales", "callers": ["partner"]},
]
MINT_URL = "/openai/v1/realtime/client_secrets"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator() as sim:
        yield sim


@asynccontextmanager
async def relay_with(
    sim: Simulator, tmp_path: Path, **overrides: Any
) -> AsyncIterator[RunningRelay]:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(AGENTS), encoding="utf-8")
    values: dict[str, Any] = {
        "upstream": "simulator",
        "azure_endpoint": sim.url,
        "agents_file": path,
        "auth": "token",
        "auth_tokens": (f"web:{WEB}",),
        "backend_tokens": (f"shop:{SHOP}", f"partner:{PARTNER}"),
        **overrides,
    }
    async with running_relay(make_settings(**values)) as relay:
        yield relay


async def post(
    relay: RunningRelay,
    body: object,
    headers: dict[str, str] | None = None,
    path: str = MINT_URL,
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{relay.http_url}{path}", data=orjson.dumps(body), headers=headers) as reply,
    ):
        text = await reply.read()
        return reply.status, orjson.loads(text) if text else {}


async def mint(relay: RunningRelay, token: str = SHOP, **session: Any) -> str:
    status, body = await post(
        relay, {"session": {"type": "realtime", **session}}, {"Authorization": f"Bearer {token}"}
    )
    assert status == 200, body
    value: str = body["value"]
    return value


async def delete(relay: RunningRelay, value: str, token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.delete(
            f"{relay.http_url}/relay/client_secrets/{value}",
            headers={"Authorization": f"Bearer {token}"},
        ) as reply,
    ):
        return reply.status


@asynccontextmanager
async def browser(
    relay: RunningRelay, secret: str, path: str = "/realtime"
) -> AsyncIterator[ClientConnection]:
    protocols: Any = ["realtime", f"openai-insecure-api-key.{secret}"]
    async with connect(relay.ws_url(path), subprotocols=protocols, open_timeout=5) as ws:
        yield ws


async def refused(relay: RunningRelay, secret: str, path: str = "/realtime") -> int:
    with pytest.raises(InvalidStatus) as refusal:
        async with browser(relay, secret, path):
            pass
    status: int = refusal.value.response.status_code
    return status


async def test_the_mint_answer_has_the_sdk_shape_and_a_redacted_effective_session(
    simulator: Simulator, tmp_path: Path
) -> None:
    """`api-key` works as the backend's carrier too; the end user becomes the identity."""
    async with relay_with(simulator, tmp_path) as relay:
        with captured_logs() as logs:
            status, body = await post(
                relay,
                {
                    "expires_after": {"anchor": "created_at", "seconds": 60},
                    "session": {
                        "type": "realtime",
                        "model": "support",
                        "instructions": "ignore the operator",
                        "audio": {
                            "output": {"voice": "verse"},
                            "input": {"format": {"type": "audio/pcmu"}},
                        },
                    },
                },
                {"api-key": SHOP, "X-Relay-Identity": "alice"},
                path="/v1/realtime/client_secrets",
            )
        assert status == 200, body
        assert set(body) == {"value", "expires_at", "session"}
        assert time.time() + 50 < body["expires_at"] <= time.time() + 60
        session = body["session"]
        assert session["instructions"] == ""
        assert session["tools"] == []
        assert session["audio"]["output"]["voice"] == "marin"  # enforced: not pinned
        assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}  # pinned
        async with browser(relay, body["value"]) as ws:
            await recv_until(ws, "session.updated")
            (live,) = relay.runtime.lifecycle.sessions()
            assert live.identity == "shop:alice"
    upstream = simulator.connections[-1].session.session
    assert upstream["instructions"] == "SUPPORT-INSTRUCTIONS"
    assert upstream["audio"]["input"]["format"]["type"] == "audio/pcmu"
    (minted,) = [r for r in logs.records if r.getMessage() == "client secret minted"]
    assert fields_of(minted)["identity"] == "shop:alice"
    assert fields_of(minted)["pinned_fields"] == ["audio"]
    logged = "".join(f"{r.getMessage()} {fields_of(r)}" for r in logs.records)
    assert body["value"] not in logged


async def test_a_secret_works_in_every_carrier_and_is_reusable_until_it_expires(
    simulator: Simulator, tmp_path: Path
) -> None:
    async with relay_with(simulator, tmp_path) as relay:
        secret = await mint(relay, model="support")
        async with browser(relay, secret) as ws:
            await recv_until(ws, "session.updated")
        headers = {"Authorization": f"Bearer {secret}"}
        async with connect(relay.ws_url(), additional_headers=headers) as ws:
            await recv_until(ws, "session.updated")
        async with connect(relay.ws_url(f"/realtime?access_token={secret}")) as ws:
            await recv_until(ws, "session.updated")
        store = relay.runtime.secrets
        assert isinstance(store, MemorySecretStore)
        store.clock = lambda: time.time() + 601  # the default 600 s have passed
        assert await refused(relay, secret) == 401
    assert len(simulator.handshakes) == 3


async def test_revoked_and_wrong_secrets_get_401_and_only_the_minter_revokes(
    simulator: Simulator, tmp_path: Path
) -> None:
    async with relay_with(simulator, tmp_path) as relay:
        secret = await mint(relay, model="support")
        assert await delete(relay, secret, PARTNER) == 404  # not the partner's to revoke
        assert await delete(relay, secret, WEB) == 401
        assert await delete(relay, secret, SHOP) == 204
        assert await delete(relay, secret, SHOP) == 404
        assert await refused(relay, secret) == 401
        assert await refused(relay, "ek_" + "A" * 43) == 401
        assert await refused(relay, secret[:-1]) == 401
    assert simulator.handshakes == []


async def test_a_secret_opens_only_its_agent(simulator: Simulator, tmp_path: Path) -> None:
    async with relay_with(simulator, tmp_path) as relay:
        secret = await mint(relay, PARTNER, model="sales")
        assert await refused(relay, secret, "/realtime/support") == 403
        async with browser(relay, secret, "/openai/v1/realtime?model=gpt-realtime") as ws:
            await recv_until(ws, "session.updated")
            (live,) = relay.runtime.lifecycle.sessions()
            assert live.agent == "sales"


async def test_who_may_mint(simulator: Simulator, tmp_path: Path) -> None:
    """Only backend tokens mint; a client token, none, or a wrong one get 401; an agent the
    backend may not use gets 400; an unknown agent mints the default agent."""
    async with relay_with(simulator, tmp_path) as relay:
        body = {"session": {"type": "realtime", "model": "support"}}
        for headers in ({"Authorization": f"Bearer {WEB}"}, {}, {"api-key": "x" * 20}):
            status, error = await post(relay, body, headers)
            assert status == 401
            assert error["error"]["code"] == "unauthorized"
        status, error = await post(
            relay,
            {"session": {"type": "realtime", "model": "sales"}},
            {"Authorization": f"Bearer {SHOP}"},
        )
        assert (status, error["error"]["code"]) == (400, "agent_not_allowed")
        assert error["error"]["param"] == "session.model"
        status, error = await post(
            relay, {"expires_after": {"seconds": 5}}, {"Authorization": f"Bearer {SHOP}"}
        )
        assert (status, error["error"]["param"]) == (400, "expires_after.seconds")
        status, minted = await post(
            relay,
            {"session": {"type": "realtime", "model": "gpt-realtime"}},
            {"Authorization": f"Bearer {SHOP}"},
        )
        assert (status, minted["session"]["model"]) == (200, "support")


async def test_without_backend_tokens_the_endpoints_answer_404(
    simulator: Simulator, tmp_path: Path
) -> None:
    async with relay_with(simulator, tmp_path, backend_tokens=()) as relay:
        status, _ = await post(relay, {}, {"Authorization": f"Bearer {SHOP}"})
        assert status == 404
        assert await delete(relay, "ek_x", SHOP) == 404
        assert await refused(relay, "ek_" + "A" * 43) == 401


async def test_secrets_are_accepted_with_jwt_or_no_client_auth_and_limits_still_apply(
    simulator: Simulator, tmp_path: Path
) -> None:
    """In RELAY_AUTH=none a secret still names its identity, so the per-identity limit holds."""
    async with relay_with(
        simulator, tmp_path, auth="none", auth_tokens=(), max_sessions_per_identity=1
    ) as relay:
        secret = await mint(relay, model="support")
        async with browser(relay, secret) as ws:
            await recv_until(ws, "session.updated")
            assert await refused(relay, secret) == 429
        store = relay.runtime.secrets
        assert isinstance(store, MemorySecretStore)
        store.clock = lambda: time.time() + 601
        assert await refused(relay, secret) == 401  # no fallback to anonymous


def test_backend_and_client_tokens_may_not_overlap(simulator: Simulator, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="share a token"):
        make_settings(
            upstream="simulator",
            auth="token",
            auth_tokens=(f"web:{WEB}",),
            backend_tokens=(f"shop:{WEB}",),
        )
