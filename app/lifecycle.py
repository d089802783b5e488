"""Live sessions and draining: what the launcher needs for a graceful stop.

    RUNNING ──SIGTERM──▶ DRAINING ──sessions gone or drain over──▶ STOPPING

While draining, `/readyz` answers 503 and new upgrades get 503; open
sessions go on until `RELAY_DRAIN_SECONDS`, then each is told
`server_shutting_down` and closed with 1012.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import Enum

from app.relay import RelaySession

__all__ = ["Lifecycle", "Phase"]

logger = logging.getLogger(__name__)


class Phase(Enum):
    RUNNING = "running"
    DRAINING = "draining"
    STOPPING = "stopping"


class Lifecycle:
    """Tracks live sessions; runs the drain sequence once."""

    def __init__(self) -> None:
        self.phase = Phase.RUNNING
        self._sessions: set[RelaySession] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    @property
    def accepting(self) -> bool:
        return self.phase is Phase.RUNNING

    @property
    def live(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[RelaySession]:
        return list(self._sessions)

    def add(self, session: RelaySession) -> None:
        self._sessions.add(session)
        self._empty.clear()

    def discard(self, session: RelaySession) -> None:
        self._sessions.discard(session)
        if not self._sessions:
            self._empty.set()

    async def drain(self, drain_seconds: float, close_seconds: float) -> None:
        """Stop accepting, let sessions finish for `drain_seconds`, then end the rest.

        Returns once every session has gone, or `close_seconds` after telling
        the remaining ones to stop. Calling it again while it runs is a no-op.
        """
        if self.phase is not Phase.RUNNING:
            return
        self.phase = Phase.DRAINING
        logger.warning(
            "draining: %d open sessions may continue for up to %.0f s", self.live, drain_seconds
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_seconds):
                await self._empty.wait()
        self.phase = Phase.STOPPING
        if self._sessions:
            logger.warning("drain time over: closing %d sessions with 1012", self.live)
            for session in list(self._sessions):
                session.shutdown()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(close_seconds):
                    await self._empty.wait()
