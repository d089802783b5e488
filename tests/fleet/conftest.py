"""A fleet on one machine, all real parts: redis-server, `python -m app` replicas, nginx."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.simulator import Simulator
from tests.support.nginx_lb import nginx_balancer
from tests.support.redis_server import RedisServer, redis_server
from tests.support.relay_process import RelayProcess, relay_process

ALICE = "alice-fleet-token-0123456789"
BOB = "bob-fleet-token-0123456789"
BACKEND = "shop-fleet-backend-0123456789"
RENEW_SECONDS = 0.5  # leases lapse after 1.5 s


@dataclass
class Fleet:
    redis: RedisServer
    replicas: list[RelayProcess]
    balancer_port: int
    simulator: Simulator
    stack: contextlib.AsyncExitStack = field(repr=False)

    def ws_url(self, path: str = "/realtime") -> str:
        """Through nginx."""
        return f"ws://127.0.0.1:{self.balancer_port}{path}"


FleetFactory = Callable[..., contextlib.AbstractAsyncContextManager[Fleet]]


def replica_env(redis: RedisServer, sim: Simulator, **overrides: str) -> dict[str, str]:
    return {
        "RELAY_UPSTREAM": "simulator",
        "AZURE_OPENAI_ENDPOINT": sim.url,
        "RELAY_AUTH": "token",
        "RELAY_AUTH_TOKENS": f"alice:{ALICE},bob:{BOB}",
        "RELAY_BACKEND_TOKENS": f"shop:{BACKEND}",
        "RELAY_REDIS_URL": redis.url,
        "RELAY_LEASE_RENEW_SECONDS": str(RENEW_SECONDS),
        "RELAY_REDIS_TIMEOUT_SECONDS": "0.5",
        "RELAY_MAX_SESSIONS_PER_IDENTITY": "2",
        "RELAY_DRAIN_SECONDS": "1",
        **overrides,
    }


@pytest.fixture
def fleet(tmp_path: Path) -> FleetFactory:
    """`fleet(replicas=2, **env)`: Redis, the replicas with `env`, and nginx in front."""

    @contextlib.asynccontextmanager
    async def start(replicas: int = 2, **env: str) -> AsyncIterator[Fleet]:
        async with contextlib.AsyncExitStack() as stack:
            sim = await stack.enter_async_context(Simulator())
            redis = await stack.enter_async_context(redis_server(tmp_path / "redis"))
            processes = []
            for index in range(replicas):
                workdir = tmp_path / f"replica{index}"
                workdir.mkdir()
                processes.append(
                    await stack.enter_async_context(
                        relay_process(workdir, **replica_env(redis, sim, **env))
                    )
                )
            port = await stack.enter_async_context(
                nginx_balancer([p.port for p in processes], tmp_path / "nginx")
            )
            yield Fleet(redis, processes, port, sim, stack)

    return start


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}
