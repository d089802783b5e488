"""What to do when a test's prerequisite (a browser, Node.js) is missing.

On a developer's machine the test is skipped with the reason. In CI
(`CI=true`) it fails: `.ci/run` installs every prerequisite, so a missing one
is a broken run, never a silent skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["missing"]


def missing(reason: str) -> NoReturn:
    """Skip locally, fail in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"prerequisite missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)
