"""One session's rules, Sans-I/O: inputs in, commands out.

`SessionCore` owns everything a session decides and every piece of its state
(the policies, the rate bucket, the limits, the response in flight, whether
the client's close frame has been sent, the counters). It never awaits, logs
or touches a socket; `app.relay.session.RelaySession` is the thin shell that
reads both sockets, feeds the core and carries out what it returns.

Inputs and what they return:

- `client_frame(text, now)`: `Forward` (send the frame as it came),
  `Rewrite` (send its `text` instead), `SendClient` (a refusal for the
  client) or `None` (refused while closing: send nothing).
- `upstream_frame(frame)`: the text to send the client, or `None` (dropped,
  or hidden: the server tools' traffic, decided by the `ToolTracker`, whose
  commands the shell drains from `tools.commands` after each input). A frame
  may come as text, as text still in its ASCII bytes, or as None (binary); an
  audio delta in bytes goes back in bytes, never decoded.
- `client_sending(now)` / `client_sent()`: a send to the client began / ended
  (the backpressure clock).
- `tick(now)`: the `SessionEnd` the limits reached, or when to tick again.
- `shutdown()`: the end a drain asks for; `budget_exhausted()`: the end a used-up
  daily token budget asks for.
- `closing(end)`: the `Closing` that says how both sides are closed.
- `closing_client()`: the close frame is on its way; nothing more may be sent.
- `usage_frame(frame)`: while waiting for a cancelled response's usage,
  whether this frame was its `response.done`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from app.guardrails.gate import GuardrailGate
from app.policy import BINARY_REFUSAL, ClientPolicy, Forward, Refuse, Rewrite, error_event
from app.policy.audio import AUDIO_DELTA_HEADS, AUDIO_DELTAS, AudioLedger, bytes_per_ms
from app.policy.client import rate_limited
from app.policy.decisions import Drop
from app.policy.ratelimit import TokenBucket
from app.policy.server import decide_server
from app.relay.closing import NOTICES, EndCause, SessionEnd, plan_close
from app.relay.limits import SessionLimits
from app.relay.stats import SessionStats
from app.tools.tracker import WATCHED, ToolTracker, parse_event

__all__ = ["CANCEL_ON_CLOSE", "Closing", "SendClient", "SessionCore"]

CANCEL_ON_CLOSE = '{"type":"response.cancel","event_id":"relay_session_closing"}'
_TRANSCRIPTION_DONE = "conversation.item.input_audio_transcription.completed"


@dataclass(frozen=True, slots=True)
class SendClient:
    """Send `text` (an `error` event) to the client."""

    text: str


@dataclass(frozen=True, slots=True)
class Closing:
    """How the shell closes both sides, in order, every step bounded by `timeout_seconds`.

    With `keep_reading_seconds` (a relay-initiated close of a healthy client):
    send `notice`, keep forwarding client frames for that long, send the close
    frame, wait for the client's last frames, then cancel and close the
    upstream. Without it: stop reading the client at once and close both
    sides together. `cancel`, when set, is sent upstream before its close,
    followed by a wait of up to `usage_grace_seconds` for `response.done`.
    A None `client` or `upstream_code` means that side is already gone.
    """

    notice: str | None
    keep_reading_seconds: float | None
    client: tuple[int, str] | None
    cancel: str | None
    upstream_code: int | None
    timeout_seconds: float
    usage_grace_seconds: float


class SessionCore:
    """The rules of one relayed session. Never raises on any frame."""

    __slots__ = (
        "_bucket",
        "_client_close_sent",
        "_decide",
        "_event_ids",
        "_hidden",
        "_last_client_frame",
        "_limits",
        "_send_started",
        "_started",
        "audio",
        "guard",
        "response_in_flight",
        "session_id",
        "stats",
        "tools",
    )

    def __init__(
        self,
        policy: ClientPolicy,
        limits: SessionLimits,
        session_id: str,
        now: float,
        tools: ToolTracker | None = None,
        guard: GuardrailGate | None = None,
    ) -> None:
        self.session_id = session_id
        self.tools = tools
        self.guard = guard
        self._hidden = tools.hidden if tools is not None else None
        self.stats = SessionStats()
        self.audio = AudioLedger()  # what the client was sent, for its truncates
        self.response_in_flight = False
        self._decide = policy.decide
        self._limits = limits
        self._bucket = TokenBucket(limits.events_per_second, limits.events_burst, now)
        self._event_ids = itertools.count(1)
        self._started = self._last_client_frame = now
        self._send_started: float | None = None
        self._client_close_sent = False

    # -- frames: the hot path -------------------------------------------------------

    def client_frame(self, text: str | None, now: float) -> Forward | Rewrite | SendClient | None:
        """What to do with one client frame (`text` None for a binary frame)."""
        self._last_client_frame = now
        if not self._bucket.take(now):
            return self._refuse(rate_limited(text))
        decision = BINARY_REFUSAL if text is None else self._decide(text, self._hidden, self.audio)
        if type(decision) is Forward or type(decision) is Rewrite:
            sent = decision.text if type(decision) is Rewrite else text
            assert sent is not None
            self.stats.count_up(decision.event_type, len(sent))
            guard = self.guard
            if guard is not None and guard.client(decision.event_type, sent):
                return None  # held until the guardrails' verdict on the pending turn
            return decision
        assert type(decision) is Refuse
        return self._refuse(decision)

    def upstream_frame(self, frame: str | bytes | None) -> str | bytes | None:
        """The text to send the client for one upstream frame, or None to drop it.

        `frame` is a text frame, as str or as its bytes when it is all ASCII (so
        valid UTF-8), or None for a binary frame. An audio delta in bytes is sent
        in bytes: 64 KiB of base64 is neither decoded nor encoded again.
        """
        if type(frame) is bytes:
            for head, audio_type in AUDIO_DELTA_HEADS:
                if frame.startswith(head):
                    return self._audio_delta(audio_type, frame)
            frame = frame.decode("ascii")
        elif frame is None:  # the protocol is JSON text; a binary frame could hide an echo
            self.stats.count_dropped()
            return None
        assert type(frame) is str
        decision = decide_server(frame)
        if type(decision) is Drop:
            self.stats.count_dropped()
            return None
        event_type = decision.event_type
        if event_type in AUDIO_DELTAS:  # the hot path: counted without a parse
            return self._audio_delta(event_type, frame)
        out: str | None = frame
        if type(decision) is Rewrite:
            out = decision.text
            if decision.session is not None:
                per_ms = bytes_per_ms(decision.session)
                if per_ms is not None:
                    self.audio.per_ms = per_ms
        tools = self.tools
        if event_type == "response.output_item.added":
            self.audio.item_added(frame)
        if event_type == "response.created":
            self.response_in_flight = True
        elif event_type == "response.done":
            self.response_in_flight = False
            if tools is None:
                self.stats.record_usage(frame)
            else:  # one parse for the usage and the tools
                event = parse_event(frame)
                self.stats.record_usage_event(event)
                out = tools.response_done(event, frame)
        elif event_type == _TRANSCRIPTION_DONE:
            self.stats.record_transcription_usage(frame)
        if tools is not None and event_type in WATCHED and out is not None:
            out = tools.upstream(event_type, out)
            if out is None:
                return None  # the server tools' traffic: never the client's
        if self.guard is not None and not self.guard.upstream(event_type, frame):
            return None  # a stopped answer's text
        self.stats.count_down(event_type, len(frame))
        return out

    def _audio_delta(self, event_type: str, frame: str | bytes) -> str | bytes | None:
        """An audio delta, as text or in its ASCII bytes: the fast path of `upstream_frame`."""
        guard = self.guard
        if guard is not None and guard.muted and guard.is_muted(frame):
            return None  # an answer the guardrails stopped
        if isinstance(frame, bytes):
            self.audio.ascii_delta(frame)
        else:
            self.audio.delta(frame)
        self.stats.count_down(event_type, len(frame))
        return frame

    def client_sending(self, now: float) -> None:
        """A send to the client began: if it does not finish, that is backpressure."""
        self._send_started = now

    def client_sent(self) -> None:
        self._send_started = None

    # -- limits ---------------------------------------------------------------------

    def tick(self, now: float) -> SessionEnd | float:
        """The end the session's limits reached by `now`, or the time to tick again."""
        limits = self._limits
        deadline = self._started + limits.max_session_seconds
        if now >= deadline:
            return SessionEnd(EndCause.SESSION_EXPIRED)
        idle_at = self._last_client_frame + limits.idle_timeout_seconds
        if now >= idle_at:
            return SessionEnd(EndCause.IDLE_TIMEOUT)
        stuck_after = limits.backpressure_timeout_seconds
        started = self._send_started
        if started is not None and now - started >= stuck_after:
            return SessionEnd(EndCause.BACKPRESSURE)
        # The next deadline, and often enough to notice a stuck send.
        return min(deadline, idle_at, now + stuck_after / 4)

    def shutdown(self) -> SessionEnd:
        """The end a drain asks for: `server_shutting_down`, close 1012."""
        return SessionEnd(EndCause.SHUTDOWN)

    def policy_violation(self) -> SessionEnd:
        """The end too many guardrail blocks ask for: `policy_violation`, close 1008."""
        return SessionEnd(EndCause.POLICY_VIOLATION)

    def client_error(self, code: str, message: str) -> str:
        """An `error` event for the client, with a relay event id (for the guardrails)."""
        return error_event(self._next_event_id(), Refuse(code, message))

    def budget_exhausted(self) -> SessionEnd:
        """The end a used-up daily token budget asks for: `budget_exhausted`, close 1008."""
        return SessionEnd(EndCause.BUDGET_EXHAUSTED)

    # -- ending ---------------------------------------------------------------------

    def closing(self, end: SessionEnd) -> Closing:
        """How to close both sides after `end`."""
        plan = plan_close(end)
        client = None if plan.client_code is None else (plan.client_code, plan.client_reason)
        notice = None
        if client is not None and plan.notify is not None:
            refusal = Refuse(plan.notify, NOTICES[plan.notify])
            notice = error_event(self._next_event_id(), refusal)
        # Keep reading a healthy client until its close frame; not one that is stuck.
        healthy = end.cause is not EndCause.BACKPRESSURE
        keep_reading = client is not None and plan.upstream_code is not None and healthy
        limits = self._limits
        return Closing(
            notice=notice,
            keep_reading_seconds=limits.notice_grace_seconds if keep_reading else None,
            client=client,
            # Whatever ended the session, a response in flight is cancelled so its usage counts.
            cancel=CANCEL_ON_CLOSE
            if plan.upstream_code is not None and self.response_in_flight
            else None,
            upstream_code=plan.upstream_code,
            timeout_seconds=limits.close_timeout_seconds,
            usage_grace_seconds=limits.usage_grace_seconds,
        )

    def closing_client(self) -> None:
        """The client's close frame is being sent: no frame may follow it."""
        self._client_close_sent = True

    def usage_frame(self, frame: str | None) -> bool:
        """During the usage wait: whether `frame` is the awaited `response.done` (recorded)."""
        if frame is None:
            return False
        decision = decide_server(frame)
        if decision.event_type != "response.done":
            return False
        self.response_in_flight = False
        self.stats.record_usage(frame)
        return True

    # -- helpers --------------------------------------------------------------------

    def _refuse(self, refusal: Refuse) -> SendClient | None:
        self.stats.count_refused(refusal.code)
        if self._client_close_sent:
            return None
        return SendClient(error_event(self._next_event_id(), refusal))

    def _next_event_id(self) -> str:
        """A relay event id, prefixed with the session id so reports can be matched."""
        return f"{self.session_id}_{next(self._event_ids)}"
