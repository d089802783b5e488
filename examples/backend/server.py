"""An example backend: it logs its own users in and mints relay client secrets for them.

Run it beside a relay that has `RELAY_BACKEND_TOKENS=demo-backend:<token>` (see the
README, "Browser credentials"):

    EXAMPLE_BACKEND_TOKEN=<token> .venv/bin/python -m examples.backend.server

1. The user logs in here (`GET /login`, a fixed demo login: demo / demo). This is
   the operator's own user session; the relay knows nothing of it.
2. The relay's demo page, in its "client secret" mode, asks `POST /client-secret`
   for a secret (with the login cookie; CORS allows the relay page's origin).
3. The backend mints one with the official openai-python client pointed at the
   relay, exactly as it would against Azure (`client.realtime.client_secrets.create`),
   naming the user with `X-Relay-Identity`, and returns it. The browser connects
   to the relay with it; it never sees a relay token or an Azure key.
"""

from __future__ import annotations

import argparse
import os
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

import openai
from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, RedirectResponse

__all__ = ["DEMO_USERS", "create_app"]

DEMO_USERS = {"demo": "demo"}  # username -> password: a fixed demo login
SECRET_SECONDS = 120  # long enough to connect; a secret may open several sessions until then
_COOKIE = "demo_session"

_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example backend: log in</title></head>
<body><main>
<h1>Example backend</h1>
<p>Log in (demo / demo), then talk to the agent on the relay's demo page.</p>
<form method="post" action="/login">
  <label>User <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Log in</button>
</form>
<p>{error}</p>
</main></body></html>
"""


def create_app(relay_url: str, backend_token: str, agent: str) -> FastAPI:
    """The backend for a relay at `relay_url` (http(s)://host:port) and its demo page."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[relay_url],  # the relay's demo page
        allow_credentials=True,  # the login cookie
        allow_methods=["POST"],
    )
    sessions: dict[str, str] = {}  # login cookie -> user
    relay = openai.AsyncOpenAI(base_url=f"{relay_url}/openai/v1", api_key=backend_token)

    @app.get("/login", response_class=HTMLResponse)
    async def login_page() -> str:
        return _LOGIN_PAGE.format(error="")

    @app.post("/login")
    async def login(request: Request) -> Any:
        form = parse_qs((await request.body()).decode())  # the login form, urlencoded
        username, password = form.get("username", [""])[0], form.get("password", [""])[0]
        if DEMO_USERS.get(username) != password or not password:
            return HTMLResponse(_LOGIN_PAGE.format(error="Wrong user or password."), 401)
        cookie = secrets.token_urlsafe(32)
        sessions[cookie] = username
        # Back to the relay's demo page, told where this backend is.
        backend = str(request.base_url).rstrip("/")
        page = f"{relay_url}/?{urlencode({'backend': backend})}"
        response = RedirectResponse(page, status_code=303)
        response.set_cookie(_COOKIE, cookie, httponly=True, samesite="lax")
        return response

    @app.post("/client-secret")
    async def client_secret(request: Request) -> dict[str, Any]:
        user = sessions.get(request.cookies.get(_COOKIE, ""))
        if user is None:
            raise HTTPException(401, "log in first")
        secret = await relay.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": SECRET_SECONDS},
            session={"type": "realtime", "model": agent},
            extra_headers={"X-Relay-Identity": user},  # the relay's identity for this user
        )
        return {"value": secret.value, "expires_at": secret.expires_at}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--relay", default="http://127.0.0.1:8000", help="the relay's URL")
    parser.add_argument("--agent", default="default", help="the agent to mint secrets for")
    args = parser.parse_args()
    token = os.environ.get("EXAMPLE_BACKEND_TOKEN")
    if not token:
        raise SystemExit("set EXAMPLE_BACKEND_TOKEN to a token of the relay's RELAY_BACKEND_TOKENS")
    import uvicorn

    uvicorn.run(
        create_app(args.relay.rstrip("/"), token, args.agent), host=args.host, port=args.port
    )


if __name__ == "__main__":
    main()
