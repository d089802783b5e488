"""Command line: ``python -m app.simulator --host 127.0.0.1 --port 9000 [--api-key KEY]``.

Runs until Ctrl-C or SIGTERM, then closes every connection with 1001.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from app.simulator.server import Simulator

logger = logging.getLogger("app.simulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (defaults: 127.0.0.1, port 9000, no credential check)."""
    parser = argparse.ArgumentParser(
        prog="python -m app.simulator",
        description="Local stand-in for the Azure OpenAI realtime WebSocket API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=9000, help="port to bind (0 = any free)")
    parser.add_argument(
        "--api-key", default=None, help="require this api-key header (default: accept anyone)"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


async def serve_until_stopped(simulator: Simulator, stop: asyncio.Event) -> None:
    """Start `simulator`, log loudly that it is a simulator, and stop it once `stop` is set."""
    await simulator.start()
    logger.warning(
        "SIMULATOR in use: this is a local stand-in for Azure OpenAI, not the real service"
    )
    logger.warning("SIMULATOR endpoint: %s (GA path /openai/v1/realtime)", simulator.url)
    try:
        await stop.wait()
    finally:
        logger.info("simulator shutting down")
        await simulator.stop()


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # pragma: no cover - Windows
            loop.add_signal_handler(signum, stop.set)
    simulator = Simulator(host=args.host, port=args.port, api_key=args.api_key)
    await serve_until_stopped(simulator, stop)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m app.simulator``."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
