"""The client address in the open line honours X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest

from app.simulator import Simulator
from tests.e2e.harness import client, make_settings, running_relay
from tests.observability.values import relay_values
from tests.support.events import recv_until
from tests.support.logs import captured_logs

FORWARDED_FOR = "203.0.113.9"


@pytest.mark.parametrize(
    ("trusted_proxies", "logged"),
    [((), "127.0.0.1"), (("127.0.0.1",), FORWARDED_FOR)],
    ids=["no-trusted-proxies", "loopback-trusted"],
)
async def test_open_line_client_honours_forwarded_for_only_from_trusted_proxies(
    simulator: Simulator, trusted_proxies: tuple[str, ...], logged: str
) -> None:
    """X-Forwarded-For from 127.0.0.1 is logged only when 127.0.0.1 is in RELAY_TRUSTED_PROXIES."""
    settings = make_settings(
        **relay_values(simulator, auth="none", trusted_proxies=trusted_proxies)
    )
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            headers = {"X-Forwarded-For": FORWARDED_FOR}
            async with client(relay, additional_headers=headers) as ws:
                await recv_until(ws, "session.updated")
                opened = await logs.session_line("session open")
            await logs.session_line("session closed")
    assert opened["client"] == logged
