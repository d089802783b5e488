"""One session's guardrail I/O: the checks as owned tasks, and the gate's sends in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.guardrails.checker import GuardrailChecker
from app.guardrails.gate import CheckText, GuardClient, GuardEnd, GuardrailGate, GuardUpstream

__all__ = ["SessionGuardrails"]

logger = logging.getLogger(__name__)


class SessionGuardrails:
    """Runs what the session's `GuardrailGate` asks for, never inside a pump."""

    def __init__(
        self,
        checker: GuardrailChecker,
        gate: GuardrailGate,
        *,
        send_upstream: Callable[[str], Awaitable[None]],
        send_client: Callable[[str, str], Awaitable[None]],
        end: Callable[[], None],
        session_id: str,
        identity: str | None,
        agent: str,
    ) -> None:
        self._checker = checker
        self._gate = gate
        self._send_upstream = send_upstream
        self._send_client = send_client
        self._end = end
        self._session_id = session_id
        self._identity = identity
        self._agent = agent
        self._tasks: set[asyncio.Task[None]] = set()
        self._outbox: list[GuardUpstream | GuardClient] = []
        self._sender: asyncio.Task[None] | None = None
        self._ending = False  # end once the queued sends (the delete, the notice) are out

    def dispatch(self) -> None:
        """Take the gate's commands: checks start, sends queue in order, an end ends."""
        commands = list(self._gate.commands)
        self._gate.commands.clear()  # in place: the pumps hold this very list
        for command in commands:
            if isinstance(command, CheckText):
                self._spawn(self._run_check(command))
            elif isinstance(command, GuardEnd):
                self._ending = True
            else:
                self._outbox.append(command)
        if self._outbox and (self._sender is None or self._sender.done()):
            self._sender = asyncio.create_task(self._send_all(), name="guardrail-sends")
        elif self._ending and not self._outbox:
            self._end()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_check(self, check: CheckText) -> None:
        allowed = await self._checker.check(
            check.direction,
            check.text,
            session_id=self._session_id,
            identity=self._identity,
            agent=self._agent,
        )
        self._gate.verdict(check, allowed)
        self.dispatch()

    async def _send_all(self) -> None:
        while self._outbox:
            command = self._outbox.pop(0)
            try:
                if isinstance(command, GuardUpstream):
                    await self._send_upstream(command.text)
                else:
                    await self._send_client(command.code, command.message)
            except Exception as exc:  # a side is closing: the session's end says why
                logger.debug("guardrail send failed: %s", type(exc).__name__)
                self._outbox.clear()
                break
        if self._ending:
            self._end()

    async def aclose(self) -> None:
        tasks = [*self._tasks, *([self._sender] if self._sender is not None else [])]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
