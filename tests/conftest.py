"""Shared fixtures: a clean environment for every test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings

from tests.support.token_endpoint import TokenEndpoint, serve_token_endpoint

# No deadlines: a busy or slow machine must not turn a passing property into a failure.
settings.register_profile("relay", deadline=None)
settings.load_profile("relay")

_CONFIG_PREFIXES = ("RELAY_", "AZURE_", "OPENAI_", "IDENTITY_", "MSI_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the machine's own RELAY_/AZURE_ variables out of every test."""
    for name in list(os.environ):
        if name.startswith(_CONFIG_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
async def token_endpoint(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TokenEndpoint]:
    """A fake managed-identity token endpoint for real azure-identity (tests/support)."""
    async with serve_token_endpoint(monkeypatch) as endpoint:
        yield endpoint
