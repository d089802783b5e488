"""A fast fake realtime upstream: just enough of the GA protocol for the benchmark.

It serves `/openai/v1/realtime` (any query, any credential, no compression):

- on connect it sends `session.created`;
- `session.update` is answered with `session.updated`;
- `conversation.item.create` is echoed at once as `conversation.item.created`
  carrying the item (id and text), so a probe can be matched. When the item's
  text is `__count__`, the text of the echo is the number of
  `input_audio_buffer.append` events this connection has received so far;
- `input_audio_buffer.append` is only counted (a prefix check, no JSON parse);
- `response.create` streams `response.created`, K `response.output_audio.delta`
  events of B base64 characters with deterministic payloads (see
  `bench.protocol.delta_payloads`), then `response.done`. K and B come from
  `response.metadata` (`deltas`, `delta_chars`) or default to 200 and 65,536.

Run alone: `python -m bench.fake_upstream --port 9100 [--cpu N]`. It prints
`LISTENING <port>` on stdout once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import sys
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bench.protocol import (
    APPEND_HEAD,
    COUNT_TEXT,
    DEFAULT_DELTA_CHARS,
    DEFAULT_DELTAS,
    GA_PATH,
    PAYLOAD_VARIANTS,
    delta_payloads,
)

__all__ = ["delta_frames", "handle", "main", "serve_fake"]

_SESSION_CREATED = orjson.dumps(
    {
        "type": "session.created",
        "event_id": "evt_bench_created",
        "session": {
            "id": "sess_bench",
            "object": "realtime.session",
            "type": "realtime",
            "model": "bench",
            "instructions": "",
            "tools": [],
        },
    }
).decode()
_MAX_DELTAS = 1_000_000
_MAX_DELTA_CHARS = 16 * 1024 * 1024


@functools.cache
def delta_frames(chars: int) -> tuple[bytes, ...]:
    """The encoded `response.output_audio.delta` frames, one per payload variant."""
    head = (
        '{"type":"response.output_audio.delta","event_id":"evt_bench_delta",'
        '"response_id":"resp_bench","item_id":"item_bench","output_index":0,'
        '"content_index":0,"delta":"'
    )
    return tuple((head + payload + '"}').encode() for payload in delta_payloads(chars))


def _metadata_int(metadata: Any, key: str, default: int, limit: int) -> int:
    if not isinstance(metadata, dict):
        return default
    try:
        value = int(metadata.get(key, default))
    except (TypeError, ValueError):
        return default
    return max(0, min(value, limit))


def _item_echo(item: Any, appends: int) -> str:
    if isinstance(item, dict):
        content = item.get("content")
        if (
            isinstance(content, list)
            and content
            and isinstance(content[0], dict)
            and content[0].get("text") == COUNT_TEXT
        ):
            item = {**item, "content": [{**content[0], "text": str(appends)}]}
    return orjson.dumps(
        {
            "type": "conversation.item.created",
            "event_id": "evt_bench_item",
            "previous_item_id": None,
            "item": item,
        }
    ).decode()


async def _stream_response(ws: ServerConnection, response: Any) -> None:
    metadata = response.get("metadata") if isinstance(response, dict) else None
    deltas = _metadata_int(metadata, "deltas", DEFAULT_DELTAS, _MAX_DELTAS)
    chars = _metadata_int(metadata, "delta_chars", DEFAULT_DELTA_CHARS, _MAX_DELTA_CHARS)
    chars -= chars % 4
    body: dict[str, Any] = {"id": "resp_bench", "object": "realtime.response", "metadata": metadata}
    await ws.send(orjson.dumps({"type": "response.created", "response": body}).decode())
    frames = delta_frames(chars)
    send = ws.send
    for index in range(deltas):
        await send(frames[index % PAYLOAD_VARIANTS], text=True)
    done: dict[str, Any] = {
        **body,
        "status": "completed",
        "output": [],
        "usage": {"total_tokens": 0},
    }
    await ws.send(orjson.dumps({"type": "response.done", "response": done}).decode())


async def handle(ws: ServerConnection) -> None:
    """One upstream session."""
    appends = 0
    await ws.send(_SESSION_CREATED)
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith(APPEND_HEAD):
                appends += 1
                continue
            try:
                event = orjson.loads(message)
            except orjson.JSONDecodeError:
                continue
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "input_audio_buffer.append":
                appends += 1
            elif kind == "conversation.item.create":
                await ws.send(_item_echo(event.get("item"), appends))
            elif kind == "session.update":
                session = event.get("session")
                await ws.send(
                    orjson.dumps({"type": "session.updated", "session": session}).decode()
                )
            elif kind == "response.create":
                await _stream_response(ws, event.get("response"))
    except ConnectionClosed:
        pass


def _only_ga_path(ws: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] != GA_PATH:
        return ws.respond(404, "not found\n")
    return None


async def serve_fake(host: str, port: int, ready: asyncio.Future[int] | None = None) -> None:
    """Serve until cancelled; `ready` gets the bound port."""
    async with serve(
        handle,
        host,
        port,
        process_request=_only_ga_path,
        compression=None,
        ping_interval=None,
        max_size=None,
        backlog=4096,
    ) as server:
        bound: int = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready.set_result(bound)
        await asyncio.Future()  # run until cancelled


async def _main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[int] = loop.create_future()
    task = asyncio.create_task(serve_fake(host, port, ready))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    bound = await ready
    sys.stdout.write(f"LISTENING {bound}\n")
    sys.stdout.flush()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(args.host, args.port))
    else:
        uvloop.run(_main(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
