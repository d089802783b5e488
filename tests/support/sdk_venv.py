"""The SDK virtualenv (`.venv-sdk`) with the pinned openai-python, built once.

openai-python's realtime extra pins websockets<16 while the relay uses 17, so
the SDK lives in its own virtualenv. The SDK tests and the schema tests (which
validate server events with its models) share it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["REQUIREMENTS", "SDK_VENV", "sdk_venv_python"]

ROOT = Path(__file__).resolve().parents[2]
SDK_VENV = ROOT / ".venv-sdk"
REQUIREMENTS = ROOT / "tests" / "sdk" / "requirements.txt"
INSTALL_TIMEOUT = 600


def _run(command: list[str]) -> None:
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        command, cwd=ROOT, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def sdk_venv_python() -> Path:
    """The interpreter of `.venv-sdk`, (re)built from the pinned requirements if they changed."""
    python = SDK_VENV / "bin" / "python"
    stamp = SDK_VENV / "installed-requirements.txt"  # what the venv was built from
    pins = REQUIREMENTS.read_text(encoding="utf-8")
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == pins:
        return python
    _run([sys.executable, "-m", "venv", "--clear", str(SDK_VENV)])
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "-r", str(REQUIREMENTS)])
    stamp.write_text(pins, encoding="utf-8")
    return python
