"""examples/backend runs as the README says: it logs a user in and mints a secret for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.events import recv_until
from tests.support.examples import example_process

BACKEND_TOKEN = "demo-backend-token-0123456789"


@asynccontextmanager
async def relay_and_backend(sim: Simulator) -> AsyncIterator[tuple[RunningRelay, int]]:
    """A relay that trusts the example as its backend, and the example pointed at it."""
    settings = make_settings(
        upstream="simulator",
        azure_endpoint=sim.url,
        auth="token",
        auth_tokens=("web:web-client-token-0123456789",),
        backend_tokens=(f"demo-backend:{BACKEND_TOKEN}",),
    )
    async with running_relay(settings) as relay:
        env = {"EXAMPLE_BACKEND_TOKEN": BACKEND_TOKEN}
        async with example_process(
            "examples.backend.server", "--relay", relay.http_url, env=env
        ) as port:
            yield relay, port


async def test_a_logged_in_user_gets_a_secret_that_opens_a_session_as_that_user() -> None:
    async with Simulator() as sim, relay_and_backend(sim) as (relay, port):
        backend = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"{backend}/client-secret") as anonymous:
                assert anonymous.status == 401
            form = {"username": "demo", "password": "demo"}
            async with http.post(f"{backend}/login", data=form, allow_redirects=False) as login:
                assert login.status == 303
                assert login.headers["Location"] == f"{relay.http_url}/?backend=" + (
                    f"http%3A%2F%2F127.0.0.1%3A{port}"
                )
            async with http.post(
                f"{backend}/client-secret", headers={"Origin": relay.http_url}
            ) as minted:
                assert minted.status == 200
                assert minted.headers["Access-Control-Allow-Origin"] == relay.http_url
                assert minted.headers["Access-Control-Allow-Credentials"] == "true"
                secret: dict[str, Any] = await minted.json()
        assert secret["value"].startswith("ek_")
        protocols: Any = ["realtime", f"openai-insecure-api-key.{secret['value']}"]
        async with connect(relay.ws_url(), subprotocols=protocols) as ws:
            await recv_until(ws, "session.updated")
            (session,) = relay.runtime.lifecycle.sessions()
            assert session.identity == "demo-backend:demo"


@pytest.mark.parametrize("password", ["", "wrong"])
async def test_a_wrong_login_gets_no_cookie(password: str) -> None:
    async with Simulator() as sim, relay_and_backend(sim) as (_, port):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            form = {"username": "demo", "password": password}
            async with http.post(f"http://127.0.0.1:{port}/login", data=form) as login:
                assert login.status == 401
                assert "demo_session" not in login.cookies
            async with http.post(f"http://127.0.0.1:{port}/client-secret") as refused:
                assert refused.status == 401
