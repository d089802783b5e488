"""Fail closed: no client is admitted until the upstream has applied the enforced session."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from websockets.asyncio.client import connect

from tests.faults.test_upstream_faults import _refusal, relay_for
from tests.support.events import recv_until, send_event
from tests.support.fake_upstream import FakeConnection, FakeUpstream
from tests.support.logs import captured_logs


async def refuse_voice(conn: FakeConnection) -> None:
    """Reject the enforced update the way Azure rejects an invalid voice."""
    await conn.send({"type": "session.created", "session": {}})
    update = await conn.next_event()
    await conn.send(
        {
            "type": "error",
            "event_id": "evt_up_1",
            "error": {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": "Invalid voice.",
                "param": "session.audio.output.voice",
                "event_id": update["event_id"],
            },
        }
    )
    await conn.ws.wait_closed()


async def never_answer(conn: FakeConnection) -> None:
    await conn.send({"type": "session.created", "session": {}})
    await conn.ws.wait_closed()


async def test_an_upstream_error_on_the_enforced_session_refuses_the_upgrade_with_502() -> None:
    """An `error` naming `relay_enforced_session` gives 502 `upstream_unavailable`, logged at ERROR."""
    async with FakeUpstream(refuse_voice, confirm_session=False) as fake, relay_for(fake) as relay:
        with captured_logs() as logs:
            status, _, body = await _refusal(relay)
    assert status == 502
    assert body["error"]["code"] == "upstream_unavailable"
    errors = [r for r in logs.records if r.levelno == logging.ERROR and r.name == "app.session"]
    assert len(errors) == 1
    fields = errors[0].fields  # type: ignore[attr-defined]
    assert fields["upstream_error_code"] == "invalid_value"
    assert fields["upstream_error_param"] == "session.audio.output.voice"


async def test_no_answer_to_the_enforced_session_refuses_the_upgrade_within_the_budget() -> None:
    """Silence after the enforced update gives 502 once the connect budget runs out."""
    async with (
        FakeUpstream(never_answer, confirm_session=False) as fake,
        relay_for(fake, upstream_connect_timeout_seconds=0.5) as relay,
    ):
        async with asyncio.timeout(10):
            status, _, body = await _refusal(relay)
    assert status == 502
    assert body["error"]["code"] == "upstream_unavailable"


async def test_readyz_turns_503_when_every_attempt_has_its_enforced_session_refused() -> None:
    """After three refused enforced sessions in a row, `/readyz` reports not ready."""
    async with FakeUpstream(refuse_voice, confirm_session=False) as fake, relay_for(fake) as relay:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{relay.http_url}/readyz") as first:
                assert first.status == 200
            for _ in range(3):
                await _refusal(relay)
            async with http.get(f"{relay.http_url}/readyz") as ready:
                status, body = ready.status, await ready.json()
    assert status == 503
    assert body["enforced_session"] is False


async def test_a_confirmed_session_is_admitted_and_sees_the_confirmation() -> None:
    """With `session.updated` from the upstream the client is admitted and sees it, redacted."""
    async with FakeUpstream() as fake, relay_for(fake) as relay:
        async with connect(relay.ws_url(), open_timeout=5) as ws:
            updated, before = await recv_until(ws, "session.updated")
            await send_event(ws, {"type": "input_audio_buffer.clear"})
    assert [e["type"] for e in before] == ["session.created"]
    assert updated["session"]["instructions"] == ""


async def test_an_upstream_that_closes_at_once_refuses_the_upgrade_with_502() -> None:
    """An upstream that closes before confirming anything gives 502, not an accepted session."""

    async def close_at_once(conn: FakeConnection) -> None:
        await conn.ws.close(1011, "going")

    async with FakeUpstream(close_at_once, confirm_session=False) as fake, relay_for(fake) as relay:
        status, _, body = await _refusal(relay)
    assert status == 502
    assert body["error"]["code"] == "upstream_unavailable"
