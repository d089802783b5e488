"""Host names and forwarded headers: DNS rebinding, repeated Host, origins behind TLS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.settings import relay_settings


@contextlib.asynccontextmanager
async def _relay(simulator: Simulator, **overrides: Any) -> AsyncIterator[RunningRelay]:
    async with running_relay(
        make_settings(**relay_settings(simulator, "ga"), **overrides)
    ) as relay:
        yield relay


async def upgrade_status(relay: RunningRelay, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """Send a raw upgrade request with exactly these headers; the status and the body start."""
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /realtime HTTP/1.1",
        *(f"{name}: {value}" for name, value in headers),
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "",
        "",
    ]
    writer.write("\r\n".join(lines).encode())
    try:
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.read(200) if not head.startswith(b"HTTP/1.1 101") else b""
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(api_key="sim-key") as sim:
        yield sim


async def test_a_repeated_host_header_is_refused_with_400(simulator: Simulator) -> None:
    """Two Host headers could be read differently by a proxy and the relay: 400 `invalid_host`."""
    async with _relay(simulator) as relay:
        local = f"127.0.0.1:{relay.port}"
        status, body = await upgrade_status(relay, [("Host", local), ("Host", "evil.example")])
    assert status == 400
    assert b"invalid_host" in body


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("evil.example", 403, id="rebound-name"),
        pytest.param("192.0.2.7", 403, id="public-address"),
        pytest.param("localhost", 101, id="localhost"),
        pytest.param("127.0.0.1", 101, id="ipv4-loopback"),
        pytest.param("[::1]", 101, id="ipv6-loopback"),
    ],
)
async def test_without_authentication_only_loopback_hosts_are_served(
    simulator: Simulator, host: str, expected: int
) -> None:
    """With RELAY_AUTH=none, a DNS-rebound page (any non-loopback Host) is refused."""
    async with _relay(simulator, auth="none") as relay:
        status, body = await upgrade_status(relay, [("Host", f"{host}:{relay.port}")])
    assert status == expected
    if expected == 403:
        assert b"host_not_allowed" in body


async def test_allowed_hosts_name_the_hosts_that_are_served(simulator: Simulator) -> None:
    """RELAY_ALLOWED_HOSTS replaces the loopback rule: listed hosts pass, others are refused."""
    async with _relay(simulator, auth="none", allowed_hosts=("relay.example.com",)) as relay:
        listed, _ = await upgrade_status(relay, [("Host", "relay.example.com")])
        loopback, _ = await upgrade_status(relay, [("Host", f"127.0.0.1:{relay.port}")])
    assert (listed, loopback) == (101, 403)


TLS_HEADERS = [
    ("Host", "10.0.0.5:8000"),  # what the terminator dials
    ("Origin", "https://relay.example.com"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "relay.example.com"),
]


async def test_own_https_origin_behind_a_trusted_tls_terminator_is_accepted(
    simulator: Simulator,
) -> None:
    """From a trusted proxy, X-Forwarded-Proto and -Host make the page's https origin our own."""
    async with _relay(
        simulator, trusted_proxies=("127.0.0.1",), allowed_hosts=("relay.example.com",)
    ) as relay:
        status, _ = await upgrade_status(relay, TLS_HEADERS)
    assert status == 101


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(simulator: Simulator) -> None:
    """Without RELAY_TRUSTED_PROXIES the same headers change nothing: the origin is refused."""
    async with _relay(simulator, allowed_hosts=("10.0.0.5", "relay.example.com")) as relay:
        status, body = await upgrade_status(relay, TLS_HEADERS)
    assert status == 403
    assert b"origin_not_allowed" in body
