"""`python -m app` takes what startup left out of the garbage collector's reach (gc.freeze)."""

from __future__ import annotations

import gc

import pytest

from tests.e2e.harness import make_settings, running_relay


@pytest.mark.parametrize("freeze", [True, False], ids=["python-m-app", "embedded"])
async def test_startup_objects_are_frozen_only_for_the_relays_own_process(freeze: bool) -> None:
    """Frozen once listening, so later full collections skip the app's own objects; a
    relay embedded in another process (these tests) leaves that process's collector alone."""
    settings = make_settings(upstream="simulator", azure_endpoint="http://127.0.0.1:9")
    frozen_before = gc.get_freeze_count()
    try:
        async with running_relay(settings, freeze_startup=freeze) as relay:
            assert relay.server.listening.is_set()
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    if freeze:
        assert frozen > frozen_before
        assert frozen > 10_000  # the app, its modules and their caches
    else:
        assert frozen == frozen_before
