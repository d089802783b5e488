"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

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
    """200 when a new session could be served: not draining, a usable credential, a free
    slot, the upstream not refusing the enforced session on each of the last 3 tries, and
    every MCP server listed once."""
    credential = runtime.credential.usable
    capacity = not runtime.slots.full
    accepting = runtime.lifecycle.accepting
    # Every recent attempt had its enforced session refused: new sessions cannot start.
    enforced = runtime.enforced_refusals_in_a_row < ENFORCED_REFUSALS_NOT_READY
    # Every MCP server of the tools file has been listed at least once.
    tools = all(connection.listed.is_set() for connection in runtime.mcp)
    ready = credential and capacity and accepting and enforced and tools
    return JSONResponse(
        {
            "status": "ready" if ready else "not_ready",
            "draining": not accepting,
            "credential": credential,
            "capacity": capacity,
            "enforced_session": enforced,
            "mcp_tools_listed": tools,
        },
        status_code=200 if ready else 503,
    )
