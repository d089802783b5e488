"""The relay's resources, built once in the lifespan from the settings and the agents.

Settings are plain values; this module turns them into live objects (the
credentials, each agent's dialer, policy and tools, the embedded simulator,
the client secret store) and closes them again on shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from azure.identity.aio import DefaultAzureCredential

from app.agents import Agent, AgentsFileError, default_agent, load_agents
from app.agents.live import LiveAgent, open_agent, tool_names
from app.auth import Authenticator, JwtVerifier, NoAuth, StaticTokens, build_authenticator
from app.auth.tokens import parse_token_pairs
from app.client_secrets import SecretStore
from app.config import Settings
from app.lifecycle import Lifecycle
from app.logs import settings_summary
from app.metrics import RelayMetrics
from app.relay import SessionLimits, SessionStats
from app.shared import LocalState, SharedState
from app.shared.accounting import Accounting
from app.slots import SessionSlots
from app.tools.mcp import McpConnection
from app.upstream import EntraCredential, StaticCredential, UpstreamCredential, UpstreamOptions

__all__ = ["Runtime", "open_runtime", "read_agents"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    """Everything a session needs, shared across sessions."""

    settings: Settings
    agents: dict[str, LiveAgent]
    default_agent: str | None
    simulated: bool
    authenticator: Authenticator | NoAuth
    slots: SessionSlots
    lifecycle: Lifecycle
    metrics: RelayMetrics
    accounting: Accounting
    backend: StaticTokens | None = None  # with RELAY_BACKEND_TOKENS: who may mint secrets
    secrets: SecretStore | None = None  # with RELAY_BACKEND_TOKENS

    @property
    def mcp(self) -> tuple[McpConnection, ...]:
        """Every agent's MCP server connections."""
        return tuple(connection for agent in self.agents.values() for connection in agent.mcp)

    def agent(self, name: str | None = None) -> LiveAgent:
        """An agent by name; the default agent without one."""
        found = name or self.default_agent
        assert found is not None, "no default agent"
        return self.agents[found]


def read_agents(settings: Settings) -> tuple[Agent, ...]:
    """The agents: from RELAY_AGENTS_FILE, else the one the settings define (read once, at
    startup). Raises `AgentsFileError` or `ToolsFileError`."""
    if settings.agents_file is None:
        return (default_agent(settings),)
    agents = load_agents(settings.agents_file, settings)
    if not agents:  # load_agents refuses an empty list; kept for the type checker
        raise AgentsFileError(f"{settings.agents_file}: holds no agent")
    return agents


def _credential_key(settings: Settings, agent: Agent) -> str | None:
    """Agents with the same key share a credential; None is the one Entra credential."""
    if agent.api_key or settings.upstream == "simulator":
        return "key:" + (agent.api_key or "")
    return None


def _credential(settings: Settings, key: str | None) -> UpstreamCredential:
    if key is not None:
        return StaticCredential(key.removeprefix("key:") or None)
    return EntraCredential(
        DefaultAzureCredential(),
        settings.azure_token_scope,
        refresh_margin_seconds=settings.token_refresh_margin_seconds,
        first_token_timeout_seconds=settings.upstream_connect_timeout_seconds,
    )


def _session_limits(settings: Settings, agent: Agent) -> SessionLimits:
    limits = agent.limits
    return SessionLimits(
        events_per_second=limits.events_per_second,
        events_burst=limits.events_burst,
        max_session_seconds=limits.max_session_seconds,
        idle_timeout_seconds=limits.idle_timeout_seconds,
        backpressure_timeout_seconds=settings.backpressure_timeout_seconds,
        tool_max_concurrent_calls=settings.tool_max_concurrent_calls,
    )


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, agents: Iterable[Agent]) -> AsyncIterator[Runtime]:
    """Build the runtime; on exit close every agent, credential and any simulator."""
    agents = tuple(agents)
    async with contextlib.AsyncExitStack() as stack:
        embedded: str | None = None
        if settings.upstream == "simulator":
            if any(agent.endpoint is None for agent in agents):
                from app.simulator import Simulator  # only loaded when used

                simulator = Simulator(api_key=settings.azure_api_key)
                await simulator.start()
                stack.push_async_callback(simulator.stop)
                embedded = simulator.url
            logger.warning(
                "SIMULATOR in use: upstream is %s, a local stand-in, not Azure OpenAI",
                embedded or ", ".join(sorted({str(agent.endpoint) for agent in agents})),
            )
        authenticator = build_authenticator(settings)
        if isinstance(authenticator, JwtVerifier):
            await authenticator.start()
            stack.push_async_callback(authenticator.aclose)
        if isinstance(authenticator, NoAuth):
            logger.warning(
                "CLIENT AUTHENTICATION IS DISABLED (RELAY_AUTH=none): anyone who can reach "
                "this relay gets a metered upstream session. Use only for a local demo."
            )
        lifecycle = Lifecycle()
        metrics = RelayMetrics(
            lambda: _live_stats(lifecycle),
            tool_names({agent.name: agent for agent in agents}),
            [agent.name for agent in agents],
        )
        metrics.per_identity = settings.auth == "token"
        options = UpstreamOptions(
            connect_timeout_seconds=settings.upstream_connect_timeout_seconds,
            max_message_bytes=settings.max_upstream_message_bytes,
            ping_interval_seconds=settings.ping_interval_seconds,
            ping_timeout_seconds=settings.ping_timeout_seconds,
        )
        credentials: dict[str | None, UpstreamCredential] = {}
        live: dict[str, LiveAgent] = {}
        for agent in agents:
            key = _credential_key(settings, agent)
            credential = credentials.get(key)
            if credential is None:
                credential = credentials[key] = _credential(settings, key)
                await credential.start()
                stack.push_async_callback(credential.aclose)
            endpoint = agent.endpoint or embedded
            assert endpoint is not None  # the agents' loader guarantees it for azure
            live[agent.name] = await stack.enter_async_context(
                open_agent(
                    agent,
                    endpoint=endpoint,
                    credential=credential,
                    options=options,
                    limits=_session_limits(settings, agent),
                    signing_secret=settings.tools_signing_secret,
                    max_output_bytes=settings.tool_max_output_bytes,
                    observe=metrics.tool_call,
                    observe_guardrail=metrics.guardrail_check,
                )
            )
        summary = settings_summary(settings, agents)
        logger.info("relay configuration", extra={"fields": summary})
        backend = None
        if settings.backend_tokens:
            backend = StaticTokens(parse_token_pairs(settings.backend_tokens))
        shared = _shared_state(settings, metrics)
        await shared.start()
        stack.push_async_callback(shared.aclose)
        accounting = Accounting(
            shared,
            max_per_identity=settings.max_sessions_per_identity,
            daily_tokens=settings.identity_daily_tokens,
            failure_mode=settings.redis_failure_mode,
            shared=settings.redis_url is not None,
            budget_refused=metrics.budget_refused,
        )
        stack.push_async_callback(accounting.aclose)
        metrics.leases_held = lambda: shared.leases_held
        defaults = [agent.name for agent in agents if agent.default]
        yield Runtime(
            settings=settings,
            agents=live,
            default_agent=defaults[0] if defaults else None,
            simulated=settings.upstream == "simulator",
            authenticator=authenticator,
            slots=SessionSlots(settings.max_sessions),
            lifecycle=lifecycle,
            metrics=metrics,
            accounting=accounting,
            backend=backend,
            secrets=shared.secrets if backend else None,
        )


def _shared_state(settings: Settings, metrics: RelayMetrics) -> SharedState:
    """Redis with RELAY_REDIS_URL (fleet-wide), else this process's own state."""
    if settings.redis_url is None:
        return LocalState(settings.max_client_secrets)
    from app.shared.redis_state import RedisState  # only loaded when used

    return RedisState(
        settings.redis_url,
        failure_mode=settings.redis_failure_mode,
        renew_seconds=settings.lease_renew_seconds,
        timeout_seconds=settings.redis_timeout_seconds,
        max_secrets=settings.max_client_secrets,
        on_error=metrics.shared_state_error,
    )


def _live_stats(lifecycle: Lifecycle) -> list[tuple[SessionStats, str | None, str]]:
    return [(s.stats, s.identity, s.agent) for s in lifecycle.sessions()]
