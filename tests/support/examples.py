"""Running an example server the way its `make` target does, on a port it picks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@contextlib.asynccontextmanager
async def example_process(
    module: str, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[int]:
    """`python -m <module> --port 0 <args>` from the repository root; yields the port it took."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        "0",
        *args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            while (match := _LISTENING.search(await proc.stderr.readline())) is None:
                assert proc.returncode is None
        yield int(match.group(1))
    finally:
        proc.terminate()
        await proc.wait()
