"""The command line: run every scenario against each target, then report.

python -m bench [--quick] [--targets direct,nginx,peer,node,relay[,floor,granian]] [--sessions 10,50,100]
                [--duration 10] [--strict]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench import loadgen, report
from bench.loadgen import (
    Endpoint,
    downstream_throughput,
    idle_memory,
    latency_step,
    upstream_flood,
)
from bench.procstat import Machine, machine, raise_nofile
from bench.protocol import DEFAULT_DELTA_CHARS, DEFAULT_DELTAS, GA_PATH
from bench.repeats import median_results, spread_rows
from bench.stable import instructions_status, wait_idle
from bench.targets import (
    Started,
    find_nginx,
    find_node_peer,
    nginx_version,
    node_peer_versions,
    start_fake,
    start_floor,
    start_granian,
    start_nginx,
    start_node_peer,
    start_peer,
    start_relay,
    stop,
)

__all__ = ["main"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
OVERLOADED_P99_MS = 4 * report.P99_LIMIT_MS


def _int_list(text: str) -> list[int]:
    values = sorted({int(part) for part in text.split(",") if part.strip()})
    if not values or values[0] <= 0:
        raise argparse.ArgumentTypeError("expected a comma list of positive integers")
    return values


def _targets(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(names) - set(report.TARGETS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"targets are {', '.join(report.TARGETS)}")
    return [t for t in report.TARGETS if t in names]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the relay against a direct connection, nginx and two peer relays.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: S in 10,50, short steps")
    parser.add_argument(
        "--targets",
        type=_targets,
        default=list(report.DEFAULT_TARGETS),
        help=f"a comma list of {', '.join(report.TARGETS)} (default: all but floor, the "
        "relay with its policy taken out, and granian, the relay app on a compiled ASGI "
        "server: each run only as a measurement)",
    )
    parser.add_argument(
        "--sessions", type=_int_list, help="latency steps (default 10,50,100,200,400)"
    )
    parser.add_argument("--duration", type=float, help="seconds per latency step (default 10)")
    parser.add_argument(
        "--warmup", type=float, help="unmeasured seconds before each step (default 1)"
    )
    parser.add_argument(
        "--throughput-duration", type=float, help="seconds per throughput scenario (default 10)"
    )
    parser.add_argument(
        "--idle-sessions", type=int, help="sessions held open for RSS (default 500)"
    )
    parser.add_argument("--deltas", type=int, default=DEFAULT_DELTAS, help="deltas per response")
    parser.add_argument(
        "--delta-chars", type=int, default=DEFAULT_DELTA_CHARS, help="base64 chars per delta"
    )
    parser.add_argument(
        "--all-steps",
        action="store_true",
        help="run every latency step even after one overloads the target",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument(
        "--retries",
        type=int,
        help="extra attempts for a scenario that other processes disturbed (default 1, quick 0)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target check fails")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the temporary directory with process logs"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run every scenario this many times; report medians and each figure's spread",
    )
    parser.add_argument(
        "--stable",
        action="store_true",
        help="wait for idle cores before each scenario; split CPU into user and system; "
        "count instructions where perf can (bench.stable)",
    )
    parser.add_argument(
        "--tools-file",
        type=Path,
        help="run the relay with this RELAY_TOOLS_FILE (server tools configured)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.sessions is None:
        args.sessions = [10, 50] if quick else [10, 50, 100, 200, 400]
    if args.duration is None:
        args.duration = 2.0 if quick else 10.0
    if args.warmup is None:
        args.warmup = 0.5 if quick else 1.0
    if args.throughput_duration is None:
        args.throughput_duration = 2.0 if quick else 10.0
    if args.retries is None:
        args.retries = 0 if quick else 1
    if args.idle_sessions is None:
        args.idle_sessions = 100 if quick else 500
    if args.tools_file is not None:
        args.tools_file = args.tools_file.resolve()
    return args


def _cores() -> tuple[int | None, int | None, int | None]:
    """(load generator, fake upstream, target) cores."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, None
    client, target = cpus[0], cpus[-1]
    fake = cpus[1] if len(cpus) >= 3 else client
    return client, fake, target


def _say(message: str) -> None:
    print(message, flush=True)


Scenario = Callable[[], Awaitable[dict[str, Any]]]


def _foreign(result: dict[str, Any]) -> float:
    values = [result.get("foreign_client_core"), result.get("foreign_target_core")]
    return max((v for v in values if v is not None), default=0.0)


async def _measure(run: Scenario, retries: int, idle_cores: list[int]) -> dict[str, Any]:
    """Run a scenario; while other processes disturbed it (noisy), retry and keep the calmest.

    With `idle_cores` (`--stable`), each attempt first waits for those cores to be idle."""
    best: dict[str, Any] | None = None
    for attempt in range(1, retries + 2):
        idle = await wait_idle(idle_cores) if idle_cores else None
        result = await run()
        if idle is not None:
            result["machine_idle"] = idle
        result["attempts"] = attempt
        if best is None or _foreign(result) < _foreign(best):
            best = result
        if not result.get("noisy"):
            break
    assert best is not None
    return best


async def _scenarios(
    endpoints: dict[str, Endpoint],
    args: argparse.Namespace,
    results: dict[str, dict[str, Any]],
    errors: dict[str, str],
    memory: bool = True,
) -> None:
    """Every scenario, each run against every target in turn (so they see similar conditions).

    Idle memory is measured only with `memory` (the first repeat)."""

    async def each(label: str, key: str, make: Callable[[Endpoint], Scenario]) -> None:
        for name, endpoint in endpoints.items():
            _say(f"[{name}] {label}")
            try:
                results[name][key] = await _measure(make(endpoint), args.retries, args.idle_cores)
            except Exception as exc:
                errors[f"{name} {label}"] = f"{type(exc).__name__}: {exc}"
                _say(f"[{name}] {label} FAILED: {exc}")

    if memory:  # only on fresh processes: a later repeat would find the memory already held
        await each(
            f"idle memory with {args.idle_sessions} sessions",
            "memory",
            lambda ep: lambda: idle_memory(ep, args.idle_sessions),
        )
    overloaded = dict.fromkeys(endpoints, False)
    for name in endpoints:
        results[name]["latency"] = []
    for sessions in args.sessions:
        for name, endpoint in endpoints.items():
            if overloaded[name] and not args.all_steps:
                results[name]["latency"].append({"sessions": sessions, "skipped": True})
                _say(f"[{name}] latency @{sessions}: skipped (a smaller step overloaded it)")
                continue
            try:
                step = await _measure(
                    functools.partial(latency_step, endpoint, sessions, args.duration, args.warmup),
                    args.retries,
                    args.idle_cores,
                )
            except Exception as exc:
                errors[f"{name} latency @{sessions}"] = f"{type(exc).__name__}: {exc}"
                _say(f"[{name}] latency @{sessions} FAILED: {exc}")
                overloaded[name] = True
                continue
            results[name]["latency"].append(step)
            _say(
                f"[{name}] latency @{sessions}: p50 {step['p50_ms']} ms, "
                f"p99 {step['p99_ms']} ms, loss {step['loss']}, "
                f"client core {report.pct(step['client_core_busy'])}, "
                f"target core {report.pct(step['target_core_busy'])}"
                + (" (noisy)" if step.get("noisy") else "")
            )
            p99 = step["p99_ms"]
            overloaded[name] = step["loss"] or p99 is None or p99 > OVERLOADED_P99_MS
    await each(
        "downstream throughput",
        "downstream",
        lambda ep: (
            lambda: downstream_throughput(
                ep, args.throughput_duration, args.deltas, args.delta_chars
            )
        ),
    )
    await each(
        "upstream append flood",
        "upstream",
        lambda ep: lambda: upstream_flood(ep, args.throughput_duration),
    )


async def _run(
    args: argparse.Namespace, cores: tuple[int | None, int | None, int | None], info: Machine
) -> int:
    client_core, fake_core, target_core = cores
    started_at = dt.datetime.now(dt.UTC)
    args.idle_cores = []
    perf_status: str | None = None
    if args.stable:
        args.idle_cores = sorted({c for c in (client_core, target_core) if c is not None})
        perf_status = instructions_status()
        loadgen.COUNT_INSTRUCTIONS = perf_status is None
        _say(f"stable figures: instructions {perf_status or 'counted by perf'}")
    nginx_binary = find_nginx() if "nginx" in args.targets else None
    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    results: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, dict[str, Any]]] = []
    errors: dict[str, str] = {}
    processes: dict[str, Started] = {}
    fake = await start_fake(fake_core, workdir)
    try:
        endpoints: dict[str, Endpoint] = {}
        for name in args.targets:
            try:
                if name == "direct":
                    host, port, path = "127.0.0.1", fake.port, GA_PATH + "?model=bench"
                    pids: tuple[int, ...] = ()
                else:
                    if name == "nginx":
                        if nginx_binary is None:
                            raise RuntimeError(
                                "nginx not found; install it (apt-get install -y nginx) "
                                "or run with --targets direct,relay"
                            )
                        started = await start_nginx(nginx_binary, fake.port, target_core, workdir)
                    elif name == "peer":
                        started = await start_peer(fake.port, target_core, workdir)
                    elif name == "node":
                        node = find_node_peer()
                        started = await start_node_peer(node, fake.port, target_core, workdir)
                    elif name == "granian":
                        started = await start_granian(fake.port, target_core, workdir)
                    elif name == "floor":
                        started = await start_floor(fake.port, target_core, workdir)
                    else:
                        started = await start_relay(
                            fake.port, target_core, workdir, args.tools_file
                        )
                    processes[name] = started
                    host, port, path, pids = "127.0.0.1", started.port, started.path, started.pids
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                _say(f"[{name}] FAILED to start: {errors[name]}")
                continue
            endpoints[name] = Endpoint(
                name, host, port, path, pids, fake.pids, client_core, fake_core, target_core
            )
        for repeat in range(max(1, args.repeats)):
            if args.repeats > 1:
                _say(f"\n== repeat {repeat + 1} of {args.repeats} ==")
            run: dict[str, dict[str, Any]] = {name: {} for name in endpoints}
            await _scenarios(endpoints, args, run, errors, memory=repeat == 0)
            runs.append(run)
        results.update(median_results(runs))
    finally:
        for name, started in processes.items():
            await stop(started)
            problems = _log_problems(started.log)
            if problems:
                results.setdefault(name, {})["log_problems"] = problems
        await stop(fake)
    finished = time.time()

    header = [
        f"date: {started_at.strftime('%Y-%m-%d %H:%M:%S')} UTC "
        f"(took {finished - started_at.timestamp():.0f} s)",
        f"machine: {info.arch}, {info.cpu_model}, {info.cpus} CPUs available",
        f"python: {info.python}, uvloop in the load generator: {_uses_uvloop()}",
        f"nginx: {nginx_version(nginx_binary) if nginx_binary else 'n/a'}",
        *([f"node peer: {node_peer_versions()}"] if "node" in args.targets else []),
        f"cores: load generator {client_core}, fake upstream {fake_core}, "
        f"nginx/peers/relay {target_core}",
        f"latency: S in {','.join(map(str, args.sessions))}, {args.duration:g} s per step "
        f"(+{args.warmup:g} s warm-up), 50 appends/s and 10 probes/s per session",
        f"throughput: {args.throughput_duration:g} s each; downstream responses of "
        f"{args.deltas} deltas x {args.delta_chars:,} base64 chars",
        f"memory: {args.idle_sessions} idle sessions",
        f"repeats: {max(1, args.repeats)}"
        + (
            " (each figure the median; spreads below, as half the range over the median)"
            if args.repeats > 1
            else ""
        ),
    ]
    if args.stable:
        header.append(
            "stable: idle cores awaited before each scenario; CPU split user / system; "
            + (f"instructions: {perf_status}" if perf_status else "instructions counted by perf")
        )
    rows = report.build_rows(results, args.targets, args.sessions, args.stable)
    checks = report.build_checks(results, args.sessions)
    notes = report.notes(results)
    spreads = []
    if len(runs) > 1:
        spreads = spread_rows(
            [report.build_rows(run, args.targets, args.sessions, args.stable) for run in runs],
            args.targets,
        )
    _say("")
    _say(report.text(header, rows, checks, args.targets, notes, errors))
    if spreads:
        _say("\nspread over the repeats (half the range, over the median):")
        _say("\n".join(report.spread_table(spreads, args.targets)))

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    document = {
        "header": header,
        "settings": {
            "targets": args.targets,
            "sessions": args.sessions,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "throughput_duration_s": args.throughput_duration,
            "idle_sessions": args.idle_sessions,
            "deltas": args.deltas,
            "delta_chars": args.delta_chars,
            "quick": args.quick,
        },
        "machine": {
            "arch": info.arch,
            "cpu_model": info.cpu_model,
            "cpus": info.cpus,
            "python": info.python,
        },
        "table": [
            {"metric": r.label, **{t: r.values.get(t) for t in args.targets}, "ratio": r.ratio}
            for r in rows
        ],
        "spreads": [{"metric": r.label, **r.values} for r in spreads],
        "repeats": [
            {
                "table": [
                    {"metric": r.label, **r.values}
                    for r in report.build_rows(run, args.targets, args.sessions, args.stable)
                ]
            }
            for run in runs
        ]
        if len(runs) > 1
        else [],
        "checks": [
            {"name": c.name, "rule": c.rule, "status": c.status, "detail": c.detail} for c in checks
        ],
        "notes": notes,
        "errors": errors,
        "results": results,
    }
    payload = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    (args.out / f"bench-{stamp}.json").write_bytes(payload)
    (args.out / "latest.json").write_bytes(payload)
    markdown = report.markdown(header, rows, checks, args.targets, notes, errors)
    if spreads:
        markdown += "\n\n## Spread over the repeats\n\n" + "\n".join(
            report.spread_table(spreads, args.targets, markdown=True)
        )
    (args.out / "latest.md").write_text(markdown)
    _say(f"\nwrote {args.out.name}/latest.md, latest.json and bench-{stamp}.json")
    if args.keep_logs:
        _say(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if errors:
        return 2
    if args.strict and any(c.status == "FAIL" for c in checks):
        return 1
    return 0


def _log_problems(log: Path, limit: int = 5) -> list[str]:
    """The first lines of a target's log that look like errors."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    markers = ("ERROR", "CRITICAL", "Traceback", "[error]", "[crit]", "[alert]", "[emerg]")
    return [line[:300] for line in lines if any(m in line for m in markers)][:limit]


def _uses_uvloop() -> bool:
    return type(asyncio.get_running_loop()).__module__.startswith("uvloop")


def main(argv: list[str] | None = None) -> int:
    if not sys.platform.startswith("linux"):
        print("the benchmark needs Linux (/proc, sched_setaffinity)", file=sys.stderr)
        return 2
    args = parse_args(argv)
    info = machine()  # before pinning, so it counts every CPU we may use
    cores = _cores()
    if cores[0] is None:
        _say("WARNING: a single CPU is available; nothing is pinned and figures will mix")
    else:
        os.sched_setaffinity(0, {cores[0]})
    raise_nofile()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_run(args, cores, info))
    return uvloop.run(_run(args, cores, info))
