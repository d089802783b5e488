"""Fixtures: a started simulator per test, stopped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.simulator import Simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator on a free port that accepts any credentials."""
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def secured_sim() -> AsyncIterator[Simulator]:
    """A simulator requiring api key ``good-key`` or bearer token ``good-token``."""
    async with Simulator(api_key="good-key", bearer_tokens={"good-token"}) as simulator:
        yield simulator
