"""`python -m app` logs to stdout as one JSON object per line, uvicorn's lines included."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

from tests.support.events import recv_until
from tests.support.relay_process import relay_process

API_KEY = "azure-api-key-secret-obs-271828"
TOKEN = "alice-token-json-obs-1618033"
METRICS_TOKEN = "metrics-token-json-obs-1414213"
INSTRUCTIONS = "You are Quill. Marker QX-INSTR-8841 must never be logged."


async def test_json_format_writes_one_object_per_line_and_masks_the_configuration(
    tmp_path: Path,
) -> None:
    """Every stdout line is JSON with time/level/logger/message; the config line masks secrets."""
    env = {
        "RELAY_UPSTREAM": "simulator",
        "RELAY_LOG_FORMAT": "json",
        "AZURE_OPENAI_API_KEY": API_KEY,
        "RELAY_INSTRUCTIONS": INSTRUCTIONS,
        "RELAY_AUTH": "token",
        "RELAY_AUTH_TOKENS": f"alice:{TOKEN}",
        "RELAY_METRICS_TOKEN": METRICS_TOKEN,
    }
    async with relay_process(tmp_path, **env) as relay:
        url = f"ws://127.0.0.1:{relay.port}/realtime"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with connect(url, additional_headers=headers, compression=None) as ws:
            await recv_until(ws, "session.updated")
        await relay.wait_for_line('"session closed"')
        await relay.stop()
    lines = [line for line in relay.lines if line.strip()]
    records: list[dict[str, Any]] = []
    for line in lines:
        record = orjson.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)
    loggers = {record["logger"] for record in records}
    assert any(name.startswith("uvicorn") for name in loggers), loggers
    assert {"app.runtime", "app.launcher", "app.session"} <= loggers
    messages = {(r["logger"], r["message"]) for r in records}
    assert ("uvicorn.error", "Application startup complete.") in messages
    assert ("uvicorn.error", "Application shutdown complete.") in messages
    assert any(r["logger"] == "uvicorn.error" and "[accepted]" in r["message"] for r in records)

    (config,) = [r for r in records if r["message"] == "relay configuration"]
    assert config["azure_api_key"] == "***"
    assert config["metrics_token"] == "***"
    (agent,) = config["agents"]
    assert agent["name"] == "default"
    assert agent["instructions"] == {
        "length": len(INSTRUCTIONS),
        "sha256": hashlib.sha256(INSTRUCTIONS.encode()).hexdigest()[:16],
    }
    assert config["auth_identities"] == ["alice"]
    assert relay.stderr == b""  # all logs go to stdout
    output = "".join(relay.lines) + relay.stderr.decode()
    for secret in (API_KEY, TOKEN, METRICS_TOKEN, "QX-INSTR-8841"):
        assert secret not in output
