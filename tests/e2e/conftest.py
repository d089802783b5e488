"""Fixtures for end-to-end tests: the simulator and a relay in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.settings import relay_settings

RelayFactory = Callable[..., AbstractAsyncContextManager[RunningRelay]]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator on an ephemeral loopback port that requires an api-key."""
    async with Simulator(api_key="sim-key") as sim:
        yield sim


@pytest.fixture(params=["ga", "preview"])
def dialect(request: pytest.FixtureRequest) -> str:
    """Run the test in both protocol dialects."""
    value: str = request.param
    return value


@pytest.fixture
async def relay(simulator: Simulator, dialect: str) -> AsyncIterator[RunningRelay]:
    """A relay in front of the simulator, in the dialect under test."""
    async with running_relay(make_settings(**relay_settings(simulator, dialect))) as running:
        yield running
