"""openai-python's `client.realtime.client_secrets.create`, unchanged, against a relay.

Usage: ``SDK_BACKEND_TOKEN=<backend token> python openai_python_mint.py <port> <agent> <user>``.
It mints a secret for `<agent>` for the end user `<user>` (sent as `X-Relay-Identity`),
pinning text-only output, and writes the SDK's parsed response as JSON to stdout; a
refusal is written as its status and error body. Imports only the SDK and the standard
library (not the relay).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import openai  # type: ignore[import-not-found, unused-ignore]


async def mint(port: int, agent: str, user: str, token: str) -> dict[str, Any]:
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/openai/v1", api_key=token)
    try:
        secret = await client.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": 300},
            session={"type": "realtime", "model": agent, "output_modalities": ["text"]},
            extra_headers={"X-Relay-Identity": user},
        )
    except openai.APIStatusError as error:
        return {"sdk": openai.__version__, "status": error.status_code, "body": error.body}
    finally:
        await client.close()
    return {"sdk": openai.__version__, "status": 200, **secret.model_dump(mode="json")}


def main() -> None:
    port, agent, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    summary = asyncio.run(mint(port, agent, user, os.environ["SDK_BACKEND_TOKEN"]))
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
