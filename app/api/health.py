"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import RuntimeDep

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> dict[str, object]:
    """200 while the process runs."""
    return {"status": "ok", "upstream": "simulator" if runtime.simulated else "azure"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 when a new session could be served: the upstream credential is usable."""
    ready = runtime.credential.usable
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "credential": ready},
        status_code=200 if ready else 503,
    )
