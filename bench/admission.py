"""`python -m bench.admission`: what shared state costs a handshake.

Three targets in front of the bench's fake upstream, measured in one run:

- `single`: one relay, no Redis (per-process limits);
- `single+nginx`: the same relay behind nginx, to separate the hop from Redis;
- `fleet`: two relays behind nginx round robin, with a real `redis-server` as
  their shared state (`RELAY_REDIS_URL`): every admission takes a fleet-wide
  lease with one Lua call and every close releases it.

Each handshake is timed from the TCP connect to the WebSocket upgrade, which the
relay answers only after admission, the upstream dial and the upstream's
confirmation of the enforced session. Handshakes run one after another with a
static-token identity, so the per-identity lease is in play. Each repeat reports
p50 and p99; the run prints the medians over repeats. Bounded: `--handshakes`
per repeat, `--repeats` repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from websockets.asyncio.client import connect

from bench.targets import Started, start_fake, start_relay, stop
from tests.support.nginx_lb import nginx_balancer
from tests.support.redis_server import redis_server

TOKEN = "bench-admission-token-0123456789"  # noqa: S105 - a throwaway loopback token
_RELAY_ENV = {
    "RELAY_AUTH": "token",
    "RELAY_AUTH_TOKENS": f"bench:{TOKEN}",
    "RELAY_MAX_SESSIONS_PER_IDENTITY": "1000",
}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def handshakes(port: int, count: int) -> tuple[float, float]:
    """p50 and p99 (ms) of `count` sequential handshakes to 127.0.0.1:`port`."""
    url = f"ws://127.0.0.1:{port}/realtime"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    times: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        async with connect(url, additional_headers=headers, compression=None, open_timeout=10):
            times.append((time.perf_counter() - started) * 1000)
    return _percentile(times, 0.5), _percentile(times, 0.99)


@contextlib.asynccontextmanager
async def targets(workdir: Path) -> AsyncIterator[dict[str, int]]:
    fake = await start_fake(None, workdir)
    started: list[Started] = []
    try:
        single = await start_relay(fake.port, None, workdir, extra_env=_RELAY_ENV, name="single")
        started.append(single)
        async with (
            redis_server(workdir / "redis") as redis,
            nginx_balancer([single.port], workdir / "nginx-single") as single_lb,
        ):
            shared = {**_RELAY_ENV, "RELAY_REDIS_URL": redis.url}
            for index in range(2):
                started.append(
                    await start_relay(
                        fake.port, None, workdir, extra_env=shared, name=f"replica{index}"
                    )
                )
            async with nginx_balancer(
                [s.port for s in started[1:]], workdir / "nginx-fleet"
            ) as fleet_lb:
                yield {"single": single.port, "single+nginx": single_lb, "fleet": fleet_lb}
    finally:
        for process in started:
            await stop(process)
        await stop(fake)


async def run(count: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-admission-") as tmp:
        async with targets(Path(tmp)) as ports:
            for port in ports.values():
                await handshakes(port, 20)  # warm-up
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in ports}
            for repeat in range(repeats):
                for name, port in ports.items():  # interleaved, so drift hits all alike
                    p50, p99 = await handshakes(port, count)
                    results[name].append((p50, p99))
                    print(f"repeat {repeat + 1} {name:>13}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"\nmedians over {repeats} repeats of {count} handshakes:")
    for name, values in results.items():
        p50 = statistics.median(v[0] for v in values)
        p99 = statistics.median(v[1] for v in values)
        print(f"{name:>13}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.handshakes, args.repeats))


if __name__ == "__main__":
    main()
