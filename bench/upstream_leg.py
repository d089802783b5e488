"""`python -m bench.upstream_leg`: the relay's upstream leg on aiohttp against picows.

The performance issue asks whether picows, an asyncio WebSocket client with a
Cython core and synchronous frame callbacks, would make the upstream leg
cheaper than today's aiohttp client. This measures that leg alone, the
client library being the only difference:

- `aiohttp`: the product's own `app.upstream.connection.UpstreamConnection`
  over `aiohttp.ClientSession.ws_connect` with the product's options (no
  compression, `autoping=False`, `decode_text=False`): the relay's framing,
  its `Cork`, and one receiving task per connection awaiting `recv_raw`, as
  the session's downstream pump does.
- `picows`: `picows.ws_connect` with a `WSListener`; text is sent with
  `WSTransport.send` (picows frames and masks in C) and each frame arrives in
  `on_ws_frame`, inside the read, with no task. picows takes its transport
  from aiofastnet (one of its requirements) where it is installed, as here.
  `picows` keeps its default 16 KiB read buffer per connection; `picows-2k`
  starts it at 2 KiB (it grows for larger frames).

Each client runs in its own process pinned to the last core, against the
benchmark's fake upstream (`bench.fake_upstream`) on the first, and does the
same work with what it receives (count it, copy its payload out as bytes):

- **memory**: RSS per open, idle connection (`--sessions` of them);
- **mixed**: on those connections, 50 appends (1,280 base64 characters) and 10
  `conversation.item.create` probes per second each, the probe echoes read back:
  CPU seconds (user and system, the process's own) per 1,000 events sent or received;
- **downstream**: one connection reads responses of `--deltas` audio deltas of
  `--delta-chars` characters: CPU seconds per 100 MB;
- **flood**: one connection sends appends as fast as the socket takes them, then asks
  the upstream for its count: CPU seconds per 1,000 appends.

`--repeats` runs alternate the two clients; the table gives medians and each
figure's spread. Bounded in count and time: every phase has a fixed duration
and every wait a timeout. A measurement only: the product's client stays the one
the README's performance section names.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.procstat import raise_nofile, tree_rss_kib
from bench.protocol import COUNT_ITEM_ID, COUNT_TEXT, GA_PATH, append_event, probe_event
from bench.targets import PROJECT_DIR, start_fake, stop

# picows as it comes (a 16 KiB read buffer per connection), and with a 2 KiB one.
CLIENTS = ("aiohttp", "picows", "picows-2k")
_READ_BUFFERS = {"picows": 16384, "picows-2k": 2048}
_TICK = 0.02  # one append per connection per tick: 50 per second
_PROBE_EVERY = 5  # ticks: 10 probes per second
_DONE = b'{"type":"response.done"'
_CREATED = b'{"type":"conversation.item.created"'
_COUNT_TIMEOUT = 30.0


class Leg:
    """What both clients share: counting what arrives, and waiting for a marker."""

    def __init__(self) -> None:
        self.received = 0
        self.received_bytes = 0
        self.waiters: list[tuple[bytes, bytes, asyncio.Future[bytes]]] = []

    def arrived(self, frame: bytes) -> None:
        self.received += 1
        self.received_bytes += len(frame)
        if self.waiters:
            for index, (head, part, future) in enumerate(self.waiters):
                if frame.startswith(head) and part in frame:
                    del self.waiters[index]
                    if not future.done():
                        future.set_result(frame)
                    break

    def wait_for(self, head: bytes, part: bytes = b"") -> asyncio.Future[bytes]:
        """The next frame that starts with `head` and holds `part`."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiters.append((head, part, future))
        return future

    def send(self, text: str, more: bool = False) -> None:
        """Send one text frame now (`more`: another follows in this turn)."""
        raise NotImplementedError


class AiohttpLeg(Leg):
    """The product's `UpstreamConnection` on aiohttp; a task per connection receives."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        super().__init__()
        self._http = http
        self.conn: Any = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, url: str) -> None:
        from app.upstream.connection import UpstreamConnection

        ws = await self._http.ws_connect(
            url, compress=0, autoping=False, autoclose=True, decode_text=False
        )
        self.conn = UpstreamConnection(ws, 3600.0, 60.0)
        created = self.wait_for(b"")
        self._task = asyncio.get_running_loop().create_task(self._receive())
        await asyncio.wait_for(created, 20)

    async def _receive(self) -> None:
        recv, arrived = self.conn.recv_raw, self.arrived
        while True:
            frame = await recv()
            arrived(frame if type(frame) is bytes else str(frame).encode())

    def send(self, text: str, more: bool = False) -> None:
        self.conn.write(text, more)

    async def send_flow(self, text: str, more: bool) -> None:
        await self.conn.send(text, more)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.conn.close(1000)


class PicowsLeg(Leg):
    """picows: frames arrive in `on_ws_frame`, inside the read; `send` frames in C."""

    def __init__(self, read_buffer: int) -> None:
        super().__init__()
        self._read_buffer = read_buffer
        self.transport: Any = None
        self._resumed: asyncio.Event | None = None

    async def open(self, url: str) -> None:
        import picows

        leg = self
        text_type = picows.WSMsgType.TEXT

        class Listener(picows.WSListener):  # type: ignore[misc,unused-ignore]
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == text_type:
                    leg.arrived(frame.get_payload_as_bytes())

            def pause_writing(self) -> None:
                leg._resumed = asyncio.Event()

            def resume_writing(self) -> None:
                if leg._resumed is not None:
                    leg._resumed.set()
                    leg._resumed = None

        created = self.wait_for(b"")
        self.transport, _ = await picows.ws_connect(
            Listener, url, enable_auto_pong=True, read_buffer_init_size=self._read_buffer
        )
        self._text = text_type
        await asyncio.wait_for(created, 20)

    def send(self, text: str, more: bool = False) -> None:
        self.transport.send(self._text, text.encode())

    async def send_flow(self, text: str, more: bool) -> None:
        self.transport.send(self._text, text.encode())
        if self._resumed is not None:
            await self._resumed.wait()

    async def close(self) -> None:
        self.transport.send_close()
        self.transport.disconnect()


async def _upstream_count(leg: Leg) -> int:
    """How many appends the upstream has counted on `leg`'s connection (its `__count__` echo)."""
    # A probe's echo may still be on its way: the count's is the one with its item id.
    answer = leg.wait_for(_CREATED, b'"id":"' + COUNT_ITEM_ID.encode() + b'"')
    leg.send(probe_event(COUNT_ITEM_ID, COUNT_TEXT).decode())
    echo = json.loads(await asyncio.wait_for(answer, _COUNT_TIMEOUT))
    return int(echo["item"]["content"][0]["text"])


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # microseconds, where os.times has ticks
    return usage.ru_utime, usage.ru_stime


async def _child(client: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}{GA_PATH}?model=bench"
    http = aiohttp.ClientSession()
    make: Callable[[], Leg]
    if client == "aiohttp":
        make = lambda: AiohttpLeg(http)  # noqa: E731
    else:
        make = lambda: PicowsLeg(_READ_BUFFERS[client])  # noqa: E731
    legs: list[Any] = []
    # memory: idle connections
    for _ in range(3):  # warm-up: imports and first allocations
        leg = make()
        await leg.open(url)
        await leg.close()
    gc.collect()
    await asyncio.sleep(0.5)
    before = tree_rss_kib([os.getpid()])
    for _ in range(args.sessions):
        leg = make()
        await leg.open(url)
        legs.append(leg)
    gc.collect()
    await asyncio.sleep(1.0)
    rss_per_session = (tree_rss_kib([os.getpid()]) - before) / args.sessions

    # mixed: real-time appends and probes on every connection
    append = append_event().decode()
    probe = probe_event("p").decode()
    sent = 0
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + args.warmup + args.duration

    async def ticker() -> None:
        nonlocal sent
        tick = 0
        next_at = loop.time()
        while loop.time() < stop_at:
            probing = tick % _PROBE_EVERY == 0
            for leg in legs:
                leg.send(append, probing)
                if probing:
                    leg.send(probe)
            sent += len(legs) * (2 if probing else 1)
            tick += 1
            next_at += _TICK
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    task = loop.create_task(ticker())
    await asyncio.sleep(args.warmup)
    sent_0, received_0 = sent, sum(leg.received for leg in legs)
    user_0, system_0 = _cpu()
    await asyncio.sleep(args.duration)
    user_1, system_1 = _cpu()
    events = (sent - sent_0) + sum(leg.received for leg in legs) - received_0
    await task
    mixed = ((user_1 - user_0) + (system_1 - system_0)) / events * 1000

    # downstream: one connection reads large responses
    first = legs[0]
    create = json.dumps(
        {
            "type": "response.create",
            "response": {
                "metadata": {"deltas": str(args.deltas), "delta_chars": str(args.delta_chars)}
            },
        },
        separators=(",", ":"),
    )
    bytes_0 = first.received_bytes
    user_0, system_0 = _cpu()
    ends = loop.time() + args.throughput_duration
    while loop.time() < ends:
        done = first.wait_for(_DONE)
        first.send(create)
        await asyncio.wait_for(done, _COUNT_TIMEOUT)
    user_1, system_1 = _cpu()
    megabytes = (first.received_bytes - bytes_0) / 1e8
    downstream = ((user_1 - user_0) + (system_1 - system_0)) / megabytes

    # flood: one connection sends appends as fast as the socket takes them
    flood = legs[1]
    baseline = await _upstream_count(flood)  # the mixed phase's appends
    appends = 0
    user_0, system_0 = _cpu()
    ends = time.monotonic() + args.throughput_duration  # uvloop's clock moves only per turn
    while time.monotonic() < ends:
        for index in range(32):
            await flood.send_flow(append, index < 31)
        appends += 32
        await asyncio.sleep(0)  # a turn per batch, as the load generator's flood takes
    counted = await _upstream_count(flood) - baseline
    user_1, system_1 = _cpu()
    flood_cpu = ((user_1 - user_0) + (system_1 - system_0)) / appends * 1000

    for leg in legs:
        await leg.close()
    await http.close()
    return {
        "client": client,
        "rss_kib_per_session": round(rss_per_session, 2),
        "mixed_cpu_per_1k": round(mixed, 5),
        "downstream_cpu_per_100mb": round(downstream, 4),
        "flood_cpu_per_1k": round(flood_cpu, 5),
        "flood_all_counted": counted == appends,
    }


FIGURES = (
    ("mixed_cpu_per_1k", "CPU s per 1k events, mixed"),
    ("flood_cpu_per_1k", "CPU s per 1k appends (flood)"),
    ("downstream_cpu_per_100mb", "CPU s per 100 MB downstream"),
    ("rss_kib_per_session", "RSS KiB per idle connection"),
)


def table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Medians over the repeats, each client against aiohttp, and each figure's spread."""
    clients = list(runs)
    others = clients[1:]
    head = ["figure", *clients, *(f"{name}/{clients[0]}" for name in others), "spread"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for key, label in FIGURES:
        medians, spreads = [], []
        for client in clients:
            values = [run[key] for run in runs[client]]
            median = statistics.median(values)
            medians.append(median)
            half = (max(values) - min(values)) / 2
            spreads.append(f"±{half / median * 100:.0f}%" if median else "n/a")
        ratios = [f"{m / medians[0]:.2f}x" if medians[0] else "n/a" for m in medians[1:]]
        cells = [label, *(f"{m:.4g}" for m in medians), *ratios, ", ".join(spreads)]
        lines.append("| " + " | ".join(cells) + " |")
    counted = all(run["flood_all_counted"] for client in clients for run in runs[client])
    lines.append(f"\nflood: every append counted upstream: {'yes' if counted else 'NO'}")
    return "\n".join(lines)


async def _parent(args: argparse.Namespace) -> int:
    raise_nofile()
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="upstream-leg-") as workdir:
        fake = await start_fake(cores[0], Path(workdir))
        try:
            runs: dict[str, list[dict[str, Any]]] = {client: [] for client in CLIENTS}
            for repeat in range(args.repeats):
                for client in CLIENTS:
                    result = await asyncio.to_thread(_run_child, client, fake.port, cores, args)
                    print(f"[{client}] repeat {repeat + 1}: {result}", flush=True)
                    runs[client].append(result)
        finally:
            await stop(fake)
    print(
        time.strftime("\n%Y-%m-%d %H:%M UTC", time.gmtime()),
        f"{len(cores)} CPUs,",
        f"{args.sessions} connections, {args.repeats} repeats\n",
    )
    print(table(runs))
    return 0


def _run_child(
    client: str, port: int, cores: list[int], args: argparse.Namespace
) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.upstream_leg", "--child", client, "--port", str(port),
        "--sessions", str(args.sessions), "--duration", str(args.duration),
        "--warmup", str(args.warmup), "--throughput-duration", str(args.throughput_duration),
        "--deltas", str(args.deltas), "--delta-chars", str(args.delta_chars),
    ]  # fmt: skip
    limit = 60 + args.warmup + args.duration + 4 * args.throughput_duration
    done = subprocess.run(  # noqa: S603 - our own module
        command,
        cwd=PROJECT_DIR,
        capture_output=True,
        timeout=limit,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cores[-1]}),
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream_leg", description=__doc__)
    parser.add_argument("--sessions", type=int, default=100, help="connections (default 100)")
    parser.add_argument("--duration", type=float, default=10.0, help="mixed window, s")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured s before it")
    parser.add_argument(
        "--throughput-duration", type=float, default=5.0, help="s per flood/downstream"
    )
    parser.add_argument("--deltas", type=int, default=200)
    parser.add_argument("--delta-chars", type=int, default=65536)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import uvloop

        result = uvloop.run(_child(args.child, args.port, args))
        print(json.dumps(result))
        return 0
    return asyncio.run(_parent(args))


if __name__ == "__main__":
    raise SystemExit(main())
