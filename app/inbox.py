"""A WebSocket connection's two waiting points, lighter than asyncio's.

uvicorn gives each connection an `asyncio.Queue` for the messages the app has
not taken yet and an `asyncio.Event` for "the transport is writable". Each
holds `collections.deque`s (three in the queue, one in the event), 760 bytes
apiece even when empty, for the whole life of the connection: about 3 KiB of
an idle session. These two do the same jobs with a list and a single waiter,
allocated only while someone waits.

`Inbox` has one reader at a time (the ASGI app's `receive`); a second reader
waiting at once is a bug, and is told so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Flag", "Inbox"]

T = TypeVar("T")


class Inbox(Generic[T]):
    """The messages read from the client and not yet taken by the app, in order."""

    __slots__ = ("_items", "_loop", "_waiter", "lane")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._items: list[T] = []  # short: the protocol stops reading while any wait here
        # Given, not looked up per wait: get_running_loop() costs a getpid() system call.
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        # The app's synchronous lane (`INBOX`), set by the app: the protocol gives it
        # a text message read while nothing waits here, with whether more bytes of
        # the same read follow; it returns None when it took the message, else the
        # item to queue in its place.
        self.lane: Callable[[str, bool], T | None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def waiting(self) -> bool:
        """Whether a message is here, so `get` will not wait (the `INBOX` extension)."""
        return bool(self._items)

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> T:
        items = self._items
        while not items:
            if self._waiter is not None:
                raise RuntimeError("Inbox.get: another reader is already waiting")
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return items.pop(0)


class Flag:
    """`asyncio.Event`'s `set`, `clear`, `is_set` and `wait`, without its deque."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True
