"""One agent: an enforced session, its client policy, its upstream and who may use it.

An `Agent` is plain, resolved values: the instructions read, the tools loaded,
the upstream overrides merged over the relay's defaults, and every limit
given. Without `RELAY_AGENTS_FILE`, the settings define one agent, `default`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.agents.callers import CallerRule
from app.config import Settings
from app.guardrails.spec import Guardrails, guarded_session, load_blocklist
from app.policy import ClientPolicy, Dialect, dialect_for_version, make_rules
from app.policy.session import enforced_session, enforced_update
from app.tools.spec import LoadedMcpServer, LoadedTool, load_tools, session_tool_names

__all__ = [
    "DEFAULT_AGENT",
    "Agent",
    "AgentLimits",
    "build_policy",
    "default_agent",
    "relay_guardrails",
]

DEFAULT_AGENT = "default"


@dataclass(frozen=True, slots=True)
class AgentLimits:
    """An agent's limits; `max_sessions` None means only the relay's own caps apply."""

    max_sessions: int | None
    max_session_seconds: float
    idle_timeout_seconds: float
    events_per_second: float
    events_burst: int


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    default: bool
    endpoint: str | None  # None: the embedded simulator
    deployment: str
    api_version: str | None
    api_key: str | None = field(repr=False)  # None: the relay's Entra credential
    instructions: str | None = field(repr=False)
    session: Mapping[str, Any] = field(repr=False)
    tools: tuple[LoadedTool | LoadedMcpServer, ...] = field(repr=False)
    allowed_client_events: tuple[str, ...]
    client_session_fields: tuple[str, ...]
    client_response_fields: tuple[str, ...]
    client_item_roles: tuple[str, ...]
    client_tool_outputs: bool
    limits: AgentLimits
    callers: tuple[CallerRule, ...] | None  # None: any authenticated caller
    guardrails: Guardrails | None = field(default=None, repr=False)

    @property
    def dialect(self) -> Dialect:
        return dialect_for_version(self.api_version)

    def public(self) -> dict[str, Any]:
        """What `GET /agents` shows: never the instructions, the session or the tools."""
        return {
            "name": self.name,
            "default": self.default,
            "deployment": self.deployment,
            "protocol": self.dialect.name,
            "api_version": self.api_version,
            "credential": "api-key" if self.api_key else "entra",
            "allowed_client_events": list(self.allowed_client_events),
            "client_session_fields": list(self.client_session_fields),
            "client_response_fields": list(self.client_response_fields),
            "client_item_roles": list(self.client_item_roles),
            "client_tool_outputs": self.client_tool_outputs,
            "limits": {
                "max_sessions": self.limits.max_sessions,
                "max_session_seconds": self.limits.max_session_seconds,
                "idle_timeout_seconds": self.limits.idle_timeout_seconds,
                "events_per_second": self.limits.events_per_second,
                "events_burst": self.limits.events_burst,
            },
            "callers_restricted": self.callers is not None,
            "guardrails": self.guardrails is not None,
        }


def default_agent(settings: Settings) -> Agent:
    """The one agent the settings define without an agents file (reads its files)."""
    instructions = settings.instructions
    if settings.instructions_file is not None:
        instructions = settings.instructions_file.read_text(encoding="utf-8")
    tools: tuple[LoadedTool | LoadedMcpServer, ...] = ()
    if settings.tools_file is not None:
        tools = load_tools(settings.tools_file, client_tools=session_tool_names(settings.session))
    return Agent(
        name=DEFAULT_AGENT,
        default=True,
        endpoint=settings.azure_endpoint,
        deployment=settings.deployment,
        api_version=settings.azure_api_version,
        api_key=settings.azure_api_key,
        instructions=instructions,
        session=dict(settings.session),
        tools=tools,
        allowed_client_events=settings.allowed_client_events,
        client_session_fields=settings.effective_client_session_fields,
        client_response_fields=settings.client_response_fields,
        client_item_roles=settings.client_item_roles,
        client_tool_outputs=settings.client_tool_outputs,
        limits=relay_limits(settings),
        callers=None,
        guardrails=relay_guardrails(settings),
    )


def relay_guardrails(
    settings: Settings, url: str | None = None, blocklist_file: Path | None = None
) -> Guardrails | None:
    """The guardrails from the settings (an agent may name its own webhook or blocklist);
    None when neither a webhook nor a blocklist is configured."""
    url = url or settings.guardrail_url
    blocklist_file = blocklist_file or settings.guardrail_blocklist_file
    if url is None and blocklist_file is None:
        return None
    return Guardrails(
        url=url,
        blocklist=load_blocklist(blocklist_file) if blocklist_file is not None else (),
        refusal=settings.guardrail_refusal,
        max_violations=settings.guardrail_max_violations,
        timeout_seconds=settings.guardrail_timeout_seconds,
        failure_mode=settings.guardrail_failure_mode,
        transcription_model=settings.guardrail_transcription_model,
    )


def relay_limits(settings: Settings, max_sessions: int | None = None) -> AgentLimits:
    """The relay-wide limits, the defaults of every agent's."""
    return AgentLimits(
        max_sessions=max_sessions,
        max_session_seconds=settings.max_session_seconds,
        idle_timeout_seconds=settings.idle_timeout_seconds,
        events_per_second=settings.client_events_per_second,
        events_burst=settings.client_events_burst,
    )


def merge_session(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s values laid over it, objects merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge_session(below, value)
        else:
            merged[key] = value
    return merged


def build_policy(
    agent: Agent,
    functions: Sequence[Mapping[str, Any]] = (),
    pinned: Mapping[str, Any] | None = None,
) -> tuple[ClientPolicy, str]:
    """The agent's client policy and enforced `session.update` text.

    The server tools' `functions` join the enforced session's `tools`, after the
    agent's own. `pinned` (a client secret's session values) is enforced too, so
    a client cannot change what its backend set.
    """
    dialect = agent.dialect
    session = dict(agent.session)
    if functions:
        declared = session.get("tools")
        session["tools"] = [*(declared if isinstance(declared, list) else ()), *functions]
    if pinned:
        session = merge_session(session, pinned)
    if agent.guardrails is not None:  # the relay owns turn-taking: the turn is checked first
        session = guarded_session(dialect.name, session, agent.guardrails.transcription_model)
    enforced = enforced_session(dialect, agent.instructions, session)
    rules = make_rules(
        dialect,
        allowed_events=agent.allowed_client_events,
        session_fields=agent.client_session_fields,
        enforced_session=enforced,
        response_fields=agent.client_response_fields,
        item_roles=agent.client_item_roles,
        tool_outputs=agent.client_tool_outputs,
    )
    return ClientPolicy(rules), enforced_update(dialect, agent.instructions, session)
