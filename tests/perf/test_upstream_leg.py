"""`python -m bench.upstream_leg`: its report and its frame bookkeeping (the run itself is `make bench-upstream-leg`)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.upstream_leg import FIGURES, Leg, table


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
