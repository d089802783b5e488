"""Node packages for tests, installed from a directory's `package.json` (exact versions,
no lockfile) when missing or at another version."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.prerequisites import missing

__all__ = ["node_with"]

INSTALL_TIMEOUT = 600


def node_with(package_dir: Path, name: str) -> str:
    """The `node` binary, with `package_dir`'s pinned `name` installed in its node_modules.

    Skips locally and fails in CI (`missing`) without node and npm; fails when npm does."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("Node.js (node and npm) is not installed")
    package = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    wanted = package["dependencies"][name]
    installed = package_dir / "node_modules" / name / "package.json"
    if not installed.exists() or json.loads(installed.read_text("utf-8"))["version"] != wanted:
        command = [npm, "install", "--no-package-lock", "--no-audit", "--no-fund"]
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command,
            cwd=package_dir,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
    return node
