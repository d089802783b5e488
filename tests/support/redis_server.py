"""A real `redis-server` (Debian's package) on a free loopback port, persistence off."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import redis.asyncio as aioredis

from tests.support.net import free_port
from tests.support.prerequisites import missing

__all__ = ["RedisServer", "redis_server"]


class RedisServer:
    """One redis-server; `stop` and `start` again keep its port (and lose its data)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> aioredis.Redis:
        return aioredis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = self.client()
        try:
            async with asyncio.timeout(20):
                while True:
                    with contextlib.suppress(OSError, aioredis.ConnectionError):
                        if await client.ping():
                            return
                    assert self.proc.returncode is None, "redis-server exited"
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(20):
                await proc.wait()

    async def commandstats(self) -> dict[str, int]:
        """Calls per command since the last `CONFIG RESETSTAT` (INFO commandstats)."""
        client = self.client()
        try:
            info = await client.info("commandstats")
        finally:
            await client.aclose()
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}

    async def reset_stats(self) -> None:
        client = self.client()
        try:
            await client.config_resetstat()
        finally:
            await client.aclose()


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


@contextlib.asynccontextmanager
async def redis_server(workdir: Path) -> AsyncIterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (Debian package redis-server)")
    _make_dir(workdir)
    server = RedisServer(binary, workdir)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
