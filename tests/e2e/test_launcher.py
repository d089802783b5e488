"""`python -m app` as a real process: the way make run and the container start the relay."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.e2e.harness import recv_event


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _read_until(stream: asyncio.StreamReader, marker: str, lines: list[str]) -> None:
    async with asyncio.timeout(30):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("the relay exited early:\n" + "".join(lines))
            lines.append(line)
            if marker in line:
                return


@pytest.fixture
async def relay_process(tmp_path: Path) -> AsyncIterator[tuple[int, list[str]]]:
    """`python -m app` against the embedded simulator, on a free loopback port."""
    port = _free_port()
    env = {
        **os.environ,
        "RELAY_UPSTREAM": "simulator",
        "RELAY_HOST": "127.0.0.1",
        "RELAY_PORT": str(port),
        "RELAY_AUTH": "none",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        env=env,
        cwd=tmp_path,  # no developer .env is read
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        await _read_until(proc.stdout, "relay listening", lines)
        yield port, lines
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def test_python_m_app_serves_the_simulator_to_a_plain_client(
    relay_process: tuple[int, list[str]],
) -> None:
    """A plain WebSocket client gets session.created through `python -m app`."""
    port, lines = relay_process
    async with connect(f"ws://127.0.0.1:{port}/realtime", compression=None) as ws:
        created = await recv_event(ws)
    assert created["type"] == "session.created"
    assert any("SIMULATOR in use" in line for line in lines)


async def test_bad_configuration_exits_2_naming_the_variable(tmp_path: Path) -> None:
    """A missing Azure endpoint stops startup with exit status 2 and names the variable."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "RELAY_"))
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        env=env,
        cwd=tmp_path,  # no developer .env is read
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"AZURE_OPENAI_ENDPOINT" in stderr
