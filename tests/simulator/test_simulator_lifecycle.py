"""Simulator lifecycle: start/stop, close codes, recording and wait_for."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.simulator import Simulator
from tests.support.events import user_text

from .helpers import open_client, ws_url


async def test_port_and_url_are_valid_after_start() -> None:
    """Port 0 binds a free port, exposed through port and the http:// url."""
    simulator = Simulator()
    with pytest.raises(RuntimeError):
        _ = simulator.port
    await simulator.start()
    try:
        assert simulator.port > 0
        assert simulator.url == f"http://127.0.0.1:{simulator.port}"
    finally:
        await simulator.stop()
    await simulator.stop()  # idempotent


async def test_stop_closes_open_connections_with_1001(sim: Simulator) -> None:
    """Stopping the simulator closes every connection with code 1001."""
    async with open_client(sim) as client:
        await sim.stop()
        with pytest.raises(ConnectionClosed) as caught:
            await client.recv()
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 1001
    assert sim.connections[0].closed


async def test_server_side_close_sends_the_given_code(sim: Simulator) -> None:
    """SimConnection.close closes with the given code and reason and records the client echo."""
    async with open_client(sim) as client:
        await sim.connections[0].close(4000, "test over")
        with pytest.raises(ConnectionClosed) as caught:
            await client.recv()
    assert caught.value.rcvd is not None
    assert (caught.value.rcvd.code, caught.value.rcvd.reason) == (4000, "test over")
    assert sim.connections[0].close_code == 4000


async def test_client_close_code_and_reason_are_recorded(sim: Simulator) -> None:
    """The code and reason of the client's close frame are kept on the connection."""
    async with connect(ws_url(sim, "preview"), compression=None) as ws:
        await ws.recv()
        assert sim.connections[0].close_code is None
        await ws.close(4321, "client done")
    connection = sim.connections[0]
    await sim.wait_for(lambda: connection.closed)
    assert (connection.close_code, connection.close_reason) == (4321, "client done")


async def test_received_and_sent_are_recorded_raw_in_order(sim: Simulator) -> None:
    """Every received text frame and every sent frame is recorded verbatim."""
    async with open_client(sim, "ga") as client:
        await client.ws.send('{"type": "input_audio_buffer.clear"}')
        await client.recv()
    connection = sim.connections[0]
    assert connection.received == ['{"type": "input_audio_buffer.clear"}']
    assert [e["type"] for e in connection.sent_events()] == [
        "session.created",
        "input_audio_buffer.cleared",
    ]


async def test_wait_for_wakes_on_a_received_frame(sim: Simulator) -> None:
    """wait_for returns as soon as the simulator records the awaited client frame."""
    async with open_client(sim) as client:
        waiter = asyncio.create_task(
            sim.wait_for(lambda: len(sim.connections[0].received) == 1, timeout=2.0)
        )
        await asyncio.sleep(0)
        assert not waiter.done()
        await client.send(user_text("hi"))
        await waiter
        assert sim.connections[0].received_events()[0]["item"]["role"] == "user"


async def test_wait_for_raises_timeout_error(sim: Simulator) -> None:
    """wait_for raises TimeoutError when the predicate never becomes true."""
    with pytest.raises(TimeoutError):
        await sim.wait_for(lambda: False, timeout=0.05)


async def test_wait_for_sees_refused_handshakes(secured_sim: Simulator) -> None:
    """A refused handshake is recorded and wakes wait_for."""

    async def attempt() -> None:
        async with connect(ws_url(secured_sim), compression=None):
            pass

    task = asyncio.create_task(attempt())
    await secured_sim.wait_for(lambda: len(secured_sim.handshakes) == 1)
    with pytest.raises(InvalidStatus):
        await task
    assert secured_sim.handshakes[0].status == 401
