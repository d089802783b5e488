"""Fixtures for the drop-in SDK tests: stock clients against a relay in front of the simulator.

The SDKs run as subprocesses in their own environments:

- openai-python in `.venv-sdk` (its `realtime` extra pins websockets<16, the relay uses 17),
  built from `tests/sdk/requirements.txt` when missing or outdated;
- openai-node in `tests/sdk/node/node_modules`, installed from `package.json` (exact
  version, no lockfile) when missing or outdated.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.sdk.support import NODE_DIR, PREVIEW_VERSION, TOKEN, RelayFactory
from tests.support.node_packages import node_with
from tests.support.sdk_venv import sdk_venv_python


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """The interpreter of `.venv-sdk`, (re)built with the pinned openai-python if needed."""
    return sdk_venv_python()


@pytest.fixture(scope="session")
def node_sdk() -> list[str]:
    """The `node` command line, with the pinned openai-node installed in tests/sdk/node.

    Node 20 has the global `WebSocket` the SDK uses only behind `--experimental-websocket`.
    """
    node = node_with(NODE_DIR, "openai")
    probe = [node, "-e", "process.stdout.write(typeof WebSocket)"]
    native = subprocess.run(probe, capture_output=True, text=True, check=False)  # noqa: S603
    return [node] if native.stdout == "function" else [node, "--experimental-websocket"]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator that requires the relay's own api-key."""
    async with Simulator(api_key="sim-key") as sim:
        yield sim


@pytest.fixture
def relay_for(simulator: Simulator) -> RelayFactory:
    """Start a token-protected relay in front of the simulator in dialect `ga` or `preview`."""

    def start(dialect: str) -> AbstractAsyncContextManager[RunningRelay]:
        values: dict[str, Any] = {
            "upstream": "simulator",
            "azure_endpoint": simulator.url,
            "azure_deployment": "gpt-realtime",
            "azure_api_key": "sim-key",
            "auth": "token",
            "auth_tokens": (f"sdk:{TOKEN}",),
        }
        if dialect == "preview":
            values["azure_api_version"] = PREVIEW_VERSION
        return running_relay(make_settings(**values))

    return start
