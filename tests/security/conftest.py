"""Fixtures for the security suite: a token-protected relay in front of the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.security.tokens import ALICE, BOB
from tests.support.settings import relay_settings


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator that requires the relay's api-key."""
    async with Simulator(api_key="sim-key") as sim:
        yield sim


@pytest.fixture
async def relay(simulator: Simulator) -> AsyncIterator[RunningRelay]:
    """A GA relay with static tokens for alice and bob and one allowed web origin."""
    settings = make_settings(
        **relay_settings(simulator, "ga"),
        auth="token",
        auth_tokens=(f"alice:{ALICE}", f"bob:{BOB}"),
        allowed_origins=("https://app.example.com",),
    )
    async with running_relay(settings) as running:
        yield running
