"""`RelayApp`: realtime upgrades skip FastAPI's stack but keep the app's own middleware.

The app is called as what it is, an ASGI callable, with recording `receive`
and `send`: the realtime endpoint must get the server's very callables (no
wrapper per event), the path parameters, and every user middleware, in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.front import RelayApp
from app.inbox import Inbox
from app.relay.client import ASCII_TEXT, INBOX, AsgiClient


class _Mark:
    """A pass-through middleware that records its name in the scope."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("marks", []).append(self.name)
        await self.app(scope, receive, send)


class _Endpoint:
    def __init__(self) -> None:
        self.calls: list[tuple[Scope, Receive, Send]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append((scope, receive, send))


def _app(endpoint: _Endpoint) -> RelayApp:
    app = RelayApp(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_Mark, name="inner")
    app.add_middleware(_Mark, name="outer")
    routes = (WebSocketRoute("/realtime", endpoint), WebSocketRoute("/realtime/{agent}", endpoint))
    app.router.routes.extend(routes)
    app.realtime_routes = routes
    return app


def _scope(kind: str, path: str) -> dict[str, Any]:
    return {
        "type": kind,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "method": "GET",
        "scheme": "ws" if kind == "websocket" else "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }


class _Server:
    """The server's side of one call: `receive` gives `message`, `send` records."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message
        self.sent: list[Any] = []

    async def receive(self) -> dict[str, Any]:
        return self.message

    async def send(self, message: Any) -> None:
        self.sent.append(message)


async def test_realtime_upgrade_gets_the_servers_callables_and_every_user_middleware() -> None:
    endpoint = _Endpoint()
    app = _app(endpoint)
    server = _Server({"type": "websocket.connect"})
    receive, send = server.receive, server.send
    await app(_scope("websocket", "/realtime/support"), receive, send)
    [(scope, got_receive, got_send)] = endpoint.calls
    assert got_receive is receive
    assert got_send is send
    assert scope["path_params"] == {"agent": "support"}
    assert scope["marks"] == ["outer", "inner"]
    assert scope["app"] is app


async def test_other_websocket_paths_take_fastapis_stack() -> None:
    endpoint = _Endpoint()
    app = _app(endpoint)
    server = _Server({"type": "websocket.connect"})
    await app(_scope("websocket", "/elsewhere"), server.receive, server.send)
    assert endpoint.calls == []
    assert server.sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]


async def test_http_requests_take_fastapis_stack() -> None:
    endpoint = _Endpoint()
    app = _app(endpoint)

    @app.get("/realtime")
    async def page() -> dict[str, str]:
        return {"served": "by fastapi"}

    server = _Server({"type": "http.request", "body": b"", "more_body": False})
    await app(_scope("http", "/realtime"), server.receive, server.send)
    assert endpoint.calls == []
    assert server.sent[0]["status"] == 200
    assert server.sent[1]["body"] == b'{"served":"by fastapi"}'


async def test_the_client_takes_the_extensions_its_server_names() -> None:
    """`AsgiClient.of`: ASCII texts and the inbox's `waiting` where named, else ASGI's."""

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        return None

    inbox = Inbox[object](asyncio.get_running_loop())
    named = AsgiClient.of(
        {"type": "websocket", "extensions": {ASCII_TEXT: {}, INBOX: inbox}}, receive, send
    )
    assert named.ascii_text
    assert not named.waiting()
    inbox.put_nowait({"type": "websocket.receive", "text": "{}"})
    assert named.waiting()
    plain = AsgiClient.of({"type": "websocket", "extensions": {}}, receive, send)
    assert not plain.ascii_text
    assert plain.waiting()  # unknown: taken to have more behind it, joined as before
    bare = AsgiClient.of({"type": "websocket"}, receive, send)
    assert bare.waiting()


async def test_the_clients_lane_is_set_on_the_named_inbox_and_nowhere_else() -> None:
    """`AsgiClient.lane` sets the inbox's `lane` and takes it back; without `INBOX`, a no-op."""

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        return None

    def lane(text: str, more: bool) -> None:
        return None

    inbox = Inbox[object](asyncio.get_running_loop())
    named = AsgiClient.of({"type": "websocket", "extensions": {INBOX: inbox}}, receive, send)
    named.lane(lane)
    assert inbox.lane is lane
    named.lane(None)
    assert inbox.lane is None
    plain = AsgiClient.of({"type": "websocket", "extensions": {}}, receive, send)
    plain.lane(lane)  # the server reads nothing for a lane: every message is queued
    assert plain.waiting()
