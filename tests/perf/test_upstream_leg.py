"""`python -m bench.upstream_leg`: its report and its frame bookkeeping (the run itself is `make bench-upstream-leg`)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.upstream_leg import FIGURES, Leg, _upstream_count, table


def _run(scale: float, counted: bool = True) -> dict[str, Any]:
    return {key: scale * (index + 1) for index, (key, _) in enumerate(FIGURES)} | {
        "flood_all_counted": counted
    }


def test_the_table_gives_medians_ratios_to_aiohttp_and_spreads() -> None:
    runs = {
        "aiohttp": [_run(1.0), _run(3.0), _run(2.0)],
        "picows": [_run(1.0), _run(1.0), _run(1.0)],
    }
    lines = table(runs).splitlines()
    assert lines[0] == "| figure | aiohttp | picows | picows/aiohttp | spread |"
    mixed = lines[2]
    assert mixed == "| CPU s per 1k events, mixed | 2 | 1 | 0.50x | ±50%, ±0% |"
    assert lines[-1] == "flood: every append counted upstream: yes"


def test_the_table_says_when_an_append_was_not_counted() -> None:
    runs = {"aiohttp": [_run(1.0)], "picows": [_run(1.0, counted=False)]}
    assert table(runs).splitlines()[-1] == "flood: every append counted upstream: NO"


async def test_a_waiter_gets_the_first_frame_with_its_head_and_every_frame_is_counted() -> None:
    leg = Leg()
    done = leg.wait_for(b'{"type":"response.done"')
    frames = [
        b'{"type":"response.created"}',
        b'{"type":"response.done","n":1}',
        b'{"type":"response.done","n":2}',
    ]
    leg.arrived(frames[0])
    assert not done.done()
    for frame in frames[1:]:
        leg.arrived(frame)
    assert await asyncio.wait_for(done, 1) == frames[1]
    assert (leg.received, leg.waiters) == (3, [])
    assert leg.received_bytes == sum(map(len, frames))


async def test_a_waiter_can_ask_for_a_part_of_the_frame_too() -> None:
    leg = Leg()
    named = leg.wait_for(b'{"type":"x"', b'"id":"count"')
    leg.arrived(b'{"type":"x","id":"p1"}')
    leg.arrived(b'{"type":"x","id":"count"}')
    assert await asyncio.wait_for(named, 1) == b'{"type":"x","id":"count"}'


class _ScriptedLeg(Leg):
    """Answers a `__count__` probe with a late probe echo, then the count's echo, in one turn."""

    def send(self, text: str, more: bool = False) -> None:
        loop = asyncio.get_running_loop()
        late = (
            b'{"type":"conversation.item.created","item":{"id":"p7","content":[{"text":"ping"}]}}'
        )
        count = (
            b'{"type":"conversation.item.created","item":{"id":"count","content":[{"text":"42"}]}}'
        )
        loop.call_soon(self.arrived, late)
        loop.call_soon(self.arrived, count)


async def test_the_upstream_count_skips_a_probe_echo_that_comes_in_the_same_turn() -> None:
    assert await _upstream_count(_ScriptedLeg()) == 42
