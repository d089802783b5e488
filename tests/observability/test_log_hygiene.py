"""What the logs may never contain, and the per-event DEBUG lines."""

from __future__ import annotations

import base64
import logging
import random
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from app.logs import JsonFormatter, TextFormatter
from app.simulator import Simulator
from tests.e2e.harness import RunningRelay, client, make_settings, running_relay
from tests.observability.values import ALICE, BOB, SIM_KEY, relay_values
from tests.support.events import recv_event, recv_until, send_event, user_text
from tests.support.logs import LogCapture, captured_logs, fields_of

CAROL = "carol-token-obs-5566778899"
WRONG = "wrong-token-obs-0000111122"
ESCAPED_WRONG = "escaped-name-token-5f0c2a9e71"
# Short markers at the very end of their text: a payload excerpt of any length shows them.
INSTRUCTIONS_MARKER = "INS-q7Zt2"
USER_MARKER = "USR-v9Kp4"
INSTRUCTIONS = f"You are a careful assistant; this stays secret: {INSTRUCTIONS_MARKER}"
AUDIO = random.Random(5).randbytes(9_600)  # 200 ms of pcm16 at 24 kHz
CHUNK_BYTES = 960
AUDIO_TAIL = 16  # base64 characters of a chunk's end that identify it


def audio_chunks() -> list[str]:
    return [
        base64.b64encode(AUDIO[offset : offset + CHUNK_BYTES]).decode()
        for offset in range(0, len(AUDIO), CHUNK_BYTES)
    ]


async def converse(ws: ClientConnection) -> list[dict[str, Any]]:
    """A text turn and an audio turn; returns every event the client received."""
    events: list[dict[str, Any]] = []
    await send_event(
        ws,
        {"type": "session.update", "session": {"audio": {"input": {"turn_detection": None}}}},
    )
    await send_event(ws, user_text(f"please answer {USER_MARKER}"))
    await send_event(ws, {"type": "response.create"})
    done, seen = await recv_until(ws, "response.done", seconds=10)
    events += [*seen, done]
    for chunk in audio_chunks():
        await send_event(ws, {"type": "input_audio_buffer.append", "audio": chunk})
    await send_event(ws, {"type": "input_audio_buffer.commit"})
    await send_event(ws, {"type": "response.create"})
    done, seen = await recv_until(ws, "response.done", seconds=10)
    events += [*seen, done]
    return events


def rendered(record: logging.LogRecord) -> list[str]:
    """Everything a record could put on stdout: message, fields, both formats."""
    return [
        record.getMessage(),
        orjson.dumps(fields_of(record), default=str).decode(),
        JsonFormatter().format(record),
        TextFormatter().format(record),
    ]


# The test's own WebSocket client logs under its own name; the stand-in upstream (the
# simulator, in this process) logs under `websockets.server` and `app.simulator`. Their
# records are not the relay's: the relay's client side logs through uvicorn's loggers
# and its upstream side through `websockets.client`.
TEST_CLIENT = logging.getLogger("tests.observability.client")


def is_relay_record(record: logging.LogRecord) -> bool:
    name = record.name
    return not (
        name == TEST_CLIENT.name or name == "websockets.server" or name.startswith("app.simulator")
    )


def leaks(logs: LogCapture, secrets: dict[str, str]) -> list[str]:
    """`name: logger: message` for each relay record that contains a secret."""
    found = []
    for record in filter(is_relay_record, logs.records):
        texts = rendered(record)
        for name, secret in secrets.items():
            if any(secret in text for text in texts):
                found.append(f"{name}: {record.name}: {record.getMessage()[:160]}")
    return found


CREDENTIALS = {
    "alice token": ALICE,
    "bob token": BOB,
    "carol token": CAROL,
    "refused token": WRONG,
    "refused token under an escaped name": ESCAPED_WRONG,
    "azure api-key": SIM_KEY,
}


async def run_sessions(relay: RunningRelay, logs: LogCapture) -> dict[str, str]:
    """Sessions over every token carrier plus a refused one.

    Returns the content that must never be logged: the instructions and user
    text markers, and the end of every audio chunk sent either way.
    """
    content = {"instructions": INSTRUCTIONS_MARKER, "user text": USER_MARKER}
    async with client(relay, f"/realtime?api-key={ALICE}&model=x", logger=TEST_CLIENT) as ws:
        events = await converse(ws)
    audio_out = [
        event["delta"] for event in events if event["type"] == "response.output_audio.delta"
    ]
    assert audio_out  # the simulator answered with audio
    for index, chunk in enumerate(audio_chunks()):
        content[f"client audio chunk {index}"] = chunk.rstrip("=")[-AUDIO_TAIL:]
    for index, chunk in enumerate(audio_out):
        content[f"upstream audio chunk {index}"] = chunk.rstrip("=")[-AUDIO_TAIL:]
    headers = {"Authorization": f"Bearer {BOB}"}
    async with client(relay, additional_headers=headers, logger=TEST_CLIENT) as ws:
        await recv_until(ws, "session.updated")
    protocols = [Subprotocol("realtime"), Subprotocol(f"openai-insecure-api-key.{CAROL}")]
    async with client(relay, subprotocols=protocols, logger=TEST_CLIENT) as ws:
        await recv_event(ws)
    wrong = relay.ws_url(f"/realtime?access_token={WRONG}")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(wrong, open_timeout=5, logger=TEST_CLIENT):
            pass
    assert refused.value.response.status_code == 401
    escaped = relay.ws_url(f"/realtime?api%2Dkey={ESCAPED_WRONG}")  # a percent-encoded name
    with pytest.raises(InvalidStatus) as refused:
        async with connect(escaped, open_timeout=5, logger=TEST_CLIENT):
            pass
    assert refused.value.response.status_code == 401
    await logs.wait_for(lambda: len(logs.session_lines("session closed")) == 3)
    assert any(record.levelno == logging.DEBUG for record in logs.records)
    return content


def debug_settings(simulator: Simulator) -> dict[str, Any]:
    return relay_values(
        simulator,
        instructions=INSTRUCTIONS,
        auth="token",
        auth_tokens=(f"alice:{ALICE}", f"bob:{BOB}", f"carol:{CAROL}"),
        log_level="DEBUG",
    )


FORCED = pytest.mark.parametrize(
    "libraries_at_debug", [False, True], ids=["relay-levels", "all-loggers-debug"]
)


@FORCED
async def test_debug_logs_of_full_sessions_hold_no_tokens_or_keys(
    simulator: Simulator, libraries_at_debug: bool
) -> None:
    """At DEBUG no record carries a client token (any carrier) or the Azure api-key."""
    async with running_relay(make_settings(**debug_settings(simulator))) as relay:
        with captured_logs(debug=libraries_at_debug) as logs:
            await run_sessions(relay, logs)
    if libraries_at_debug:  # the libraries really logged at DEBUG, handshake headers included
        assert any(
            record.name == "uvicorn.error" and "sec-websocket-key" in record.getMessage()
            for record in logs.records
        )
    assert leaks(logs, CREDENTIALS) == []


@FORCED
async def test_debug_logs_of_full_sessions_hold_no_instructions_text_or_audio(
    simulator: Simulator, libraries_at_debug: bool
) -> None:
    """At DEBUG no record carries the instructions, user text, transcripts or any audio."""
    async with running_relay(make_settings(**debug_settings(simulator))) as relay:
        with captured_logs(debug=libraries_at_debug) as logs:
            content = await run_sessions(relay, logs)
    assert leaks(logs, content) == []


# -- per-event DEBUG lines ------------------------------------------------------------


def event_lines(logs: LogCapture) -> list[dict[str, Any]]:
    return [
        fields_of(record)
        for record in logs.records
        if record.name == "app.relay.session" and record.getMessage() == "event"
    ]


async def one_turn(relay: RunningRelay) -> list[str]:
    """A refused event and a text turn; returns the frames the client sent."""
    frames = [
        orjson.dumps({"type": "transcription_session.update", "session": {}}).decode(),
        orjson.dumps(user_text(f"hi {USER_MARKER}")).decode(),
        orjson.dumps({"type": "response.create"}).decode(),
    ]
    async with client(relay) as ws:
        for frame in frames:
            await ws.send(frame)
        await recv_until(ws, "response.done")
    return frames


async def test_per_event_lines_are_absent_at_info(simulator: Simulator) -> None:
    """At INFO the relay writes no per-event line and no DEBUG record at all."""
    async with running_relay(make_settings(**relay_values(simulator, auth="none"))) as relay:
        with captured_logs() as logs:
            await one_turn(relay)
            await logs.wait_for(lambda: bool(logs.session_lines("session closed")))
    assert event_lines(logs) == []
    assert [r for r in logs.records if r.levelno < logging.INFO] == []


async def test_per_event_debug_lines_show_type_and_size_never_payload(
    simulator: Simulator,
) -> None:
    """At DEBUG each relayed event gets a line with its direction, type and size only."""
    settings = make_settings(**relay_values(simulator, auth="none", log_level="DEBUG"))
    async with running_relay(settings) as relay:
        with captured_logs() as logs:
            sent = await one_turn(relay)
            closed = await logs.session_line("session closed")
    lines = event_lines(logs)
    assert lines, "no per-event DEBUG lines"
    assert {line["session_id"] for line in lines} == {closed["session_id"]}
    up = [line for line in lines if line["direction"] == "client_to_upstream"]
    down = [line for line in lines if line["direction"] == "upstream_to_client"]
    assert [line["bytes"] for line in up] == [len(frame) for frame in sent]
    assert [line["type"] for line in up][1:] == ["conversation.item.create", "response.create"]
    upstream = simulator.connections[0]
    assert [(line["type"], line["bytes"]) for line in down] == [
        (orjson.loads(frame)["type"], len(frame)) for frame in upstream.sent
    ]
    for line in lines:
        assert all(isinstance(value, str | int) for value in line.values()), line
        assert all(len(value) < 100 for value in line.values() if isinstance(value, str)), line
        assert USER_MARKER not in orjson.dumps(line).decode()
