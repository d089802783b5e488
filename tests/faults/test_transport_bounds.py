"""Transport bounds of the running relay: ping floods and slow request heads."""

from __future__ import annotations

import asyncio
import base64
import os
import select
import socket
import time
from pathlib import Path

from tests.support.relay_process import RelayProcess, relay_process

FLOOD_SECONDS = 2.0
FLOOD_BYTES = 64 * 1024 * 1024  # at most this much is offered per session
# A masked ping with the largest payload a control frame may carry: each one asks for a
# 125-byte pong, so a client that reads nothing fills the relay's buffers quickly.
PING = b"\x89\xfd" + b"\x00\x00\x00\x00" + b"p" * 125


def _open_flooder(port: int) -> socket.socket:
    """A WebSocket client with a 4 KiB receive buffer that has completed its handshake."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(60)  # the relay may still be working through the last flood
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /realtime HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: leave the first events unread
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _flood(sock: socket.socket) -> int:
    """Send pings as fast as the relay takes them, reading nothing; bounded in time and bytes."""
    sock.setblocking(False)
    burst = PING * 256
    offered = 0
    deadline = time.monotonic() + FLOOD_SECONDS
    while offered < FLOOD_BYTES and (remaining := deadline - time.monotonic()) > 0:
        _, writable, _ = select.select([], [sock], [], remaining)
        if not writable:
            break
        try:
            offered += sock.send(burst)
        except BlockingIOError:
            continue
    return offered


async def _settled_rss(relay: RelayProcess) -> int:
    """The relay's RSS once two readings a moment apart agree within 1 MiB."""
    previous = relay.rss_kib()
    for _ in range(20):
        await asyncio.sleep(0.1)
        current = relay.rss_kib()
        if abs(current - previous) < 1024:
            return current
        previous = current
    return previous


async def test_a_ping_flood_from_a_client_that_never_reads_keeps_rss_flat(tmp_path: Path) -> None:
    """Three flooding sessions that read nothing leave the relay's RSS within 8 MiB of its start."""
    async with relay_process(tmp_path, RELAY_UPSTREAM="simulator") as relay:
        held: list[socket.socket] = []
        try:
            warm = await asyncio.to_thread(_open_flooder, relay.port)
            held.append(warm)
            before = await _settled_rss(relay)
            offered = []
            for _ in range(3):
                sock = await asyncio.to_thread(_open_flooder, relay.port)
                held.append(sock)  # held open: the attack keeps its connections
                offered.append(await asyncio.to_thread(_flood, sock))
            after = await _settled_rss(relay)
        finally:
            for sock in held:
                sock.close()
    assert all(amount > 0 for amount in offered)
    # uvicorn's own protocol queues every pong in user space: +77 MiB here for three sessions.
    assert after - before < 8 * 1024, {"before_kib": before, "after_kib": after, "offered": offered}


async def test_a_connection_that_never_completes_its_request_head_is_dropped(
    tmp_path: Path,
) -> None:
    """A slowloris connection, half a request head and then silence, is closed at the deadline."""
    async with relay_process(
        tmp_path, RELAY_UPSTREAM="simulator", RELAY_HEADER_TIMEOUT_SECONDS="0.5"
    ) as relay:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(b"GET /realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        async with asyncio.timeout(10):  # a bound for a broken relay, far past the deadline
            leftover = await reader.read()
        writer.close()
    assert leftover == b""  # closed with no response, not held open
