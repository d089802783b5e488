"""The relay's WebSocket protocol reads client frames itself: every frame still means what it did.

A real uvicorn serves an echo app with `app.protocols.ws_protocol`; a raw
socket client writes frames byte for byte, in bursts, in pieces, mixed with
control frames and fragments, and malformed. The fast path (`app.frames`)
takes plain text messages; everything else must reach `websockets` as before.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.http11 import Request, Response

from app.protocols import ws_protocol
from app.relay.client import ASCII_TEXT, INBOX
from tests.support.uvicorn_server import ListeningServer

MAX_SIZE = 100_000
TIMEOUT = 30.0


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo each text message; a binary one is answered `bytes:<n>`.

    `ascii:<n>:<body>` is answered with `<body>` n times, sent as ASCII bytes
    (`ASCII_TEXT`); `extensions?` with the scope's extensions. `lane` sets the
    `INBOX` lane, which notes each call as `<text>:<more>`, takes `take:*` texts
    and gives any other back to be queued; `lane?` is answered with its notes.
    """
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    calls: list[str] = []

    def lane(text: str, more: bool) -> dict[str, Any] | None:
        calls.append(f"{text}:{int(more)}")
        return None if text.startswith("take:") else {"type": "websocket.receive", "text": text}

    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            text = f"bytes:{len(message['bytes'])}"
        elif text.startswith("ascii:"):
            count, _, body = text[6:].partition(":")
            for _ in range(int(count)):
                await send({"type": "websocket.send", ASCII_TEXT: body.encode()})
            continue
        elif text == "extensions?":
            text = ",".join(sorted(scope["extensions"]))
        elif text == "lane":
            scope["extensions"][INBOX].lane = lane
        elif text == "lane?":
            text = ",".join(calls)
        await send({"type": "websocket.send", "text": text})


@contextlib.asynccontextmanager
async def _server() -> AsyncIterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        _echo,
        ws=ws_protocol(30.0),
        ws_max_size=MAX_SIZE,
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="critical",
    )
    server = ListeningServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(TIMEOUT):
            await server.listening.wait()
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


def _frame(opcode: Opcode, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    return WsFrame(opcode, payload, fin).serialize(mask=mask, extensions=[])


def _text(payload: str) -> bytes:
    return _frame(Opcode.TEXT, payload.encode())


class _Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def write(self, data: bytes, piece: int | None = None) -> None:
        step = piece or len(data)
        for start in range(0, len(data), step):
            self.writer.write(data[start : start + step])
            await self.writer.drain()

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload)."""
        async with asyncio.timeout(TIMEOUT):
            head = await self.reader.readexactly(2)
            length = head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            return head[0] & 0x0F, await self.reader.readexactly(length)

    async def texts(self, count: int) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            opcode, payload = await self.frame()
            if opcode == Opcode.TEXT:
                out.append(payload.decode())
        return out

    async def until_close(self) -> tuple[list[str], int]:
        """The texts received before the close frame, and its code."""
        texts: list[str] = []
        while True:
            opcode, payload = await self.frame()
            if opcode == Opcode.TEXT:
                texts.append(payload.decode())
            elif opcode == Opcode.CLOSE:
                return texts, int.from_bytes(payload[:2], "big")


def _request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


@contextlib.asynccontextmanager
async def _client(port: int) -> AsyncIterator[_Client]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request(port))
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        yield _Client(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_burst_of_text_frames_in_one_write_arrives_whole_and_in_order() -> None:
    messages = [f'{{"n":{n},"pad":"{"x" * (n * 97 % 300)}"}}' for n in range(40)]
    async with _server() as port, _client(port) as client:
        await client.write(b"".join(_text(m) for m in messages))
        assert await client.texts(40) == messages


@pytest.mark.parametrize("piece", [1, 3, 7, 130])
async def test_frames_split_across_reads_at_any_byte_arrive_whole(piece: int) -> None:
    messages = ["a", "é" * 70, "b" * 200, "c" * 70_000]  # 7-, 16- and 64-bit lengths
    async with _server() as port, _client(port) as client:
        await client.write(b"".join(_text(m) for m in messages), piece)
        assert await client.texts(4) == messages


async def test_a_ping_among_text_frames_is_answered_and_the_texts_still_arrive() -> None:
    burst = _text("one") + _frame(Opcode.PING, b"are-you-there") + _text("two")
    async with _server() as port, _client(port) as client:
        await client.write(burst)
        seen = [await client.frame() for _ in range(3)]
    assert (Opcode.PONG, b"are-you-there") in seen
    assert [p for o, p in seen if o == Opcode.TEXT] == [b"one", b"two"]


async def test_a_fragmented_message_between_plain_ones_is_delivered_joined_in_order() -> None:
    burst = (
        _text("first")
        + _frame(Opcode.TEXT, b"frag", fin=False)
        + _frame(Opcode.PING, b"mid")
        + _frame(Opcode.CONT, b"mented")
        + _text("last")
    )
    async with _server() as port, _client(port) as client:
        await client.write(burst, 5)
        assert await client.texts(3) == ["first", "fragmented", "last"]


async def test_a_text_frame_inside_a_fragmented_message_is_a_protocol_error() -> None:
    burst = _frame(Opcode.TEXT, b"frag", fin=False) + _text("intruder")
    async with _server() as port, _client(port) as client:
        await client.write(burst)
        texts, closed = await client.until_close()
    assert closed == 1002
    assert "intruder" not in texts


async def test_binary_frames_still_reach_the_app_as_bytes() -> None:
    async with _server() as port, _client(port) as client:
        await client.write(_frame(Opcode.BINARY, b"\x00" * 9) + _text("after"))
        assert await client.texts(2) == ["bytes:9", "after"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        # Refused on its header alone: only the header and a little of the payload are sent.
        pytest.param(_frame(Opcode.TEXT, b"x" * (MAX_SIZE + 1))[:64], 1009, id="over-the-limit"),
        pytest.param(_frame(Opcode.TEXT, b"\xc3\x28"), 1007, id="invalid-utf8"),
        pytest.param(_frame(Opcode.TEXT, b"plain", mask=False), 1002, id="unmasked"),
        pytest.param(bytes((0xC1,)) + _text("x")[1:], 1002, id="reserved-bit"),
    ],
)
async def test_a_bad_frame_closes_with_the_code_websockets_gives(frame: bytes, code: int) -> None:
    async with _server() as port, _client(port) as client:
        await client.write(_text("fine") + frame + _text("never seen"))
        texts, closed = await client.until_close()
    assert closed == code
    assert "never seen" not in texts


async def test_a_close_frame_ends_the_connection_with_the_clients_code() -> None:
    close = _frame(Opcode.CLOSE, (4000).to_bytes(2, "big") + b"bye")
    async with _server() as port, _client(port) as client:
        await client.write(_text("last words") + close + _text("after the close"))
        texts, closed = await client.until_close()
    assert closed == 4000
    assert "after the close" not in texts


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 90_000])
async def test_texts_framed_by_the_relay_read_correctly_in_a_websockets_client(size: int) -> None:
    message = "m" * size
    async with _server() as port, connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        await ws.send(message)
        async with asyncio.timeout(TIMEOUT):
            assert await ws.recv() == message


async def test_the_scope_names_the_relays_extensions() -> None:
    async with _server() as port, _client(port) as client:
        await client.write(_text("extensions?"))
        assert await client.texts(1) == [f"{ASCII_TEXT},{INBOX},websocket.http.response"]


@pytest.mark.parametrize("size", [0, 125, 126, 16_383, 16_384, 65_536, 90_000])
async def test_a_text_sent_as_ascii_bytes_reaches_the_client_as_that_text(size: int) -> None:
    body = "a" * size
    async with _server() as port, connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        await ws.send(f"ascii:2:{body}")
        async with asyncio.timeout(TIMEOUT):
            assert [await ws.recv(), await ws.recv()] == [body, body]


async def test_ascii_texts_sent_while_the_client_reads_nothing_arrive_whole_later() -> None:
    """Past the write buffer's mark, sends wait in uvicorn's own path; each still arrives."""
    body, count = "b" * 65_536, 400  # 26 MB: more than loopback's socket buffers hold
    async with _server() as port, _client(port) as client:
        await client.write(_text(f"ascii:{count}:{body}"))
        assert await client.texts(count) == [body] * count


async def test_texts_read_while_nothing_is_queued_go_to_the_apps_lane_in_the_read() -> None:
    """The lane is told whether more of the same read follows; what it gives back is queued."""
    async with _server() as port, _client(port) as client:
        await client.write(_text("lane"))
        assert await client.texts(1) == ["lane"]
        await client.write(_text("take:1") + _text("take:2") + _text("lane?"))
        assert await client.texts(1) == ["take:1:1,take:2:1,lane?:0"]


async def test_a_text_read_while_another_waits_in_the_inbox_is_queued_behind_it() -> None:
    """Not offered to the lane: it would overtake the message the app has not taken yet."""
    async with _server() as port, _client(port) as client:
        await client.write(_text("lane"))
        assert await client.texts(1) == ["lane"]
        await client.write(_text("given-back") + _text("take:3") + _text("lane?"))
        assert await client.texts(3) == ["given-back", "take:3", "given-back:1"]


def _live(kinds: tuple[type, ...]) -> dict[str, int]:
    gc.collect()
    counts = dict.fromkeys((kind.__name__ for kind in kinds), 0)
    for obj in gc.get_objects():
        if type(obj) in kinds:
            counts[type(obj).__name__] += 1
    return counts


async def test_an_open_connection_keeps_no_handshake_and_no_asyncio_queue_or_event() -> None:
    # Per idle session: websockets' parsed request (held by its parser) and the response
    # (held by uvicorn), uvicorn's asyncio.Queue and asyncio.Event: about 5 KiB, for good.
    kinds = (Request, Response, asyncio.Queue, asyncio.Event)
    async with _server() as port:
        before = _live(kinds)
        async with _client(port) as one, _client(port) as two, _client(port) as three:
            for client in (one, two, three):
                await client.write(_text("ping"))
                assert await client.texts(1) == ["ping"]
            assert _live(kinds) == before
