"""`python -m app` as a real process: the way make run and the container start the relay."""

from __future__ import annotations

from pathlib import Path

from websockets.asyncio.client import connect

from tests.support.events import recv_event
from tests.support.relay_process import relay_process, run_relay_to_exit


async def test_python_m_app_serves_the_simulator_to_a_plain_client(tmp_path: Path) -> None:
    """A plain WebSocket client gets session.created through `python -m app`."""
    async with relay_process(tmp_path, RELAY_UPSTREAM="simulator") as relay:
        async with connect(relay.ws_url(), compression=None) as ws:
            created = await recv_event(ws)
        lines = list(relay.lines)
    assert created["type"] == "session.created"
    assert any("SIMULATOR in use" in line for line in lines)


async def test_bad_configuration_exits_2_naming_the_variable(tmp_path: Path) -> None:
    """A missing Azure endpoint stops startup with exit status 2 and names the variable."""
    returncode, stderr = await run_relay_to_exit(tmp_path)
    assert returncode == 2
    assert b"AZURE_OPENAI_ENDPOINT" in stderr
