"""Shared state: session leases, client secrets and token usage, in process or in Redis.

A WebSocket session lives on one replica for its whole life, so the audio path
stays local; only admission (leases), accounting (usage) and client secrets
cross replicas. `LocalState` keeps them in this process; `RedisState` in Redis,
shared by every replica.
"""

from app.shared.local import LocalState
from app.shared.state import Lease, SharedState, utc_day

__all__ = ["Lease", "LocalState", "SharedState", "utc_day"]
