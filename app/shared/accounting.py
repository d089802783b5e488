"""Admission and accounting over the shared state: leases, budgets and usage.

The route asks `admit` before it dials the upstream and `release` when the
session ends; sessions report their token usage through `usage`, which runs
the shared-state call in a task of its own so no pump ever waits for Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Literal, Protocol

from app.errors import Refusal, SharedStateError
from app.shared.state import Lease, SharedState

__all__ = ["Accounting", "UsageSession"]

_UNAVAILABLE = "The relay's shared state is unavailable; retry shortly."
_BUDGET = "The caller's daily token budget is used up."


class UsageSession(Protocol):
    identity: str | None
    agent: str

    def exhaust_budget(self) -> None: ...


class Accounting:
    def __init__(
        self,
        state: SharedState,
        *,
        max_per_identity: int,
        daily_tokens: int | None,
        failure_mode: Literal["closed", "open"],
        shared: bool = False,
        budget_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self.state = state
        self._shared = shared
        self._max_per_identity = max_per_identity
        self._daily_tokens = daily_tokens
        self._failure_mode = failure_mode
        self._budget_refused = budget_refused
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def reports_usage(self) -> bool:
        """Whether sessions report their usage: to shared counters, or for a budget."""
        return self._shared or self._daily_tokens is not None

    async def admit(
        self, session_id: str, identity: str | None, agent: str, agent_cap: int | None
    ) -> None:
        """Check the caller's budget and take its leases. Raises `Refusal`:
        429 `budget_exhausted`, 429 `too_many_sessions`, 503 `at_capacity`,
        503 `shared_state_unavailable`."""
        if self._daily_tokens is not None and identity is not None:
            try:
                used = await self.state.tokens_today(identity)
            except SharedStateError:
                if self._failure_mode == "closed":
                    raise Refusal(
                        503, "shared_state_unavailable", _UNAVAILABLE, retry_after=1
                    ) from None
                used = 0  # open: the budget is not known, so it is not enforced
            if used >= self._daily_tokens:
                self._budget_refused()
                raise Refusal(429, "budget_exhausted", _BUDGET)
        leases = []
        if identity is not None:
            leases.append(Lease(f"identity:{identity}", self._max_per_identity))
        if agent_cap is not None:
            leases.append(Lease(f"agent:{agent}", agent_cap))
        try:
            full = await self.state.acquire(session_id, leases)
        except SharedStateError:
            raise Refusal(503, "shared_state_unavailable", _UNAVAILABLE, retry_after=1) from None
        if full is None:
            return
        if full.key.startswith("identity:"):
            raise Refusal(429, "too_many_sessions", "Too many concurrent sessions for this caller.")
        raise Refusal(503, "at_capacity", "This agent is at capacity; retry shortly.")

    async def release(self, session_id: str) -> None:
        await self.state.release(session_id)

    def usage(self, session: UsageSession, tokens: int) -> None:
        """Add a session's new tokens to the shared counters, in a task; a caller that
        crosses its budget has its session ended (`budget_exhausted`, close 1008)."""
        task = asyncio.create_task(self._add(session, tokens), name="relay-usage")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _add(self, session: UsageSession, tokens: int) -> None:
        try:
            total = await self.state.add_usage(session.identity, session.agent, tokens)
        except SharedStateError:
            return  # counted by the state; the session's own line still has its usage
        budget = self._daily_tokens
        if budget is not None and session.identity is not None and total >= budget:
            self._budget_refused()
            session.exhaust_budget()

    async def aclose(self) -> None:
        """Let the usage reports in flight finish (each is bounded by the state's timeout)."""
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(self._tasks, timeout=5)
