"""examples/mcp runs as the README says: its MCP server behind a relay, on the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.simulator import Simulator
from tests.e2e.harness import make_settings, running_relay
from tests.examples.test_tools_example import ask, tools_file
from tests.support.examples import example_process
from tests.support.settings import relay_settings

TOKENS = "support-web:" + "s" * 24 + ",web:" + "w" * 24


@pytest.fixture
async def mcp_port() -> AsyncIterator[int]:
    """`python -m examples.mcp.server`, as `make mcp-example` runs it."""
    async with example_process("examples.mcp.server") as port:
        yield port


async def test_the_example_mcp_tool_answers_each_caller_by_identity(
    mcp_port: int, tmp_path: Path
) -> None:
    """`kb__search` answers everyone on returns; the internal article only `support-web`."""
    async with Simulator(api_key="sim-key") as sim:
        values = relay_settings(
            sim,
            "ga",
            session={"output_modalities": ["text"]},
            tools_file=tools_file(tmp_path, mcp_port, "mcp", 8200),
            auth="token",
            auth_tokens=TOKENS,
        )
        async with running_relay(make_settings(**values)) as relay:
            await asyncio.wait_for(relay.runtime.mcp[0].listed.wait(), 20)
            returns = await ask(relay.ws_url(), "w" * 24, 'kb__search({"topic":"returns"})')
            agent = await ask(relay.ws_url(), "s" * 24, 'kb__search({"topic":"refund-override"})')
            other = await ask(relay.ws_url(), "w" * 24, 'kb__search({"topic":"refund-override"})')
    assert (
        returns
        == "Tool kb__search returned: Returns are free within 30 days; start one from the order page."
    )
    assert "refund up to 50 EUR" in agent
    assert other == "Tool kb__search returned: No article found."
