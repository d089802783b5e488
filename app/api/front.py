"""The app's front door: realtime upgrades go straight to their endpoint.

FastAPI's stack wraps every connection in layers a WebSocket session does not
use: error and telemetry middleware, a body limit, the exception middleware,
an exit stack, the router, and Starlette's per-route exception wrapper. Each
stays on the stack for the whole session (about 6 KiB of an idle one), and two
of them wrap `send`, so every event to the client passed through two more
coroutines. A realtime upgrade now goes through the app's own middleware
(the same classes, the same order) to the endpoint and nothing else; every
other request, and any other WebSocket path, takes FastAPI's stack as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.routing import Match, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RealtimeFront", "RelayApp"]


class RealtimeFront:
    """WebSocket scopes matching one of `direct`'s routes go to its app; all else to `stack`."""

    def __init__(self, stack: ASGIApp, direct: Sequence[tuple[WebSocketRoute, ASGIApp]]) -> None:
        self.stack = stack
        self.direct = tuple(direct)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            for route, app in self.direct:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)  # the path parameters, as the router sets them
                    await app(scope, receive, send)
                    return
        await self.stack(scope, receive, send)


class RelayApp(FastAPI):
    """FastAPI, with `RealtimeFront` before its middleware stack.

    Each of `realtime_routes` (WebSocket routes with an ASGI endpoint, so that
    Starlette adds no session wrapper) is matched first, and its endpoint is
    wrapped in the app's user middleware only. The routes should be in the
    router too, for anything that lists them. Set before the first request.
    """

    realtime_routes: Sequence[WebSocketRoute] = ()

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        wrapped: dict[int, ASGIApp] = {}  # one middleware chain per endpoint
        direct: list[tuple[WebSocketRoute, ASGIApp]] = []
        for route in self.realtime_routes:
            app = wrapped.get(id(route.app))
            if app is None:
                app = route.app
                for cls, args, kwargs in reversed(self.user_middleware):
                    app = cls(app, *args, **kwargs)
                wrapped[id(route.app)] = app
            direct.append((route, app))
        return RealtimeFront(stack, direct) if direct else stack
