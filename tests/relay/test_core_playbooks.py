"""Playbooks for the pure session core: scripted inputs, the exact commands out, no sockets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.policy import GA, Forward, Rewrite
from app.relay.closing import EndCause, SessionEnd
from app.relay.core import CANCEL_ON_CLOSE, Closing, SendClient, SessionCore
from app.relay.limits import SessionLimits
from tests.policy.factories import make_policy

LIMITS = SessionLimits(
    events_per_second=10.0,
    events_burst=3,
    max_session_seconds=100.0,
    idle_timeout_seconds=30.0,
    backpressure_timeout_seconds=8.0,
    close_timeout_seconds=5.0,
    notice_grace_seconds=0.5,
    usage_grace_seconds=5.0,
)
APPEND = '{"type":"input_audio_buffer.append","audio":"AAAA","event_id":"a1"}'
DELTA = '{"type":"response.output_audio.delta","response_id":"r1","delta":"AAAA"}'
CREATED = '{"type":"response.created","response":{"id":"r1"}}'
DONE = orjson.dumps(
    {
        "type": "response.done",
        "response": {
            "id": "r1",
            "usage": {"input_token_details": {"text_tokens": 3}, "output_token_details": {}},
        },
    }
).decode()


def core(**limits: Any) -> SessionCore:
    values = {field: getattr(LIMITS, field) for field in LIMITS.__slots__}
    return SessionCore(make_policy(GA), SessionLimits(**{**values, **limits}), "rs_test", 0.0)


def error_of(command: object) -> dict[str, Any]:
    assert type(command) is SendClient, command
    event: dict[str, Any] = orjson.loads(command.text)
    assert event["type"] == "error"
    error: dict[str, Any] = event["error"]
    return error


# -- frames ---------------------------------------------------------------------------


def test_an_append_is_forwarded_as_it_came_and_counted() -> None:
    """A plain append gives the shared Forward and counts one event up with its size."""
    session = core()
    command = session.client_frame(APPEND, 1.0)
    assert type(command) is Forward
    assert session.stats.up_events == {"input_audio_buffer.append": 1}
    assert session.stats.up_bytes == len(APPEND)


def test_a_stripped_event_is_rewritten() -> None:
    """An event with an unknown key is sent in its rewritten form."""
    command = core().client_frame('{"type":"response.cancel","x":1}', 1.0)
    assert command == Rewrite("response.cancel", '{"type":"response.cancel"}')


def test_a_binary_frame_is_refused_with_an_error_for_the_client() -> None:
    """A binary frame is not forwarded; the client gets `binary_not_supported`."""
    session = core()
    assert error_of(session.client_frame(None, 1.0))["code"] == "binary_not_supported"
    assert session.stats.refused == {"binary_not_supported": 1}


def test_events_past_the_burst_are_rate_limited_and_name_their_event() -> None:
    """The fourth event in the same instant is refused `rate_limited`, echoing its id."""
    session = core()
    for _ in range(3):
        assert type(session.client_frame(APPEND, 1.0)) is Forward
    error = error_of(session.client_frame(APPEND, 1.0))
    assert (error["code"], error["event_id"]) == ("rate_limited", "a1")
    assert type(session.client_frame(APPEND, 1.2)) is Forward  # the bucket refills


def test_no_refusal_is_sent_once_the_close_frame_is_on_its_way() -> None:
    """After `closing_client`, a refused frame is counted but nothing is sent."""
    session = core()
    session.closing_client()
    assert session.client_frame("not json", 1.0) is None
    assert session.stats.refused == {"invalid_event": 1}


def test_a_delta_is_forwarded_as_the_same_string() -> None:
    """A downstream delta comes back as the very string it was."""
    assert core().upstream_frame(DELTA) is DELTA


def test_an_audio_delta_in_ascii_bytes_is_forwarded_as_the_same_bytes() -> None:
    """An undecoded delta comes back as the very bytes object, counted and in the ledger."""
    session = core()
    session.upstream_frame(
        '{"type":"response.output_item.added","item":{"id":"item_1","role":"assistant"}}'
    )
    frame = (
        b'{"type":"response.output_audio.delta","item_id":"item_1","delta":"' + b"A" * 96 + b'"}'
    )
    assert session.upstream_frame(frame) is frame
    assert session.stats.down_events["response.output_audio.delta"] == 1
    assert session.stats.down_bytes == len(frame) + len(
        '{"type":"response.output_item.added","item":{"id":"item_1","role":"assistant"}}'
    )
    assert session.audio.delivered_ms("item_1") == 1  # 72 bytes of pcm16 at 48 bytes/ms


PREVIEW_DELTA = b'{"type":"response.audio.delta","item_id":"i","delta":"AAAA"}'
NOT_A_DELTA = b'{"type":"response.output_audio.deltas","delta":"AAAA"}'


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (PREVIEW_DELTA, PREVIEW_DELTA),
        (CREATED.encode(), CREATED),
        (NOT_A_DELTA, NOT_A_DELTA.decode()),
    ],
    ids=["preview-delta-stays-bytes", "other-event-decoded", "a-longer-type-decoded"],
)
def test_only_an_ascii_audio_delta_stays_in_bytes(frame: bytes, expected: str | bytes) -> None:
    """Any other ASCII frame is decoded and judged as its text."""
    out = core().upstream_frame(frame)
    assert out == expected
    assert type(out) is type(expected)


def test_an_ascii_session_echo_is_decoded_and_redacted() -> None:
    """A session echo in bytes is redacted like its text: never forwarded as it came."""
    session = core()
    out = session.upstream_frame(b'{"type":"session.updated","session":{"instructions":"s"}}')
    assert isinstance(out, str)
    assert orjson.loads(out)["session"]["instructions"] == ""


def test_a_session_echo_is_redacted_and_a_binary_frame_dropped() -> None:
    """Session echoes are rewritten; binary and unreadable echoes are dropped and counted."""
    session = core()
    out = session.upstream_frame('{"type":"session.updated","session":{"instructions":"s"}}')
    assert out is not None
    assert orjson.loads(out)["session"]["instructions"] == ""
    assert session.upstream_frame(None) is None  # a binary frame
    assert session.upstream_frame('{"type":"session.created","session":7}') is None
    assert session.stats.dropped == 2
    assert session.stats.refused == {}  # drops are not client refusals


def test_a_response_is_in_flight_from_created_to_done_and_its_usage_is_counted() -> None:
    """`response.created` sets the flag, `response.done` clears it and adds its usage."""
    session = core()
    session.upstream_frame(CREATED)
    assert session.response_in_flight
    session.upstream_frame(DONE)
    assert not session.response_in_flight
    assert session.stats.usage["input_text"] == 3


# -- limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "last_frame", "sending_since", "expected"),
    [
        pytest.param(10.0, 5.0, None, 12.0, id="wakes-for-the-stuck-check"),
        pytest.param(100.0, 99.0, None, EndCause.SESSION_EXPIRED, id="expired"),
        pytest.param(40.0, 9.0, None, EndCause.IDLE_TIMEOUT, id="idle"),
        pytest.param(20.0, 19.0, 11.0, EndCause.BACKPRESSURE, id="stuck-send"),
        pytest.param(20.0, 19.0, 13.0, 22.0, id="slow-send-not-yet-stuck"),
        pytest.param(98.0, 97.0, None, 100.0, id="wakes-at-the-deadline"),
    ],
)
def test_the_limit_tick(
    now: float, last_frame: float, sending_since: float | None, expected: object
) -> None:
    """A tick ends the session at its duration, idle or backpressure limit, else names a wake."""
    session = core()
    session.client_frame(APPEND, last_frame)
    if sending_since is not None:
        session.client_sending(sending_since)
    result = session.tick(now)
    if isinstance(expected, EndCause):
        assert result == SessionEnd(expected)
    else:
        assert result == expected


def test_a_finished_send_is_no_longer_backpressure() -> None:
    """`client_sent` stops the backpressure clock."""
    session = core()
    session.client_frame(APPEND, 19.0)
    session.client_sending(1.0)
    session.client_sent()
    assert not isinstance(session.tick(20.0), SessionEnd)


# -- closing: one playbook per row of the README's close table ------------------------


def notice_code(closing: Closing) -> str | None:
    if closing.notice is None:
        return None
    code: str = orjson.loads(closing.notice)["error"]["code"]
    return code


CLOSE_TABLE = [
    # end, client (code, reason), notice, keeps reading, upstream code
    pytest.param(
        SessionEnd(EndCause.CLIENT_CLOSED, 1000), None, None, False, 1000, id="client-closes"
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 1001, "session_expired"),
        (1001, "session_expired"),
        None,
        False,
        None,
        id="upstream-closes-with-a-sendable-code",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 1006),
        (1011, "upstream_closed"),
        "upstream_closed",
        False,
        None,
        id="upstream-closes-with-an-unsendable-code",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_DROPPED),
        (1011, "upstream_closed"),
        "upstream_closed",
        False,
        None,
        id="upstream-drops",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_UNRESPONSIVE),
        (1011, "upstream_unresponsive"),
        "upstream_unresponsive",
        False,
        None,
        id="upstream-misses-its-pong",
    ),
    pytest.param(
        SessionEnd(EndCause.SHUTDOWN),
        (1012, "server_shutting_down"),
        "server_shutting_down",
        True,
        1000,
        id="drain",
    ),
    pytest.param(
        SessionEnd(EndCause.SESSION_EXPIRED),
        (1001, "session_expired"),
        "session_expired",
        True,
        1000,
        id="max-duration",
    ),
    pytest.param(
        SessionEnd(EndCause.IDLE_TIMEOUT),
        (1001, "idle_timeout"),
        "idle_timeout",
        True,
        1000,
        id="idle",
    ),
    pytest.param(
        SessionEnd(EndCause.BACKPRESSURE),
        (1013, "backpressure"),
        "backpressure",
        False,
        1000,
        id="backpressure-closes-at-once",
    ),
    pytest.param(
        SessionEnd(EndCause.ERROR), (1011, "internal_error"), None, True, 1011, id="relay-error"
    ),
]


@pytest.mark.parametrize(("end", "client", "notice", "keeps_reading", "upstream"), CLOSE_TABLE)
def test_each_end_closes_both_sides_as_the_close_table_says(
    end: SessionEnd,
    client: tuple[int, str] | None,
    notice: str | None,
    keeps_reading: bool,
    upstream: int | None,
) -> None:
    """Close codes, the notice, the grace for a healthy client, and who is closed at all."""
    closing = core().closing(end)
    assert closing.client == client
    assert notice_code(closing) == notice
    assert (closing.keep_reading_seconds == LIMITS.notice_grace_seconds) is keeps_reading
    assert closing.upstream_code == upstream
    assert closing.cancel is None  # no response in flight
    assert closing.timeout_seconds == LIMITS.close_timeout_seconds


@pytest.mark.parametrize(
    ("cause", "cancels"),
    [
        pytest.param(EndCause.CLIENT_CLOSED, True, id="client-closes"),
        pytest.param(EndCause.SHUTDOWN, True, id="drain"),
        pytest.param(EndCause.IDLE_TIMEOUT, True, id="idle"),
        pytest.param(EndCause.BACKPRESSURE, True, id="backpressure"),
        pytest.param(EndCause.ERROR, True, id="relay-error"),
        pytest.param(EndCause.UPSTREAM_DROPPED, False, id="upstream-gone"),
    ],
)
def test_a_response_in_flight_is_cancelled_whenever_the_upstream_is_still_open(
    cause: EndCause, cancels: bool
) -> None:
    """On every end that leaves the upstream open, the in-flight response is cancelled first."""
    session = core()
    session.upstream_frame(CREATED)
    closing = session.closing(SessionEnd(cause))
    assert closing.cancel == (CANCEL_ON_CLOSE if cancels else None)
    assert closing.usage_grace_seconds == LIMITS.usage_grace_seconds


def test_the_usage_wait_ends_at_response_done_and_counts_it() -> None:
    """While waiting for usage, other frames are passed over and `response.done` ends the wait."""
    session = core()
    session.upstream_frame(CREATED)
    assert session.usage_frame(DELTA) is False
    assert session.usage_frame(None) is False  # a binary frame
    assert session.usage_frame(DONE) is True
    assert session.stats.usage["input_text"] == 3
    assert not session.response_in_flight


def test_drain_asks_for_the_shutdown_end() -> None:
    """`shutdown` gives `server_shutting_down`."""
    assert core().shutdown() == SessionEnd(EndCause.SHUTDOWN)


def test_relay_event_ids_are_numbered_after_the_session_id() -> None:
    """Refusals and notices get ids `<session id>_<n>`, so reports can be matched to logs."""
    session = core()
    command = session.client_frame(None, 1.0)
    assert type(command) is SendClient
    notice = session.closing(SessionEnd(EndCause.IDLE_TIMEOUT)).notice
    assert notice is not None
    ids = [orjson.loads(text)["event_id"] for text in (command.text, notice)]
    assert ids == ["rs_test_1", "rs_test_2"]
