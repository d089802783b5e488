"""Prometheus metrics, read from plain session counters at scrape time.

Sessions bump ints in their own `SessionStats`; nothing on the hot path
touches Prometheus. A collector adds the live sessions' counters to the
totals of closed ones whenever `/metrics` is scraped. Label values come from
fixed sets (`other` for unknown event types), so cardinality stays bounded;
per-identity token counts exist only for static-token identities.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.policy.dialect import GA, PREVIEW
from app.relay import USAGE_KINDS, EndCause, SessionStats
from app.relay.closing import CLEAN_CLIENT_CLOSES
from app.tools.caller import OUTCOMES as TOOL_OUTCOMES
from app.tools.caller import ToolOutcome

__all__ = ["OUTCOMES", "RelayMetrics", "outcome_for"]

Outcome = Literal[
    "ok",
    "client_closed",
    "upstream_closed",
    "rejected_auth",
    "rejected_origin",
    "rejected_capacity",
    "rejected_agent",
    "rejected_budget",
    "upstream_connect_failed",
    "limit",
    "shutdown",
    "error",
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

_SERVER_TYPES = frozenset(
    {
        "error",
        "session.created",
        "session.updated",
        "conversation.created",
        "conversation.item.created",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "response.created",
        "response.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.text.delta",
        "response.text.done",
        "response.audio.delta",
        "response.audio.done",
        "response.audio_transcript.delta",
        "response.audio_transcript.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "rate_limits.updated",
    }
)
_KNOWN_TYPES = _SERVER_TYPES | GA.client_events | PREVIEW.client_events
_CONNECT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TOOL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_GUARDRAIL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


def outcome_for(cause: EndCause, code: int | None) -> Outcome:
    """The `relay_sessions_total` outcome for a session end."""
    if cause is EndCause.CLIENT_CLOSED:
        return "ok" if code in CLEAN_CLIENT_CLOSES else "client_closed"
    if cause in (
        EndCause.UPSTREAM_CLOSED,
        EndCause.UPSTREAM_DROPPED,
        EndCause.UPSTREAM_UNRESPONSIVE,
    ):
        return "upstream_closed"
    if cause in (EndCause.SESSION_EXPIRED, EndCause.IDLE_TIMEOUT, EndCause.BACKPRESSURE):
        return "limit"
    if cause is EndCause.SHUTDOWN:
        return "shutdown"
    if cause in (EndCause.BUDGET_EXHAUSTED, EndCause.POLICY_VIOLATION):
        return "limit"
    return "error"


class _Totals:
    """Counters summed over sessions."""

    def __init__(self) -> None:
        self.events: Counter[tuple[str, str]] = Counter()
        self.bytes: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.dropped = 0
        self.tokens: Counter[tuple[str, str]] = Counter()
        self.identity_tokens: Counter[tuple[str, str]] = Counter()
        self.active: Counter[str] = Counter()

    def add(self, stats: SessionStats, identity: str | None, agent: str) -> None:
        for event_type, count in stats.up_events.items():
            self.events["client_to_upstream", _label(event_type)] += count
        for event_type, count in stats.down_events.items():
            self.events["upstream_to_client", _label(event_type)] += count
        self.bytes["client_to_upstream"] += stats.up_bytes
        self.bytes["upstream_to_client"] += stats.down_bytes
        self.refused.update(stats.refused)
        self.dropped += stats.dropped
        for kind, count in stats.usage.items():
            self.tokens[agent, kind] += count
        if identity is not None:
            # A client secret's identity is <backend>:<end user>: counted under the backend,
            # so the label set stays the configured identities.
            account = identity.partition(":")[0]
            for kind, count in stats.usage.items():
                self.identity_tokens[account, kind] += count


def _label(event_type: str) -> str:
    return event_type if event_type in _KNOWN_TYPES else "other"


class RelayMetrics(Collector):
    """All relay metrics, in their own registry (one per app)."""

    def __init__(
        self,
        live: Callable[[], Iterable[tuple[SessionStats, str | None, str]]],
        tools: Iterable[str] = (),
        agents: Iterable[str] = ("default",),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._live = live
        self._agents = tuple(agents)  # from the agents file: a bounded label set
        self._closed = _Totals()
        self._outcomes: Counter[str] = Counter()
        self.per_identity = False
        self._shared_errors: Counter[str] = Counter()
        self._budget_refusals = 0
        self.leases_held: Callable[[], int] = lambda: 0
        self.connect_seconds = Histogram(
            "relay_upstream_connect_seconds",
            "Time to open the upstream WebSocket, retries included.",
            buckets=_CONNECT_BUCKETS,
            registry=self.registry,
        )
        self.session_seconds = Histogram(
            "relay_session_duration_seconds",
            "Session duration from upgrade to close.",
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        # Tool names come from the tools file: a bounded label set, shown from the start.
        self._tool_calls = PromCounter(
            "relay_tool_calls",
            "Server tool calls, by tool and outcome.",
            labelnames=["tool", "outcome"],
            registry=self.registry,
        )
        self._tool_seconds = Histogram(
            "relay_tool_call_seconds",
            "Server tool call duration, by tool.",
            labelnames=["tool"],
            buckets=_TOOL_BUCKETS,
            registry=self.registry,
        )
        self._guardrail_checks = PromCounter(
            "relay_guardrail_checks",
            "Guardrail checks, by direction and verdict (error_*: the webhook failed).",
            labelnames=["direction", "verdict"],
            registry=self.registry,
        )
        self._guardrail_seconds = Histogram(
            "relay_guardrail_check_seconds",
            "Guardrail check duration, by direction.",
            labelnames=["direction"],
            buckets=_GUARDRAIL_BUCKETS,
            registry=self.registry,
        )
        for direction in ("input", "output"):
            self._guardrail_seconds.labels(direction)
            for verdict in ("allow", "block", "error_allow", "error_block"):
                self._guardrail_checks.labels(direction, verdict)
        for tool in tools:
            self._tool_seconds.labels(tool)
            for tool_outcome in TOOL_OUTCOMES:
                self._tool_calls.labels(tool, tool_outcome)
        self.registry.register(self)

    def tool_call(self, tool: str, outcome: ToolOutcome, seconds: float) -> None:
        """One server tool call ended."""
        self._tool_calls.labels(tool, outcome).inc()
        self._tool_seconds.labels(tool).observe(seconds)

    def guardrail_check(self, direction: str, verdict: str, seconds: float) -> None:
        """One guardrail check ended."""
        self._guardrail_checks.labels(direction, verdict).inc()
        self._guardrail_seconds.labels(direction).observe(seconds)

    def shared_state_error(self, op: str) -> None:
        """A shared-state (Redis) call failed; `op` is one of a fixed few."""
        self._shared_errors[op] += 1

    def budget_refused(self) -> None:
        """A caller over its daily token budget was refused, or its session ended."""
        self._budget_refusals += 1

    def outcome(self, outcome: Outcome) -> None:
        self._outcomes[outcome] += 1

    def closed(self, stats: SessionStats, identity: str | None, agent: str, seconds: float) -> None:
        """Fold a finished session into the totals."""
        self._closed.add(stats, identity if self.per_identity else None, agent)
        self.session_seconds.observe(seconds)

    def collect(self) -> Iterator[Metric]:
        totals = _Totals()
        for stats, identity, agent in self._live():
            totals.add(stats, identity if self.per_identity else None, agent)
            totals.active[agent] += 1
        closed = self._closed
        active = GaugeMetricFamily("relay_sessions_active", "Sessions open now.", labels=["agent"])
        for agent in self._agents:
            active.add_metric([agent], totals.active[agent])
        yield active
        leases = GaugeMetricFamily(
            "relay_leases_held", "Sessions of this process holding session leases."
        )
        leases.add_metric([], self.leases_held())
        yield leases
        errors = CounterMetricFamily(
            "relay_shared_state_errors",
            "Shared state (Redis) calls that failed or timed out, by operation.",
            labels=["op"],
        )
        for op in sorted(self._shared_errors):
            errors.add_metric([op], self._shared_errors[op])
        yield errors
        yield CounterMetricFamily(
            "relay_budget_refusals",
            "Callers over their daily token budget: refused before the upgrade, or ended.",
            value=self._budget_refusals,
        )
        sessions = CounterMetricFamily(
            "relay_sessions", "Sessions by outcome, refusals included.", labels=["outcome"]
        )
        for outcome in OUTCOMES:
            sessions.add_metric([outcome], self._outcomes[outcome])
        yield sessions
        events = CounterMetricFamily(
            "relay_events", "Events relayed, by direction and type.", labels=["direction", "type"]
        )
        for key in sorted(set(closed.events) | set(totals.events)):
            events.add_metric(list(key), closed.events[key] + totals.events[key])
        yield events
        sizes = CounterMetricFamily(
            "relay_event_bytes", "Bytes relayed, by direction.", labels=["direction"]
        )
        for direction in ("client_to_upstream", "upstream_to_client"):
            sizes.add_metric([direction], closed.bytes[direction] + totals.bytes[direction])
        yield sizes
        refused = CounterMetricFamily(
            "relay_events_refused",
            "Client events refused (not forwarded, answered with an error event), by error code.",
            labels=["code"],
        )
        for code in sorted(set(closed.refused) | set(totals.refused)):
            refused.add_metric([code], closed.refused[code] + totals.refused[code])
        yield refused
        yield CounterMetricFamily(
            "relay_upstream_events_dropped",
            "Upstream frames not forwarded to the client: unreadable or binary frames, and "
            "session echoes that could not be redacted.",
            value=closed.dropped + totals.dropped,
        )
        tokens = CounterMetricFamily(
            "relay_tokens",
            "Model tokens used, from response.done usage, by agent.",
            labels=["agent", "kind"],
        )
        for agent in self._agents:
            for kind in USAGE_KINDS:
                key = (agent, kind)
                tokens.add_metric([agent, kind], closed.tokens[key] + totals.tokens[key])
        yield tokens
        if self.per_identity:
            by_identity = CounterMetricFamily(
                "relay_identity_tokens",
                "Model tokens used per static-token identity.",
                labels=["identity", "kind"],
            )
            for key in sorted(set(closed.identity_tokens) | set(totals.identity_tokens)):
                by_identity.add_metric(
                    list(key), closed.identity_tokens[key] + totals.identity_tokens[key]
                )
            yield by_identity
