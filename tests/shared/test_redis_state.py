"""`RedisState` against a real redis-server: leases, renewal, usage, secrets, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.client_secrets import SecretRecord, SecretStoreFull, secret_digest
from app.errors import SharedStateError
from app.shared import Lease, LocalState
from app.shared.redis_state import RedisState
from tests.support.redis_server import RedisServer, redis_server

ALICE = Lease("identity:alice", 2)
SUPPORT = Lease("agent:support", 3)


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with redis_server(tmp_path / "redis") as server:
        yield server


def state(redis: RedisServer, mode: str = "closed", errors: list[str] | None = None) -> RedisState:
    return RedisState(
        redis.url,
        failure_mode=mode,  # type: ignore[arg-type]
        renew_seconds=60,  # renewals are driven by hand here
        timeout_seconds=0.5,
        max_secrets=2,
        on_error=(errors if errors is not None else []).append,
    )


async def test_leases_are_fleet_wide_all_or_none(redis: RedisServer) -> None:
    one, two = state(redis), state(redis)
    await one.start()
    await two.start()
    try:
        assert await one.acquire("s1", [ALICE, SUPPORT]) is None
        assert await two.acquire("s2", [ALICE, SUPPORT]) is None
        assert await two.acquire("s3", [SUPPORT, ALICE]) == ALICE  # full: nothing taken
        assert await one.acquire("s4", [SUPPORT]) is None  # so support had room for this
        assert await two.acquire("s5", [SUPPORT]) == SUPPORT
        assert (one.leases_held, two.leases_held) == (2, 1)
        await one.release("s1")
        assert await two.acquire("s3", [ALICE]) is None
        await one.release("never-held")
        assert await one.acquire("bare", []) is None  # no leases: nothing asked of Redis
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_stopped_replica_frees_its_leases_at_once(redis: RedisServer) -> None:
    one, two = state(redis), state(redis)
    await one.start()
    await two.start()
    await one.acquire("s1", [ALICE])
    await one.acquire("s2", [ALICE])
    assert await two.acquire("s3", [ALICE]) == ALICE
    await one.aclose()  # its replica entry goes: its members no longer count
    assert await two.acquire("s3", [ALICE]) is None
    await two.aclose()


async def test_after_redis_loses_everything_the_renewal_registers_the_leases_again(
    redis: RedisServer,
) -> None:
    one = state(redis)
    await one.start()
    try:
        await one.acquire("s1", [ALICE])
        await one.acquire("s2", [SUPPORT])
        client = redis.client()
        await client.flushall()
        await one._renew_once()
        assert await client.zcard("{relay}:lease:identity:alice") == 1
        assert await client.zcard("{relay}:lease:agent:support") == 1
        await client.aclose()
        assert one.renewals == 2
    finally:
        await one.aclose()


async def test_closed_mode_raises_and_open_mode_counts_locally(redis: RedisServer) -> None:
    errors: list[str] = []
    closed, open_ = state(redis, "closed", errors), state(redis, "open", errors)
    await closed.start()
    await open_.start()
    await open_.acquire("kept", [ALICE])
    await redis.stop()
    try:
        with pytest.raises(SharedStateError):
            await closed.acquire("s1", [ALICE])
        assert not closed.healthy
        assert await open_.acquire("s2", [ALICE]) is None  # local: kept + s2
        assert await open_.acquire("s3", [ALICE]) == ALICE
        await open_.release("kept")  # cannot reach Redis: retried at the next renewal
        with pytest.raises(SharedStateError):
            await closed.add_usage("alice", "support", 5)
        with pytest.raises(SharedStateError):
            await closed.tokens_today("alice")
        with pytest.raises(SharedStateError):
            await closed._renew_once()
    finally:
        await redis.start()
    await open_._renew_once()  # back: the pending release is retried, s2 registered
    client = redis.client()
    assert await client.zcard("{relay}:lease:identity:alice") == 0  # s2 was admitted locally
    await client.aclose()
    assert closed.healthy is False
    await closed._renew_once()
    assert closed.healthy
    assert {"acquire", "usage", "renew", "release"} <= set(errors)
    await closed.aclose()
    await open_.aclose()


async def test_usage_is_counted_per_identity_and_agent_per_day(redis: RedisServer) -> None:
    one, two = state(redis), state(redis)
    assert await one.add_usage("alice", "support", 10) == 10
    assert await two.add_usage("alice", "sales", 5) == 15
    assert await two.add_usage(None, "sales", 7) == 0
    assert await one.tokens_today("alice") == 15
    assert await one.tokens_today("bob") == 0
    client = redis.client()
    day = time.strftime("%Y%m%d", time.gmtime())
    assert await client.hgetall(f"{{relay}}:usage:{day}:agent") == {
        b"support": b"10",
        b"sales": b"12",
    }
    assert 0 < await client.ttl(f"{{relay}}:usage:{day}:identity") <= 8 * 86400
    await client.aclose()
    await one.aclose()
    await two.aclose()


async def test_secrets_cross_replicas_expire_cap_and_revoke(redis: RedisServer) -> None:
    one, two = state(redis), state(redis)
    expires = time.time() + 60
    record = SecretRecord(
        secret_digest("ek_a"), "support", "shop:u", "shop", int(expires), {"x": 1}
    )
    await one.secrets.put(record)
    found = await two.secrets.get(record.digest)
    assert found == record
    await one.secrets.put(
        SecretRecord(secret_digest("ek_b"), "support", "shop", "shop", int(expires))
    )
    with pytest.raises(SecretStoreFull):  # the cap is 2
        await two.secrets.put(
            SecretRecord(secret_digest("ek_c"), "s", "shop", "shop", int(expires))
        )
    assert not await two.secrets.revoke(record.digest, "partner")
    assert await two.secrets.revoke(record.digest, "shop")
    assert await one.secrets.get(record.digest) is None
    assert await one.secrets.get(secret_digest("ek_missing")) is None
    await one.aclose()
    await two.aclose()


async def test_the_renewal_task_runs_on_its_period(redis: RedisServer) -> None:
    fast = RedisState(
        redis.url, failure_mode="closed", renew_seconds=0.05, timeout_seconds=0.5, max_secrets=1
    )
    await fast.start()
    try:
        async with asyncio.timeout(10):
            while fast.renewals < 3:  # noqa: ASYNC110 - the renewal runs on a timer by design
                await asyncio.sleep(0.05)
    finally:
        await fast.aclose()


async def test_local_state_counts_leases_and_daily_usage() -> None:
    local = LocalState(10)
    assert local.healthy
    assert await local.acquire("s1", [ALICE]) is None
    assert await local.acquire("s2", [ALICE]) is None
    assert await local.acquire("s3", [ALICE]) == ALICE
    assert local.leases_held == 2
    await local.release("s1")
    assert await local.acquire("s3", [ALICE]) is None
    assert await local.add_usage("alice", "support", 4) == 4
    assert await local.add_usage("alice", "support", 4) == 8
    assert await local.add_usage(None, "support", 4) == 0
    assert await local.tokens_today("alice") == 8
    assert await local.tokens_today("bob") == 0
