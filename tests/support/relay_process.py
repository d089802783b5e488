"""`python -m app` as a child process on a free loopback port, for launcher, signal and soak tests.

The child reads no developer `.env` (its working directory is a temporary
one) and none of this process's RELAY_/AZURE_/OPENAI_ variables: only the
environment a test gives it, on top of loopback defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.support.net import free_port

__all__ = ["RelayProcess", "relay_process", "run_relay_to_exit"]

_DEFAULTS = {"RELAY_HOST": "127.0.0.1", "RELAY_AUTH": "none", "RELAY_DRAIN_SECONDS": "1"}


class RelayProcess:
    """One running relay: its port, its stdout lines as they arrive, and its stderr at exit."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.lines: list[str] = []
        self.stderr = b""
        self._new_line = asyncio.Condition()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str = "/realtime") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def rss_kib(self) -> int:
        """The relay's resident set size, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    async def wait_for_line(self, text: str, seconds: float = 20.0) -> str:
        """The first stdout line containing `text`, once the relay has printed it."""
        async with asyncio.timeout(seconds), self._new_line:
            await self._new_line.wait_for(lambda: any(text in line for line in self.lines))
        return next(line for line in self.lines if text in line)

    async def stop(self) -> int:
        """SIGTERM, then wait (bounded) for the exit; the exit status."""
        if self.proc.returncode is None:
            self.proc.terminate()
        async with asyncio.timeout(30):
            return await self.proc.wait()

    async def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            async with self._new_line:
                self.lines.append(raw.decode())
                self._new_line.notify_all()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = await self.proc.stderr.read()


async def _start(cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`python -m app` with `env` over this environment less its RELAY_/AZURE_/OPENAI_."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RELAY_", "AZURE_", "OPENAI_"))
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        env=inherited | env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@contextlib.asynccontextmanager
async def relay_process(cwd: Path, **env: str) -> AsyncIterator[RelayProcess]:
    """Start the relay with `env`, wait for its "relay listening" line, and kill it on exit."""
    port = free_port()
    proc = await _start(cwd, {**_DEFAULTS, "RELAY_PORT": str(port), **env})
    relay = RelayProcess(proc, port)
    readers = [
        asyncio.create_task(relay._pump_stdout()),
        asyncio.create_task(relay._read_stderr()),
    ]
    try:
        exited = asyncio.create_task(proc.wait())
        listening = asyncio.create_task(relay.wait_for_line("relay listening", 30))
        await asyncio.wait([exited, listening], return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if not listening.done() or listening.exception() is not None:
            listening.cancel()
            raise AssertionError("the relay exited early:\n" + "".join(relay.lines))
        yield relay
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        async with asyncio.timeout(10):
            await asyncio.gather(*readers, return_exceptions=True)


async def run_relay_to_exit(cwd: Path, **env: str) -> tuple[int, bytes]:
    """Run a relay that is expected to stop by itself (a bad configuration, say); bounded.

    Returns the exit status and what it wrote to stderr. Only `env` is given
    to it, on top of this process's environment without RELAY_/AZURE_/OPENAI_.
    """
    proc = await _start(cwd, env)
    try:
        async with asyncio.timeout(30):
            _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, stderr
