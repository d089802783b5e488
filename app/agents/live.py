"""An agent's live resources: its upstream dialer, its tools and its policy.

Built once in the lifespan for each agent (`open_agent`), shared by every
session of that agent. A session reads the policy it needs once, when it
starts, and keeps it: an MCP server's new tool listing applies to new sessions.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.agents.agent import Agent, build_policy
from app.guardrails.checker import GuardrailChecker, Verdict
from app.policy import ClientPolicy
from app.relay import SessionLimits
from app.tools.caller import ToolCaller, ToolOutcome
from app.tools.mcp import McpConnection
from app.tools.spec import LoadedMcpServer, LoadedTool
from app.upstream import Dialer, UpstreamCredential, UpstreamOptions, build_target

__all__ = ["LiveAgent", "open_agent", "tool_names"]

_MAX_PINNED_POLICIES = 256  # policies kept for client secrets' pinned sessions, per agent


@dataclass(slots=True)
class LiveAgent:
    agent: Agent
    dialer: Dialer
    limits: SessionLimits
    policy: ClientPolicy
    enforced_update: str
    tools: ToolCaller | None = None
    mcp: tuple[McpConnection, ...] = ()
    guardrails: GuardrailChecker | None = None
    # Upgrades refused since the upstream last applied the enforced session (for /readyz).
    enforced_refusals_in_a_row: int = 0
    _pinned: dict[bytes, tuple[ClientPolicy, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.agent.name

    @property
    def credential(self) -> UpstreamCredential:
        return self.dialer.credential

    def session_policy(self, pinned: Mapping[str, Any] | None) -> tuple[ClientPolicy, str]:
        """The policy and enforced update for a session, with a client secret's pinned values."""
        if not pinned:
            return self.policy, self.enforced_update
        key = orjson.dumps(pinned, option=orjson.OPT_SORT_KEYS)
        built = self._pinned.get(key)
        if built is None:
            if len(self._pinned) >= _MAX_PINNED_POLICIES:
                self._pinned.clear()
            functions = self.tools.functions() if self.tools is not None else ()
            built = self._pinned[key] = build_policy(self.agent, functions, pinned)
        return built

    def tools_changed(self) -> None:
        """An MCP server listed new tools: rebuild the policies that declare them."""
        functions = self.tools.functions() if self.tools is not None else ()
        self.policy, self.enforced_update = build_policy(self.agent, functions)
        self._pinned.clear()


@contextlib.asynccontextmanager
async def open_agent(
    agent: Agent,
    *,
    endpoint: str,
    credential: UpstreamCredential,
    options: UpstreamOptions,
    limits: SessionLimits,
    signing_secret: str | None,
    max_output_bytes: int,
    observe: Callable[[str, ToolOutcome, float], None],
    observe_guardrail: Callable[[str, Verdict, float], None] = lambda *_: None,
) -> AsyncIterator[LiveAgent]:
    """The agent's live resources, closed again on exit."""
    async with contextlib.AsyncExitStack() as stack:
        box: list[LiveAgent] = []  # the live agent, once built: MCP listings update it

        def tools_changed() -> None:
            if box:
                box[0].tools_changed()

        webhooks = [tool for tool in agent.tools if isinstance(tool, LoadedTool)]
        servers = [tool for tool in agent.tools if isinstance(tool, LoadedMcpServer)]
        mcp = tuple(
            McpConnection(server, max_output_bytes=max_output_bytes, on_listed=tools_changed)
            for server in servers
        )
        caller = None
        if agent.tools:
            caller = ToolCaller(
                webhooks,
                signing_secret=signing_secret,
                max_output_bytes=max_output_bytes,
                observe=observe,
                mcp=mcp,
            )
            await caller.start()
            stack.push_async_callback(caller.aclose)
        for connection in mcp:  # listed in the background; /readyz waits for the first listing
            await connection.start()
            stack.push_async_callback(connection.aclose)
        checker = None
        if agent.guardrails is not None:
            checker = GuardrailChecker(
                agent.guardrails, signing_secret=signing_secret, observe=observe_guardrail
            )
            await checker.start()
            stack.push_async_callback(checker.aclose)
        target = build_target(endpoint, agent.deployment, agent.api_version, agent.dialect)
        dialer = Dialer(target, credential, options)
        await dialer.start()
        stack.push_async_callback(dialer.aclose)
        # Built with the tools as listed by now, and boxed with no await in between, so a
        # listing that ends later always reaches it through tools_changed.
        policy, update = build_policy(agent, caller.functions() if caller is not None else ())
        live = LiveAgent(
            agent=agent,
            dialer=dialer,
            limits=limits,
            policy=policy,
            enforced_update=update,
            tools=caller,
            mcp=mcp,
            guardrails=checker,
        )
        box.append(live)
        yield live


def tool_names(agents: Mapping[str, Agent]) -> list[str]:
    """Every server tool name any agent declares (MCP tools as allowed), for the metrics."""
    names: set[str] = set()
    for agent in agents.values():
        for tool in agent.tools:
            if isinstance(tool, LoadedTool):
                names.add(tool.spec.name)
            else:
                names.update(tool.functions())
    return sorted(names)
