"""Event-loop helpers for tests."""

from __future__ import annotations

import asyncio

__all__ = ["next_turn"]


async def next_turn() -> None:
    """Resume after the callbacks already scheduled have run (a task just created has
    run up to its first wait, a `call_soon` flush has happened): no timing involved."""
    loop = asyncio.get_running_loop()
    turn = loop.create_future()
    loop.call_soon(turn.set_result, None)
    await turn
