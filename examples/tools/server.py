"""An example tool server for the relay's server-side tools: one `lookup_order` tool.

Run it beside the relay (see the README, "Server-side tools"):

    RELAY_TOOLS_SIGNING_SECRET=<the relay's secret> .venv/bin/python -m examples.tools.server

It checks that each call was signed by the relay (`X-Relay-Signature`, an
HMAC-SHA256 of "<timestamp>.<body>") and recent (`X-Relay-Timestamp`), then
uses `identity`, the caller the relay authenticated, to show each caller only
its own orders. `identity` is null when the relay runs with RELAY_AUTH=none:
this example then shows only the public demo order.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Request

__all__ = ["ORDERS", "create_app", "verify_signature"]

MAX_SKEW_SECONDS = 300  # refuse calls signed longer ago than this (replays)

# order id -> (owner identity, or None for the public demo order; status)
ORDERS: dict[str, tuple[str | None, str]] = {
    "42": (None, "shipped on Monday, arriving Thursday"),
    "77": ("support-web", "waiting for payment"),
}


def verify_signature(secret: str, timestamp: str, signature: str, body: bytes) -> bool:
    """Whether the relay signed `body` at `timestamp`, recently."""
    try:
        skew = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return skew <= MAX_SKEW_SECONDS and hmac.compare_digest(
        "sha256=" + expected.hexdigest(), signature
    )


def create_app(secret: str) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/lookup_order")
    async def lookup_order(request: Request) -> dict[str, Any]:
        body = await request.body()  # verify the raw bytes, before parsing them
        timestamp = request.headers.get("x-relay-timestamp", "")
        signature = request.headers.get("x-relay-signature", "")
        if not verify_signature(secret, timestamp, signature, body):
            raise HTTPException(401, "bad signature")  # the model is told only tool_failed
        call = await request.json()
        order = ORDERS.get(str(call["arguments"].get("id")))
        # Authorise per caller: an order is shown only to its owner (public if None).
        if order is None or order[0] not in (None, call["identity"]):
            return {"output": {"found": False}}
        return {"output": {"found": True, "status": order[1]}}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    secret = os.environ.get("RELAY_TOOLS_SIGNING_SECRET")
    if not secret:
        raise SystemExit("set RELAY_TOOLS_SIGNING_SECRET to the relay's signing secret")
    import uvicorn

    uvicorn.run(create_app(secret), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
