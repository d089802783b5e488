"""`python -m bench.tool_latency`: what an MCP call costs beside a webhook call, on loopback.

Both tools do the same thing (echo an order id). The webhook tool is a plain
aiohttp server, the MCP tool an `MCPServer` over Streamable HTTP, both in a
child process pinned away from this one where there are two CPUs. Calls go
through the relay's own `ToolCaller` (the code sessions use), one at a time,
after a warm-up; each repeat reports the median and p90, and the run prints
the medians over repeats. Bounded: `--calls` per repeat, `--repeats` repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from app.tools.caller import ToolCaller
from app.tools.mcp import McpConnection
from app.tools.spec import LoadedMcpServer, LoadedTool, McpServerSpec, ToolSpec

_SERVERS = r"""
import asyncio, socket, sys
import uvicorn
from aiohttp import web
from mcp.server.mcpserver import MCPServer

async def webhook(request):
    call = await request.json()
    return web.json_response({"output": "order " + call["arguments"]["id"]})

mcp = MCPServer("bench")

@mcp.tool()
def lookup(id: str) -> str:
    return "order " + id

async def main():
    app = web.Application()
    app.router.add_post("/lookup", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    hook = socket.socket(); hook.bind(("127.0.0.1", 0))
    await web.SockSite(runner, hook).start()
    sock = socket.socket(); sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(mcp.streamable_http_app(), log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    print(hook.getsockname()[1], sock.getsockname()[1], flush=True)
    await task

asyncio.run(main())
"""


_ROOT = Path(__file__).resolve().parent.parent


def _pin_last_cpu() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[-1]})


async def _measure(caller: ToolCaller, name: str, calls: int) -> list[float]:
    seconds = []
    for index in range(calls):
        started = time.perf_counter()
        result = await caller.call(name, f"call_{index}", {"id": str(index)}, "rs_bench", None)
        seconds.append(time.perf_counter() - started)
        if result.outcome != "ok":
            raise RuntimeError(f"{name}: {result.outcome} {result.output}")
    return seconds


def _summary(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.9)] * 1000


async def run(calls: int, repeats: int) -> int:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[0]})
    child = subprocess.Popen(  # noqa: ASYNC220, S603 - one fixed fork/exec before anything runs
        [sys.executable, "-c", _SERVERS],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_pin_last_cpu,
        cwd=_ROOT,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 30)
        hook_port, mcp_port = (int(part) for part in line.split())
        webhook = ToolSpec(
            name="lookup",
            description="d",
            parameters={"type": "object"},
            url=f"http://127.0.0.1:{hook_port}/lookup",
        )
        server = McpServerSpec(
            type="mcp", label="kb", url=f"http://127.0.0.1:{mcp_port}/mcp", allowed_tools=["lookup"]
        )
        connection = McpConnection(
            LoadedMcpServer(server, {}), max_output_bytes=65536, on_listed=lambda: None
        )
        caller = ToolCaller(
            [LoadedTool(webhook, {})],
            signing_secret="s" * 32,
            max_output_bytes=65536,
            observe=lambda *_: None,
            mcp=[connection],
        )
        await caller.start()
        await connection.start()
        try:
            await asyncio.wait_for(connection.wait_for(lambda c: c.available.is_set()), 30)
            figures: dict[str, list[tuple[float, float]]] = {"webhook": [], "mcp": []}
            for _ in range(repeats):
                for kind, name in (("webhook", "lookup"), ("mcp", "kb__lookup")):
                    await _measure(caller, name, max(10, calls // 10))  # warm-up
                    figures[kind].append(_summary(await _measure(caller, name, calls)))
            for kind, runs in figures.items():
                medians = [m for m, _ in runs]
                p90s = [p for _, p in runs]
                print(
                    f"{kind:8} median {statistics.median(medians):.3f} ms "
                    f"(repeats {', '.join(f'{m:.3f}' for m in medians)}), "
                    f"p90 {statistics.median(p90s):.3f} ms"
                )
            added = statistics.median(m for m, _ in figures["mcp"]) - statistics.median(
                m for m, _ in figures["webhook"]
            )
            print(f"MCP call minus webhook call, median: {added:+.3f} ms")
        finally:
            await connection.aclose()
            await caller.aclose()
    finally:
        child.terminate()
        child.wait(timeout=10)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tool_latency", description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="calls per repeat (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (default 3)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.calls, args.repeats))


if __name__ == "__main__":
    raise SystemExit(main())
