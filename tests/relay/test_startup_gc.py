"""`python -m app` takes what startup left out of the garbage collector's reach (gc.freeze)."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from pathlib import Path

from tests.e2e.harness import make_settings, running_relay

PROJECT = Path(__file__).resolve().parents[2]
# Freezing changes the collector of the whole process: measured in a process of its own.
_FROZEN_AT_LISTENING = """
import asyncio, gc
from tests.e2e.harness import make_settings, running_relay

async def main():
    settings = make_settings(upstream="simulator", azure_endpoint="http://127.0.0.1:9")
    async with running_relay(settings, freeze_startup=True) as relay:
        assert relay.server.listening.is_set()
        print("frozen", gc.get_freeze_count(), flush=True)

asyncio.run(main())
"""


async def test_the_relays_own_process_freezes_what_startup_left() -> None:
    """Frozen once listening, so later full collections skip the app's own objects."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _FROZEN_AT_LISTENING,
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with asyncio.timeout(60):
        out, _ = await child.communicate()
    assert child.returncode == 0
    (line,) = [x for x in out.decode().splitlines() if x.startswith("frozen ")]
    assert int(line.split()[1]) > 10_000  # the app, its modules and their caches


async def test_a_relay_embedded_in_another_process_leaves_its_collector_alone() -> None:
    settings = make_settings(upstream="simulator", azure_endpoint="http://127.0.0.1:9")
    frozen_before = gc.get_freeze_count()
    async with running_relay(settings) as relay:
        assert relay.server.listening.is_set()
        assert gc.get_freeze_count() == frozen_before
