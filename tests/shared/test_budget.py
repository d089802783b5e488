"""A daily token budget on one relay (in process): refused at admission, ended at the crossing."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.simulator import Simulator
from tests.e2e.harness import client, make_settings, running_relay
from tests.support.events import recv_until, send_event, user_text
from tests.support.metrics import sample, scrape

ALICE = "alice-budget-token-0123456789"


async def test_the_crossing_ends_the_session_with_1008_and_later_sessions_get_429() -> None:
    async with Simulator() as sim:
        settings = make_settings(
            upstream="simulator",
            azure_endpoint=sim.url,
            auth="token",
            auth_tokens=(f"alice:{ALICE}",),
            identity_daily_tokens=1,
        )
        headers = {"Authorization": f"Bearer {ALICE}"}
        async with running_relay(settings) as relay:
            async with client(relay, additional_headers=headers) as ws:
                await recv_until(ws, "session.updated")
                await send_event(ws, user_text("hi"))
                await send_event(ws, {"type": "response.create"})
                done, _ = await recv_until(ws, "response.done")
                assert done["response"]["status"] == "completed"
                notice, _ = await recv_until(ws, "error")
                assert notice["error"]["code"] == "budget_exhausted"
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008
            with pytest.raises(InvalidStatus) as refused:
                async with client(relay, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 429
            samples = await scrape(relay.http_url)
    assert sample(samples, "relay_budget_refusals_total") == 2
    assert sample(samples, "relay_sessions_total", outcome="rejected_budget") == 1
    assert sample(samples, "relay_sessions_total", outcome="limit") == 1
