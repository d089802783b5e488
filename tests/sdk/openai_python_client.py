"""A stock openai-python realtime client, run in the SDK's own virtualenv against a relay.

Usage: ``SDK_RELAY_TOKEN=<relay token> python openai_python_client.py ga|azure-preview <port>``.
It sends one user text item and ``response.create``, reads events until
``response.done`` and writes a JSON summary of what it received to stdout.
This file imports only the SDK and the standard library (not the relay).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from typing import Any

import openai  # type: ignore[import-not-found, unused-ignore]

PREVIEW_VERSION = "2025-04-01-preview"
DEPLOYMENT = "gpt-realtime"
TIMEOUT = 10.0


def make_client(mode: str, port: int, token: str) -> Any:
    """The SDK client exactly as an application would build it, the relay token as its key."""
    if mode == "ga":
        # Dials ws://.../openai/v1/realtime?model=... with `Authorization: Bearer <token>`.
        return openai.AsyncOpenAI(
            websocket_base_url=f"ws://127.0.0.1:{port}/openai/v1", api_key=token
        )
    # Dials ws://.../openai/realtime?api-version=...&deployment=... with `api-key: <token>`.
    # Without websocket_base_url the SDK would force wss:// on the endpoint's host.
    return openai.AsyncAzureOpenAI(
        azure_endpoint=f"http://127.0.0.1:{port}",
        api_key=token,
        api_version=PREVIEW_VERSION,
        websocket_base_url=f"ws://127.0.0.1:{port}/openai",
    )


async def converse(mode: str, port: int, token: str) -> dict[str, Any]:
    """One text turn; returns the event types seen, the reply text and audio byte count."""
    types: list[str] = []
    text: list[str] = []
    audio_bytes = 0
    status = None
    client = make_client(mode, port, token)
    async with client.realtime.connect(model=DEPLOYMENT) as connection:
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello sdk"}],
            }
        )
        await connection.response.create()
        async with asyncio.timeout(TIMEOUT):
            async for event in connection:
                types.append(event.type)
                delta = getattr(event, "delta", None)
                if event.type.endswith(("transcript.delta", "text.delta")):
                    text.append(delta or "")
                elif event.type.endswith("audio.delta"):
                    audio_bytes += len(base64.b64decode(delta or ""))
                elif event.type == "response.done":
                    status = event.response.status
                    break
    return {
        "sdk": openai.__version__,
        "types": types,
        "text": "".join(text),
        "audio_bytes": audio_bytes,
        "status": status,
    }


def main() -> None:
    mode, port, token = sys.argv[1], int(sys.argv[2]), os.environ["SDK_RELAY_TOKEN"]
    summary = asyncio.run(converse(mode, port, token))
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
