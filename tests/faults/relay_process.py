"""`python -m app` as a child process on a free loopback port, for signal and soak tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RelayProcess:
    proc: asyncio.subprocess.Process
    port: int
    lines: list[str]
    new_line: asyncio.Condition

    async def wait_for_line(self, text: str, seconds: float = 10.0) -> None:
        """Return once the relay has printed a line containing `text`."""
        async with asyncio.timeout(seconds), self.new_line:
            await self.new_line.wait_for(lambda: any(text in line for line in self.lines))

    def ws_url(self, path: str = "/realtime") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def rss_kib(self) -> int:
        """The relay's resident set size, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@contextlib.asynccontextmanager
async def relay_process(cwd: Path, **env: str) -> AsyncIterator[RelayProcess]:
    """Start the relay, wait for its "relay listening" line, and stop it on exit."""
    port = free_port()
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RELAY_", "AZURE_", "OPENAI_"))
    }
    full_env |= {"RELAY_HOST": "127.0.0.1", "RELAY_PORT": str(port), "RELAY_AUTH": "none"}
    full_env |= env
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        env=full_env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    reader = proc.stdout
    new_line = asyncio.Condition()

    async def pump() -> None:
        while line := await reader.readline():
            async with new_line:
                lines.append(line.decode())
                new_line.notify_all()

    started = asyncio.Event()

    async def watch() -> None:
        while line := await reader.readline():
            lines.append(line.decode())
            if "relay listening" in lines[-1]:
                started.set()
                break
        await pump()

    watcher = asyncio.create_task(watch())
    waiter = asyncio.create_task(started.wait())
    try:
        async with asyncio.timeout(30):
            await asyncio.wait([watcher, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        assert started.is_set(), "the relay exited early:\n" + "".join(lines)
        yield RelayProcess(proc, port, lines, new_line)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
