"""Counted-work guards for the hot path: not timings, but how much work each event costs.

The benchmark (make bench) measures speed; these tests only make sure the hot
path keeps its shape: one parse and no serialisation per forwarded client
event, and no parse at all for downstream audio deltas.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

import app.policy.audio as audio_module
import app.policy.client as client_module
import app.policy.server as server_module
import app.relay.stats as stats_module
import app.tools.tracker as tracker_module
from app.policy import GA, ClientPolicy, Forward, make_rules
from app.relay import SessionCore, SessionLimits
from app.tools.tracker import ToolTracker

APPEND = orjson.dumps(
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(960)).decode()}
).decode()
DELTA = orjson.dumps(
    {"type": "response.output_audio.delta", "event_id": "e", "delta": "A" * 65_536}
).decode()


class Counter:
    def __init__(self) -> None:
        self.loads = 0
        self.dumps = 0


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Count orjson calls made by the policy modules."""
    counter = Counter()
    real_loads, real_dumps = orjson.loads, orjson.dumps

    def loads(data: Any) -> Any:
        counter.loads += 1
        return real_loads(data)

    def dumps(obj: Any, *args: Any, **kwargs: Any) -> bytes:
        counter.dumps += 1
        return real_dumps(obj, *args, **kwargs)

    class CountingOrjson:
        JSONDecodeError = orjson.JSONDecodeError

    CountingOrjson.loads = staticmethod(loads)  # type: ignore[attr-defined]
    CountingOrjson.dumps = staticmethod(dumps)  # type: ignore[attr-defined]
    for module in (audio_module, client_module, server_module, stats_module, tracker_module):
        monkeypatch.setattr(module, "orjson", CountingOrjson)
    return counter


def _policy() -> ClientPolicy:
    return ClientPolicy(
        make_rules(
            GA,
            allowed_events=["input_audio_buffer.append", "session.update"],
            session_fields=GA.default_client_session_fields,
            enforced_session={"type": "realtime", "instructions": "x"},
            response_fields=[],
            item_roles=["user"],
            tool_outputs=False,
        )
    )


def _core(tools: bool = False) -> SessionCore:
    """The session core, as the relay runs it, so the counts cover the whole per-event path."""
    limits = SessionLimits(
        events_per_second=1000.0,
        events_burst=1000,
        max_session_seconds=60.0,
        idle_timeout_seconds=60.0,
        backpressure_timeout_seconds=30.0,
    )
    tracker = ToolTracker(frozenset({"lookup_order"}), 4, "relay_tool_x_") if tools else None
    return SessionCore(_policy(), limits, "rs_count", 0.0, tracker)


@pytest.mark.parametrize("tools", [False, True], ids=["no-tools", "server-tools"])
def test_forwarding_an_audio_append_parses_once_and_serialises_nothing(
    counted: Counter, tools: bool
) -> None:
    """An unchanged append costs exactly one JSON parse and zero serialisations."""
    command = _core(tools).client_frame(APPEND, 1.0)
    assert type(command) is Forward
    assert (counted.loads, counted.dumps) == (1, 0)


def test_a_plain_append_is_parsed_once_and_never_walked(
    counted: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append in its plain form is proven by its text (`plain_append`): no shape walk."""
    walks: list[object] = []
    monkeypatch.setattr(client_module, "check_event", lambda *args: walks.append(args))
    assert type(_policy().decide(APPEND)) is Forward
    assert (counted.loads, counted.dumps, walks) == (1, 0, [])


def test_forwarded_appends_reuse_one_decision_object(counted: Counter) -> None:
    """The Forward decision for a type is shared: no allocation per event."""
    core = _core()
    assert core.client_frame(APPEND, 1.0) is core.client_frame(APPEND, 1.0)


@pytest.mark.parametrize("tools", [False, True], ids=["no-tools", "server-tools"])
def test_downstream_audio_delta_is_forwarded_without_a_parse(counted: Counter, tools: bool) -> None:
    """A 64 kB audio delta is typed from its head and forwarded as the same object."""
    core = _core(tools)
    assert core.upstream_frame(DELTA) is DELTA
    assert core.stats.down_events == {"response.output_audio.delta": 1}
    assert (counted.loads, counted.dumps) == (0, 0)


@pytest.mark.parametrize("tools", [False, True], ids=["no-tools", "server-tools"])
def test_audio_deltas_are_counted_for_truncation_without_a_parse(
    counted: Counter, tools: bool
) -> None:
    """The item and the decoded size of each delta come from plain searches of the frame,
    and an assistant item's start too (the server tools' tracker reads that one itself)."""
    core = _core(tools)
    item = '{"type":"response.output_item.added","item":{"id":"it","type":"message","role":"assistant"}}'
    assert core.upstream_frame(item) == item
    assert (counted.loads, counted.dumps) == ((1, 0) if tools else (0, 0))
    counted.loads = 0
    chunk = base64.b64encode(bytes(4800)).decode()  # 100 ms of pcm16
    frame = f'{{"type":"response.output_audio.delta","item_id":"it","delta":"{chunk}"}}'
    for _ in range(3):
        assert core.upstream_frame(frame) is frame
    assert core.audio.delivered_ms("it") == 300
    assert (counted.loads, counted.dumps) == (0, 0)


def test_session_echo_is_parsed_and_rewritten_once(counted: Counter) -> None:
    """Only session echoes pay for a parse and a serialisation (to redact them)."""
    out = _core().upstream_frame('{"type":"session.updated","session":{"instructions":"secret"}}')
    assert out is not None
    assert "secret" not in out
    assert (counted.loads, counted.dumps) == (1, 1)


def test_with_server_tools_a_response_done_is_parsed_once(counted: Counter) -> None:
    """Usage accounting and the tools read one parse of `response.done`."""
    done = '{"type":"response.done","response":{"id":"r","output":[],"usage":null}}'
    assert _core(tools=True).upstream_frame(done) is done
    assert (counted.loads, counted.dumps) == (1, 0)


def test_with_server_tools_a_text_delta_and_a_message_item_are_not_parsed(
    counted: Counter,
) -> None:
    """Before any call is hidden, a message's conversation event is forwarded unparsed."""
    core = _core(tools=True)
    added = '{"type":"conversation.item.added","item":{"id":"i","type":"message"}}'
    text = '{"type":"response.output_text.delta","item_id":"i","delta":"hi"}'
    assert core.upstream_frame(added) is added
    assert core.upstream_frame(text) is text
    assert (counted.loads, counted.dumps) == (0, 0)
