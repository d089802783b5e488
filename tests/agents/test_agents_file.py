"""The agents file: validated at startup, every problem naming the agent and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.agents import Agent, AgentsFileError, ClaimRule, default_agent, load_agents
from app.config import DEFAULT_CLIENT_EVENTS, Settings
from app.policy import GA, PREVIEW
from tests.e2e.harness import by_alias
from tests.support.relay_process import run_relay_to_exit

BASE: dict[str, Any] = {"upstream": "simulator", "auth": "none"}
PREVIEW_VERSION = "2025-04-01-preview"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **by_alias({**BASE, **values}))


def write(tmp_path: Path, agents: object) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(agents), encoding="utf-8")
    return path


def load(
    tmp_path: Path, agents: object, environ: dict[str, str] | None = None, **values: Any
) -> tuple[Agent, ...]:
    path = write(tmp_path, agents)
    return load_agents(path, settings(agents_file=path, **values), environ or {})


def test_a_full_agent_resolves_its_files_overrides_and_limits(tmp_path: Path) -> None:
    """Relative files are read beside the agents file; limits fall back to the relay's."""
    (tmp_path / "support.txt").write_text("Help with orders.", encoding="utf-8")
    (tmp_path / "tools.yaml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "lookup_order",
                    "description": "Look up an order.",
                    "parameters": {"type": "object"},
                    "url": "http://127.0.0.1:9/lookup",
                }
            ]
        ),
        encoding="utf-8",
    )
    (agent,) = load(
        tmp_path,
        [
            {
                "name": "support",
                "default": True,
                "deployment": "gpt-realtime-support",
                "api_version": PREVIEW_VERSION,
                "api_key_env": "SUPPORT_KEY",
                "instructions_file": "support.txt",
                "session": {"voice": "marin"},
                "tools_file": "tools.yaml",
                "client_session_fields": ["turn_detection"],
                "limits": {"max_sessions": 5, "idle_timeout_seconds": 30},
                "callers": ["web", {"claim": "roles", "contains": "support"}],
            }
        ],
        {"SUPPORT_KEY": "support-key-0123456789"},
        max_session_seconds=600,
    )
    assert agent.name == "support"
    assert agent.default
    assert agent.deployment == "gpt-realtime-support"
    assert agent.dialect is PREVIEW
    assert agent.api_key == "support-key-0123456789"
    assert agent.instructions == "Help with orders."
    assert [tool.spec.name for tool in agent.tools] == ["lookup_order"]  # type: ignore[union-attr]
    assert agent.client_session_fields == ("turn_detection",)
    assert agent.allowed_client_events == DEFAULT_CLIENT_EVENTS
    assert agent.limits.max_sessions == 5
    assert agent.limits.idle_timeout_seconds == 30
    assert agent.limits.max_session_seconds == 600
    assert agent.callers == ("web", ClaimRule(claim="roles", contains="support"))
    assert "Help with orders" not in repr(agent)
    assert "support-key" not in repr(agent)


def test_upstream_settings_are_the_defaults_agents_override(tmp_path: Path) -> None:
    """An agent without overrides takes the relay's endpoint, deployment, version and key."""
    first, second = load(
        tmp_path,
        [{"name": "one"}, {"name": "two", "deployment": "other"}],
        azure_endpoint="http://127.0.0.1:9",
        azure_deployment="shared",
        azure_api_key="relay-key",
    )
    assert (first.endpoint, first.deployment, first.api_key) == (
        "http://127.0.0.1:9",
        "shared",
        "relay-key",
    )
    assert second.deployment == "other"
    assert first.dialect is GA
    assert not first.default
    assert first.callers is None


BAD_FILES: list[tuple[str, object, str]] = [
    ("not a list", {"name": "x"}, "must hold a non-empty list of agents"),
    ("empty", [], "must hold a non-empty list of agents"),
    ("bad slug", [{"name": "Sales Team"}], "agent 'Sales Team': name:"),
    ("unknown key", [{"name": "a", "voice": "x"}], "agent 'a': voice: Extra inputs"),
    ("no name", [{"default": True}], "agent #1: name: Field required"),
    ("twice", [{"name": "a"}, {"name": "a"}], "agent 'a': name: declared twice"),
    (
        "two defaults",
        [{"name": "a", "default": True}, {"name": "b", "default": True}],
        "agent 'b': default: only one agent may be the default",
    ),
    (
        "both instructions",
        [{"name": "a", "instructions": "x", "instructions_file": "y"}],
        "agent 'a': instructions: set instructions or instructions_file, not both",
    ),
    (
        "missing instructions file",
        [{"name": "a", "instructions_file": "nowhere.txt"}],
        "agent 'a': instructions_file: cannot be read",
    ),
    (
        "session field of the other dialect",
        [{"name": "a", "session": {"voice": "marin"}}],
        "agent 'a': session: has fields that do not belong to the ga dialect: voice",
    ),
    (
        "unknown client event",
        [{"name": "a", "allowed_client_events": ["session.delete"]}],
        "agent 'a': allowed_client_events: names unknown client events: session.delete",
    ),
    (
        "client field outside the session",
        [{"name": "a", "client_session_fields": ["type"]}],
        "agent 'a': client_session_fields: names fields outside the ga session: type",
    ),
    (
        "unset key variable",
        [{"name": "a", "api_key_env": "NOT_SET_ANYWHERE"}],
        "agent 'a': api_key_env: environment variable NOT_SET_ANYWHERE is not set",
    ),
    (
        "insecure endpoint",
        [{"name": "a", "endpoint": "ftp://x.example"}],
        "agent 'a': endpoint: must look like https://",
    ),
    (
        "bad claim rule",
        [{"name": "a", "callers": [{"claim": "roles"}]}],
        "agent 'a': callers.0",
    ),
    (
        "empty callers",
        [{"name": "a", "callers": []}],
        "agent 'a': callers: List should have at least 1 item",
    ),
    ("bad limit", [{"name": "a", "limits": {"max_sessions": 0}}], "limits.max_sessions"),
    (
        "bad inline tool",
        [{"name": "a", "tools": [{"name": "t"}]}],
        "agent 'a': tools: tool 't': description: Field required",
    ),
    (
        "both tools",
        [{"name": "a", "tools": [], "tools_file": "t.yaml"}],
        "agent 'a': tools: set tools or tools_file, not both",
    ),
]


@pytest.mark.parametrize(("case", "agents", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_agents_file_names_the_agent_and_the_field(
    tmp_path: Path, case: str, agents: object, message: str
) -> None:
    with pytest.raises(AgentsFileError) as raised:
        load(tmp_path, agents)
    assert message in str(raised.value)
    assert str(tmp_path / "agents.yaml") in str(raised.value)


def test_an_agent_on_azure_needs_an_endpoint_and_a_deployment(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "a"}])
    azure = Settings(_env_file=None, upstream="azure", auth="none", agents_file=path)
    with pytest.raises(AgentsFileError, match="agent 'a': endpoint: needed"):
        load_agents(path, azure, {})
    path = write(tmp_path, [{"name": "a", "endpoint": "https://r.openai.azure.com"}])
    with pytest.raises(AgentsFileError, match="agent 'a': deployment: needed"):
        load_agents(path, azure, {})


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("instructions", "Be brief.", "RELAY_INSTRUCTIONS"),
        ("session", {"audio": {}}, "RELAY_SESSION"),
        ("allowed_client_events", ("response.create",), "RELAY_ALLOWED_CLIENT_EVENTS"),
        ("client_tool_outputs", True, "RELAY_CLIENT_TOOL_OUTPUTS"),
    ],
)
def test_per_policy_variables_beside_the_file_stop_startup(
    tmp_path: Path, field: str, value: object, variable: str
) -> None:
    path = write(tmp_path, [{"name": "a"}])
    with pytest.raises(ValidationError) as raised:
        settings(agents_file=path, **{field: value})
    assert variable in str(raised.value)
    assert "move them into the agents file" in str(raised.value)


def test_without_the_file_the_settings_define_one_default_agent() -> None:
    agent = default_agent(settings(instructions="Be brief.", client_item_roles=("user", "system")))
    assert agent.name == "default"
    assert agent.default
    assert agent.instructions == "Be brief."
    assert agent.client_item_roles == ("user", "system")
    assert agent.callers is None


async def test_a_bad_agents_file_exits_2_naming_the_agent(tmp_path: Path) -> None:
    """`python -m app` with a bad agents file stops with exit status 2 and says why."""
    path = write(tmp_path, [{"name": "support", "session": {"voice": "marin"}}])
    returncode, stderr = await run_relay_to_exit(
        tmp_path, RELAY_UPSTREAM="simulator", RELAY_AUTH="none", RELAY_AGENTS_FILE=str(path)
    )
    assert returncode == 2
    assert b"RELAY_AGENTS_FILE" in stderr
    assert b"agent 'support': session:" in stderr


async def test_policy_variables_beside_the_file_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "support"}])
    returncode, stderr = await run_relay_to_exit(
        tmp_path,
        RELAY_UPSTREAM="simulator",
        RELAY_AUTH="none",
        RELAY_AGENTS_FILE=str(path),
        RELAY_INSTRUCTIONS="Be brief.",
    )
    assert returncode == 2
    assert b"RELAY_INSTRUCTIONS cannot be set beside RELAY_AGENTS_FILE" in stderr
