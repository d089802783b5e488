"""The benchmark's Node peer (`bench/node_peer/relay.mjs`): a real `node` running `ws`,
between a real WebSocket client and a real upstream server, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bench.targets import NODE_PEER_DIR, Started, start_node_peer, stop
from tests.support.node_packages import node_with

WAIT = 30.0  # a bound on each wait, never a margin: every wait ends on an event


@dataclass
class GatedUpstream:
    """An upstream whose handshakes wait for `open`; it records and echoes every message."""

    open: asyncio.Event = field(default_factory=asyncio.Event)
    received: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue)
    hang_up: asyncio.Event = field(default_factory=asyncio.Event)

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        await self.open.wait()
        return None

    async def handler(self, connection: ServerConnection) -> None:
        await connection.send('{"type":"session.created"}')
        reader = asyncio.ensure_future(self._echo(connection))
        hang_up = asyncio.ensure_future(self.hang_up.wait())
        await asyncio.wait((reader, hang_up), return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
        hang_up.cancel()

    async def _echo(self, connection: ServerConnection) -> None:
        async for message in connection:
            await self.received.put(message)
            await connection.send(message)


@pytest.fixture(scope="module")
def node() -> str:
    return node_with(NODE_PEER_DIR, "ws")


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[GatedUpstream, Server]]:
    gated = GatedUpstream()
    async with serve(
        gated.handler, "127.0.0.1", 0, process_request=gated.process_request, compression=None
    ) as server:
        yield gated, server


@pytest.fixture
async def peer(
    node: str, upstream: tuple[GatedUpstream, Server], tmp_path: Path
) -> AsyncIterator[Started]:
    port = upstream[1].sockets[0].getsockname()[1]
    started = await start_node_peer(node, port, None, tmp_path)
    try:
        yield started
    finally:
        await stop(started)


async def test_text_and_binary_pass_both_ways_unchanged(
    peer: Started, upstream: tuple[GatedUpstream, Server]
) -> None:
    gated, _ = upstream
    gated.open.set()
    async with connect(f"ws://127.0.0.1:{peer.port}/realtime", compression=None) as client:
        created = await asyncio.wait_for(client.recv(), WAIT)
        assert created == '{"type":"session.created"}'
        text = '{"type":"conversation.item.create","text":"héllo ✓"}'
        await client.send(text)
        await client.send(b"\x00\xffbinary")
        assert await asyncio.wait_for(gated.received.get(), WAIT) == text
        assert await asyncio.wait_for(gated.received.get(), WAIT) == b"\x00\xffbinary"
        assert await asyncio.wait_for(client.recv(), WAIT) == text
        assert await asyncio.wait_for(client.recv(), WAIT) == b"\x00\xffbinary"


async def test_frames_sent_before_the_upstream_opens_arrive_in_order(
    peer: Started, upstream: tuple[GatedUpstream, Server]
) -> None:
    gated, _ = upstream
    async with connect(f"ws://127.0.0.1:{peer.port}/realtime", compression=None) as client:
        sent = [f'{{"type":"input_audio_buffer.append","audio":"{n}"}}' for n in range(5)]
        for text in sent:
            await client.send(text)
        assert gated.received.empty()
        gated.open.set()  # the peer's upstream handshake completes only now
        got = [await asyncio.wait_for(gated.received.get(), WAIT) for _ in sent]
        assert got == sent


async def test_the_upstream_hanging_up_ends_the_client(
    peer: Started, upstream: tuple[GatedUpstream, Server]
) -> None:
    gated, _ = upstream
    gated.open.set()
    async with connect(f"ws://127.0.0.1:{peer.port}/realtime", compression=None) as client:
        await asyncio.wait_for(client.recv(), WAIT)
        gated.hang_up.set()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), WAIT)
