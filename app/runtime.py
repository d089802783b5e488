"""The relay's resources, built once in the lifespan from the settings.

Settings are plain values; this module turns them into live objects (the
credential, the policy, the upstream target, the embedded simulator) and
closes them again on shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.identity.aio import DefaultAzureCredential

from app.auth import Authenticator, JwtVerifier, NoAuth, build_authenticator
from app.config import Settings
from app.lifecycle import Lifecycle
from app.logs import settings_summary
from app.metrics import RelayMetrics
from app.policy import ClientPolicy, enforced_session, enforced_update, make_rules
from app.relay import SessionLimits, SessionStats
from app.slots import SessionSlots
from app.tools.caller import ToolCaller
from app.tools.mcp import McpConnection
from app.tools.spec import LoadedMcpServer, LoadedTool, load_tools, session_tool_names
from app.upstream import (
    Dialer,
    EntraCredential,
    StaticCredential,
    UpstreamCredential,
    UpstreamOptions,
    UpstreamTarget,
    build_target,
)

__all__ = ["Runtime", "build_policy", "open_runtime", "read_instructions", "read_tools"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    """Everything a session needs, shared across sessions.

    `policy` and `enforced_update` are replaced together when an MCP server's tools
    change; a session reads both once, when it starts, and keeps them.
    """

    settings: Settings
    target: UpstreamTarget
    credential: UpstreamCredential
    dialer: Dialer
    policy: ClientPolicy
    enforced_update: str
    simulated: bool
    authenticator: Authenticator | NoAuth
    slots: SessionSlots
    lifecycle: Lifecycle
    metrics: RelayMetrics
    limits: SessionLimits
    tools: ToolCaller | None = None  # with RELAY_TOOLS_FILE
    mcp: tuple[McpConnection, ...] = ()
    # Upgrades refused since the upstream last applied the enforced session (for /readyz).
    enforced_refusals_in_a_row: int = 0


def read_instructions(settings: Settings) -> str | None:
    """The enforced instructions, read from RELAY_INSTRUCTIONS_FILE when one is set (once, at
    startup)."""
    if settings.instructions_file is not None:
        return settings.instructions_file.read_text(encoding="utf-8")
    return settings.instructions


def read_tools(settings: Settings) -> tuple[LoadedTool | LoadedMcpServer, ...]:
    """The server tools of RELAY_TOOLS_FILE (none without it). Raises `ToolsFileError`."""
    if settings.tools_file is None:
        return ()
    return load_tools(settings.tools_file, client_tools=session_tool_names(settings.session))


def build_policy(
    settings: Settings, instructions: str | None, functions: Sequence[Mapping[str, Any]] = ()
) -> tuple[ClientPolicy, str]:
    """The client policy and the enforced `session.update` text.

    The server tools' `functions` join the enforced session's `tools`, after those of
    RELAY_SESSION.
    """
    dialect = settings.dialect
    session = dict(settings.session)
    if functions:
        declared = session.get("tools")
        session["tools"] = [*(declared if isinstance(declared, list) else ()), *functions]
    rules = make_rules(
        dialect,
        allowed_events=settings.allowed_client_events,
        session_fields=settings.effective_client_session_fields,
        enforced_session=enforced_session(dialect, instructions, session),
        response_fields=settings.client_response_fields,
        item_roles=settings.client_item_roles,
        tool_outputs=settings.client_tool_outputs,
    )
    return ClientPolicy(rules), enforced_update(dialect, instructions, session)


def _credential(settings: Settings) -> UpstreamCredential:
    if settings.azure_api_key or settings.upstream == "simulator":
        return StaticCredential(settings.azure_api_key)
    return EntraCredential(
        DefaultAzureCredential(),
        settings.azure_token_scope,
        refresh_margin_seconds=settings.token_refresh_margin_seconds,
        first_token_timeout_seconds=settings.upstream_connect_timeout_seconds,
    )


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, tools: tuple[LoadedTool | LoadedMcpServer, ...] = ()
) -> AsyncIterator[Runtime]:
    """Build the runtime; on exit close the credential, the tool client and any simulator."""
    async with contextlib.AsyncExitStack() as stack:
        endpoint = settings.azure_endpoint
        if settings.upstream == "simulator":
            if endpoint is None:
                from app.simulator import Simulator  # only loaded when used

                simulator = Simulator(api_key=settings.azure_api_key)
                await simulator.start()
                stack.push_async_callback(simulator.stop)
                endpoint = simulator.url
            logger.warning(
                "SIMULATOR in use: upstream is %s, a local stand-in, not Azure OpenAI", endpoint
            )
        assert endpoint is not None  # the settings validator guarantees it for azure
        credential = _credential(settings)
        await credential.start()
        stack.push_async_callback(credential.aclose)
        authenticator = build_authenticator(settings)
        if isinstance(authenticator, JwtVerifier):
            await authenticator.start()
            stack.push_async_callback(authenticator.aclose)
        if isinstance(authenticator, NoAuth):
            logger.warning(
                "CLIENT AUTHENTICATION IS DISABLED (RELAY_AUTH=none): anyone who can reach "
                "this relay gets a metered upstream session. Use only for a local demo."
            )
        instructions = read_instructions(settings)
        webhooks = [tool for tool in tools if isinstance(tool, LoadedTool)]
        servers = [tool for tool in tools if isinstance(tool, LoadedMcpServer)]
        tool_names = [t.spec.name for t in webhooks] + [n for s in servers for n in s.functions()]
        lifecycle = Lifecycle()
        metrics = RelayMetrics(lambda: _live_stats(lifecycle), sorted(tool_names))
        metrics.per_identity = settings.auth == "token"
        runtime_box: list[Runtime] = []  # the runtime, once built: MCP listings update it

        def tools_changed() -> None:
            if runtime_box and caller is not None:
                runtime = runtime_box[0]
                runtime.policy, runtime.enforced_update = build_policy(
                    settings, instructions, caller.functions()
                )

        mcp = tuple(
            McpConnection(
                server, max_output_bytes=settings.tool_max_output_bytes, on_listed=tools_changed
            )
            for server in servers
        )
        caller = None
        if tools:
            caller = ToolCaller(
                webhooks,
                signing_secret=settings.tools_signing_secret,
                max_output_bytes=settings.tool_max_output_bytes,
                observe=metrics.tool_call,
                mcp=mcp,
            )
            await caller.start()
            stack.push_async_callback(caller.aclose)
        for connection in mcp:  # listed in the background; /readyz waits for the first listing
            await connection.start()
            stack.push_async_callback(connection.aclose)
        target = build_target(
            endpoint, settings.deployment, settings.azure_api_version, settings.dialect
        )
        dialer = Dialer(
            target,
            credential,
            UpstreamOptions(
                connect_timeout_seconds=settings.upstream_connect_timeout_seconds,
                max_message_bytes=settings.max_upstream_message_bytes,
                ping_interval_seconds=settings.ping_interval_seconds,
                ping_timeout_seconds=settings.ping_timeout_seconds,
            ),
        )
        await dialer.start()
        stack.push_async_callback(dialer.aclose)
        summary = settings_summary(settings, instructions)
        summary["server_tools"] = sorted(tool_names)
        logger.info("relay configuration", extra={"fields": summary})
        # Built with the tools as listed by now; with no await before the runtime is in the
        # box, so a listing that ends later always reaches it through tools_changed.
        policy, update = build_policy(
            settings, instructions, caller.functions() if caller is not None else ()
        )
        runtime = Runtime(
            settings=settings,
            target=target,
            credential=credential,
            dialer=dialer,
            policy=policy,
            enforced_update=update,
            simulated=settings.upstream == "simulator",
            authenticator=authenticator,
            slots=SessionSlots(settings.max_sessions, settings.max_sessions_per_identity),
            lifecycle=lifecycle,
            metrics=metrics,
            limits=SessionLimits(
                events_per_second=settings.client_events_per_second,
                events_burst=settings.client_events_burst,
                max_session_seconds=settings.max_session_seconds,
                idle_timeout_seconds=settings.idle_timeout_seconds,
                backpressure_timeout_seconds=settings.backpressure_timeout_seconds,
                tool_max_concurrent_calls=settings.tool_max_concurrent_calls,
            ),
            tools=caller,
            mcp=mcp,
        )
        runtime_box.append(runtime)
        yield runtime


def _live_stats(lifecycle: Lifecycle) -> list[tuple[SessionStats, str | None]]:
    return [(session.stats, session.identity) for session in lifecycle.sessions()]
