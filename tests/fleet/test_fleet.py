"""Replicas behind nginx with Redis: fleet-wide limits, shared secrets, failures and budgets."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.faults.test_drain import Streamer
from tests.fleet.conftest import ALICE, BACKEND, BOB, Fleet, FleetFactory, bearer
from tests.support.events import recv_until, send_event, user_text
from tests.support.metrics import sample, scrape

LEASE_KEY = "{relay}:lease:identity:alice"


@contextlib.asynccontextmanager
async def session(url: str, token: str = ALICE, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    async with connect(url, additional_headers=bearer(token), open_timeout=10, **kwargs) as ws:
        await recv_until(ws, "session.updated", 10)
        yield ws


async def refusal(url: str, token: str = ALICE) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=bearer(token), open_timeout=10):
            pass
    response = refused.value.response
    return response.status_code, orjson.loads(response.body or b"{}")["error"]["code"]


async def members(fleet: Fleet, key: str = LEASE_KEY) -> int:
    client = fleet.redis.client()
    try:
        return int(await client.zcard(key))
    finally:
        await client.aclose()


async def eventually(check: Any, seconds: float = 20.0) -> None:
    """Poll an async predicate until it holds (bounded): for what lapses with time."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - leases lapse and renew with time; nothing signals it
            await asyncio.sleep(0.1)


async def turn(ws: ClientConnection, text: str = "hi") -> dict[str, Any]:
    await send_event(ws, user_text(text))
    await send_event(ws, {"type": "response.create"})
    done, _ = await recv_until(ws, "response.done", 10)
    return done


async def test_the_per_identity_limit_holds_across_replicas(fleet: FleetFactory) -> None:
    """Two sessions of alice land on two replicas; a third is refused with 429 on either."""
    async with fleet() as f, session(f.ws_url()), session(f.ws_url()):
        assert await members(f) == 2
        for replica in f.replicas:  # whichever replica the third lands on
            assert await refusal(replica.ws_url()) == (429, "too_many_sessions")
        assert await refusal(f.ws_url()) == (429, "too_many_sessions")
        async with session(f.ws_url(), BOB):
            pass
        active = [sample(await scrape(r.http_url), "relay_leases_held") for r in f.replicas]
    assert active == [1, 1]  # round robin put one on each


async def test_a_secret_minted_on_one_replica_works_on_another_and_revokes_everywhere(
    fleet: FleetFactory,
) -> None:
    async with fleet() as f, aiohttp.ClientSession() as http:
        first, second = f.replicas
        async with http.post(
            f"{first.http_url}/openai/v1/realtime/client_secrets",
            json={"session": {"type": "realtime"}},
            headers={**bearer(BACKEND), "X-Relay-Identity": "carol"},
        ) as minted:
            assert minted.status == 200
            value = (await minted.json())["value"]
        protocols: Any = ["realtime", f"openai-insecure-api-key.{value}"]
        async with connect(second.ws_url(), subprotocols=protocols) as ws:
            await recv_until(ws, "session.updated")
        async with http.delete(
            f"{second.http_url}/relay/client_secrets/{value}", headers=bearer(BACKEND)
        ) as revoked:
            assert revoked.status == 204
        for replica in f.replicas:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(replica.ws_url(), subprotocols=protocols):
                    pass
            assert refused.value.response.status_code == 401


async def test_a_killed_replica_drops_its_clients_and_its_leases_lapse(
    fleet: FleetFactory,
) -> None:
    """SIGKILL: its client sees the connection drop and reconnects through nginx once the
    dead replica's lease lapses; capacity comes back without any restart."""
    async with fleet() as f:
        first, second = f.replicas
        async with session(first.ws_url()) as doomed, session(second.ws_url()) as survivor:
            first.proc.send_signal(signal.SIGKILL)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(_read_until_closed(doomed), 10)
            statuses: list[int] = []

            async def reconnects() -> bool:
                try:
                    async with session(f.ws_url()):
                        return True
                except InvalidStatus as refused:
                    statuses.append(refused.response.status_code)
                    return False

            await eventually(reconnects)
            assert set(statuses) <= {429}  # refused only while the dead replica's lease lasted
            await turn(survivor)  # the live replica's session went on throughout
        await eventually(lambda: _equals(members(f), 0))


async def _read_until_closed(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def _equals(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def test_a_drained_replica_sends_its_sessions_elsewhere_without_losing_appends(
    fleet: FleetFactory,
) -> None:
    """SIGTERM while 10 sessions stream audio: the drained replica's sessions get the
    notice and 1012 with every append sent before it delivered; they reconnect through
    nginx to the other replica."""
    async with fleet(RELAY_MAX_SESSIONS_PER_IDENTITY="40") as f:
        first, second = f.replicas
        streamers: list[Streamer] = []
        for index in range(10):
            ws = await connect(f.ws_url(), additional_headers=bearer(ALICE), compression=None)
            streamers.append(Streamer(ws, index))
        tasks = [asyncio.create_task(s.stream()) for s in streamers]
        tasks += [asyncio.create_task(s.listen()) for s in streamers]
        await f.simulator.wait_for(
            lambda: sum(len(c.received) > 5 for c in f.simulator.connections) == 10, 20
        )
        first.proc.send_signal(signal.SIGTERM)
        await first.wait_for_line("draining")
        async with asyncio.timeout(20):
            await first.proc.wait()
        for streamer in streamers:
            if streamer.notice is None:  # on the live replica: done streaming
                await streamer.ws.close()
        async with asyncio.timeout(20):
            await asyncio.gather(*tasks)
        drained = [s for s in streamers if s.close_code == 1012]
        assert len(drained) == 5  # round robin: half were on the drained replica
        for streamer in drained:
            assert streamer.notice is not None
            assert streamer.notice["error"]["code"] == "server_shutting_down"  # type: ignore[index]
        received = {}
        for connection in f.simulator.connections:
            ids = [e.get("event_id") for e in connection.received_events()[1:]]
            if ids:
                received[str(ids[0]).split("-")[0]] = ids
        for streamer in drained:
            delivered = received[f"c{streamer.index}"]
            assert delivered[: len(streamer.sent_before_notice)] == streamer.sent_before_notice
        for _ in drained:  # each reconnects through nginx, to the live replica
            async with session(f.ws_url()):
                pass
        assert first.proc.returncode is not None  # it exited after the drain

        async def all_closed() -> bool:  # each server side ends just after its client closes
            samples = await scrape(second.http_url)
            return sample(samples, "relay_sessions_active", agent="default") == 0

        await eventually(all_closed)


@pytest.mark.parametrize("mode", ["closed", "open"])
async def test_redis_down_and_back(fleet: FleetFactory, mode: str) -> None:
    """closed: new sessions get 503 and /readyz 503 while open sessions go on; open: new
    sessions are admitted on local counts. Either way, once Redis is back, admission uses
    it again without a restart and the open sessions' leases are registered again."""
    async with fleet(RELAY_REDIS_FAILURE_MODE=mode) as f, aiohttp.ClientSession() as http:
        replica = f.replicas[0]
        async with session(replica.ws_url()) as held:
            await f.redis.stop()
            if mode == "closed":
                assert await refusal(replica.ws_url(), BOB) == (503, "shared_state_unavailable")
                async with http.get(f"{replica.http_url}/readyz") as ready:
                    assert ready.status == 503
                    assert (await ready.json())["shared_state"] is False
            else:
                async with session(replica.ws_url()):  # alice's second, counted locally
                    assert await refusal(replica.ws_url()) == (429, "too_many_sessions")
                await replica.wait_for_line("shared state (Redis) unavailable")
            await turn(held)  # the open session continues
            errors = await scrape(replica.http_url)
            assert (
                sum(
                    value
                    for (name, _), value in errors.items()
                    if name == "relay_shared_state_errors_total"
                )
                > 0
            )
            await f.redis.start()  # an empty Redis on the same port
            await eventually(lambda: _equals(members(f), 1))  # re-registered by the renewal
            async with session(replica.ws_url(), BOB):
                pass
            async with http.get(f"{replica.http_url}/readyz") as ready:
                assert ready.status == 200


async def test_a_daily_token_budget_holds_across_replicas(fleet: FleetFactory) -> None:
    """alice's turns on two replicas add up; the one that crosses the budget ends with
    budget_exhausted and 1008 after its response, and new sessions get 429."""
    async with fleet(RELAY_IDENTITY_DAILY_TOKENS="25") as f:
        first, second = f.replicas
        async with session(first.ws_url()) as ws:
            done = await turn(ws)
        tokens = done["response"]["usage"]["total_tokens"]
        assert 0 < tokens < 25 <= 2 * tokens  # the second turn crosses the budget
        async with session(second.ws_url()) as ws:
            done = await turn(ws)
            assert done["response"]["status"] == "completed"  # the response in flight ends
            notice, _ = await recv_until(ws, "error", 10)
            assert notice["error"]["code"] == "budget_exhausted"
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008
        for replica in f.replicas:
            assert await refusal(replica.ws_url()) == (429, "budget_exhausted")
        async with session(first.ws_url(), BOB):  # others keep their own budget
            pass
        refused = sample(await scrape(first.http_url), "relay_budget_refusals_total")
        assert refused >= 1


async def test_lease_renewal_costs_redis_per_replica_not_per_session(fleet: FleetFactory) -> None:
    """500 sessions across two replicas: each renewal period costs Redis one script call per
    replica (INFO commandstats), not one call per session."""
    sessions = 500
    async with (
        fleet(RELAY_MAX_SESSIONS_PER_IDENTITY="1000", RELAY_MAX_SESSIONS="400") as f,
        contextlib.AsyncExitStack() as stack,
    ):
        for _ in range(sessions):
            await stack.enter_async_context(session(f.ws_url()))
        assert await members(f) == sessions
        await f.redis.reset_stats()
        await eventually(lambda: _renewals_at_least(f, 8))  # at least 4 periods per replica
        stats = await f.redis.commandstats()
    renewals = stats.get("evalsha", 0)
    own = ("config|resetstat", "info", "client|setinfo", "hello", "ping")  # this test's polling
    calls = sum(count for name, count in stats.items() if name not in own)
    # A renewal is one EVALSHA, which runs TIME, ZREMRANGEBYSCORE and ZADD on the replica set.
    assert stats.get("zadd", 0) == renewals
    assert calls == 4 * renewals
    assert calls < sessions


async def _renewals_at_least(f: Fleet, count: int) -> bool:
    return (await f.redis.commandstats()).get("evalsha", 0) >= count
