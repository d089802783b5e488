"""openai-node's `OpenAIRealtimeWebSocket`, unmodified, pointed at the relay.

openai-node only dials `wss://` URLs (it refuses `ws://`, even for a custom URL), so
the relay is reached through a TLS terminator with a throwaway certificate, which
Node trusts through NODE_EXTRA_CA_CERTS. Node 20 needs `--experimental-websocket`
for the global `WebSocket` the SDK uses (the `node_sdk` fixture adds it when needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.simulator import Simulator
from tests.sdk.support import NODE_DIR, RelayFactory, run_client, user_texts
from tests.sdk.tls import self_signed_certificate, tls_terminator

CLIENT = NODE_DIR / "realtime_client.mjs"
NODE_SDK_VERSION = json.loads((NODE_DIR / "package.json").read_text("utf-8"))["dependencies"][
    "openai"
]


@pytest.mark.parametrize(
    ("mode", "path"),
    [("openai", "/openai/v1/realtime"), ("azure", "/openai/v1/realtime")],
)
async def test_openai_node_realtime_websocket_converses_through_relay(
    node_sdk: list[str],
    relay_for: RelayFactory,
    simulator: Simulator,
    tmp_path: Path,
    mode: str,
    path: str,
) -> None:
    """`OpenAIRealtimeWebSocket` (OpenAI or Azure client) gets a full GA reply via the relay."""
    cert, key = self_signed_certificate(tmp_path)
    async with relay_for("ga") as relay, tls_terminator(relay.port, cert, key) as port:
        run = await run_client(
            [*node_sdk, str(CLIENT), mode, f"https://127.0.0.1:{port}"],
            cwd=NODE_DIR,
            env={"NODE_EXTRA_CA_CERTS": str(cert), "NODE_NO_WARNINGS": "1"},
        )
    summary = run.summary
    assert run.returncode == 0, f"{summary} {run.stderr}"
    assert summary["sdk"] == NODE_SDK_VERSION
    assert summary["url"].startswith(f"wss://127.0.0.1:{port}{path}?")
    assert summary["status"] == "completed"
    assert summary["text"] == "You said: hello node"
    assert summary["audioBytes"] > 0
    assert "response.output_audio.delta" in summary["types"]
    assert user_texts(simulator) == ["hello node"]
