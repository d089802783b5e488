"""The upstream connection on its own: real aiohttp client, the scriptable fake upstream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest

from app.policy import GA
from app.upstream import (
    Dialer,
    StaticCredential,
    UpstreamClosed,
    UpstreamConnection,
    UpstreamOptions,
    build_target,
)
from tests.support.fake_upstream import FakeConnection, FakeUpstream


@contextlib.asynccontextmanager
async def dialed(
    fake: FakeUpstream,
    ping_interval: float = 20.0,
    ping_timeout: float = 20.0,
    api_key: str | None = None,
) -> AsyncIterator[UpstreamConnection]:
    options = UpstreamOptions(
        connect_timeout_seconds=5.0,
        max_message_bytes=1024 * 1024,
        ping_interval_seconds=ping_interval,
        ping_timeout_seconds=ping_timeout,
        close_timeout_seconds=1.0,
    )
    dialer = Dialer(build_target(fake.url, "d", None, GA), StaticCredential(api_key), options)
    await dialer.start()
    try:
        yield await dialer.open()
    finally:
        await dialer.aclose()


async def test_send_after_the_upstream_closed_raises_its_close_code() -> None:
    """Once the upstream has closed with a code, sending reports that same close."""

    async def close_at_once(conn: FakeConnection) -> None:
        await conn.ws.close(1001, "session_expired")

    async with FakeUpstream(close_at_once, confirm_session=False) as fake, dialed(fake) as upstream:
        with pytest.raises(UpstreamClosed) as received:
            await upstream.recv()
        with pytest.raises(UpstreamClosed) as sent:
            await upstream.send('{"type":"input_audio_buffer.clear"}')
    assert (received.value.code, received.value.reason) == (1001, "session_expired")
    assert sent.value is received.value


async def test_close_after_a_keepalive_timeout_is_bounded_by_the_close_timeout() -> None:
    """An unresponsive upstream ends recv as unresponsive; close waits one close timeout at most."""

    async def frozen(conn: FakeConnection) -> None:
        conn.ws.transport.pause_reading()  # no pongs, no close replies
        await conn.ws.wait_closed()

    async with (
        FakeUpstream(frozen, confirm_session=False) as fake,
        dialed(fake, 0.05, 0.05) as upstream,
    ):
        with pytest.raises(UpstreamClosed) as ended:
            async with asyncio.timeout(5):
                await upstream.recv()
        async with asyncio.timeout(1.8):  # one 1 s close timeout, not two
            await upstream.close(1000)
    assert ended.value.unresponsive
    assert ended.value.code is None


async def test_texts_sent_arrive_whole_and_in_order_among_pings_at_every_length() -> None:
    """The relay frames data itself; aiohttp's writer sends the pings; a strict server reads both."""
    sizes = [0, 1, 125, 126, 1300, 65535, 65536, 200_000]
    texts = [f'{{"type":"x","n":{n},"pad":"{"a" * size}"}}' for n, size in enumerate(sizes)]
    got: list[str] = []
    pings: list[int] = []
    done = asyncio.Event()

    async def record(conn: FakeConnection) -> None:
        while len(got) < len(texts):
            got.append(orjson.dumps(await conn.next_event()).decode())
        pings.append(conn.ws.pings)
        done.set()

    async with FakeUpstream(record, confirm_session=False) as fake, dialed(fake) as upstream:
        for n, text in enumerate(texts):
            await upstream.send(text)
            if n % 3 == 0:
                await upstream._ws.ping(b"between")
        async with asyncio.timeout(30):
            await done.wait()
    assert got == texts
    assert pings == [3]  # each read in its place: all three came before the last text


async def test_text_comes_as_ascii_bytes_or_decoded_and_binary_as_none() -> None:
    """`recv_raw` leaves an all-ASCII text in its bytes, decodes any other; `recv` decodes both."""
    frames: list[str | bytes] = ['{"a":"ascii"}', '{"a":"\u00e9t\u00e9"}', b"\x00\x01"]

    async def send_all(conn: FakeConnection) -> None:
        for frame in frames * 2:
            await conn.ws.send(frame)
        await conn.ws.wait_closed()

    async with FakeUpstream(send_all, confirm_session=False) as fake, dialed(fake) as upstream:
        raw = [await upstream.recv_raw() for _ in frames]
        decoded = [await upstream.recv() for _ in frames]
    assert raw == [b'{"a":"ascii"}', '{"a":"\u00e9t\u00e9"}', None]
    assert decoded == ['{"a":"ascii"}', '{"a":"\u00e9t\u00e9"}', None]


async def test_a_text_that_is_not_utf8_ends_the_connection_with_1007() -> None:
    """aiohttp no longer decodes text; the connection does, and closes on invalid UTF-8."""
    closed: list[int | None] = []
    done = asyncio.Event()

    async def send_invalid(conn: FakeConnection) -> None:
        await conn.ws.send(b'{"a":"\xc3\x28"}', text=True)
        await conn.ws.wait_closed()
        closed.append(conn.ws.close_code)
        done.set()

    async with FakeUpstream(send_invalid, confirm_session=False) as fake, dialed(fake) as upstream:
        with pytest.raises(UpstreamClosed) as ended:
            await upstream.recv_raw()
        with pytest.raises(UpstreamClosed):
            await upstream.send('{"type":"input_audio_buffer.clear"}')
        async with asyncio.timeout(5):
            await done.wait()
    assert ended.value.code is None
    assert not ended.value.unresponsive
    assert closed == [1007]


async def test_ready_is_false_while_the_upstream_reads_nothing_and_send_then_waits() -> None:
    """`ready` tells the session's lane when to leave a frame to the pump; `send` waits there."""
    chunk = '{"type":"x","pad":"' + "a" * 65_536 + '"}'
    release = asyncio.Event()
    got: list[int] = []
    done = asyncio.Event()

    async def frozen_then_reading(conn: FakeConnection) -> None:
        conn.ws.transport.pause_reading()
        await release.wait()
        conn.ws.transport.resume_reading()
        async for message in conn.ws:
            got.append(len(message))
            if message == "last":
                done.set()

    async with (
        FakeUpstream(frozen_then_reading, confirm_session=False) as fake,
        dialed(fake) as upstream,
    ):
        written = 0
        while upstream.ready() and written < 2000:  # 131 MB at most: far past the buffers
            upstream.write(chunk)
            written += 1
        assert not upstream.ready()
        assert written < 2000
        waiting = asyncio.create_task(upstream.send("last"))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not waiting.done()  # flow control holds it until the upstream reads
        release.set()
        async with asyncio.timeout(30):
            await waiting
            await done.wait()
        assert upstream.ready()
    assert got == [len(chunk)] * written + [4]


async def test_an_open_connection_keeps_no_handshake_headers_nor_the_credential() -> None:
    """Once upgraded, neither the 101's headers, the request's (the api-key among them)
    nor the HTTP parser's last header lists stay in memory; the connection still works."""
    key = "upstream-secret-key"

    async def answer(conn: FakeConnection) -> None:
        await conn.next_event()
        await conn.send({"type": "conversation.item.created"})
        await conn.ws.wait_closed()

    async with (
        FakeUpstream(answer, confirm_session=False) as fake,
        dialed(fake, api_key=key) as upstream,
    ):
        response = upstream._ws._response
        connection = response.connection
        assert connection is not None
        assert connection.protocol is not None
        held = (dict(response.headers), response.raw_headers, dict(response.request_info.headers))
        parser = connection.protocol._parser
        await upstream.send('{"type":"conversation.item.create","item":{"id":"i1"}}')
        async with asyncio.timeout(5):
            echoed = orjson.loads(await upstream.recv() or "")
    request = fake.connections[0].ws.request
    assert request is not None
    assert request.headers.get("api-key") == key  # it was sent
    assert held == ({}, (), {})
    assert parser is None
    assert echoed["type"] == "conversation.item.created"


async def test_frames_the_relay_reads_late_arrive_whole_and_in_order() -> None:
    """An upstream far ahead of the reader pauses and resumes it; nothing is lost."""
    count = 100
    frames = [f'{{"type":"x","n":{n},"pad":"{"a" * 65_536}"}}' for n in range(count)]

    async def flood(conn: FakeConnection) -> None:
        for frame in frames:
            await conn.ws.send(frame)
        await conn.ws.wait_closed()

    async with FakeUpstream(flood, confirm_session=False) as fake, dialed(fake) as upstream:
        connection = upstream._ws._response.connection
        assert connection is not None
        protocol = connection.protocol
        assert protocol is not None
        paused = asyncio.Event()
        pause = protocol.pause_reading

        def pause_and_tell() -> None:  # a spy: aiohttp's own pause runs
            pause()
            paused.set()

        protocol.pause_reading = pause_and_tell  # type: ignore[method-assign]
        async with asyncio.timeout(10):
            await paused.wait()  # the reader's buffer is full: reading stopped
            got = [await upstream.recv() for _ in frames]
    assert got == frames
