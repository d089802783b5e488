"""One event-loop timer for the deadlines of every session.

Each open session waits on three deadlines: its limits (idle, duration), the
upstream keepalive ping and the client keepalive ping. As uvloop timer
handles they cost about 590 bytes each (tracemalloc: the handle, and the libuv
timer behind it); as entries of one shared heap, about 200. `Timers` keeps the
entries in a heap and a single `loop.call_at` for the earliest; it fires on
time (no wheel granularity), in deadline order, and a callback that raises is
reported to the loop's exception handler without stopping the others, as
asyncio does. Cancelled entries are dropped when they reach the top, or all
at once when they are most of the heap, so sessions that end early leave
nothing behind.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import weakref
from collections.abc import Callable

__all__ = ["Timer", "Timers", "timers"]

_COMPACT_MIN = 64  # below this many cancelled entries, never rebuild the heap
# Entries due this close to now run now: the loop's timer may wake a hair early
# (libuv counts whole milliseconds), and asyncio allows its clock resolution too.
_EARLY = 0.001


class Timer:
    """One deadline; `cancel()` it as an asyncio handle."""

    __slots__ = ("callback", "owner", "seq", "when")

    def __init__(
        self, when: float, seq: int, callback: Callable[[], object], owner: Timers
    ) -> None:
        self.when = when
        self.seq = seq
        self.callback: Callable[[], object] | None = callback
        self.owner = owner

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancelled(self) -> bool:
        return self.callback is None

    def cancel(self) -> None:
        if self.callback is not None:
            self.callback = None
            self.owner.cancelled_one()


class Timers:
    """Deadlines on one loop, in one heap, behind one loop timer."""

    __slots__ = ("__weakref__", "_at", "_cancelled", "_handle", "_heap", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None  # when `_handle` fires
        self._cancelled = 0

    def __len__(self) -> int:
        """Entries held, cancelled ones not yet dropped included."""
        return len(self._heap)

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        timer = Timer(when, next(self._seq), callback, self)
        heapq.heappush(self._heap, timer)
        if self._at is None or when < self._at:
            self._arm(when)
        return timer

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return self.call_at(self._loop.time() + delay, callback)

    def cancelled_one(self) -> None:
        self._cancelled += 1
        heap = self._heap
        if self._cancelled >= _COMPACT_MIN and self._cancelled * 2 > len(heap):
            self._heap = [timer for timer in heap if timer.callback is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._fire)
        self._at = when

    def _fire(self) -> None:
        self._handle = self._at = None
        heap = self._heap
        due = self._loop.time() + _EARLY
        while heap and heap[0].when <= due:
            timer = heapq.heappop(heap)
            callback = timer.callback
            if callback is None:
                self._cancelled -= 1
                continue
            timer.callback = None
            try:
                callback()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # reported as asyncio reports a failing handle
                self._loop.call_exception_handler(
                    {"message": "Exception in a timer callback", "exception": exc}
                )
        while heap and heap[0].callback is None:
            heapq.heappop(heap)
            self._cancelled -= 1
        # A callback may have added a deadline (and armed for it); the earliest decides.
        if heap and (self._at is None or heap[0].when < self._at):
            self._arm(heap[0].when)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Timers] = weakref.WeakKeyDictionary()


def timers(loop: asyncio.AbstractEventLoop) -> Timers:
    """The shared `Timers` of `loop`, made on first use."""
    shared = _BY_LOOP.get(loop)
    if shared is None:
        shared = _BY_LOOP[loop] = Timers(loop)
    return shared
