"""`python -m bench.peer`: the benchmark's second Python relay, written by us.

A minimal aiohttp WebSocket relay in the design of the public Azure sample's
middle tier: for each client it opens the upstream WebSocket, parses every
client event once with `json.loads` (and does nothing else with it), forwards
the original text, and pumps upstream events back unchanged. No policy, no
redaction, no limits: the floor a Python relay can reach with aiohttp. It runs
on uvloop, as the relay does, so that the comparison is not flattered.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import aiohttp
import uvloop
from aiohttp import WSMsgType, web

_MAX_MESSAGE = 32 * 1024 * 1024


async def _relay(request: web.Request) -> web.WebSocketResponse:
    client = web.WebSocketResponse(max_msg_size=_MAX_MESSAGE, protocols=("realtime",))
    await client.prepare(request)
    http: aiohttp.ClientSession = request.app["http"]
    async with http.ws_connect(request.app["upstream"], max_msg_size=0) as upstream:

        async def client_to_upstream() -> None:
            async for message in client:
                if message.type is WSMsgType.TEXT:
                    json.loads(message.data)  # the sample parses each event once
                    await upstream.send_str(message.data)

        async def upstream_to_client() -> None:
            async for message in upstream:
                if message.type is WSMsgType.TEXT:
                    await client.send_str(message.data)

        pumps = [
            asyncio.create_task(client_to_upstream()),
            asyncio.create_task(upstream_to_client()),
        ]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    await client.close()
    return client


async def _serve(host: str, port: int, upstream: str) -> None:
    app = web.Application()
    app["upstream"] = upstream
    app.router.add_get("/realtime", _relay)
    # No connection cap: aiohttp's default of 100 would limit the peer, not its design.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        app["http"] = http
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        print(f"LISTENING {port}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="ws:// URL of the upstream realtime path")
    args = parser.parse_args()
    uvloop.run(_serve(args.host, args.port, args.upstream))


if __name__ == "__main__":
    main()
