"""The enforced session, path helpers and dialect selection."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.policy import GA, PREVIEW, Dialect, dialect_for_version, enforced_session, enforced_update
from app.policy.session import (
    ENFORCED_EVENT_ID,
    client_paths,
    enforced_paths,
    filter_session,
    split_paths,
)

ENFORCED_UPDATE_CASES = [
    pytest.param(
        GA,
        "Be brief.",
        {"audio": {"output": {"voice": "marin"}}},
        {"type": "realtime", "audio": {"output": {"voice": "marin"}}, "instructions": "Be brief."},
        id="ga-voice-and-instructions",
    ),
    pytest.param(GA, None, {}, {"type": "realtime"}, id="ga-nothing-enforced"),
    pytest.param(GA, "", {}, {"type": "realtime", "instructions": ""}, id="ga-empty-instructions"),
    pytest.param(
        GA,
        None,
        {"type": "realtime", "output_modalities": ["text"]},
        {"type": "realtime", "output_modalities": ["text"]},
        id="ga-explicit-type",
    ),
    pytest.param(
        GA,
        "Op",
        {"instructions": "from session"},
        {"type": "realtime", "instructions": "Op"},
        id="ga-instructions-argument-wins",
    ),
    pytest.param(
        PREVIEW,
        "Be brief.",
        {"voice": "marin"},
        {"voice": "marin", "instructions": "Be brief."},
        id="preview-voice-and-instructions",
    ),
    pytest.param(PREVIEW, None, {}, {}, id="preview-nothing-enforced"),
]


@pytest.mark.parametrize(("dialect", "instructions", "session", "expected"), ENFORCED_UPDATE_CASES)
def test_enforced_update_carries_operator_session(
    dialect: Dialect, instructions: str | None, session: dict[str, Any], expected: dict[str, Any]
) -> None:
    """The relay's own `session.update` carries the enforced session (GA: typed realtime)."""
    assert orjson.loads(enforced_update(dialect, instructions, session)) == {
        "type": "session.update",
        "event_id": ENFORCED_EVENT_ID,
        "session": expected,
    }
    assert enforced_session(dialect, instructions, session) == expected


def test_enforced_session_does_not_mutate_the_operator_mapping() -> None:
    """Building the enforced session leaves the configured mapping untouched."""
    session: dict[str, Any] = {"voice": "marin"}
    enforced_session(PREVIEW, "x", session)
    assert session == {"voice": "marin"}


@pytest.mark.parametrize(
    ("session", "expected"),
    [
        pytest.param({}, (), id="empty"),
        pytest.param({"voice": "marin"}, (("voice",),), id="flat"),
        pytest.param(
            {"audio": {"output": {"voice": "marin"}, "input": {"turn_detection": None}}},
            (("audio", "output", "voice"), ("audio", "input", "turn_detection")),
            id="nested-leaves",
        ),
        pytest.param({"audio": {}}, (("audio",),), id="empty-object-is-a-leaf"),
        pytest.param({"tools": [{"a": 1}]}, (("tools",),), id="list-is-a-leaf"),
    ],
)
def test_enforced_paths_lists_every_leaf(
    session: dict[str, Any], expected: tuple[tuple[str, ...], ...]
) -> None:
    """Enforced paths are the leaves of the enforced session; empty objects are leaves."""
    assert enforced_paths(session) == expected


@pytest.mark.parametrize(
    ("allowed", "enforced", "expected"),
    [
        pytest.param(["a.b"], [], ["a.b"], id="nothing-enforced"),
        pytest.param(["a.b"], ["a.b"], [], id="equal"),
        pytest.param(["a.b"], ["a.b.c"], [], id="enforced-inside"),
        pytest.param(["a.b.c"], ["a"], [], id="enforced-contains"),
        pytest.param(["a.b", "a.c"], ["a.c"], ["a.b"], id="sibling-kept"),
        pytest.param(["ab"], ["a"], ["ab"], id="string-prefix-is-not-path-prefix"),
    ],
)
def test_client_paths_drop_every_path_overlapping_an_enforced_one(
    allowed: list[str], enforced: list[str], expected: list[str]
) -> None:
    """An allowed path survives only when no enforced path equals, contains or lies in it."""
    assert client_paths(split_paths(allowed), split_paths(enforced)) == split_paths(expected)


def test_split_paths_splits_on_dots() -> None:
    """Dotted paths become tuples of keys."""
    assert split_paths(["a", "audio.input.format"]) == (("a",), ("audio", "input", "format"))


@pytest.mark.parametrize(
    ("session", "paths", "expected"),
    [
        pytest.param({"a": 1, "b": 2}, ["a"], {"a": 1}, id="top-level"),
        pytest.param({"a": {"b": 1, "c": 2}}, ["a.b"], {"a": {"b": 1}}, id="nested"),
        pytest.param({"a": {"b": None}}, ["a.b"], {"a": {"b": None}}, id="null-value-kept"),
        pytest.param({"a": 1}, ["a.b"], {}, id="intermediate-not-object"),
        pytest.param({"a": {}}, ["a.b"], {}, id="missing-leaf"),
        pytest.param({}, ["a"], {}, id="missing-top"),
        pytest.param(
            {"a": {"b": 1, "c": 2, "d": 3}}, ["a.b", "a.c"], {"a": {"b": 1, "c": 2}}, id="merged"
        ),
    ],
)
def test_filter_session_keeps_only_values_at_paths(
    session: dict[str, Any], paths: list[str], expected: dict[str, Any]
) -> None:
    """`filter_session` copies the values found at the given paths and nothing else."""
    assert filter_session(session, split_paths(paths)) == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param(None, GA, id="unset"),
        pytest.param("", GA, id="empty"),
        pytest.param("v1", GA, id="v1"),
        pytest.param(" v1 ", GA, id="v1-padded"),
        pytest.param("2025-04-01-preview", PREVIEW, id="2025-04-01-preview"),
        pytest.param("2024-10-01-preview", PREVIEW, id="2024-10-01-preview"),
    ],
)
def test_dialect_is_chosen_by_api_version(version: str | None, expected: Dialect) -> None:
    """Unset or `v1` selects GA; a dated api-version selects preview."""
    assert dialect_for_version(version) is expected


def test_transcription_session_update_is_not_relayed_in_either_dialect() -> None:
    """`transcription_session.update` has no policy of its own, so no dialect relays it."""
    assert "transcription_session.update" not in PREVIEW.client_events
    assert "transcription_session.update" not in GA.client_events
