"""Several agents on one real relay: each path and model reaches its own session and upstream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
import yaml
from websockets.exceptions import InvalidStatus

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, client, make_settings, running_relay
from tests.support.events import recv_until, send_event
from tests.support.metrics import sample, scrape
from tests.support.settings import PREVIEW_VERSION

WEB = "web-token-agents-0123456789"
KIOSK = "kiosk-token-agents-0123456789"
METRICS = "metrics-token-agents-0123456789"
SIM_KEY = "sim-key-agents"
ISSUER, AUDIENCE = "https://issuer.example.com", "realtime-relay"
JWT_SECRET = "an-hs256-secret-for-the-agents-tests-0123456789"

SUPPORT = {
    "name": "support",
    "deployment": "gpt-realtime-support",
    "instructions": "SUPPORT-INSTRUCTIONS: help with orders.",
    "session": {"audio": {"output": {"voice": "marin"}}},
    "tools": [
        {
            "name": "lookup_order",
            "description": "Look up an order.",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            "url": "http://127.0.0.1:9/lookup_order",
        }
    ],
    "callers": ["web", {"claim": "roles", "contains": "support"}],
}
SALES = {
    "name": "sales",
    "deployment": "gpt-realtime-sales",
    "instructions": "SALES-INSTRUCTIONS: sell the premium plan.",
    "session": {"audio": {"output": {"voice": "cedar"}}},
}
LEGACY = {
    "name": "legacy",
    "deployment": "gpt-4o-realtime-preview",
    "api_version": PREVIEW_VERSION,
    "instructions": "LEGACY-INSTRUCTIONS",
    "session": {"voice": "alloy"},
}


def agents_file(tmp_path: Path, *agents: dict[str, Any]) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(list(agents)), encoding="utf-8")
    return path


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(api_key=SIM_KEY) as sim:
        yield sim


def relay_values(sim: Simulator, path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "upstream": "simulator",
        "azure_endpoint": sim.url,
        "azure_api_key": SIM_KEY,
        "agents_file": path,
        "auth": "token",
        "auth_tokens": (f"web:{WEB}", f"kiosk:{KIOSK}"),
        **overrides,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_and_read(
    relay: RunningRelay, sim: Simulator, path: str, token: str = WEB
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Open a session at `path`; the upstream's query, its effective session, and the
    client's frames up to the enforced session's echo."""
    async with client(relay, path, additional_headers=bearer(token)) as ws:
        updated, before = await recv_until(ws, "session.updated")
        upstream = sim.connections[-1]
        return upstream.handshake.query, upstream.session.session, [*before, updated]


async def refusal(relay: RunningRelay, path: str, token: str | None = WEB) -> tuple[int, str]:
    headers = bearer(token) if token else {}
    with pytest.raises(InvalidStatus) as refused:
        async with client(relay, path, additional_headers=headers):
            pass
    response = refused.value.response
    return response.status_code, orjson.loads(response.body or b"{}")["error"]["code"]


async def test_each_path_and_model_reaches_its_own_agent(
    simulator: Simulator, tmp_path: Path
) -> None:
    """The path, the GA `model` and the preview `deployment` each select an agent, with its
    instructions, voice, tools and deployment upstream; the client sees none of them."""
    settings = make_settings(
        **relay_values(simulator, agents_file(tmp_path, SUPPORT, SALES, LEGACY))
    )
    seen: list[dict[str, Any]] = []
    async with running_relay(settings) as relay:
        query, session, frames = await open_and_read(relay, simulator, "/realtime/support")
        seen += frames
        assert query["model"] == "gpt-realtime-support"
        assert session["instructions"] == SUPPORT["instructions"]
        assert session["audio"]["output"]["voice"] == "marin"
        assert [tool["name"] for tool in session["tools"]] == ["lookup_order"]

        query, session, frames = await open_and_read(
            relay, simulator, "/openai/v1/realtime?model=sales"
        )
        assert query["model"] == "gpt-realtime-sales"
        assert session["instructions"] == SALES["instructions"]
        assert session["audio"]["output"]["voice"] == "cedar"
        assert session.get("tools", []) == []
        seen += frames

        query, session, frames = await open_and_read(
            relay,
            simulator,
            f"/openai/realtime?api-version={PREVIEW_VERSION}&deployment=legacy",
        )
        assert simulator.connections[-1].handshake.path == "/openai/realtime"
        assert query["deployment"] == "gpt-4o-realtime-preview"
        assert session["instructions"] == "LEGACY-INSTRUCTIONS"
        assert session["voice"] == "alloy"
        seen += frames
    assert len(seen) == 6  # session.created and session.updated, three times
    assert b"INSTRUCTIONS" not in orjson.dumps(seen)
    assert b"lookup_order" not in orjson.dumps(seen)


async def test_unknown_agents_and_refused_callers_never_reach_the_upstream(
    simulator: Simulator, tmp_path: Path
) -> None:
    """Without a default agent an unknown name gets 404; a caller the agent's rules refuse
    gets 403; neither dials the upstream."""
    settings = make_settings(**relay_values(simulator, agents_file(tmp_path, SUPPORT, SALES)))
    async with running_relay(settings) as relay:
        assert await refusal(relay, "/realtime/nobody") == (404, "agent_not_found")
        assert await refusal(relay, "/openai/v1/realtime?model=gpt-realtime") == (
            404,
            "agent_not_found",
        )
        assert await refusal(relay, "/realtime") == (404, "agent_not_found")
        assert await refusal(relay, "/realtime/support", KIOSK) == (403, "agent_not_allowed")
        assert await refusal(relay, "/realtime/support", None) == (401, "unauthorized")
        samples = await scrape(relay.http_url)
        async with client(relay, "/realtime/sales", additional_headers=bearer(KIOSK)) as ws:
            await recv_until(ws, "session.updated")
    assert sample(samples, "relay_sessions_total", outcome="rejected_agent") == 4
    assert len(simulator.handshakes) == 1  # only the admitted sales session dialled


async def test_an_unknown_agent_falls_back_to_the_default_agent(
    simulator: Simulator, tmp_path: Path
) -> None:
    settings = make_settings(
        **relay_values(simulator, agents_file(tmp_path, SUPPORT, {**SALES, "default": True}))
    )
    async with running_relay(settings) as relay:
        for path in ("/realtime", "/realtime/nobody", "/openai/v1/realtime?model=gpt-realtime"):
            query, session, _ = await open_and_read(relay, simulator, path, KIOSK)
            assert query["model"] == "gpt-realtime-sales"
            assert session["instructions"] == SALES["instructions"]


def signed(**claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-7", "exp": int(time.time()) + 300}
    return jwt.encode({**body, **claims}, JWT_SECRET, algorithm="HS256")


async def test_a_jwt_agent_claim_pins_the_agent_and_claim_rules_admit(
    simulator: Simulator, tmp_path: Path
) -> None:
    """With RELAY_JWT_AGENT_CLAIM, a token opens only its agent; claim rules admit by role."""
    settings = make_settings(
        **relay_values(
            simulator,
            agents_file(tmp_path, SUPPORT, SALES),
            auth="jwt",
            auth_tokens=(),
            jwt_secret=JWT_SECRET,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            jwt_agent_claim="agent",
        )
    )
    pinned = signed(agent="sales")
    async with running_relay(settings) as relay:
        assert await refusal(relay, "/realtime/support", pinned) == (403, "agent_not_allowed")
        for path in ("/realtime", "/realtime/sales", "/openai/v1/realtime?model=gpt-realtime"):
            query, _, _ = await open_and_read(relay, simulator, path, pinned)
            assert query["model"] == "gpt-realtime-sales"
        staff = signed(roles=["staff", "support"])
        query, _, _ = await open_and_read(relay, simulator, "/realtime/support", staff)
        assert query["model"] == "gpt-realtime-support"
        outsider = signed(roles=["sales"])
        assert await refusal(relay, "/realtime/support", outsider) == (403, "agent_not_allowed")
        to_support = signed(agent="support", roles=["sales"])  # pinned, yet not admitted
        assert await refusal(relay, "/realtime/support", to_support) == (403, "agent_not_allowed")


async def test_agents_listing_readiness_and_metrics_carry_each_agent(
    simulator: Simulator, tmp_path: Path
) -> None:
    """`GET /agents` shows public settings only, behind the metrics token; `/readyz` checks
    each agent; sessions and tokens are counted per agent."""
    settings = make_settings(
        **relay_values(simulator, agents_file(tmp_path, SUPPORT, SALES), metrics_token=METRICS)
    )
    async with running_relay(settings) as relay, aiohttp.ClientSession() as http:
        async with http.get(f"{relay.http_url}/agents") as response:
            assert response.status == 401
        async with http.get(f"{relay.http_url}/agents", headers=bearer(METRICS)) as response:
            assert response.status == 200
            text = await response.text()
        listing = orjson.loads(text)["agents"]
        assert [agent["name"] for agent in listing] == ["support", "sales"]
        assert listing[0]["deployment"] == "gpt-realtime-support"
        assert listing[0]["callers_restricted"] is True
        assert "INSTRUCTIONS" not in text
        assert "lookup_order" not in text
        assert "marin" not in text
        async with http.get(f"{relay.http_url}/readyz") as response:
            ready = await response.json()
        assert response.status == 200
        assert set(ready["agents"]) == {"support", "sales"}
        assert ready["agents"]["sales"]["credential"] is True
        async with client(relay, "/realtime/sales", additional_headers=bearer(WEB)) as ws:
            await recv_until(ws, "session.updated")
            await send_event(
                ws,
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "hi"}],
                    },
                },
            )
            await send_event(ws, {"type": "response.create"})
            await recv_until(ws, "response.done")
            during = await scrape(relay.http_url, METRICS)
    assert sample(during, "relay_sessions_active", agent="sales") == 1
    assert sample(during, "relay_sessions_active", agent="support") == 0
    assert sample(during, "relay_tokens_total", agent="sales", kind="output_text") > 0
    assert sample(during, "relay_tokens_total", agent="support", kind="output_text") == 0
