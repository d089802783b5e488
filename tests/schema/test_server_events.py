"""Every server event the simulator and the relay send validates against the official schema.

GA events are validated with openai-python's own models (`openai.types.realtime`,
the version pinned in `tests/sdk/requirements.txt`), each as the model its
`type` names and with no undeclared field; preview events against the table in
`preview_schema.py`. Raising the pinned openai version re-runs the check on
the new models.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.config import DEFAULT_CLIENT_EVENTS
from app.simulator import Simulator
from app.simulator.audio import b64encode, silence, tone
from app.simulator.dialect import Dialect
from tests.e2e.harness import make_settings, running_relay
from tests.schema.preview_schema import preview_problems
from tests.simulator.helpers import ws_url
from tests.support.events import recv_until, user_text
from tests.support.sdk_venv import sdk_venv_python
from tests.support.settings import relay_settings

VALIDATOR = Path(__file__).with_name("validate_ga.py")
Event = dict[str, Any]


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    return sdk_venv_python()


class Recorder:
    """A client that keeps every server event it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[Event] = []

    async def send(self, event: Event | str) -> None:
        await self.ws.send(event if isinstance(event, str) else orjson.dumps(event).decode())

    async def until(self, event_type: str) -> Event:
        event, seen = await recv_until(self.ws, event_type, 10)
        self.events += [*seen, event]
        return event


def _session(dialect: Dialect, **fields: Any) -> Event:
    return {"type": "realtime", **fields} if dialect == "ga" else fields


async def drive(client: Recorder, dialect: Dialect) -> None:
    """Every kind of server event: session, items, VAD and transcription, text and audio
    responses, cancel, truncate, retrieve, delete and errors."""
    await client.until("session.created")
    transcription = {"model": "whisper-1"}
    settings = (
        {"audio": {"input": {"transcription": transcription}}}
        if dialect == "ga"
        else {"input_audio_transcription": transcription}
    )
    await client.send({"type": "session.update", "session": _session(dialect, **settings)})
    await client.until("session.updated")
    # A text turn answered with audio and its transcript.
    await client.send(user_text("hello there"))
    await client.until("conversation.item.created")
    await client.send({"type": "response.create"})
    done = await client.until("response.done")
    assistant = done["response"]["output"][0]["id"]
    # A text-only response.
    modalities = "output_modalities" if dialect == "ga" else "modalities"
    await client.send({"type": "response.create", "response": {modalities: ["text"]}})
    await client.until("response.done")
    # A function call, its output, and the answer to it (the relay, without a tools file,
    # strips the client's tools and refuses the output: then it is a plain text turn).
    tool = {"type": "function", "name": "lookup_order", "description": "d", "parameters": {}}
    await client.send({"type": "session.update", "session": _session(dialect, tools=[tool])})
    await client.until("session.updated")
    await client.send(user_text('lookup_order({"id": "42"})'))
    await client.send({"type": "response.create", "response": {modalities: ["text"]}})
    called = await client.until("response.done")
    call_id = called["response"]["output"][0].get("call_id", "none")
    output = {"type": "function_call_output", "call_id": call_id, "output": "shipped"}
    await client.send({"type": "conversation.item.create", "item": output})
    await client.send({"type": "response.create", "response": {modalities: ["text"]}})
    await client.until("response.done")
    # Truncate, retrieve and delete the assistant's audio item.
    truncate = {"item_id": assistant, "content_index": 0, "audio_end_ms": 100}
    await client.send({"type": "conversation.item.truncate", **truncate})
    await client.until("conversation.item.truncated")
    await client.send({"type": "conversation.item.retrieve", "item_id": assistant})
    await client.until("conversation.item.retrieved")
    await client.send({"type": "conversation.item.delete", "item_id": assistant})
    await client.until("conversation.item.deleted")
    # Speech through server VAD: started, stopped, committed, transcribed, answered.
    pcm = tone(duration=600) + silence(900)
    for start in range(0, len(pcm), 4800):
        chunk = b64encode(pcm[start : start + 4800])
        await client.send({"type": "input_audio_buffer.append", "audio": chunk})
    await client.until("response.done")
    # A response cancelled at once, a cleared buffer, and errors.
    await client.send({"type": "response.create"})
    await client.until("response.created")
    await client.send({"type": "response.cancel"})
    await client.until("response.done")
    await client.send({"type": "input_audio_buffer.clear"})
    await client.until("input_audio_buffer.cleared")
    await client.send({"type": "conversation.item.delete", "item_id": "item_missing"})
    await client.until("error")
    await client.send({"type": "input_audio_buffer.commit"})  # nothing to commit
    await client.until("error")


def validate_ga(python: Path, events: list[Event]) -> list[dict[str, Any]]:
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [str(python), str(VALIDATOR)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    assert len(result["models"]) > 40  # the union was read: the check cannot pass vacuously
    problems: list[dict[str, Any]] = result["problems"]
    return problems


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(api_key="sim-key") as sim:
        yield sim


Opener = Callable[[Simulator, Dialect], Awaitable[list[Event]]]


async def _direct(simulator: Simulator, dialect: Dialect) -> list[Event]:
    headers = {"api-key": "sim-key"}
    async with connect(ws_url(simulator, dialect), additional_headers=headers, max_size=None) as ws:
        client = Recorder(ws)
        await drive(client, dialect)
    return client.events


async def _through_relay(simulator: Simulator, dialect: Dialect) -> list[Event]:
    allowed = (*DEFAULT_CLIENT_EVENTS, "conversation.item.retrieve")
    settings = make_settings(**relay_settings(simulator, dialect, allowed_client_events=allowed))
    async with running_relay(settings) as relay, connect(relay.ws_url(), max_size=None) as ws:
        client = Recorder(ws)
        await drive(client, dialect)
        # The relay's own events: refusals of several kinds.
        await client.send('{"type":"not.an.event","event_id":"e1"}')
        await client.until("error")
        await client.send('{"type":"input_audio_buffer.clear","type":"x"}')
        await client.until("error")
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "system", "content": []},
            }
        )
        await client.until("error")
    return client.events


SOURCES = [pytest.param(_direct, id="simulator"), pytest.param(_through_relay, id="relay")]


def _covered(events: list[Event]) -> set[str]:
    return {event["type"] for event in events}


@pytest.mark.parametrize("source", SOURCES)
async def test_every_ga_server_event_validates_as_its_official_model(
    simulator: Simulator, sdk_python: Path, source: Opener
) -> None:
    """Each GA server event validates as the openai-python model its `type` names."""
    events = await source(simulator, "ga")
    assert {
        "session.created",
        "session.updated",
        "conversation.item.added",
        "conversation.item.done",
        "input_audio_buffer.speech_started",
        "conversation.item.input_audio_transcription.completed",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_text.done",
        "conversation.item.truncated",
        "conversation.item.retrieved",
        "error",
    } <= _covered(events)
    if source is _direct:
        assert {
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
        } <= _covered(events)
    assert await asyncio.to_thread(validate_ga, sdk_python, events) == []


@pytest.mark.parametrize("source", SOURCES)
async def test_every_preview_server_event_fits_the_reference_table(
    simulator: Simulator, source: Opener
) -> None:
    """Each preview server event has the keys the public reference gives it."""
    events = await source(simulator, "preview")
    assert {
        "response.audio.delta",
        "response.text.done",
        "conversation.item.truncated",
    } <= _covered(events)
    if source is _direct:
        assert "response.function_call_arguments.done" in _covered(events)
    assert [problem for event in events for problem in preview_problems(event)] == []
