"""Handshake rules: paths, required query parameters and credentials, over real sockets."""

from __future__ import annotations

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from app.simulator import Simulator
from app.simulator.handshake import judge

from .helpers import Dialect, open_client, ws_url

GA = "/openai/v1/realtime"
PREVIEW = "/openai/realtime"
PV = {"api-version": "2025-04-01-preview", "deployment": "d"}


@pytest.mark.parametrize(
    ("path", "query", "headers", "status"),
    [
        ("/openai/v1/realtime", {"model": "m"}, {"api-key": "k"}, 101),
        (GA, {"model": "m"}, {"authorization": "Bearer t"}, 101),
        (GA, {"model": "m"}, {"authorization": "bearer t"}, 101),
        (GA, {"model": "m", "api-key": "k"}, {}, 101),
        (GA, {"model": "m"}, {"api-key": "wrong"}, 401),
        (GA, {"model": "m"}, {"authorization": "Bearer nope"}, 401),
        (GA, {"model": "m"}, {}, 401),
        (GA, {"model": "m", "api-version": "2025-04-01-preview"}, {"api-key": "k"}, 401),
        (GA, {}, {"api-key": "k"}, 400),
        (PREVIEW, PV, {"api-key": "k"}, 101),
        (PREVIEW, {"deployment": "d"}, {"api-key": "k"}, 400),
        (PREVIEW, {"api-version": "v"}, {"api-key": "k"}, 400),
        ("/v1/realtime", {"model": "m"}, {"api-key": "k"}, 404),
        ("/", {}, {}, 404),
    ],
)
def test_judge_decides_like_azure(
    path: str, query: dict[str, str], headers: dict[str, str], status: int
) -> None:
    """Each path/query/credential combination gets the status Azure would answer."""
    verdict = judge(path, query, headers, api_key="k", bearer_tokens={"t"})
    assert verdict.status == status


def test_judge_accepts_anything_when_no_credentials_configured() -> None:
    """Without an api key or bearer tokens configured, a request without credentials passes."""
    verdict = judge(PREVIEW, PV, {}, api_key=None, bearer_tokens=None)
    assert (verdict.status, verdict.dialect, verdict.model) == (101, "preview", "d")


async def _refusal(url: str, headers: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, additional_headers=headers, compression=None):
            pass
    return caught.value


async def test_bad_api_key_gets_401_with_azure_json_body(secured_sim: Simulator) -> None:
    """A wrong api-key is refused with 401 and Azure's JSON error body, and is recorded."""
    refusal = await _refusal(ws_url(secured_sim), {"api-key": "bad"})
    assert refusal.response.status_code == 401
    assert refusal.response.headers["Content-Type"] == "application/json"
    assert orjson.loads(refusal.response.body)["error"]["code"] == "401"
    assert secured_sim.handshakes[-1].status == 401
    assert secured_sim.handshakes[-1].headers["api-key"] == "bad"
    assert secured_sim.connections == []


@pytest.mark.parametrize("dialect", ["ga", "preview"])
@pytest.mark.parametrize(
    "headers", [{"api-key": "good-key"}, {"Authorization": "Bearer good-token"}]
)
async def test_good_key_or_bearer_is_accepted(
    secured_sim: Simulator, dialect: Dialect, headers: dict[str, str]
) -> None:
    """A valid api-key or bearer token opens a session in the dialect of the path."""
    async with open_client(secured_sim, dialect, headers=headers):
        pass
    connection = secured_sim.connections[0]
    assert connection.dialect == dialect
    assert connection.handshake.status == 101
    assert secured_sim.handshakes == [connection.handshake]


async def test_bearer_tokens_added_later_are_honoured(secured_sim: Simulator) -> None:
    """The bearer token set is live: a token added after start is accepted."""
    headers = {"Authorization": "Bearer fresh"}
    assert (await _refusal(ws_url(secured_sim), headers)).response.status_code == 401
    assert secured_sim.bearer_tokens is not None
    secured_sim.bearer_tokens.add("fresh")
    async with open_client(secured_sim, headers=headers):
        pass
    assert [h.status for h in secured_sim.handshakes] == [401, 101]


async def test_ga_path_with_api_version_gets_401(sim: Simulator) -> None:
    """Sending an api-version to the GA path is refused with 401, as Azure does."""
    refusal = await _refusal(ws_url(sim, "ga", **{"api-version": "2025-04-01-preview"}))
    assert refusal.response.status_code == 401


@pytest.mark.parametrize(
    ("dialect", "query"),
    [("ga", {"model": ""}), ("preview", {"deployment": ""}), ("preview", {"api-version": ""})],
)
async def test_missing_required_query_gets_400(
    sim: Simulator, dialect: Dialect, query: dict[str, str]
) -> None:
    """A missing model (GA) or api-version/deployment (preview) is a 400."""
    refusal = await _refusal(ws_url(sim, dialect, **query))
    assert refusal.response.status_code == 400
    assert sim.handshakes[-1].status == 400


async def test_unknown_path_gets_404_and_is_recorded(sim: Simulator) -> None:
    """Any path other than the two realtime paths is a 404 recorded with its query."""
    refusal = await _refusal(sim.url.replace("http", "ws") + "/v1/realtime?model=x")
    assert refusal.response.status_code == 404
    assert sim.handshakes[0].path == "/v1/realtime"
    assert sim.handshakes[0].query == {"model": "x"}


async def test_accepts_without_subprotocol_or_compression(sim: Simulator) -> None:
    """Offered subprotocols are not selected and permessage-deflate is not negotiated."""
    url = ws_url(sim)
    offered = [Subprotocol("realtime")]
    async with connect(url, subprotocols=offered, compression="deflate") as ws:
        assert ws.subprotocol is None
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
