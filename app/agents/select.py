"""Which agent a connection opens: from its path or query, within what its caller may open.

    /realtime/<agent>                        the path names it
    /openai/v1/realtime?model=<agent>        the GA SDKs' model
    /openai/realtime?deployment=<agent>      the preview SDKs' deployment

A name that is no agent falls back to the default agent, if there is one, else
404 `agent_not_found`. A caller pinned to an agent (a JWT agent claim, a client
secret) opens that agent; naming another gets 403 `agent_not_allowed`, as does a
caller the agent's `callers` rules refuse. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.agents.callers import Caller, CallerRule, admits
from app.errors import Refusal

__all__ = ["choose_agent", "requested_agent"]

_NOT_FOUND = "No agent of that name is served by this relay."
_NOT_ALLOWED = "This caller may not use that agent."


def requested_agent(path_agent: str | None, query: Mapping[str, str]) -> str | None:
    """The agent a request names: its path, else `model`, else `deployment`."""
    return path_agent or query.get("model") or query.get("deployment") or None


def choose_agent(
    agents: Mapping[str, tuple[CallerRule, ...] | None],
    default: str | None,
    requested: str | None,
    caller: Caller,
) -> str:
    """The name of the agent to open, given each agent's `callers` rules. Raises `Refusal`."""
    pinned = caller.agent
    if pinned is not None:
        if pinned not in agents or (requested in agents and requested != pinned):
            raise Refusal(403, "agent_not_allowed", _NOT_ALLOWED)
        name = pinned
    elif requested is not None and requested in agents:
        name = requested
    elif default is not None:
        name = default
    else:
        raise Refusal(404, "agent_not_found", _NOT_FOUND)
    if not admits(agents[name], caller):
        raise Refusal(403, "agent_not_allowed", _NOT_ALLOWED)
    return name
