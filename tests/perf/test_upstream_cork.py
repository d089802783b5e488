"""`Cork`: a burst of upstream frames costs one write, and nothing is reordered or lost.

Real loopback sockets and a real aiohttp client WebSocket; only the count of
the real transport's `write` calls is observed (a wrapper below the seam).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from app.upstream.cork import Cork, cork
from tests.support.loop import next_turn

TIMEOUT = 30.0


class CountingTransport(asyncio.Transport):
    """Passes writes to the real transport and counts them."""

    def __init__(self, real: asyncio.Transport) -> None:
        super().__init__()
        self.real = real
        self.writes = 0

    def write(self, data: Any) -> None:
        self.writes += 1
        self.real.write(data)

    def writelines(self, chunks: Any) -> None:
        self.writes += 1
        self.real.writelines(chunks)

    def is_closing(self) -> bool:
        return self.real.is_closing()


def _data(payload: bytes) -> bytes:
    """A short text frame's bytes (unmasked: the cork does not look past the first byte)."""
    return bytes((0x81, len(payload))) + payload


@contextlib.asynccontextmanager
async def _loopback() -> AsyncIterator[tuple[asyncio.Transport, asyncio.StreamReader]]:
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put((reader, writer))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    async with asyncio.timeout(TIMEOUT):
        reader, server_side = await accepted.get()
    try:
        yield writer.transport, reader  # type: ignore[misc]
    finally:
        writer.close()
        server_side.close()
        server.close()
        with contextlib.suppress(ConnectionError):
            await server_side.wait_closed()
        await server.wait_closed()


async def test_writes_made_in_one_turn_of_the_loop_go_out_in_one_write_in_order() -> None:
    async with _loopback() as (transport, reader):
        counting = CountingTransport(transport)
        corked = Cork(counting, asyncio.get_running_loop())
        for n in range(32):
            corked.write(_data(b"%02d" % n))
        assert counting.writes == 0  # nothing until the turn ends
        async with asyncio.timeout(TIMEOUT):
            received = await reader.readexactly(32 * 4)
        assert counting.writes == 1
        assert received == b"".join(_data(b"%02d" % n) for n in range(32))


async def test_a_frame_with_none_behind_it_goes_out_at_once_with_what_is_pending() -> None:
    """`more=False` (the client's burst is all read): no wait for the turn to end."""
    async with _loopback() as (transport, reader):
        counting = CountingTransport(transport)
        corked = Cork(counting, asyncio.get_running_loop())
        corked.write_data(b"\x81\x05", b"alone", more=False)
        assert counting.writes == 1  # at once, header and payload in one writelines
        for n in range(3):
            corked.write_data(b"\x81\x02", b"%02d" % n, more=True)
        assert counting.writes == 1
        corked.write_data(b"\x81\x04", b"last", more=False)
        assert counting.writes == 2  # the burst's end: the three pending and this one
        await next_turn()  # the flush scheduled for the burst finds nothing left
        assert counting.writes == 2
        async with asyncio.timeout(TIMEOUT):
            received = await reader.readexactly(7 + 3 * 4 + 6)
        assert (
            received
            == b"\x81\x05alone" + b"".join(b"\x81\x02%02d" % n for n in range(3)) + b"\x81\x04last"
        )


async def test_a_control_frame_goes_out_at_once_after_the_data_before_it() -> None:
    close = bytes((0x88, 2)) + (1000).to_bytes(2, "big")
    async with _loopback() as (transport, reader):
        counting = CountingTransport(transport)
        corked = Cork(counting, asyncio.get_running_loop())
        corked.write(_data(b"last"))
        corked.write(close)
        assert counting.writes == 1  # written before the turn ends: the socket may close next
        transport.close()
        async with asyncio.timeout(TIMEOUT):
            assert await reader.read() == _data(b"last") + close


async def test_writes_in_separate_turns_are_written_separately() -> None:
    async with _loopback() as (transport, reader):
        counting = CountingTransport(transport)
        corked = Cork(counting, asyncio.get_running_loop())
        corked.write(_data(b"first"))
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(7) == _data(b"first")
        corked.write(_data(b"second"))
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(8) == _data(b"second")
        assert counting.writes == 2


async def test_frames_left_when_the_connection_closes_are_dropped_not_raised() -> None:
    async with _loopback() as (transport, _):
        counting = CountingTransport(transport)
        corked = Cork(counting, asyncio.get_running_loop())
        corked.write(_data(b"late"))
        transport.close()
        assert corked.is_closing()
        await next_turn()  # the flush runs and finds the transport closing
        assert counting.writes == 0


async def test_an_aiohttp_websocket_through_the_cork_sends_a_burst_as_one_write() -> None:
    """aiohttp's own writer, corked: texts, a ping and the close frame keep their order."""
    seen: list[tuple[aiohttp.WSMsgType, Any]] = []
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        async for message in ws:
            seen.append((message.type, message.data))
        seen.append((aiohttp.WSMsgType.CLOSE, ws.close_code))
        done.set()
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{port}/") as ws,
        ):
            cork(ws)
            writer = ws._writer
            counting = CountingTransport(writer.transport._transport)  # type: ignore[attr-defined]
            writer.transport._transport = counting  # type: ignore[attr-defined]
            for n in range(20):
                await ws.send_str(f"event {n}")
            await ws.ping(b"still there")
            await next_turn()  # the turn ends: one write
            assert counting.writes == 1
            await ws.close(code=4001)
        async with asyncio.timeout(TIMEOUT):
            await done.wait()
    finally:
        await runner.cleanup()
    texts = [data for kind, data in seen if kind is aiohttp.WSMsgType.TEXT]
    assert texts == [f"event {n}" for n in range(20)]
    assert seen[-1] == (aiohttp.WSMsgType.CLOSE, 4001)
