"""Entra ID toward the upstream: the real azure-identity library against a fake endpoint.

The fake is an App Service managed-identity endpoint on 127.0.0.1, which
`DefaultAzureCredential` finds through IDENTITY_ENDPOINT / IDENTITY_HEADER.
"""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.simulator import Simulator
from tests.e2e.harness import client, make_settings, running_relay
from tests.support.events import recv_event, recv_until, send_event
from tests.support.token_endpoint import TokenEndpoint


async def test_entra_token_is_sent_as_bearer_and_refreshed_without_failing_sessions(
    token_endpoint: TokenEndpoint,
) -> None:
    """The upstream sees `Bearer <token>`, never an api-key; a refreshed token serves new sessions."""
    async with Simulator(bearer_tokens={"token-1", "token-2"}) as sim:
        settings = make_settings(
            upstream="azure", azure_endpoint=sim.url, azure_deployment="gpt-realtime"
        )
        async with running_relay(settings) as relay, client(relay) as first:
            await recv_event(first)
            await token_endpoint.wait_requests(2)  # the background refresh
            async with client(relay) as second:
                await recv_event(second)
            await send_event(first, {"type": "input_audio_buffer.clear"})
            await recv_until(first, "input_audio_buffer.cleared")
        headers = [h.headers for h in sim.handshakes]
    assert [h.get("authorization") for h in headers] == ["Bearer token-1", "Bearer token-2"]
    assert all("api-key" not in h for h in headers)
    assert token_endpoint.requests[0].query["resource"] == "https://cognitiveservices.azure.com"


async def test_api_key_mode_sends_only_the_api_key(simulator: Simulator) -> None:
    """With AZURE_OPENAI_API_KEY set, the upstream sees `api-key` and no Authorization header."""
    settings = make_settings(
        upstream="azure",
        azure_endpoint=simulator.url,
        azure_deployment="gpt-realtime",
        azure_api_key="sim-key",
    )
    async with running_relay(settings) as relay, client(relay) as ws:
        await recv_event(ws)
    headers = simulator.handshakes[0].headers
    assert headers["api-key"] == "sim-key"
    assert "authorization" not in headers


async def test_without_a_token_new_sessions_get_503_and_readyz_is_503(
    token_endpoint: TokenEndpoint,
) -> None:
    """When the identity endpoint fails, /readyz is 503 and upgrades are refused with 503."""
    token_endpoint.failing = True
    async with Simulator() as sim:
        settings = make_settings(
            upstream="azure",
            azure_endpoint=sim.url,
            azure_deployment="gpt-realtime",
            upstream_connect_timeout_seconds=0.5,
        )
        async with running_relay(settings) as relay:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{relay.http_url}/readyz") as ready:
                    assert ready.status == 503
                async with http.get(f"{relay.http_url}/healthz") as alive:
                    assert alive.status == 200
            with pytest.raises(InvalidStatus) as refused:
                async with connect(relay.ws_url(), open_timeout=5):
                    pass
        assert sim.handshakes == []
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"]
    body = orjson.loads(refused.value.response.body or b"{}")
    assert body["error"]["code"] == "upstream_unavailable"
