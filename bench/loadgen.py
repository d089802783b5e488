"""The load generator: the scenarios, run against one target at a time.

It runs in the benchmark's own process, pinned to the client core (see
`bench.runner`). Per-event work is kept minimal: each session's append frame
is encoded (and masked) once, and a single ticker task drives every session's
real-time audio instead of one timer per session. Probes are tiny
`conversation.item.create` events whose item id is an incrementing integer.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bench.procstat import (
    CoreSample,
    core_sample,
    self_cpu_seconds,
    tree_cpu_seconds,
    tree_cpu_split,
    tree_rss_kib,
    tree_runqueue_wait_seconds,
)
from bench.protocol import (
    COUNT_ITEM_ID,
    COUNT_TEXT,
    PAYLOAD_VARIANTS,
    append_event,
    delta_payloads,
    probe_event,
)
from bench.stable import InstructionCounter
from bench.wsclient import OP_TEXT, WSClient, connect, encode_frame

__all__ = [
    "Endpoint",
    "Meter",
    "Session",
    "Shared",
    "Window",
    "close_sessions",
    "downstream_throughput",
    "idle_memory",
    "latency_step",
    "open_sessions",
    "settle",
    "upstream_flood",
]

TICK_SECONDS = 0.020  # one 20 ms audio chunk per session per tick
PROBE_EVERY_TICKS = 5  # one probe per 100 ms
SLOTS = 20  # sessions are spread over 20 one-millisecond slots of each tick
SATURATED = 0.90
NOISY = 0.15
# Set by `python -m bench --stable` where perf counts instructions (bench.stable).
COUNT_INSTRUCTIONS = False
# uvloop timers have 1 ms granularity (shorter sleeps spin), so a slot may fire up to 1 ms early;
# send times are taken when sending, so this only jitters the audio pacing.
EARLY = 0.001

_ITEM_CREATED = b'{"type":"conversation.item.created"'
_DELTA = b'{"type":"response.output_audio.delta"'
_DONE = b'{"type":"response.done"'
_ERROR = b'{"type":"error"'
_SESSION_CREATED = b'{"type":"session.created"'
_APPEND = append_event()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the load generator connects, and which processes to account."""

    name: str
    host: str
    port: int
    path: str
    pids: tuple[int, ...]  # the target's processes (empty for direct)
    fake_pids: tuple[int, ...]
    client_core: int | None
    fake_core: int | None
    target_core: int | None


# -- accounting --------------------------------------------------------------


@dataclass(slots=True)
class Window:
    wall: float
    target_cpu: float | None
    fake_cpu: float
    loadgen_cpu: float
    client_core_busy: float | None
    target_core_busy: float | None
    foreign_client: float | None  # busy share of the client core not used by our processes
    foreign_target: float | None  # same for the target core
    target_wait: float | None  # seconds the target was runnable but not running
    client_wait: float  # same for the load generator and the fake upstream
    target_user: float | None = None  # target_cpu, split: user time
    target_system: float | None = None  # and system time
    target_instructions: int | None = None  # retired, where perf counts them

    @property
    def saturated(self) -> bool:
        """The client side (load generator core) was close to 100% busy."""
        busy = [self.loadgen_cpu / self.wall if self.wall else 0.0]
        if self.client_core_busy is not None:
            busy.append(self.client_core_busy)
        return max(busy) >= SATURATED

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall, 3),
            "target_cpu_s": None if self.target_cpu is None else round(self.target_cpu, 3),
            "target_user_s": _round(self.target_user),
            "target_system_s": _round(self.target_system),
            "target_instructions": self.target_instructions,
            "fake_cpu_s": round(self.fake_cpu, 3),
            "loadgen_cpu_s": round(self.loadgen_cpu, 3),
            "client_core_busy": _round(self.client_core_busy),
            "target_core_busy": _round(self.target_core_busy),
            "target_runqueue_wait_s": _round(self.target_wait),
            "client_runqueue_wait_s": _round(self.client_wait),
            "foreign_client_core": _round(self.foreign_client),
            "foreign_target_core": _round(self.foreign_target),
            "loadgen_saturated": self.saturated,
            "noisy": self.noisy,
        }

    @property
    def noisy(self) -> bool:
        """Other processes on this machine used a noticeable share of our cores."""
        foreign = [f for f in (self.foreign_client, self.foreign_target) if f is not None]
        return max(foreign, default=0.0) >= NOISY


class Meter:
    """CPU snapshots of the target, the fake upstream, this process and both cores."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._t = 0.0
        self._target = 0.0
        self._fake = 0.0
        self._self = 0.0
        self._cores: CoreSample | None = None
        self._target_wait = 0.0
        self._client_wait = 0.0
        self._split = (0.0, 0.0)
        self._counter: InstructionCounter | None = None

    def _client_pids(self) -> list[int]:
        return [os.getpid(), *self.endpoint.fake_pids]

    def start(self) -> None:
        self._target_wait = tree_runqueue_wait_seconds(list(self.endpoint.pids))
        self._client_wait = tree_runqueue_wait_seconds(self._client_pids())
        self._t = time.perf_counter()
        self._split = tree_cpu_split(list(self.endpoint.pids))
        self._target = sum(self._split)
        if COUNT_INSTRUCTIONS and self.endpoint.pids:
            self._counter = InstructionCounter(list(self.endpoint.pids))
            self._counter.start()
        self._fake = tree_cpu_seconds(list(self.endpoint.fake_pids))
        self._self = self_cpu_seconds()
        self._cores = core_sample()

    def stop(self) -> Window:
        wall = time.perf_counter() - self._t
        instructions = self._counter.stop() if self._counter is not None else None
        self._counter = None
        user, system = tree_cpu_split(list(self.endpoint.pids))
        user, system = user - self._split[0], system - self._split[1]
        target = user + system
        fake = tree_cpu_seconds(list(self.endpoint.fake_pids)) - self._fake
        own = self_cpu_seconds() - self._self
        cores = core_sample()
        target_wait = tree_runqueue_wait_seconds(list(self.endpoint.pids)) - self._target_wait
        client_wait = tree_runqueue_wait_seconds(self._client_pids()) - self._client_wait
        ep = self.endpoint
        client = target_core = foreign_client = foreign_target = None
        if self._cores is not None and ep.client_core is not None and wall > 0:
            client = self._cores.busy_fraction(cores, ep.client_core)
            ours = own + (fake if ep.fake_core == ep.client_core else 0.0)
            foreign_client = max(0.0, client - ours / wall)
        if self._cores is not None and ep.target_core is not None and wall > 0:
            target_core = self._cores.busy_fraction(cores, ep.target_core)
            ours = target + (fake if ep.fake_core == ep.target_core else 0.0)
            foreign_target = max(0.0, target_core - ours / wall)
        return Window(
            wall=wall,
            target_cpu=target if ep.pids else None,
            fake_cpu=fake,
            loadgen_cpu=own,
            client_core_busy=client,
            target_core_busy=target_core,
            foreign_client=foreign_client,
            foreign_target=foreign_target,
            target_wait=target_wait if ep.pids else None,
            client_wait=client_wait,
            target_user=user if ep.pids else None,
            target_system=system if ep.pids else None,
            target_instructions=instructions,
        )


async def settle(endpoint: Endpoint, max_seconds: float = 10.0) -> None:
    """Wait until the target (and the fake) are nearly idle again."""
    pids = list(endpoint.pids + endpoint.fake_pids)
    deadline = time.perf_counter() + max_seconds
    before = tree_cpu_seconds(pids)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.25)
        now = tree_cpu_seconds(pids)
        if now - before < 0.02:  # under ~8% of a core over 250 ms
            return
        before = now


# -- sessions ----------------------------------------------------------------


class Shared:
    """State shared by every session of a step (swapped at the end of warm-up)."""

    __slots__ = ("corrupt", "delta_bytes", "delta_index", "deltas", "expected", "rtts")

    def __init__(self) -> None:
        self.rtts: list[float] = []
        self.expected: tuple[str, ...] = ()
        self.delta_index = 0  # within the current response
        self.deltas = 0
        self.delta_bytes = 0
        self.corrupt = 0


class Session:
    """One client session as the load generator sees it."""

    __slots__ = (
        "append",
        "appends",
        "client",
        "count_waiter",
        "done_waiter",
        "errors",
        "index",
        "last_error",
        "pending",
        "ready",
        "shared",
    )

    def __init__(self, index: int, shared: Shared) -> None:
        loop = asyncio.get_running_loop()
        self.index = index
        self.shared = shared
        self.client: WSClient | None = None
        self.append = b""
        self.appends = 0
        self.pending: dict[int, float] = {}
        self.ready: asyncio.Future[None] = loop.create_future()
        self.count_waiter: asyncio.Future[int] | None = None
        self.done_waiter: asyncio.Future[None] | None = None
        self.errors = 0
        self.last_error = ""

    def on_message(self, payload: bytes, now: float) -> None:
        if payload.startswith(_ITEM_CREATED):
            item = orjson.loads(payload)["item"]
            item_id: str = item["id"]
            if item_id[0] == "p":
                sent = self.pending.pop(int(item_id[1:]), None)
                if sent is not None:
                    self.shared.rtts.append(now - sent)
            elif item_id == COUNT_ITEM_ID:
                waiter = self.count_waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(int(item["content"][0]["text"]))
        elif payload.startswith(_DELTA):
            shared = self.shared
            delta: str = orjson.loads(payload)["delta"]
            if delta != shared.expected[shared.delta_index % PAYLOAD_VARIANTS]:
                shared.corrupt += 1
            shared.delta_index += 1
            shared.deltas += 1
            shared.delta_bytes += len(delta)
        elif payload.startswith(_DONE):
            if self.done_waiter is not None and not self.done_waiter.done():
                self.done_waiter.set_result(None)
        elif payload.startswith(_SESSION_CREATED):
            if not self.ready.done():
                self.ready.set_result(None)
        elif payload.startswith(_ERROR):
            self.errors += 1
            self.last_error = payload[:300].decode(errors="replace")

    def send_probe(self, number: int) -> None:
        assert self.client is not None
        self.pending[number] = time.perf_counter()
        self.client.send_text(probe_event(f"p{number}"))

    async def count(self, limit: float) -> int | None:
        """The number of appends the upstream has counted on this session."""
        assert self.client is not None
        self.count_waiter = asyncio.get_running_loop().create_future()
        self.client.send_text(probe_event(COUNT_ITEM_ID, COUNT_TEXT))
        try:
            return await asyncio.wait_for(self.count_waiter, limit)
        except TimeoutError:
            return None


async def open_sessions(
    endpoint: Endpoint, count: int, shared: Shared, concurrency: int = 50
) -> list[Session]:
    """Open `count` sessions and wait for each one's `session.created`."""
    gate = asyncio.Semaphore(concurrency)
    sessions = [Session(i, shared) for i in range(count)]

    async def one(session: Session) -> None:
        async with gate:
            session.client = await connect(
                endpoint.host, endpoint.port, endpoint.path, session.on_message
            )
            session.append = encode_frame(OP_TEXT, _APPEND, session.client.mask)
            await asyncio.wait_for(session.ready, 15)

    results = await asyncio.gather(*(one(s) for s in sessions), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await close_sessions(sessions)
        raise RuntimeError(
            f"{len(failures)} of {count} sessions failed to open on {endpoint.name}: "
            f"{failures[0]!r}"
        )
    return sessions


async def close_sessions(sessions: list[Session]) -> None:
    clients = [s.client for s in sessions if s.client is not None]
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


# -- scenarios ---------------------------------------------------------------


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


async def latency_step(
    endpoint: Endpoint, sessions_count: int, duration: float, warmup: float
) -> dict[str, Any]:
    """S sessions stream real-time audio and probe every 100 ms; returns the step figures."""
    shared = Shared()
    sessions = await open_sessions(endpoint, sessions_count, shared)
    try:
        return await _run_latency(endpoint, sessions, shared, duration, warmup)
    finally:
        await close_sessions(sessions)
        await settle(endpoint)


async def _run_latency(
    endpoint: Endpoint, sessions: list[Session], shared: Shared, duration: float, warmup: float
) -> dict[str, Any]:
    count = len(sessions)
    slots: list[list[Session]] = [[] for _ in range(SLOTS)]
    for session in sessions:
        slots[session.index * SLOTS // count].append(session)
    meter = Meter(endpoint)
    probe_number = 0
    appends = probes = 0
    window_appends = window_probes = 0
    lags: list[float] = []
    start = time.perf_counter() + 0.05
    warm_end = start + warmup
    end = warm_end + duration
    measuring = False
    window: Window | None = None
    step = 0  # one step = one millisecond slot
    while True:
        now = time.perf_counter()
        due = start + step * (TICK_SECONDS / SLOTS)
        while due <= now + EARLY and due < end:
            if not measuring and due >= warm_end:
                measuring = True
                shared.rtts = []
                window_appends, window_probes = appends, probes
                meter.start()
            if measuring:
                lags.append(now - due)
            tick, slot = divmod(step, SLOTS)
            for session in slots[slot]:
                client = session.client
                assert client is not None
                client.write(session.append)
                session.appends += 1
                if (tick + session.index) % PROBE_EVERY_TICKS == 0:
                    probe_number += 1
                    session.send_probe(probe_number)
                    probes += 1
            appends += len(slots[slot])
            step += 1
            due = start + step * (TICK_SECONDS / SLOTS)
        if due >= end:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    window = meter.stop()
    window_rtts = shared.rtts
    answered_in_window = len(window_rtts)
    window_appends = appends - window_appends
    window_probes = probes - window_probes

    # Drain: wait for the probes still in flight, then ask each upstream for its append count.
    drain_deadline = time.perf_counter() + 5.0
    in_flight = any(s.pending for s in sessions)
    while in_flight and time.perf_counter() < drain_deadline:
        await asyncio.sleep(0.01)
        in_flight = any(s.pending for s in sessions)
    unanswered = sum(len(s.pending) for s in sessions)
    counts = await asyncio.gather(*(s.count(10.0) for s in sessions))
    counted = sum(c for c in counts if c is not None)
    missing_counts = sum(1 for c in counts if c is None)
    errors = sum(s.errors for s in sessions)
    loss = unanswered > 0 or counted != appends or missing_counts > 0 or errors > 0

    rtts = sorted(window_rtts)
    events = window_appends + window_probes + answered_in_window
    result: dict[str, Any] = {
        "sessions": count,
        "duration_s": duration,
        "appends_sent": appends,
        "appends_counted": counted,
        "sessions_without_count": missing_counts,
        "probes_sent": probes,
        "probes_unanswered": unanswered,
        "errors": errors,
        "first_error": next((s.last_error for s in sessions if s.last_error), None),
        "loss": loss,
        "samples": len(rtts),
        "p50_ms": _round(_ms(_percentile(rtts, 0.50))),
        "p99_ms": _round(_ms(_percentile(rtts, 0.99))),
        "max_ms": _round(_ms(rtts[-1] if rtts else None)),
        "window_events": events,
        "appends_per_s": round(window_appends / window.wall, 1) if window.wall else None,
        "tick_lag_p99_ms": _round(_ms(_percentile(sorted(lags), 0.99))),
        "tick_lag_max_ms": _round(_ms(max(lags, default=0.0))),
        **window.as_dict(),
    }
    result["cpu_s_per_1k_events"] = (
        None if window.target_cpu is None or not events else window.target_cpu / events * 1000
    )
    result["instructions_per_event"] = _per(window.target_instructions, events)
    return result


def _per(count: int | None, events: int) -> float | None:
    return None if count is None or not events else round(count / events, 1)


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


async def downstream_throughput(
    endpoint: Endpoint, duration: float, deltas: int, delta_chars: int
) -> dict[str, Any]:
    """One session asks for responses of `deltas` audio deltas until `duration` has passed."""
    shared = Shared()
    shared.expected = delta_payloads(delta_chars)
    (session,) = await open_sessions(endpoint, 1, shared)
    client = session.client
    assert client is not None
    request = orjson.dumps(
        {
            "type": "response.create",
            "response": {"metadata": {"deltas": str(deltas), "delta_chars": str(delta_chars)}},
        }
    )
    meter = Meter(endpoint)
    responses = short = 0
    try:
        meter.start()
        started = time.perf_counter()
        while time.perf_counter() - started < duration:
            shared.delta_index = 0
            session.done_waiter = asyncio.get_running_loop().create_future()
            client.send_text(request)
            await asyncio.wait_for(session.done_waiter, 120)
            responses += 1
            if shared.delta_index != deltas:
                short += 1
        window = meter.stop()
    finally:
        await close_sessions([session])
        await settle(endpoint)
    megabytes = shared.delta_bytes / 1e6
    result: dict[str, Any] = {
        "responses": responses,
        "deltas": shared.deltas,
        "delta_chars": delta_chars,
        "payload_bytes": shared.delta_bytes,
        "corrupt_deltas": shared.corrupt,
        "short_responses": short,
        "errors": session.errors,
        "integrity_ok": shared.corrupt == 0 and short == 0 and session.errors == 0,
        "mb_per_s": round(megabytes / window.wall, 2) if window.wall else None,
        **window.as_dict(),
    }
    result["cpu_s_per_100mb"] = (
        None
        if window.target_cpu is None or not shared.delta_bytes
        else window.target_cpu / (shared.delta_bytes / 1e8)
    )
    result["instructions_per_event"] = _per(window.target_instructions, shared.deltas)
    return result


async def upstream_flood(endpoint: Endpoint, duration: float, batch: int = 32) -> dict[str, Any]:
    """One session sends appends as fast as the path accepts them; all must be counted."""
    shared = Shared()
    (session,) = await open_sessions(endpoint, 1, shared)
    client = session.client
    assert client is not None
    blob = session.append * batch
    meter = Meter(endpoint)
    sent = 0
    try:
        meter.start()
        started = time.perf_counter()
        while time.perf_counter() - started < duration and client.is_open:
            client.write(blob)
            sent += batch
            if client.paused:
                await client.drain()
            else:
                await asyncio.sleep(0)
        counted = await session.count(120.0)
        elapsed = time.perf_counter() - started
        window = meter.stop()
    finally:
        await close_sessions([session])
        await settle(endpoint)
    result: dict[str, Any] = {
        "appends_sent": sent,
        "appends_counted": counted,
        "all_counted": counted == sent and session.errors == 0,
        "errors": session.errors,
        "first_error": session.last_error or None,
        "events_per_s": round(sent / elapsed, 1) if elapsed else None,
        **window.as_dict(),
    }
    result["cpu_s_per_1k_appends"] = (
        None if window.target_cpu is None or not sent else window.target_cpu / sent * 1000
    )
    result["instructions_per_event"] = _per(window.target_instructions, sent)
    return result


async def idle_memory(endpoint: Endpoint, count: int) -> dict[str, Any]:
    """(RSS with `count` idle sessions open - RSS before) / count, for the target and the fake."""
    shared = Shared()
    warm = await open_sessions(endpoint, min(10, count), shared)
    await close_sessions(warm)
    await settle(endpoint)
    await asyncio.sleep(0.5)
    pids = list(endpoint.pids)
    fake = list(endpoint.fake_pids)
    base, fake_base = tree_rss_kib(pids), tree_rss_kib(fake)
    sessions = await open_sessions(endpoint, count, shared)
    try:
        await asyncio.sleep(1.0)
        loaded, fake_loaded = tree_rss_kib(pids), tree_rss_kib(fake)
    finally:
        await close_sessions(sessions)
        with contextlib.suppress(Exception):
            await settle(endpoint)
    return {
        "sessions": count,
        "baseline_rss_kib": base if pids else None,
        "loaded_rss_kib": loaded if pids else None,
        "rss_kib_per_session": (loaded - base) / count if pids else None,
        "fake_rss_kib_per_session": (fake_loaded - fake_base) / count,
    }
