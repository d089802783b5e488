"""`GET /agents`: the agents this relay serves, with their public settings only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.api.deps import RuntimeDep
from app.api.metrics import metrics_token_ok

__all__ = ["router"]

router = APIRouter()


@router.get("/agents")
async def list_agents(request: Request, runtime: RuntimeDep) -> Response:
    """Names and public settings, never instructions, sessions or tools; behind
    `RELAY_METRICS_TOKEN` when one is set."""
    if not metrics_token_ok(request, runtime.settings.metrics_token):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse({"agents": [live.agent.public() for live in runtime.agents.values()]})
