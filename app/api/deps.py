"""Typed FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.runtime import Runtime

__all__ = ["RuntimeDep", "get_runtime"]


def get_runtime(connection: HTTPConnection) -> Runtime:
    """The runtime the lifespan built (on `app.state`)."""
    runtime: Runtime = connection.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
