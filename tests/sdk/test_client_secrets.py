"""Client secrets minted by the official SDKs, unchanged, then used the way a browser uses them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from websockets.asyncio.client import connect

from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.sdk.support import NODE_DIR, SDK_DIR, pinned, run_client
from tests.sdk.tls import self_signed_certificate, tls_terminator
from tests.support.events import recv_until, send_event

MINT = SDK_DIR / "openai_python_mint.py"
NODE_MINT = NODE_DIR / "mint_client_secret.mjs"
NODE_CLIENT = NODE_DIR / "realtime_client.mjs"
BACKEND = "shop-backend-token-0123456789"
CLIENT_TOKEN = "web-client-token-0123456789"
AGENTS = [
    {
        "name": "support",
        "deployment": "gpt-realtime-support",
        "instructions": "SUPPORT-INSTRUCTIONS",
        "session": {"audio": {"output": {"voice": "marin"}}},
        "callers": ["shop", "web"],
    },
    {"name": "sales", "deployment": "gpt-realtime-sales", "callers": ["partner"]},
]


@asynccontextmanager
async def secrets_relay(sim: Simulator, tmp_path: Path) -> AsyncIterator[RunningRelay]:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(AGENTS), encoding="utf-8")
    settings = make_settings(
        upstream="simulator",
        azure_endpoint=sim.url,
        azure_api_key="sim-key",
        agents_file=path,
        auth="token",
        auth_tokens=(f"web:{CLIENT_TOKEN}",),
        backend_tokens=(f"shop:{BACKEND}",),
    )
    async with running_relay(settings) as relay:
        yield relay


async def python_mint(sdk: Path, port: int, agent: str, token: str = BACKEND) -> dict[str, Any]:
    run = await run_client(
        [str(sdk), str(MINT), str(port), agent, "alice"],
        cwd=SDK_DIR,
        env={"SDK_BACKEND_TOKEN": token},
    )
    assert run.returncode == 0, run.stderr
    return run.summary


async def test_openai_python_mints_a_secret_that_opens_the_pinned_session(
    sdk_python: Path, simulator: Simulator, tmp_path: Path
) -> None:
    """`client.realtime.client_secrets.create` gets an `ek_` secret; a browser-style client
    opens the agent with it as its subprotocol; its session.update cannot undo the pin."""
    async with secrets_relay(simulator, tmp_path) as relay:
        minted = await python_mint(sdk_python, relay.port, "support")
        assert minted["sdk"] == pinned(SDK_DIR / "requirements.txt", "openai")
        assert minted["status"] == 200, minted
        value = minted["value"]
        assert value.startswith("ek_")
        assert time.time() + 290 < minted["expires_at"] <= time.time() + 300
        session = minted["session"]
        assert session["type"] == "realtime"
        assert session["model"] == "support"
        assert session["output_modalities"] == ["text"]
        assert session["audio"]["output"]["voice"] == "marin"
        assert "SUPPORT" not in json.dumps(minted)

        protocols = ["realtime", f"openai-insecure-api-key.{value}"]
        async with connect(relay.ws_url("/realtime"), subprotocols=protocols) as ws:  # type: ignore[arg-type]
            await recv_until(ws, "session.updated")
            identities = [s.identity for s in relay.runtime.lifecycle.sessions()]
            await send_event(
                ws, {"type": "session.update", "session": {"output_modalities": ["audio"]}}
            )
            await recv_until(ws, "session.updated")
        upstream = simulator.connections[-1]
    assert identities == ["shop:alice"]
    assert upstream.handshake.query["model"] == "gpt-realtime-support"
    assert upstream.session.session["output_modalities"] == ["text"]
    assert upstream.session.session["instructions"] == "SUPPORT-INSTRUCTIONS"


async def test_openai_python_minting_is_refused_for_a_client_token_and_a_foreign_agent(
    sdk_python: Path, simulator: Simulator, tmp_path: Path
) -> None:
    async with secrets_relay(simulator, tmp_path) as relay:
        as_client = await python_mint(sdk_python, relay.port, "support", CLIENT_TOKEN)
        foreign = await python_mint(sdk_python, relay.port, "sales")
    assert as_client["status"] == 401
    assert foreign["status"] == 400
    assert foreign["body"]["code"] == "agent_not_allowed"


async def test_openai_node_mints_a_secret_and_its_browser_client_opens_the_agent(
    node_sdk: list[str], simulator: Simulator, tmp_path: Path
) -> None:
    """openai-node's `realtime.clientSecrets.create`, then its `OpenAIRealtimeWebSocket` with
    the secret as its key (sent as the subprotocol, as in a browser)."""
    cert, key = self_signed_certificate(tmp_path)
    async with secrets_relay(simulator, tmp_path) as relay:
        minted = await run_client(
            [*node_sdk, str(NODE_MINT), f"http://127.0.0.1:{relay.port}", "support", "bob"],
            cwd=NODE_DIR,
            env={"SDK_BACKEND_TOKEN": BACKEND, "NODE_NO_WARNINGS": "1"},
        )
        assert minted.returncode == 0, f"{minted.summary} {minted.stderr}"
        value = minted.summary["value"]
        assert value.startswith("ek_")
        assert minted.summary["session"]["model"] == "support"
        async with tls_terminator(relay.port, cert, key) as port:
            run = await run_client(
                [*node_sdk, str(NODE_CLIENT), "openai", f"https://127.0.0.1:{port}"],
                cwd=NODE_DIR,
                env={
                    "SDK_RELAY_TOKEN": value,
                    "NODE_EXTRA_CA_CERTS": str(cert),
                    "NODE_NO_WARNINGS": "1",
                },
            )
    assert run.returncode == 0, f"{run.summary} {run.stderr}"
    assert run.summary["status"] == "completed"
    assert "response.output_text.delta" in run.summary["types"]
    assert "response.output_audio.delta" not in run.summary["types"]  # text only, as pinned
    assert simulator.connections[-1].handshake.query["model"] == "gpt-realtime-support"
