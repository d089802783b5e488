"""Who may connect: every refusal is an HTTP status before the upgrade."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.api.admission import forget_request
from app.auth.carriers import QUERY_CREDENTIAL_KEY
from app.simulator import Simulator
from tests.e2e.harness import RunningRelay
from tests.security.tokens import ALICE
from tests.support.events import recv_event, recv_until, send_event, user_text


async def _status(relay: RunningRelay, path: str = "/realtime", **kwargs: Any) -> int:
    """The HTTP status of an upgrade attempt (101 when accepted)."""
    try:
        async with connect(relay.ws_url(path), open_timeout=5, **kwargs) as ws:
            await recv_event(ws)
            return 101
    except InvalidStatus as refused:
        status: int = refused.response.status_code
        return status


async def _refusal(relay: RunningRelay, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(relay.ws_url(), open_timeout=5, **kwargs):
            pass
    body: dict[str, Any] = orjson.loads(refused.value.response.body or b"{}")
    return refused.value.response.status_code, body


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="no-token"),
        pytest.param(
            {"additional_headers": {"Authorization": "Bearer wrong-token-0123456789"}},
            id="wrong-bearer",
        ),
        pytest.param({"additional_headers": {"api-key": ALICE[:-1]}}, id="truncated-api-key"),
        pytest.param(
            {"additional_headers": {"Authorization": f"Basic {ALICE}"}}, id="wrong-scheme"
        ),
        pytest.param({"additional_headers": {"X-Api-Key": ALICE}}, id="token-in-wrong-header"),
        pytest.param(
            {"subprotocols": [f"openai-api-key.{ALICE}"]}, id="token-in-wrong-subprotocol"
        ),
    ],
)
async def test_missing_or_invalid_credentials_get_401_and_never_reach_upstream(
    relay: RunningRelay, simulator: Simulator, kwargs: dict[str, Any]
) -> None:
    """No token, a wrong token or a token in the wrong place is refused with 401 unauthorized."""
    status, body = await _refusal(relay, **kwargs)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert simulator.handshakes == []


async def test_token_in_an_unknown_query_parameter_is_refused(relay: RunningRelay) -> None:
    """Only `api-key` and `access_token` carry a query token."""
    assert await _status(relay, f"/realtime?token={ALICE}") == 401


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        pytest.param(
            "/realtime", {"additional_headers": {"Authorization": f"Bearer {ALICE}"}}, id="bearer"
        ),
        pytest.param("/realtime", {"additional_headers": {"api-key": ALICE}}, id="api-key-header"),
        pytest.param(
            "/realtime",
            {"subprotocols": ["realtime", f"openai-insecure-api-key.{ALICE}"]},
            id="subprotocol",
        ),
        pytest.param(f"/realtime?api-key={ALICE}", {}, id="query-api-key"),
        pytest.param(
            f"/openai/realtime?api-version=2025-04-01-preview&access_token={ALICE}",
            {},
            id="query-access-token",
        ),
    ],
)
async def test_every_documented_token_carrier_is_accepted(
    relay: RunningRelay, path: str, kwargs: dict[str, Any]
) -> None:
    """Bearer, api-key header, subprotocol and query parameters each authenticate."""
    assert await _status(relay, path, **kwargs) == 101


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        pytest.param(
            "/realtime", {"additional_headers": {"Authorization": f"Bearer {ALICE}"}}, id="bearer"
        ),
        pytest.param(
            "/realtime",
            {"subprotocols": ["realtime", f"openai-insecure-api-key.{ALICE}"]},
            id="subprotocol",
        ),
        pytest.param(f"/realtime?access_token={ALICE}", {}, id="query-access-token"),
    ],
)
async def test_an_open_session_keeps_neither_the_request_headers_nor_the_token(
    relay: RunningRelay, path: str, kwargs: dict[str, Any]
) -> None:
    """Once the session is open its request is let go: the scope uvicorn keeps for the
    connection holds no headers, offered subprotocols or token; the session still relays."""
    async with connect(relay.ws_url(path), open_timeout=5, **kwargs) as ws:
        assert (await recv_event(ws))["type"] == "session.created"
        scopes: list[dict[str, Any]] = [
            dict(protocol.scope)
            for protocol in relay.server.server_state.connections
            if isinstance(protocol, WebSocketsSansIOProtocol)
        ]
        kept = [(scope["headers"], scope["subprotocols"], repr(scope)) for scope in scopes]
        await send_event(ws, user_text("still here"))
        created, _ = await recv_until(ws, "conversation.item.created")
    assert len(kept) == 1
    headers, subprotocols, whole = kept[0]
    assert (headers, subprotocols) == ([], [])
    assert ALICE not in whole
    assert created["item"]["content"][0]["text"] == "still here"


def test_forgetting_a_request_empties_its_lists_in_place_and_drops_the_query_token() -> None:
    """The lists are emptied, not replaced (Starlette's `Headers` holds the same list);
    what is not a list is left as it is; the query credential is dropped."""
    headers = [(b"authorization", f"Bearer {ALICE}".encode())]
    scope: dict[str, Any] = {
        "type": "websocket",
        "headers": headers,
        "subprotocols": ("realtime",),
        QUERY_CREDENTIAL_KEY: ALICE,
        "path": "/realtime",
    }
    forget_request(scope)
    assert headers == []
    assert scope == {
        "type": "websocket",
        "headers": [],
        "subprotocols": ("realtime",),
        "path": "/realtime",
    }


async def test_credential_subprotocol_is_never_echoed(relay: RunningRelay) -> None:
    """Only `realtime` is selected, even when the token rides in a subprotocol."""
    offered = [f"openai-insecure-api-key.{ALICE}", "realtime"]
    async with connect(relay.ws_url(), subprotocols=offered, open_timeout=5) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        assert ws.response is not None
        assert ALICE not in str(ws.response.headers)


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        pytest.param("https://evil.example.net", 403, id="forbidden-origin"),
        pytest.param("https://app.example.com.evil.net", 403, id="suffix-trick"),
        pytest.param("null", 403, id="null-origin"),
        pytest.param("https://app.example.com", 101, id="allowed-origin"),
        pytest.param(None, 101, id="no-origin"),
    ],
)
async def test_origin_rule(relay: RunningRelay, origin: str | None, expected: int) -> None:
    """A present Origin must be listed (or the relay's own); no Origin is judged by auth alone."""
    kwargs: dict[str, Any] = {"additional_headers": {"Authorization": f"Bearer {ALICE}"}}
    if origin is not None:
        kwargs["origin"] = origin
    assert await _status(relay, **kwargs) == expected


async def test_forbidden_origin_gets_origin_not_allowed(relay: RunningRelay) -> None:
    """The 403 body names `origin_not_allowed`."""
    status, body = await _refusal(
        relay, origin="https://evil.example.net", additional_headers={"api-key": ALICE}
    )
    assert (status, body["error"]["code"]) == (403, "origin_not_allowed")


async def test_the_relays_own_origin_is_allowed(relay: RunningRelay) -> None:
    """A page served by the relay itself may connect, with either scheme."""
    for scheme in ("http", "https"):
        origin = f"{scheme}://127.0.0.1:{relay.port}"
        assert await _status(relay, origin=origin, additional_headers={"api-key": ALICE}) == 101


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def all_logs() -> Iterator[_Records]:
    """Every log record from every logger, at DEBUG."""
    handler = _Records()
    root = logging.getLogger()
    names = ("", "uvicorn", "uvicorn.error", "app", "websockets")
    previous = {name: logging.getLogger(name).level for name in names}
    root.addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in previous.items():  # later tests must not inherit DEBUG
            logging.getLogger(name).setLevel(level)


async def test_query_token_never_appears_in_any_log_record(
    relay: RunningRelay, all_logs: _Records
) -> None:
    """Neither an accepted nor a refused query token shows up in any logger's output."""
    wrong = "wrong-query-token-0123456789"
    assert await _status(relay, f"/realtime?model=m&api-key={ALICE}") == 101
    assert await _status(relay, f"/realtime?access_token={wrong}&x=1") == 401
    # The relay's upstream client is aiohttp; "websockets.client" is this test's own client.
    messages = [r.getMessage() for r in all_logs.records if r.name != "websockets.client"]
    assert any("WebSocket /realtime" in m for m in messages), (
        "uvicorn's upgrade lines were captured"
    )
    assert not [m for m in messages if ALICE in m or wrong in m]
