"""What the SDK tests share: paths, the client runner, and the texts the simulator heard."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay

ROOT = Path(__file__).resolve().parents[2]


SDK_DIR = Path(__file__).resolve().parent


NODE_DIR = SDK_DIR / "node"


TOKEN = "sdk-token-0123456789abcdef"


PREVIEW_VERSION = "2025-04-01-preview"


RelayFactory = Callable[[str], AbstractAsyncContextManager[RunningRelay]]


def pinned(requirements: Path, name: str) -> str:
    """The version `requirements` pins `name` to (`name[extra]==v` lines)."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        package, _, version = line.partition("==")
        if package.split("[", 1)[0].strip().lower() == name:
            return version.strip()
    raise AssertionError(f"{requirements} does not pin {name}")


@dataclass(frozen=True)
class ClientRun:
    """What a client subprocess printed: its JSON summary, plus its stderr."""

    summary: dict[str, Any]
    returncode: int
    stderr: str


async def run_client(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, seconds: float = 20
) -> ClientRun:
    """Run a client subprocess without blocking the loop the relay serves on."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env={**os.environ, "SDK_RELAY_TOKEN": TOKEN, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(seconds):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = stdout.decode().strip().splitlines()
    summary: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return ClientRun(summary, process.returncode or 0, stderr.decode())


def user_texts(sim: Simulator) -> list[str]:
    """The `input_text` of every user message the simulator received."""
    return [
        part.get("text", "")
        for connection in sim.connections
        for event in connection.received_events()
        if event.get("type") == "conversation.item.create"
        for part in event.get("item", {}).get("content", [])
        if part.get("type") == "input_text"
    ]
