"""`plan_close`: what each side is told when a session ends."""

from __future__ import annotations

import pytest

from app.relay.closing import (
    MAX_REASON_BYTES,
    ClosePlan,
    EndCause,
    SessionEnd,
    is_sendable,
    plan_close,
    truncate_reason,
)

PLANS = [
    pytest.param(
        SessionEnd(EndCause.CLIENT_CLOSED, 1000, "bye"),
        ClosePlan(None, "", None, 1000),
        id="client-closed",
    ),
    pytest.param(
        SessionEnd(EndCause.CLIENT_CLOSED, 1006),
        ClosePlan(None, "", None, 1000),
        id="client-dropped",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 1000, "done"),
        ClosePlan(1000, "done", None, None),
        id="upstream-1000",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 1001, "session_expired"),
        ClosePlan(1001, "session_expired", None, None),
        id="upstream-1001",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 1008, "policy"),
        ClosePlan(1008, "policy", None, None),
        id="upstream-1008",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 1011, ""),
        ClosePlan(1011, "", None, None),
        id="upstream-1011",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 1014, "bad gateway"),
        ClosePlan(1014, "bad gateway", None, None),
        id="upstream-1014",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 3000, "app"),
        ClosePlan(3000, "app", None, None),
        id="upstream-3000",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 4000, "custom"),
        ClosePlan(4000, "custom", None, None),
        id="upstream-4000",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_CLOSED, 4999, ""),
        ClosePlan(4999, "", None, None),
        id="upstream-4999",
    ),
    *[
        pytest.param(
            SessionEnd(EndCause.UPSTREAM_CLOSED, code, "ignored"),
            ClosePlan(1011, "upstream_closed", "upstream_closed", None),
            id=f"upstream-unsendable-{code}",
        )
        for code in (1004, 1005, 1006, 1015, 999, 2999, 5000, 0, -1, None)
    ],
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_DROPPED),
        ClosePlan(1011, "upstream_closed", "upstream_closed", None),
        id="upstream-dropped",
    ),
    pytest.param(
        SessionEnd(EndCause.UPSTREAM_UNRESPONSIVE),
        ClosePlan(1011, "upstream_unresponsive", "upstream_unresponsive", None),
        id="upstream-unresponsive",
    ),
    pytest.param(
        SessionEnd(EndCause.SESSION_EXPIRED),
        ClosePlan(1001, "session_expired", "session_expired", 1000),
        id="session-expired",
    ),
    pytest.param(
        SessionEnd(EndCause.IDLE_TIMEOUT),
        ClosePlan(1001, "idle_timeout", "idle_timeout", 1000),
        id="idle-timeout",
    ),
    pytest.param(
        SessionEnd(EndCause.BACKPRESSURE),
        ClosePlan(1013, "backpressure", "backpressure", 1000),
        id="backpressure",
    ),
    pytest.param(
        SessionEnd(EndCause.SHUTDOWN),
        ClosePlan(1012, "server_shutting_down", "server_shutting_down", 1000),
        id="shutdown",
    ),
    pytest.param(
        SessionEnd(EndCause.ERROR, 1011, "boom"),
        ClosePlan(1011, "internal_error", None, 1011),
        id="error",
    ),
]


@pytest.mark.parametrize(("end", "expected"), PLANS)
def test_plan_close_maps_each_end_cause_to_close_codes(
    end: SessionEnd, expected: ClosePlan
) -> None:
    """Every end cause maps to the documented client and upstream close codes."""
    assert plan_close(end) == expected


def test_every_end_cause_has_a_plan() -> None:
    """`plan_close` handles every `EndCause` without raising."""
    for cause in EndCause:
        assert isinstance(plan_close(SessionEnd(cause)), ClosePlan)


@pytest.mark.parametrize(
    ("code", "sendable"),
    [
        pytest.param(None, False, id="none"),
        pytest.param(999, False, id="999"),
        pytest.param(1000, True, id="1000"),
        pytest.param(1003, True, id="1003"),
        pytest.param(1004, False, id="1004-reserved"),
        pytest.param(1005, False, id="1005-no-status"),
        pytest.param(1006, False, id="1006-abnormal"),
        pytest.param(1007, True, id="1007"),
        pytest.param(1014, True, id="1014"),
        pytest.param(1015, False, id="1015-tls"),
        pytest.param(1016, False, id="1016-unassigned"),
        pytest.param(2999, False, id="2999"),
        pytest.param(3000, True, id="3000"),
        pytest.param(4999, True, id="4999"),
        pytest.param(5000, False, id="5000"),
    ],
)
def test_is_sendable_follows_rfc_6455(code: int | None, sendable: bool) -> None:
    """Only codes RFC 6455 allows in a close frame are sendable."""
    assert is_sendable(code) is sendable


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("short", "short", id="short"),
        pytest.param("a" * 123, "a" * 123, id="exactly-123-bytes"),
        pytest.param("a" * 124, "a" * 123, id="124-bytes"),
        pytest.param("a" * 122 + "é", "a" * 122, id="two-byte-char-across-limit"),
        pytest.param("a" * 121 + "é", "a" * 121 + "é", id="two-byte-char-fits"),
        pytest.param("a" * 121 + "€x", "a" * 121, id="three-byte-char-across-limit"),
        pytest.param("😀" * 40, "😀" * 30, id="four-byte-chars"),
    ],
)
def test_truncate_reason_never_exceeds_123_bytes_or_splits_a_character(
    reason: str, expected: str
) -> None:
    """Reasons are cut to at most 123 UTF-8 bytes on a character boundary."""
    result = truncate_reason(reason)
    assert result == expected
    assert len(result.encode()) <= MAX_REASON_BYTES


def test_upstream_close_reason_is_truncated_for_the_client() -> None:
    """A long upstream close reason reaches the client cut to 123 bytes."""
    plan = plan_close(SessionEnd(EndCause.UPSTREAM_CLOSED, 1000, "é" * 100))
    assert plan.client_reason == "é" * 61
    assert len(plan.client_reason.encode()) <= MAX_REASON_BYTES
