"""The demo page: a plain-HTML reference client served by the relay itself.

`GET /` answers `app/static/index.html` and `GET /static/{name}` the page's
ES modules, AudioWorklet and stylesheet, only while `RELAY_DEMO_PAGE` is true;
otherwise both answer 404. Only files that exist in the package's `static`
directory with a known extension are served (no directory walking), and
every answer carries `Cache-Control: no-store` and a strict CSP.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import PurePosixPath

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from app.api.deps import RuntimeDep

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    # ws:/wss: for the relay; http:/https: for the backend that mints client secrets.
    "connect-src 'self' ws: wss: http: https:; "
    "media-src 'self' blob:; "
    "script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "base-uri 'none'; "
    "frame-ancestors 'none'"
)
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter()


@functools.cache
def _assets() -> dict[str, tuple[bytes, str]]:
    """Every servable file of `app/static` as {name: (content, media type)}, read once."""
    assets: dict[str, tuple[bytes, str]] = {}
    static = files("app").joinpath("static")
    if not static.is_dir():
        return assets
    for entry in static.iterdir():
        media_type = _MEDIA_TYPES.get(PurePosixPath(entry.name).suffix)
        if media_type is not None and entry.is_file():
            assets[entry.name] = (entry.read_bytes(), media_type)
    return assets


def _serve(runtime: RuntimeDep, name: str) -> Response:
    asset = _assets().get(name) if runtime.settings.demo_page else None
    if asset is None:
        raise HTTPException(status_code=404)
    content, media_type = asset
    return Response(content, media_type=media_type, headers=_HEADERS)


# Plain `def` endpoints: the first request reads the files, so it runs in the threadpool.
@router.get("/", include_in_schema=False)
def index(runtime: RuntimeDep) -> Response:
    """The demo page, or 404 when `RELAY_DEMO_PAGE` is false."""
    return _serve(runtime, "index.html")


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str, runtime: RuntimeDep) -> Response:
    """One of the page's files by exact name, or 404."""
    return _serve(runtime, name)
