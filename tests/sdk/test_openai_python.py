"""openai-python's realtime client, unmodified, pointed at the relay instead of Azure."""

from __future__ import annotations

from pathlib import Path

from app.simulator import Simulator
from tests.sdk.support import SDK_DIR, RelayFactory, pinned, run_client, user_texts

CLIENT = SDK_DIR / "openai_python_client.py"
SDK_VERSION = pinned(SDK_DIR / "requirements.txt", "openai")


async def test_openai_python_ga_client_converses_through_relay(
    sdk_python: Path, relay_for: RelayFactory, simulator: Simulator
) -> None:
    """`AsyncOpenAI(websocket_base_url=.../openai/v1)` gets a full GA reply via the relay."""
    async with relay_for("ga") as relay:
        run = await run_client([str(sdk_python), str(CLIENT), "ga", str(relay.port)], cwd=SDK_DIR)
    assert run.returncode == 0, run.stderr
    summary = run.summary
    assert summary["sdk"] == SDK_VERSION
    assert summary["status"] == "completed"
    assert summary["text"] == "You said: hello sdk"
    assert summary["audio_bytes"] > 0
    assert "response.output_audio_transcript.delta" in summary["types"]
    assert "response.output_audio.delta" in summary["types"]
    assert simulator.handshakes[0].path == "/openai/v1/realtime"
    assert user_texts(simulator) == ["hello sdk"]


async def test_openai_python_azure_preview_client_converses_through_relay(
    sdk_python: Path, relay_for: RelayFactory, simulator: Simulator
) -> None:
    """`AsyncAzureOpenAI(api_version=2025-04-01-preview)` gets a full preview reply via the relay."""
    async with relay_for("preview") as relay:
        run = await run_client(
            [str(sdk_python), str(CLIENT), "azure-preview", str(relay.port)], cwd=SDK_DIR
        )
    assert run.returncode == 0, run.stderr
    summary = run.summary
    assert summary["sdk"] == SDK_VERSION
    assert summary["status"] == "completed"
    assert summary["text"] == "You said: hello sdk"
    assert summary["audio_bytes"] > 0
    assert "response.audio_transcript.delta" in summary["types"]
    assert "response.audio.delta" in summary["types"]
    assert simulator.handshakes[0].path == "/openai/realtime"
    assert user_texts(simulator) == ["hello sdk"]
