"""The ``python -m app.simulator`` command line."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import pytest

from app.simulator import Simulator
from app.simulator.__main__ import parse_args, serve_until_stopped


def test_parse_args_defaults_and_options() -> None:
    """Defaults bind 127.0.0.1:9000 without a key; options override them."""
    defaults = parse_args([])
    assert (defaults.host, defaults.port, defaults.api_key) == ("127.0.0.1", 9000, None)
    custom = parse_args(["--host", "0.0.0.0", "--port", "0", "--api-key", "k"])
    assert (custom.host, custom.port, custom.api_key) == ("0.0.0.0", 0, "k")


async def test_serve_logs_that_it_is_a_simulator_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Startup logs the SIMULATOR banner with the URL, and a set stop event shuts it down."""
    caplog.set_level(logging.INFO, logger="app.simulator")
    stop = asyncio.Event()
    stop.set()
    simulator = Simulator()
    await serve_until_stopped(simulator, stop)
    text = caplog.text
    assert (
        "SIMULATOR in use: this is a local stand-in for Azure OpenAI, not the real service" in text
    )
    assert "http://127.0.0.1:" in text
    with pytest.raises(RuntimeError):
        _ = simulator.port


async def test_module_runs_until_sigterm() -> None:
    """``python -m app.simulator --port 0`` logs the banner, then exits cleanly on SIGTERM."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.simulator",
        "--port",
        "0",
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(10):
            lines: list[str] = []
            while not any("SIMULATOR endpoint" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, "simulator exited before logging its endpoint"
                lines.append(line)
            process.send_signal(signal.SIGTERM)
            await process.stderr.read()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert any("SIMULATOR in use" in line for line in lines)
