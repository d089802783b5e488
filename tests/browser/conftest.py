"""Fixtures for real-browser tests: Debian's Chromium driven by Playwright, fed a tone.

Playwright's own browser download is not used. The tests need `/usr/bin/chromium`
(Debian package `chromium`); when it is missing and this process may run apt-get,
one installation attempt is made, and only if that fails are the tests skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright

from tests.browser.audio import write_tone_wav
from tests.support.prerequisites import missing

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "apt-get update && apt-get install -y chromium"


def _find_chromium() -> str | None:
    for candidate in (CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _try_install() -> str:
    """One attempt at installing Debian's chromium; returns why it failed, or ""."""
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        return "apt-get is unavailable or this is not root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [apt_get, "update", "-q"],
        [apt_get, "install", "-y", "-q", "chromium"],
    ):
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode != 0:
            return f"{' '.join(command[1:])} failed: {done.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium, installed once if missing; skips (fails in CI) if that is impossible."""
    found = _find_chromium()
    if found is None:
        problem = _try_install()
        found = _find_chromium()
        if found is None:
            missing(
                f"Chromium not found at {CHROMIUM} and could not be installed ({problem}); "
                f"install it with: {INSTALL_HINT}"
            )
    return found


@pytest.fixture(scope="session")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 kHz mono wav: 1.5 s of 440 Hz at half scale, then 1 s of silence."""
    path = tmp_path_factory.mktemp("audio") / "tone-440.wav"
    write_tone_wav(path, tone_ms=1500, silence_ms=1000)
    return path


@pytest.fixture(scope="session")
def silent_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 kHz mono wav of digital silence: the simulator's VAD never hears a turn."""
    path = tmp_path_factory.mktemp("audio") / "silence.wav"
    write_tone_wav(path, tone_ms=0, silence_ms=1000)
    return path


@contextlib.asynccontextmanager
async def launch_chromium(
    chromium_path: str, microphone_wav: Path, profile: Path
) -> AsyncIterator[BrowserContext]:
    """A headless Chromium whose fake microphone plays `microphone_wav` in a loop."""
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
    ]
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=args,
            viewport={"width": 900, "height": 700},
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def tone_browser(
    chromium_path: str, tone_wav: Path, tmp_path: Path
) -> AsyncIterator[BrowserContext]:
    """Chromium with a microphone that repeats: 1.5 s of 440 Hz, 1 s of silence."""
    async with launch_chromium(chromium_path, tone_wav, tmp_path / "profile") as browser:
        yield browser


@pytest.fixture
async def silent_browser(
    chromium_path: str, silent_wav: Path, tmp_path: Path
) -> AsyncIterator[BrowserContext]:
    """Chromium with a silent microphone, for deterministic text-only exchanges."""
    async with launch_chromium(chromium_path, silent_wav, tmp_path / "profile") as browser:
        yield browser
