"""The demo page's HTTP routes, checked over real HTTP without a browser."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from app.api.demo import CONTENT_SECURITY_POLICY
from tests.e2e.harness import make_settings, running_relay

SIMULATOR = {"upstream": "simulator", "azure_endpoint": "http://127.0.0.1:9"}


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/pcm-worklet.js", "text/javascript"),
        ("/static/style.css", "text/css"),
    ],
)
async def test_demo_files_are_served_with_strict_headers(path: str, media_type: str) -> None:
    """Each page file is served with its media type, no caching and the strict CSP."""
    async with (
        running_relay(make_settings(**SIMULATOR)) as relay,
        aiohttp.ClientSession() as http,
        http.get(relay.http_url + path) as response,
    ):
        body = await response.read()
        assert response.status == 200
        assert response.content_type == media_type
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert body


async def test_demo_csp_allows_only_same_origin_scripts_and_websockets() -> None:
    """The policy names exactly the sources the page needs and nothing from elsewhere."""
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    # WebSockets to the relay; fetch to the operator's backend that mints client secrets.
    assert directives["connect-src"] == "'self' ws: wss: http: https:"
    assert directives["media-src"] == "'self' blob:"
    assert directives["style-src"] == "'self' 'unsafe-inline'"


@pytest.mark.parametrize(
    "path", ["/static/missing.js", "/static/..%2Fapi%2Fdemo.py", "/static/%2e%2e", "/static/"]
)
async def test_unknown_static_paths_answer_404(path: str) -> None:
    """Only the package's own page files are served; traversal and unknown names are 404."""
    async with (
        running_relay(make_settings(**SIMULATOR)) as relay,
        aiohttp.ClientSession() as http,
        http.get(URL(relay.http_url + path, encoded=True)) as response,
    ):
        assert response.status == 404


@pytest.mark.parametrize("path", ["/", "/static/app.js"])
async def test_demo_page_disabled_answers_404(path: str) -> None:
    """With RELAY_DEMO_PAGE=false neither the page nor its files are served."""
    settings = make_settings(**SIMULATOR, demo_page=False)
    async with (
        running_relay(settings) as relay,
        aiohttp.ClientSession() as http,
        http.get(relay.http_url + path) as response,
    ):
        assert response.status == 404
