"""Values the observability suite's relays and clients share."""

from __future__ import annotations

from typing import Any

from app.simulator import Simulator
from tests.support.settings import relay_settings

ALICE = "alice-token-obs-0123456789"


BOB = "bob-token-obs-9876543210xx"


ORIGIN = "https://app.example.com"


SIM_KEY = "sim-api-key-obs-5f3a9c0e7d21"


def relay_values(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    """Settings values for a GA relay in front of `sim` with its api-key."""
    return relay_settings(sim, "ga", **{"azure_api_key": SIM_KEY, **overrides})
