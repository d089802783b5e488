"""Helpers for the observability suite: log capture, /metrics scraping, scripted upstreams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.simulator import Simulator
from tests.observability.values import SIM_KEY


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator on an ephemeral loopback port that requires `SIM_KEY`."""
    async with Simulator(api_key=SIM_KEY) as sim:
        yield sim


# -- log capture ---------------------------------------------------------------


# -- metrics -------------------------------------------------------------------


# -- usage ---------------------------------------------------------------------


# -- `python -m app` as a subprocess ---------------------------------------------------
