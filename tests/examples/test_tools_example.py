"""examples/tools runs as the README says: its tool server behind a relay, on the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.client import connect

from app.simulator import Simulator
from examples.tools.server import verify_signature
from tests.e2e.harness import make_settings, running_relay
from tests.support.events import recv_until, send_event, user_text
from tests.support.examples import ROOT, example_process
from tests.support.settings import relay_settings

SECRET = "example-signing-secret-" + "x" * 20
TOKENS = "support-web:" + "s" * 24 + ",web:" + "w" * 24


@pytest.fixture
async def example_server() -> AsyncIterator[int]:
    """`python -m examples.tools.server`, as `make tools-example` runs it."""
    env = {"RELAY_TOOLS_SIGNING_SECRET": SECRET}
    async with example_process("examples.tools.server", env=env) as port:
        yield port


def tools_file(tmp_path: Path, port: int, example: str = "tools", default_port: int = 8100) -> Path:
    """An example's tools file, pointed at the port the example server took."""
    text = (ROOT / "examples" / example / "tools.yaml").read_text()
    tools: list[dict[str, Any]] = yaml.safe_load(text)
    for tool in tools:
        tool["url"] = tool["url"].replace(f":{default_port}/", f":{port}/")
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump(tools))
    return path


async def ask(url: str, token: str | None, text: str) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with connect(url, additional_headers=headers) as ws:
        await recv_until(ws, "session.created")
        await send_event(ws, user_text(text))
        await send_event(ws, {"type": "response.create"})
        while True:
            done, _ = await recv_until(ws, "response.done", 10)
            output = done["response"]["output"]
            if output:
                return str(output[0]["content"][0]["text"])


async def test_the_example_tool_answers_through_the_relay(
    example_server: int, tmp_path: Path
) -> None:
    """'lookup_order({"id":"42"})' typed by a client is answered with the example's status."""
    async with Simulator(api_key="sim-key") as sim:
        values = relay_settings(
            sim,
            "ga",
            session={"output_modalities": ["text"]},
            tools_file=tools_file(tmp_path, example_server),
            tools_signing_secret=SECRET,
        )
        async with running_relay(make_settings(**values)) as relay:
            answer = await ask(relay.ws_url(), None, 'lookup_order({"id":"42"})')
    assert "Tool lookup_order returned:" in answer
    assert "shipped on Monday" in answer


async def test_the_example_authorises_each_caller_by_identity(
    example_server: int, tmp_path: Path
) -> None:
    """Order 77 belongs to `support-web`: that caller sees it, `web` does not."""
    async with Simulator(api_key="sim-key") as sim:
        values = relay_settings(
            sim,
            "ga",
            session={"output_modalities": ["text"]},
            tools_file=tools_file(tmp_path, example_server),
            tools_signing_secret=SECRET,
            auth="token",
            auth_tokens=TOKENS,
        )
        async with running_relay(make_settings(**values)) as relay:
            owner = await ask(relay.ws_url(), "s" * 24, 'lookup_order({"id":"77"})')
            other = await ask(relay.ws_url(), "w" * 24, 'lookup_order({"id":"77"})')
    assert "waiting for payment" in owner
    assert "waiting for payment" not in other
    assert other == 'Tool lookup_order returned: {"found":false}'


def test_the_example_refuses_a_bad_signature_or_an_old_timestamp() -> None:
    """A changed body, a wrong secret or a stale timestamp fail verification."""
    import hashlib
    import hmac
    import time

    body = b'{"name":"lookup_order"}'
    now = str(int(time.time()))
    good = (
        "sha256=" + hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    )
    assert verify_signature(SECRET, now, good, body)
    assert not verify_signature(SECRET, now, good, body + b" ")
    assert not verify_signature("another-secret", now, good, body)
    old = str(int(time.time()) - 3600)
    stale = (
        "sha256=" + hmac.new(SECRET.encode(), f"{old}.".encode() + body, hashlib.sha256).hexdigest()
    )
    assert not verify_signature(SECRET, old, stale, body)
    assert not verify_signature(SECRET, "not-a-number", good, body)
