"""Checking a text: the blocklist first (in process), then the webhook (signed, bounded).

The webhook gets `{"direction","text","session_id","identity","agent"}` and
answers `{"allow": true|false}` within the timeout. A timeout, an error or an
answer of another shape is a failure: `failure_mode` `closed` blocks, `open`
allows. Every check is counted by direction and verdict; texts are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Literal

import aiohttp
import orjson

from app.guardrails.spec import Guardrails
from app.tools.caller import sign

__all__ = ["GuardrailChecker", "Verdict"]

logger = logging.getLogger(__name__)

Verdict = Literal["allow", "block", "error_allow", "error_block"]


class GuardrailChecker:
    """Shared by every session of an agent; `start` opens its HTTP client."""

    def __init__(
        self,
        guardrails: Guardrails,
        *,
        signing_secret: str | None,
        observe: Callable[[str, Verdict, float], None],
    ) -> None:
        self.guardrails = guardrails
        self._secret = signing_secret
        self._observe = observe
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.guardrails.url is not None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100), raise_for_status=False
            )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def check(
        self,
        direction: str,
        text: str | None,
        *,
        session_id: str,
        identity: str | None,
        agent: str,
    ) -> bool:
        """Whether `text` may pass. Never raises (a failure follows the failure mode)."""
        started = time.monotonic()
        verdict = await self._verdict(direction, text, session_id, identity, agent)
        self._observe(direction, verdict, time.monotonic() - started)
        return verdict in ("allow", "error_allow")

    async def _verdict(
        self, direction: str, text: str | None, session_id: str, identity: str | None, agent: str
    ) -> Verdict:
        guardrails = self.guardrails
        failed: Verdict = "error_allow" if guardrails.failure_mode == "open" else "error_block"
        if text is None:
            return failed  # nothing to check (a transcription failed)
        if guardrails.blocked(text):
            return "block"
        if self._http is None or guardrails.url is None:
            return "allow"
        body = orjson.dumps(
            {
                "direction": direction,
                "text": text,
                "session_id": session_id,
                "identity": identity,
                "agent": agent,
            }
        )
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            timestamp = str(int(time.time()))
            headers["X-Relay-Timestamp"] = timestamp
            headers["X-Relay-Signature"] = sign(self._secret, timestamp, body)
        try:
            async with asyncio.timeout(guardrails.timeout_seconds):
                async with self._http.post(
                    guardrails.url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    answer = orjson.loads(await response.content.read(64 * 1024))
                    status = response.status
        except Exception as exc:  # a timeout, a refused connection, not JSON: the failure mode
            logger.warning(
                "guardrail webhook failed (%s); %s",
                type(exc).__name__,
                "allowed" if failed == "error_allow" else "blocked",
                extra={"fields": {"session_id": session_id, "direction": direction}},
            )
            return failed
        allow = answer.get("allow") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(allow, bool):
            logger.warning(
                "guardrail webhook answered %d without a boolean allow; %s",
                status,
                "allowed" if failed == "error_allow" else "blocked",
                extra={"fields": {"session_id": session_id, "direction": direction}},
            )
            return failed
        return "allow" if allow else "block"
