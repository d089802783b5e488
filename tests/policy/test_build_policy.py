"""`build_policy`: the policy and enforced update assembled from `Settings`."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from app.agents import build_policy, default_agent
from app.config import Settings
from tests.policy.factories import assert_forward, assert_refuse, dumps, rewritten


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A simulator-backed, auth-free environment with no `.env` file or stray variables."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("RELAY_", "AZURE_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RELAY_UPSTREAM", "simulator")
    monkeypatch.setenv("RELAY_AUTH", "none")
    return monkeypatch


def test_ga_policy_from_settings_enforces_voice_and_instructions(env: pytest.MonkeyPatch) -> None:
    """GA settings give a typed enforced update and strip client voice and instructions."""
    env.setenv("RELAY_SESSION", '{"audio":{"output":{"voice":"marin"}}}')
    env.setenv("RELAY_INSTRUCTIONS", "Be brief.")
    policy, update = build_policy(default_agent(Settings()))
    assert orjson.loads(update) == {
        "type": "session.update",
        "event_id": "relay_enforced_session",
        "session": {
            "type": "realtime",
            "audio": {"output": {"voice": "marin"}},
            "instructions": "Be brief.",
        },
    }
    event = {
        "type": "session.update",
        "session": {
            "instructions": "x",
            "audio": {"output": {"voice": "alloy", "format": {"type": "audio/pcmu"}}},
        },
    }
    assert rewritten(policy.decide(dumps(event)), "session.update") == {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}},
    }


def test_preview_policy_from_settings_uses_flat_fields(env: pytest.MonkeyPatch) -> None:
    """A preview api-version gives an untyped enforced update and flat client fields."""
    env.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    env.setenv("RELAY_SESSION", '{"voice":"marin"}')
    policy, update = build_policy(default_agent(Settings()))
    assert orjson.loads(update)["session"] == {"voice": "marin"}
    event = {"type": "session.update", "session": {"voice": "alloy", "modalities": ["text"]}}
    assert rewritten(policy.decide(dumps(event)), "session.update") == {
        "type": "session.update",
        "session": {"modalities": ["text"]},
    }


def test_policy_from_settings_reads_instructions_file(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Instructions from RELAY_INSTRUCTIONS_FILE are enforced in the update."""
    path = tmp_path / "prompt.txt"
    path.write_text("From a file.\n", encoding="utf-8")
    env.setenv("RELAY_INSTRUCTIONS_FILE", str(path))
    _, update = build_policy(default_agent(Settings()))
    assert orjson.loads(update)["session"] == {"type": "realtime", "instructions": "From a file.\n"}


def test_policy_from_settings_applies_operator_lists(env: pytest.MonkeyPatch) -> None:
    """Allowed events, roles, response fields and tool outputs come from the settings."""
    env.setenv("RELAY_ALLOWED_CLIENT_EVENTS", "conversation.item.create,response.create")
    env.setenv("RELAY_CLIENT_ITEM_ROLES", "user,assistant")
    env.setenv("RELAY_CLIENT_RESPONSE_FIELDS", "conversation")
    env.setenv("RELAY_CLIENT_TOOL_OUTPUTS", "true")
    policy, _ = build_policy(default_agent(Settings()))
    assert_refuse(policy.decide('{"type":"session.update"}'), "event_not_allowed")
    assistant = {"type": "conversation.item.create", "item": {"role": "assistant"}}
    assert_forward(policy.decide(dumps(assistant)), "conversation.item.create")
    output = {"type": "conversation.item.create", "item": {"type": "function_call_output"}}
    assert_forward(policy.decide(dumps(output)), "conversation.item.create")
    response = {"type": "response.create", "response": {"conversation": "none", "metadata": {}}}
    assert rewritten(policy.decide(dumps(response)), "response.create") == {
        "type": "response.create",
        "response": {"conversation": "none"},
    }


def test_policy_from_settings_uses_operator_session_fields(env: pytest.MonkeyPatch) -> None:
    """RELAY_CLIENT_SESSION_FIELDS replaces the dialect's default client fields."""
    env.setenv("RELAY_CLIENT_SESSION_FIELDS", "output_modalities")
    policy, _ = build_policy(default_agent(Settings()))
    event = {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": ["text"], "audio": {}},
    }
    assert rewritten(policy.decide(dumps(event)), "session.update") == {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": ["text"]},
    }
