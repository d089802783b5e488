"""`python -m bench.floor`: the relay with its policy taken out, only as a measurement.

The benchmark's `floor` target (run only when named). It is `python -m app`
with the same settings, the same uvicorn protocols, client lane, session
shell, upstream connection and cork, but the session core's two per-frame
rules replaced by pass-throughs: every client text frame is forwarded as it
came (no rate bucket, parse, shape check or counters) and every upstream
frame is sent on as it came (no redaction, no audio ledger). The handshake,
the enforced `session.update` and its confirmation are unchanged.

What it costs is the floor of the relay's design inside uvicorn and aiohttp:
no policy, however fast, can take the relay below it. It is never a way to
run the relay: with it, a client could send anything upstream.
"""

from __future__ import annotations

import sys

from app.launcher import main
from app.policy.decisions import Forward
from app.relay.core import SessionCore

__all__ = ["take_out_the_policy"]

_FORWARD = Forward("floor")


def _forward_client_frame(self: SessionCore, text: str | None, now: float) -> Forward | None:
    return _FORWARD if text is not None else None


def _forward_upstream_frame(self: SessionCore, frame: str | bytes | None) -> str | bytes | None:
    return frame


def take_out_the_policy() -> None:
    """Replace the core's per-frame rules with pass-throughs, for this process."""
    SessionCore.client_frame = _forward_client_frame  # type: ignore[method-assign]
    SessionCore.upstream_frame = _forward_upstream_frame  # type: ignore[method-assign]


if __name__ == "__main__":
    take_out_the_policy()
    sys.exit(main())
