"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.agents.live import LiveAgent
from app.api.deps import RuntimeDep

__all__ = ["router"]

router = APIRouter()

ENFORCED_REFUSALS_NOT_READY = 3


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> dict[str, object]:
    """200 while the process runs."""
    body: dict[str, object] = {
        "status": "ok",
        "upstream": "simulator" if runtime.simulated else "azure",
        "auth": runtime.settings.auth,
    }
    if runtime.settings.auth == "none":
        body["warning"] = "client authentication is disabled (RELAY_AUTH=none)"
    return body


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 when a new session could be served: not draining, a free slot, and for every
    agent a usable credential, the upstream not refusing its enforced session on each of
    the last 3 tries, and every MCP server listed once."""
    agents = {name: _agent_checks(agent) for name, agent in runtime.agents.items()}
    credential = all(checks["credential"] for checks in agents.values())
    enforced = all(checks["enforced_session"] for checks in agents.values())
    tools = all(checks["mcp_tools_listed"] for checks in agents.values())
    capacity = not runtime.slots.full
    accepting = runtime.lifecycle.accepting
    # In `closed` mode a failing Redis refuses every new session; in `open` mode it does not.
    shared = runtime.accounting.state.healthy or runtime.settings.redis_failure_mode == "open"
    ready = credential and capacity and accepting and enforced and tools and shared
    return JSONResponse(
        {
            "status": "ready" if ready else "not_ready",
            "draining": not accepting,
            "credential": credential,
            "capacity": capacity,
            "enforced_session": enforced,
            "mcp_tools_listed": tools,
            "shared_state": shared,
            "agents": agents,
        },
        status_code=200 if ready else 503,
    )


def _agent_checks(agent: LiveAgent) -> dict[str, bool]:
    return {
        "credential": agent.credential.usable,
        # Every recent attempt had its enforced session refused: new sessions cannot start.
        "enforced_session": agent.enforced_refusals_in_a_row < ENFORCED_REFUSALS_NOT_READY,
        # Every MCP server of the agent's tools has been listed at least once.
        "mcp_tools_listed": all(connection.listed.is_set() for connection in agent.mcp),
    }
