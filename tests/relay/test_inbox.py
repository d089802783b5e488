"""`Inbox` and `Flag`: uvicorn's queue and event, without their deques."""

from __future__ import annotations

import asyncio

import pytest

from app.inbox import Flag, Inbox
from tests.support.loop import next_turn


async def test_inbox_gives_items_in_the_order_put() -> None:
    inbox: Inbox[int] = Inbox(asyncio.get_running_loop())
    for item in (1, 2, 3):
        inbox.put_nowait(item)
    assert inbox.qsize() == 3
    assert [await inbox.get() for _ in range(3)] == [1, 2, 3]
    assert inbox.empty()


async def test_inbox_reader_waits_until_an_item_is_put() -> None:
    inbox: Inbox[str] = Inbox(asyncio.get_running_loop())
    reader = asyncio.create_task(inbox.get())
    await next_turn()
    assert not reader.done()
    inbox.put_nowait("a")
    assert await reader == "a"


async def test_inbox_second_waiting_reader_is_refused() -> None:
    inbox: Inbox[str] = Inbox(asyncio.get_running_loop())
    first = asyncio.create_task(inbox.get())
    await next_turn()
    with pytest.raises(RuntimeError, match="another reader"):
        await inbox.get()
    inbox.put_nowait("x")
    assert await first == "x"


async def test_inbox_cancelled_reader_leaves_items_for_the_next() -> None:
    inbox: Inbox[str] = Inbox(asyncio.get_running_loop())
    reader = asyncio.create_task(inbox.get())
    await next_turn()
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    inbox.put_nowait("kept")
    assert await inbox.get() == "kept"


async def test_flag_wait_returns_at_once_when_set_and_waits_when_clear() -> None:
    flag = Flag()
    assert not flag.is_set()
    flag.set()
    assert await flag.wait() is True
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(2)]
    await next_turn()
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True]
    flag.set()  # setting a set flag changes nothing
    assert flag.is_set()


async def test_flag_cancelled_waiter_is_forgotten() -> None:
    flag = Flag()
    waiter = asyncio.create_task(flag.wait())
    await next_turn()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert flag._waiters == []
    flag.set()
    assert flag.is_set()
