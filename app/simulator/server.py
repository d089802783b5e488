"""The `Simulator`: a local WebSocket server that stands in for Azure OpenAI realtime."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from app.simulator.connection import SimConnection
from app.simulator.handshake import Handshake, Verdict, judge

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES: Final = 32 * 1024 * 1024


class Simulator:
    """Azure OpenAI realtime stand-in listening on `host`:`port` (0 picks a free port).

    With neither `api_key` nor `bearer_tokens` every caller is accepted; otherwise a caller
    needs the api key or one of the bearer tokens. `bearer_tokens` is kept by reference, so
    tokens added to the set later are honoured. `connections` and `handshakes` record
    everything in arrival order, refused handshakes included.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        bearer_tokens: set[str] | None = None,
    ) -> None:
        self.host = host
        self.api_key = api_key
        self.bearer_tokens = bearer_tokens
        self.connections: list[SimConnection] = []
        self.handshakes: list[Handshake] = []
        self._requested_port = port
        self._server: Server | None = None
        self._changed = asyncio.Event()
        self._accepted: weakref.WeakKeyDictionary[ServerConnection, tuple[Handshake, Verdict]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def port(self) -> int:
        """The bound port; raises RuntimeError before `start`."""
        if self._server is None:
            raise RuntimeError("Simulator is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """The endpoint in ``AZURE_OPENAI_ENDPOINT`` form, e.g. ``http://127.0.0.1:8123``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start accepting; afterwards `port` and `url` are valid. Idempotent."""
        if self._server is not None:
            return
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._process_request,
            compression=None,
            max_size=MAX_FRAME_BYTES,
        )
        logger.info("simulator listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and close every open connection with 1001; waits for handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=True, code=1001, reason="simulator stopping")
        await server.wait_closed()
        self._notify()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
    ) -> None:
        """Return once `predicate()` is true, re-checking on every state change.

        State changes are: a handshake, a frame received, a frame sent, a connection closed.
        Raises TimeoutError if the predicate is still false after `timeout` seconds.
        """
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    def _notify(self) -> None:
        """Wake every `wait_for` waiter so it re-checks its predicate."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        split = urlsplit(request.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        verdict = judge(
            split.path, query, headers, api_key=self.api_key, bearer_tokens=self.bearer_tokens
        )
        handshake = Handshake(split.path, query, headers, verdict.status)
        self.handshakes.append(handshake)
        self._notify()
        if verdict.status != 101:
            logger.info("simulator refused %s with %d", split.path, verdict.status)
            response = connection.respond(verdict.status, verdict.body)
            if verdict.body.startswith("{"):
                del response.headers["Content-Type"]
                response.headers["Content-Type"] = "application/json"
            return response
        self._accepted[connection] = (handshake, verdict)
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        handshake, verdict = self._accepted.pop(websocket)
        connection = SimConnection(
            websocket, handshake, verdict.dialect, verdict.model, self._notify
        )
        self.connections.append(connection)
        logger.info("simulator accepted a %s connection for %s", verdict.dialect, verdict.model)
        self._notify()
        await connection.run()
