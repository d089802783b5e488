"""Agents: several enforced sessions on one relay, each with its upstream, tools and callers."""

from app.agents.agent import (
    DEFAULT_AGENT,
    Agent,
    AgentLimits,
    build_policy,
    default_agent,
    merge_session,
)
from app.agents.callers import Caller, CallerRule, ClaimRule, admits
from app.agents.select import choose_agent, requested_agent
from app.agents.spec import AgentsFileError, load_agents

__all__ = [
    "DEFAULT_AGENT",
    "Agent",
    "AgentLimits",
    "AgentsFileError",
    "Caller",
    "CallerRule",
    "ClaimRule",
    "admits",
    "build_policy",
    "choose_agent",
    "default_agent",
    "load_agents",
    "merge_session",
    "requested_agent",
]
