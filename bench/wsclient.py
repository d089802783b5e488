"""A minimal WebSocket client for the load generator, built on `asyncio.Protocol`.

The load generator must not be the bottleneck, so the hot path is as thin as
it gets: each connection masks with one fixed random key, so the append frame
is encoded once and every send is a single `transport.write` of prebuilt
bytes. Incoming frames are parsed from one buffer and handed to a callback as
`bytes` with the arrival time (`time.perf_counter()`), without decoding.

Only what the benchmark needs is implemented: text frames (and continuation),
ping/pong, close. No extensions, no compression.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from collections.abc import Callable
from typing import cast

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C speedups ship with websockets wheels
    from websockets.utils import apply_mask

__all__ = ["HandshakeError", "WSClient", "connect", "encode_frame"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OnMessage = Callable[[bytes, float], None]


class HandshakeError(Exception):
    """The server did not answer the upgrade with 101."""


def encode_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + apply_mask(payload, mask)


class WSClient(asyncio.Protocol):
    """One client connection. Set `on_message` before traffic flows."""

    def __init__(self, host: str, port: int, path: str, on_message: OnMessage) -> None:
        self.on_message = on_message
        self.mask = os.urandom(4)
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\nUser-Agent: relay-bench\r\n\r\n"
        ).encode()
        self._buffer = bytearray()
        self._handshaken = False
        self._fragments: list[bytes] = []
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        self._close_sent = False

    # -- asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave like one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        if not self._handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    self._fail(HandshakeError("oversized handshake response"))
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            status = head.split("\r\n", 1)[0]
            if " 101 " not in status + " ":
                self._fail(HandshakeError(status))
                return
            digest = hashlib.sha1(self._key + _GUID).digest()  # noqa: S324 - RFC 6455
            expected = base64.b64encode(digest).decode()
            if expected.lower() not in head.lower():
                self._fail(HandshakeError("bad Sec-WebSocket-Accept"))
                return
            self._handshaken = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._parse(time.perf_counter())

    def _parse(self, now: float) -> None:
        buf = self._buffer
        size = len(buf)
        pos = 0
        while size - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                header = 10
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buf[pos + header : end])
            pos = end
            opcode = b0 & 0x0F
            if opcode in (OP_TEXT, OP_BINARY):
                if b0 & 0x80:
                    self.on_message(payload, now)
                else:
                    self._fragments = [payload]
            elif opcode == OP_CONT:
                self._fragments.append(payload)
                if b0 & 0x80:
                    message = b"".join(self._fragments)
                    self._fragments = []
                    self.on_message(message, now)
            elif opcode == OP_PING:
                self._write(encode_frame(OP_PONG, payload, self.mask))
            elif opcode == OP_CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self._close_sent:
                    self._close_sent = True
                    self._write(encode_frame(OP_CLOSE, payload[:2], self.mask))
                if self.transport is not None:
                    self.transport.close()
                break
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("connection lost before the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- sending ----------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
            if self.transport is not None:
                self.transport.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write(self, frame: bytes) -> None:
        """Write prebuilt, masked frame bytes (one or several frames)."""
        self._write(frame)

    def send_text(self, text: bytes) -> None:
        """Mask and send one text message."""
        self._write(encode_frame(OP_TEXT, text, self.mask))

    @property
    def paused(self) -> bool:
        return self._paused

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        while self._paused and not self.closed.done():
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    @property
    def is_open(self) -> bool:
        return self._handshaken and not self.closed.done()

    async def close(self, grace: float = 2.0) -> None:
        """Close handshake (1000), then drop the TCP connection."""
        if self.transport is None:
            return
        if not self._close_sent and not self.closed.done():
            self._close_sent = True
            self._write(encode_frame(OP_CLOSE, struct.pack("!H", 1000), self.mask))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), grace)
        except TimeoutError:
            self.transport.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(
    host: str, port: int, path: str, on_message: OnMessage, limit: float = 15.0
) -> WSClient:
    """Open a connection and complete the upgrade; raises HandshakeError or OSError."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(limit):
        _, client = await loop.create_connection(
            lambda: WSClient(host, port, path, on_message), host, port
        )
        await client.opened
    return client
