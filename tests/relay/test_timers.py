"""`Timers`: many deadlines on one loop timer, fired on time and in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.timers import Timers, timers


class _Clock:
    """A loop whose time is set by the test; `call_at` is recorded, not scheduled."""

    def __init__(self) -> None:
        self.now = 0.0
        self.armed: list[float] = []
        self.errors: list[dict[str, Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> asyncio.TimerHandle:
        self.armed.append(when)
        loop = self

        class _Handle:
            def cancel(self) -> None:
                loop.armed.remove(when)

        return _Handle()  # type: ignore[return-value]

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.errors.append(context)


def _fire(shared: Timers, clock: _Clock) -> None:
    """The loop timer goes off: its handle is spent, and `Timers` runs what is due."""
    clock.armed.remove(min(clock.armed))
    shared._fire()


def _timers() -> tuple[Timers, _Clock]:
    clock = _Clock()
    return Timers(clock), clock  # type: ignore[arg-type]


def test_deadlines_fire_in_order_and_only_when_due() -> None:
    shared, clock = _timers()
    fired: list[str] = []
    shared.call_at(3.0, lambda: fired.append("c"))
    shared.call_at(1.0, lambda: fired.append("a"))
    shared.call_at(2.0, lambda: fired.append("b"))
    assert clock.armed == [1.0]  # one loop timer, for the earliest
    clock.now = 2.0
    _fire(shared, clock)
    assert fired == ["a", "b"]
    assert clock.armed == [3.0]
    clock.now = 3.0
    _fire(shared, clock)
    assert fired == ["a", "b", "c"]
    assert clock.armed == []
    assert len(shared) == 0


def test_a_cancelled_deadline_never_fires_and_is_dropped() -> None:
    shared, clock = _timers()
    fired: list[str] = []
    timer = shared.call_at(1.0, lambda: fired.append("x"))
    shared.call_at(2.0, lambda: fired.append("y"))
    timer.cancel()
    timer.cancel()  # idempotent
    assert timer.cancelled()
    clock.now = 2.0
    _fire(shared, clock)
    assert fired == ["y"]
    assert len(shared) == 0


def test_a_callback_adding_a_later_deadline_does_not_delay_an_earlier_one() -> None:
    shared, clock = _timers()
    fired: list[str] = []
    shared.call_at(1.0, lambda: shared.call_at(10.0, lambda: fired.append("late")))
    shared.call_at(5.0, lambda: fired.append("early"))
    clock.now = 1.0
    _fire(shared, clock)
    assert min(clock.armed) == 5.0
    clock.now = 5.0
    _fire(shared, clock)
    assert fired == ["early"]


def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    shared, clock = _timers()
    fired: list[str] = []

    def fail() -> None:
        raise ValueError("boom")

    shared.call_at(1.0, fail)
    shared.call_at(1.0, lambda: fired.append("after"))
    clock.now = 1.0
    _fire(shared, clock)
    assert fired == ["after"]
    assert isinstance(clock.errors[0]["exception"], ValueError)


def test_mostly_cancelled_heaps_are_compacted() -> None:
    shared, _ = _timers()
    kept = [shared.call_at(1000.0 + n, lambda: None) for n in range(10)]
    for n in range(200):
        shared.call_at(2000.0 + n, lambda: None).cancel()
    assert len(shared) < 100  # far-off cancelled deadlines do not pile up
    assert all(not timer.cancelled() for timer in kept)


async def test_deadlines_fire_on_the_real_loop() -> None:
    loop = asyncio.get_running_loop()
    shared = timers(loop)
    assert timers(loop) is shared
    done = loop.create_future()
    shared.call_later(0.01, lambda: done.set_result("fired"))
    assert await asyncio.wait_for(done, 30) == "fired"


@pytest.mark.parametrize("delay", [0.0, -1.0])
async def test_a_deadline_already_past_fires_at_once(delay: float) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    timers(loop).call_later(delay, lambda: done.set_result(True))
    assert await asyncio.wait_for(done, 30)
