"""`python -m bench.guardrail_latency`: what an input guardrail adds before the answer.

One relay per configuration, in front of the simulator, one session each, text
turns one after another: the time from sending the turn (`conversation.item.create`
and `response.create`) to the reply's `response.created`. With a guardrail the
relay holds the request until the turn's text has passed.

- `off`: no guardrail (the simulator answers at once);
- `blocklist`: `RELAY_GUARDRAIL_BLOCKLIST_FILE` alone (20 patterns, no match);
- `webhook`: `RELAY_GUARDRAIL_URL`, a local aiohttp webhook answering at once.

The relays share one core and this process (client and simulator) has the
other, where there are two. Each repeat reports p50 and p99; the run prints the medians over repeats and
the added time against `off`. Bounded: `--turns` per repeat, `--repeats` repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from aiohttp import web
from websockets.asyncio.client import connect

from app.simulator import Simulator
from bench.targets import start_relay, stop


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextlib.asynccontextmanager
async def webhook() -> AsyncIterator[str]:
    async def allow(_: web.Request) -> web.Response:
        return web.json_response({"allow": True})

    app = web.Application()
    app.router.add_post("/check", allow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/check"
    finally:
        await runner.cleanup()


async def turns(port: int, count: int) -> list[float]:
    """Milliseconds from each turn to its `response.created`."""
    times: list[float] = []
    item = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        },
    }
    turn = orjson.dumps(item).decode()
    create = '{"type":"response.create","response":{"output_modalities":["text"]}}'
    async with connect(f"ws://127.0.0.1:{port}/realtime", compression=None) as ws:
        while orjson.loads(await ws.recv())["type"] != "session.updated":
            pass
        for _ in range(count):
            started = time.perf_counter()
            await ws.send(turn)
            await ws.send(create)
            while orjson.loads(await ws.recv())["type"] != "response.created":
                pass
            times.append((time.perf_counter() - started) * 1000)
            while orjson.loads(await ws.recv())["type"] != "response.done":
                pass
    return times


async def run(count: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-guardrail-") as tmp:
        workdir = Path(tmp)
        blocklist = workdir / "blocklist.txt"
        blocklist.write_text("\n".join(f"\\bforbidden{i}\\b" for i in range(20)) + "\n")
        async with Simulator() as sim, webhook() as url:
            port = sim.port
            configs = {
                "off": {},
                "blocklist": {"RELAY_GUARDRAIL_BLOCKLIST_FILE": str(blocklist)},
                "webhook": {"RELAY_GUARDRAIL_URL": url},
            }
            # The relays on one core; this process (client and simulator) on the other.
            relay_core = 1 if len(os.sched_getaffinity(0)) > 1 else None
            if relay_core is not None:
                os.sched_setaffinity(0, {0})
            relays = {
                name: await start_relay(
                    port, relay_core, workdir, extra_env=env, name=f"relay-{name}"
                )
                for name, env in configs.items()
            }
            try:
                results: dict[str, list[tuple[float, float]]] = {name: [] for name in relays}
                for relay in relays.values():
                    await turns(relay.port, 20)  # warm-up
                for repeat in range(repeats):
                    for name, relay in relays.items():  # interleaved: drift hits all alike
                        times = await turns(relay.port, count)
                        p50, p99 = _percentile(times, 0.5), _percentile(times, 0.99)
                        results[name].append((p50, p99))
                        print(f"repeat {repeat + 1} {name:>9}: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
            finally:
                for relay in relays.values():
                    await stop(relay)
    print(f"\nmedians over {repeats} repeats of {count} turns (time to response.created):")
    base = results["off"]
    base50 = statistics.median(v[0] for v in base)
    base99 = statistics.median(v[1] for v in base)
    for name, values in results.items():
        p50 = statistics.median(v[0] for v in values)
        p99 = statistics.median(v[1] for v in values)
        print(
            f"{name:>9}: p50 {p50:.3f} ms, p99 {p99:.3f} ms "
            f"(added: p50 {p50 - base50:+.3f} ms, p99 {p99 - base99:+.3f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.repeats))


if __name__ == "__main__":
    main()
