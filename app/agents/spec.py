"""The agents file (`RELAY_AGENTS_FILE`): several enforced sessions on one relay.

The file is YAML holding a list of agents:

    - name: support                     # its path (/realtime/support) and model name
      default: true                     # unknown names fall back to it
      deployment: gpt-realtime-support  # upstream overrides: endpoint, deployment,
      api_key_env: SUPPORT_AOAI_KEY     #   api_version, api_key_env (else Entra)
      instructions_file: support.txt    # or instructions
      session: {audio: {output: {voice: marin}}}
      tools_file: support-tools.yaml    # or tools: [...], as in RELAY_TOOLS_FILE
      client_session_fields: [audio.input.turn_detection]
      limits: {max_sessions: 50, max_session_seconds: 900}
      callers: [web, {claim: roles, contains: support}]

Relative paths are read from the file's folder. Every problem is an
`AgentsFileError` naming the file, the agent and the field; startup stops.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.agents.agent import Agent, AgentLimits, relay_guardrails
from app.agents.callers import ClaimRule
from app.config import DEFAULT_CLIENT_EVENTS, Settings, endpoint_problem, policy_problems
from app.guardrails.spec import Guardrails, GuardrailsError
from app.net import is_loopback_host
from app.policy import dialect_for_version
from app.tools.spec import (
    LoadedMcpServer,
    LoadedTool,
    ToolsFileError,
    field_errors,
    load_tools,
    parse_tools,
    read_yaml,
    session_tool_names,
)

__all__ = ["AgentSpec", "AgentsFileError", "load_agents"]

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class AgentsFileError(ValueError):
    """The agents file cannot be used; the message names the file, the agent and the field."""


class LimitsSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_sessions: int | None = Field(None, ge=1)
    max_session_seconds: float | None = Field(None, gt=0)
    idle_timeout_seconds: float | None = Field(None, gt=0)
    events_per_second: float | None = Field(None, gt=0)
    events_burst: int | None = Field(None, ge=1)


class AgentSpec(BaseModel):
    """One agent as the file declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Slug
    default: bool = False
    endpoint: str | None = None
    deployment: str | None = Field(None, min_length=1)
    api_version: str | None = Field(None, min_length=1)
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    instructions: str | None = None
    instructions_file: Path | None = None
    session: dict[str, Any] = Field(default_factory=dict)
    tools: list[Any] | None = None
    tools_file: Path | None = None
    allowed_client_events: list[str] | None = None
    client_session_fields: list[str] | None = None
    client_response_fields: list[str] | None = None
    client_item_roles: list[str] | None = None
    client_tool_outputs: bool = False
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    callers: list[str | ClaimRule] | None = Field(None, min_length=1)
    guardrail_url: str | None = None
    guardrail_blocklist_file: Path | None = None


def load_agents(
    path: Path, settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[Agent, ...]:
    """Read and validate the agents file. Raises `AgentsFileError`."""
    environ = os.environ if environ is None else environ
    raw = read_yaml(path, AgentsFileError)
    if not isinstance(raw, list) or not raw:
        raise AgentsFileError(f"{path}: must hold a non-empty list of agents")
    agents: list[Agent] = []
    for index, entry in enumerate(raw):
        try:
            spec = AgentSpec.model_validate(entry)
        except ValidationError as exc:
            raise AgentsFileError(_describe(path, entry, index, exc)) from None
        agents.append(_resolve(spec, path, settings, environ))
    names = [agent.name for agent in agents]
    for name in names:
        if names.count(name) > 1:
            raise AgentsFileError(f"{path}: agent {name!r}: name: declared twice")
    defaults = [agent.name for agent in agents if agent.default]
    if len(defaults) > 1:
        raise AgentsFileError(
            f"{path}: agent {defaults[1]!r}: default: only one agent may be the default "
            f"({defaults[0]!r} is)"
        )
    return tuple(agents)


def _describe(path: Path, entry: object, index: int, exc: ValidationError) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    agent = f"agent {name!r}" if isinstance(name, str) else f"agent #{index + 1}"
    return field_errors(f"{path}: {agent}", exc)


def _resolve(spec: AgentSpec, path: Path, settings: Settings, environ: Mapping[str, str]) -> Agent:
    where = f"{path}: agent {spec.name!r}"

    def fail(field: str, message: str) -> AgentsFileError:
        return AgentsFileError(f"{where}: {field}: {message}")

    folder = path.parent
    endpoint = spec.endpoint or settings.azure_endpoint
    if endpoint is None and settings.upstream == "azure":
        raise fail("endpoint", "needed (or AZURE_OPENAI_ENDPOINT) with RELAY_UPSTREAM=azure")
    if endpoint is not None:
        problem = endpoint_problem(endpoint, settings.upstream)
        if problem:
            raise fail("endpoint", problem)
    deployment = spec.deployment or settings.azure_deployment
    if deployment is None:
        if settings.upstream == "azure":
            raise fail(
                "deployment", "needed (or AZURE_OPENAI_DEPLOYMENT) with RELAY_UPSTREAM=azure"
            )
        deployment = settings.deployment
    api_version = spec.api_version or settings.azure_api_version
    dialect = dialect_for_version(api_version)
    api_key = settings.azure_api_key
    if spec.api_key_env is not None:
        api_key = environ.get(spec.api_key_env)
        if not api_key:
            raise fail("api_key_env", f"environment variable {spec.api_key_env} is not set")
    if spec.instructions is not None and spec.instructions_file is not None:
        raise fail("instructions", "set instructions or instructions_file, not both")
    instructions = spec.instructions
    if spec.instructions_file is not None:
        try:
            instructions = (folder / spec.instructions_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise fail("instructions_file", f"cannot be read: {exc.strerror}") from None
    fields = spec.client_session_fields
    events = spec.allowed_client_events
    problems = policy_problems(dialect, spec.session, events or (), fields)
    if problems:
        raise fail(*problems[0])
    limits = spec.limits
    return Agent(
        name=spec.name,
        default=spec.default,
        endpoint=endpoint,
        deployment=deployment,
        api_version=api_version,
        api_key=api_key,
        instructions=instructions,
        session=spec.session,
        tools=_tools(spec, folder, where, environ),
        allowed_client_events=tuple(events) if events is not None else DEFAULT_CLIENT_EVENTS,
        client_session_fields=(
            tuple(fields) if fields is not None else dialect.default_client_session_fields
        ),
        client_response_fields=tuple(
            spec.client_response_fields
            if spec.client_response_fields is not None
            else settings.client_response_fields
        ),
        client_item_roles=tuple(
            spec.client_item_roles if spec.client_item_roles is not None else ("user",)
        ),
        client_tool_outputs=spec.client_tool_outputs,
        limits=AgentLimits(
            max_sessions=limits.max_sessions,
            max_session_seconds=limits.max_session_seconds or settings.max_session_seconds,
            idle_timeout_seconds=limits.idle_timeout_seconds or settings.idle_timeout_seconds,
            events_per_second=limits.events_per_second or settings.client_events_per_second,
            events_burst=limits.events_burst or settings.client_events_burst,
        ),
        callers=tuple(spec.callers) if spec.callers is not None else None,
        guardrails=_guardrails(spec, folder, settings, fail),
    )


def _guardrails(
    spec: AgentSpec, folder: Path, settings: Settings, fail: Callable[[str, str], AgentsFileError]
) -> Guardrails | None:
    if spec.guardrail_url is not None:
        parts = urlsplit(spec.guardrail_url)
        secure = parts.scheme == "https" or (
            parts.scheme == "http" and is_loopback_host(parts.hostname)
        )
        if not parts.hostname or not secure:
            raise fail("guardrail_url", "must be an https:// URL (http:// only for loopback)")
    blocklist = spec.guardrail_blocklist_file
    try:
        return relay_guardrails(
            settings, spec.guardrail_url, folder / blocklist if blocklist is not None else None
        )
    except GuardrailsError as exc:
        raise fail("guardrail_blocklist_file", str(exc)) from None


def _tools(
    spec: AgentSpec, folder: Path, where: str, environ: Mapping[str, str]
) -> tuple[LoadedTool | LoadedMcpServer, ...]:
    if spec.tools is not None and spec.tools_file is not None:
        raise AgentsFileError(f"{where}: tools: set tools or tools_file, not both")
    client_tools = session_tool_names(spec.session)
    try:
        if spec.tools_file is not None:
            return load_tools(folder / spec.tools_file, environ, client_tools)
        if spec.tools is not None:
            return parse_tools(spec.tools, f"{where}: tools", environ, client_tools)
    except ToolsFileError as exc:
        raise AgentsFileError(str(exc)) from None
    return ()
