"""Turning per-target results into the table, the PASS/FAIL checks and the files."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = [
    "Check",
    "Row",
    "build_checks",
    "build_rows",
    "markdown",
    "notes",
    "pct",
    "reference_sessions",
    "text",
]

P99_LIMIT_MS = 50.0
SATURATED_CORE = 0.90
TARGETS = ("direct", "nginx", "peer", "node", "relay", "floor", "granian")
# `floor` (the relay with its policy taken out) and granian (the relay app on a compiled
# ASGI server) run only when asked for: measurements, not ways to run the relay.
DEFAULT_TARGETS = TARGETS[:5]

Results = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    values: dict[str, Any]  # target -> number, string or None
    ratio: float | None = None  # relay / nginx
    peer_ratio: float | None = None  # relay / peer
    server_ratio: float | None = None  # granian / relay: what a compiled server would change
    node_ratio: float | None = None  # relay / node (the Node peer)
    floor_ratio: float | None = None  # floor / peer: the relay's design with no policy

    def cells(self, targets: list[str]) -> list[str]:
        cells = [self.label, *(_fmt(self.values.get(t)) for t in targets)]
        cells.append(_fmt_ratio(self.ratio))
        if "peer" in targets:
            cells.append(_fmt_ratio(self.peer_ratio))
        if "node" in targets:
            cells.append(_fmt_ratio(self.node_ratio))
        if "floor" in targets and "peer" in targets:
            cells.append(_fmt_ratio(self.floor_ratio))
        if "granian" in targets:
            cells.append(_fmt_ratio(self.server_ratio))
        return cells


def ratio_columns(targets: list[str]) -> list[str]:
    return [
        "relay/nginx",
        *(["relay/peer"] if "peer" in targets else []),
        *(["relay/node"] if "node" in targets else []),
        *(["floor/peer"] if "floor" in targets and "peer" in targets else []),
        *(["granian/relay"] if "granian" in targets else []),
    ]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    rule: str
    status: str  # PASS, FAIL or n/a
    detail: str


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 100:
            return f"{value:,.0f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def _fmt_ratio(ratio: float | None) -> str:
    return "" if ratio is None else ("inf" if math.isinf(ratio) else f"{ratio:.2f}x")


def _ratio(
    values: dict[str, Any], reference: str = "nginx", subject: str = "relay"
) -> float | None:
    relay, nginx = values.get(subject), values.get(reference)
    if not isinstance(relay, int | float) or not isinstance(nginx, int | float):
        return None
    if isinstance(relay, bool) or isinstance(nginx, bool):
        return None
    if nginx == 0:
        return None if relay == 0 else math.inf
    return relay / nginx


def _step(results: Results, target: str, sessions: int) -> dict[str, Any] | None:
    for step in results.get(target, {}).get("latency", []):
        if step.get("sessions") == sessions and not step.get("skipped"):
            result: dict[str, Any] = step
            return result
    return None


def capacity(results: Results, target: str) -> int | None:
    """The largest S such that it and every smaller step had p99 < 50 ms and no loss."""
    steps = results.get(target, {}).get("latency")
    if not steps:
        return None
    best = 0
    for step in sorted(steps, key=lambda s: s["sessions"]):
        p99 = step.get("p99_ms")
        if step.get("skipped") or step.get("loss") or p99 is None or p99 >= P99_LIMIT_MS:
            break
        best = step["sessions"]
    return best


def reference_sessions(session_counts: list[int]) -> int | None:
    """100 when measured, else the largest measured count below 100 (else the smallest)."""
    if not session_counts:
        return None
    if 100 in session_counts:
        return 100
    below = [s for s in session_counts if s < 100]
    return max(below) if below else min(session_counts)


def _loss_text(step: dict[str, Any] | None) -> str | None:
    if step is None:
        return None
    if not step.get("loss"):
        return "none"
    parts = []
    if step.get("probes_unanswered"):
        parts.append(f"{step['probes_unanswered']} probes")
    missing = step.get("appends_sent", 0) - step.get("appends_counted", 0)
    if missing:
        parts.append(f"{missing} appends")
    if step.get("errors"):
        parts.append(f"{step['errors']} errors")
    if step.get("sessions_without_count"):
        parts.append(f"{step['sessions_without_count']} no count")
    return "LOST " + ", ".join(parts)


def pct(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.0f}%"


def _busy(step: dict[str, Any] | None) -> str | None:
    if step is None:
        return None
    core = step.get("client_core_busy")
    own = step.get("loadgen_cpu_s", 0) / step["wall_s"] if step.get("wall_s") else None
    text = f"{pct(core) or '?'} (lg {pct(own) or '?'})"
    return text + (" SAT" if step.get("loadgen_saturated") else "")


def _split(result: dict[str, Any] | None, key: str) -> str | None:
    """`key` (a CPU figure) as "user / system", from the window's two parts."""
    if not result or result.get(key) is None:
        return None
    user, system = result.get("target_user_s"), result.get("target_system_s")
    if user is None or system is None or not user + system:
        return None
    total = result[key]
    return f"{_fmt(total * user / (user + system))} / {_fmt(total * system / (user + system))}"


def build_rows(
    results: Results, targets: list[str], session_counts: list[int], stable: bool = False
) -> list[Row]:
    """The table's rows; `stable` (`--stable`) adds the user/system split and instructions."""
    rows: list[Row] = []

    def add(label: str, values: dict[str, Any], ratio: bool = True) -> None:
        rows.append(
            Row(
                label,
                values,
                _ratio(values) if ratio else None,
                _ratio(values, "peer") if ratio else None,
                _ratio(values, "relay", "granian") if ratio else None,
                _ratio(values, "node") if ratio else None,
                _ratio(values, "peer", "floor") if ratio else None,
            )
        )

    def scenario(name: str, key: str) -> dict[str, Any]:
        return {t: results.get(t, {}).get(name, {}).get(key) for t in targets}

    for s in session_counts:
        steps = {t: _step(results, t, s) or {} for t in targets}
        add(f"p50 ms @{s}", {t: steps[t].get("p50_ms") for t in targets})
        add(f"p99 ms @{s}", {t: steps[t].get("p99_ms") for t in targets})
        add(f"loss @{s}", {t: _loss_text(steps[t] or None) for t in targets}, ratio=False)
        add(f"CPU s/1k events @{s}", {t: steps[t].get("cpu_s_per_1k_events") for t in targets})
        if stable:
            split = {t: _split(steps[t], "cpu_s_per_1k_events") for t in targets}
            add(f"  user / system @{s}", split, ratio=False)
            add(
                f"  instructions/event @{s}",
                {t: steps[t].get("instructions_per_event") for t in targets},
            )
        busy = {
            t: None if t == "direct" else pct(steps[t].get("target_core_busy")) for t in targets
        }
        add(f"target core busy @{s}", busy, ratio=False)
        add(f"client core busy @{s}", {t: _busy(steps[t] or None) for t in targets}, ratio=False)
    add("capacity (sessions)", {t: capacity(results, t) for t in targets})
    add("downstream MB/s", scenario("downstream", "mb_per_s"))
    integrity = scenario("downstream", "integrity_ok")
    add("downstream integrity", {t: _ok(v) for t, v in integrity.items()}, ratio=False)
    add("upstream appends/s", scenario("upstream", "events_per_s"))
    counted = scenario("upstream", "all_counted")
    add("upstream all counted", {t: _ok(v) for t, v in counted.items()}, ratio=False)
    add("CPU s/100 MB downstream", scenario("downstream", "cpu_s_per_100mb"))
    if stable:
        down = {t: _split(results.get(t, {}).get("downstream"), "cpu_s_per_100mb") for t in targets}
        add("  user / system", down, ratio=False)
        add("  instructions/delta", scenario("downstream", "instructions_per_event"))
    add("CPU s/1k appends (flood)", scenario("upstream", "cpu_s_per_1k_appends"))
    if stable:
        up = {
            t: _split(results.get(t, {}).get("upstream"), "cpu_s_per_1k_appends") for t in targets
        }
        add("  user / system", up, ratio=False)
        add("  instructions/append", scenario("upstream", "instructions_per_event"))
    idle = next((r["memory"]["sessions"] for r in results.values() if r.get("memory")), None)
    add(f"RSS KiB/idle session ({idle} open)", scenario("memory", "rss_kib_per_session"))
    return rows


def _ok(value: bool | None) -> str | None:
    return None if value is None else ("ok" if value else "FAILED")


# A bound on the relay's figure: at most `factor` x the reference's, plus `plus`.
Bound = tuple[str, float, float]  # (reference target, factor, plus)


def _bound_text(bound: Bound, relation: str) -> str:
    reference, factor, plus = bound
    if plus:
        return f"{relation} {reference} + {plus:g} ms"
    return f"{relation} {reference}" if factor == 1 else f"{relation} {factor:g}x {reference}"


def build_checks(results: Results, session_counts: list[int]) -> list[Check]:
    """The performance issue's targets, each against the references measured in this run.

    Every bound of a check must hold for PASS; a check with a figure missing
    (its target not run, or failed) is n/a."""
    ref = reference_sessions(session_counts)
    checks: list[Check] = []

    def check(
        name: str, figures: dict[str, Any], bounds: list[Bound], at_least: bool = False
    ) -> None:
        relation = ">=" if at_least else "<="
        rule = "relay " + " and ".join(_bound_text(b, relation) for b in bounds)
        relay = figures.get("relay")
        parts = [f"relay {_fmt(relay)}"]
        met: list[bool] = []
        for reference, factor, plus in bounds:
            value = figures.get(reference)
            part = f"{reference} {_fmt(value)}"
            if _number(relay) and _number(value):
                ratio = _ratio({"relay": relay, reference: value}, reference)
                if ratio is not None and not plus:
                    part += f" ({_fmt_ratio(ratio)})"
                limit = factor * float(value) + plus
                met.append(float(relay) >= limit if at_least else float(relay) <= limit)
            parts.append(part)
        status = "n/a" if len(met) < len(bounds) else ("PASS" if all(met) else "FAIL")
        checks.append(Check(name, rule, status, ", ".join(parts)))

    def scenario(name: str, key: str) -> dict[str, Any]:
        return {t: results.get(t, {}).get(name, {}).get(key) for t in ("relay", "nginx", "peer")}

    def step(key: str) -> dict[str, Any]:
        assert ref is not None
        return {t: (_step(results, t, ref) or {}).get(key) for t in ("relay", "nginx", "peer")}

    capacities = {t: capacity(results, t) for t in ("relay", "nginx")}
    check("capacity", capacities, [("nginx", 1.0, 0.0)], at_least=True)
    if ref is not None:
        check(f"p99 @{ref}", step("p99_ms"), [("nginx", 1.0, 2.0)])
        mixed = step("cpu_s_per_1k_events")
        check(f"CPU per event, mixed @{ref}", mixed, [("peer", 0.75, 0.0), ("nginx", 2.5, 0.0)])
    appends = scenario("upstream", "cpu_s_per_1k_appends")
    check("CPU per upstream append", appends, [("peer", 0.75, 0.0)])
    downstream = scenario("downstream", "cpu_s_per_100mb")
    check("CPU per 100 MB downstream", downstream, [("nginx", 1.5, 0.0)])
    memory = scenario("memory", "rss_kib_per_session")
    check("RSS per idle session", memory, [("peer", 1.0, 0.0), ("nginx", 2.0, 0.0)])
    return checks


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def notes(results: Results) -> list[str]:
    """Caveats: a saturated load generator, throughput bound by the client side, noise, logs."""
    found = []
    for target, result in results.items():
        scenarios: list[tuple[str, dict[str, Any]]] = [
            (f"latency @{step['sessions']}", step)
            for step in result.get("latency", [])
            if not step.get("skipped")
        ]
        scenarios += [(name, result[name]) for name in ("downstream", "upstream") if name in result]
        for name, data in scenarios:
            client = pct(data.get("client_core_busy")) or "?"
            if data.get("loadgen_saturated"):
                if name.startswith("latency"):
                    found.append(
                        f"{target} {name}: load generator core {client} busy (saturated); "
                        "latency there is an upper bound"
                    )
                elif (data.get("target_core_busy") or 0.0) < SATURATED_CORE:
                    found.append(
                        f"{target} {name}: bound by the client core ({client} busy: load "
                        "generator + fake upstream), not by the target; the rate is a lower bound"
                    )
            if data.get("noisy"):
                found.append(
                    f"{target} {name}: other processes used "
                    f"{pct(data.get('foreign_client_core')) or '?'} of the client core and "
                    f"{pct(data.get('foreign_target_core')) or '?'} of the target core (noisy)"
                )
        found += [f"{target} log: {line}" for line in result.get("log_problems", [])]
    return found


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return out


def text(
    header: list[str],
    rows: list[Row],
    checks: list[Check],
    targets: list[str],
    notes: list[str],
    errors: dict[str, str],
) -> str:
    lines = [*header, ""]
    lines += _table(["metric", *targets, *ratio_columns(targets)], [r.cells(targets) for r in rows])
    lines.append("")
    for check in checks:
        lines.append(f"{check.status:<4}  {check.name}: {check.rule} -- {check.detail}")
    if notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"  - {n}" for n in notes]
    for target, error in errors.items():
        lines.append(f"ERROR in {target}: {error}")
    return "\n".join(lines)


def markdown(
    header: list[str],
    rows: list[Row],
    checks: list[Check],
    targets: list[str],
    notes: list[str],
    errors: dict[str, str],
) -> str:
    lines = ["# Relay benchmark", ""]
    lines += [f"- {h}" for h in header]
    lines.append("")
    cols = ["metric", *targets, *ratio_columns(targets)]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|")
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row.cells(targets)) + " |")
    lines += ["", "## Targets", ""]
    lines += [f"- **{c.status}** {c.name}: {c.rule} ({c.detail})" for c in checks]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in notes]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {t}: {e}" for t, e in errors.items()]
    return "\n".join(lines) + "\n"


def spread_table(rows: list[Row], targets: list[str], markdown: bool = False) -> list[str]:
    """The spreads of each figure, one column per target."""
    body = [[row.label, *(str(row.values.get(t) or "-") for t in targets)] for row in rows]
    if not markdown:
        return _table(["metric", *targets], body)
    lines = ["| metric | " + " | ".join(targets) + " |", "|" + "---|" * (len(targets) + 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines
