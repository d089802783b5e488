"""One session's tool calls as tasks the session owns: the I/O side of `ToolTracker`.

`dispatch` carries out the tracker's commands without awaiting: a `CallTool`
becomes a task, a `SendUpstream` goes on an ordered queue that one sender task
writes upstream. So neither pump ever waits for a tool. `aclose` cancels
every call still running (aborting its HTTP request) and the sender; it is
safe to call more than once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from app.tools.caller import ToolCaller
from app.tools.tracker import CallTool, SendUpstream, ToolTracker

__all__ = ["SessionTools"]


class SessionTools:
    """Runs one session's server calls and sends their outputs upstream, in order."""

    def __init__(
        self,
        caller: ToolCaller,
        tracker: ToolTracker,
        count: Callable[[str], None],
        send: Callable[[str], Awaitable[None]],
        session_id: str,
        identity: str | None,
    ) -> None:
        self._caller = caller
        self._tracker = tracker
        self._count = count  # the session's tally of outcomes
        self._send = send
        self._session_id = session_id
        self._identity = identity
        self._calls: set[asyncio.Task[None]] = set()
        self._outbox: asyncio.Queue[str] | None = None  # made with the sender, when first needed
        self._sender: asyncio.Task[None] | None = None
        self._closed = False

    def dispatch(self) -> None:
        """Carry out the tracker's pending commands. Never awaits."""
        commands = self._tracker.commands
        if self._closed:
            commands.clear()
            return
        while commands:
            command = commands.pop(0)
            if type(command) is CallTool:
                task = asyncio.create_task(self._call(command), name=f"tool-{command.name}")
                self._calls.add(task)
                task.add_done_callback(self._calls.discard)
            else:
                assert type(command) is SendUpstream
                if self._outbox is None:
                    self._outbox = asyncio.Queue()
                    self._sender = asyncio.create_task(
                        self._send_all(self._outbox), name="tool-outputs"
                    )
                self._outbox.put_nowait(command.text)

    async def aclose(self) -> None:
        """Cancel the running calls (their requests are aborted) and stop sending."""
        self._closed = True
        tasks = [*self._calls, *((self._sender,) if self._sender is not None else ())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _call(self, command: CallTool) -> None:
        try:
            result = await self._caller.call(
                command.name, command.call_id, command.arguments, self._session_id, self._identity
            )
        except asyncio.CancelledError:
            self._count("cancelled")
            raise
        self._count(result.outcome)
        self._tracker.tool_done(command.call_id, result.output)
        self.dispatch()

    async def _send_all(self, outbox: asyncio.Queue[str]) -> None:
        # An upstream that is gone ends the session through the pumps; nothing to do here.
        with contextlib.suppress(Exception):
            while True:
                await self._send(await outbox.get())
