"""`make bench` targets (granian, the relay app on a compiled ASGI server, only when asked
for), their ratio columns, and the performance issue's target checks."""

from __future__ import annotations

import pytest

from bench.report import build_checks, build_rows, ratio_columns
from bench.runner import parse_args


def test_the_default_targets_are_both_peers_and_leave_out_granian() -> None:
    assert parse_args([]).targets == ["direct", "nginx", "peer", "node", "relay"]


def test_granian_is_run_when_named_and_kept_in_table_order() -> None:
    assert parse_args(["--targets", "granian,relay,nginx"]).targets == [
        "nginx",
        "relay",
        "granian",
    ]


def test_an_unknown_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--targets", "relay,hypercorn"])
    assert "granian" in capsys.readouterr().err  # the message lists the targets


def test_with_granian_the_table_gains_a_granian_over_relay_column() -> None:
    results = {
        "nginx": {"upstream": {"cpu_s_per_1k_appends": 0.002}},
        "relay": {"upstream": {"cpu_s_per_1k_appends": 0.014}},
        "granian": {"upstream": {"cpu_s_per_1k_appends": 0.07}},
    }
    targets = ["nginx", "relay", "granian"]
    rows = {row.label: row for row in build_rows(results, targets, [])}
    row = rows["CPU s/1k appends (flood)"]
    assert row.cells(targets)[-2:] == ["7.00x", "5.00x"]  # relay/nginx, granian/relay
    assert ratio_columns(targets) == ["relay/nginx", "granian/relay"]
    assert ratio_columns(["nginx", "relay"]) == ["relay/nginx"]


def test_with_the_node_peer_the_table_gains_a_relay_over_node_column() -> None:
    results = {
        "peer": {"downstream": {"cpu_s_per_100mb": 0.2}},
        "node": {"downstream": {"cpu_s_per_100mb": 0.4}},
        "relay": {"downstream": {"cpu_s_per_100mb": 0.1}},
    }
    targets = ["peer", "node", "relay"]
    rows = {row.label: row for row in build_rows(results, targets, [])}
    assert rows["CPU s/100 MB downstream"].cells(targets)[-3:] == ["", "0.50x", "0.25x"]
    assert ratio_columns(targets) == ["relay/nginx", "relay/peer", "relay/node"]


def _measured(relay: float, peer: float, nginx: float) -> dict[str, dict[str, object]]:
    """Every figure the checks read, the same for each scenario of a target."""

    def target(value: float) -> dict[str, object]:
        step = {"sessions": 100, "p99_ms": value, "cpu_s_per_1k_events": value}
        return {
            "latency": [step],
            "upstream": {"cpu_s_per_1k_appends": value},
            "downstream": {"cpu_s_per_100mb": value},
            "memory": {"rss_kib_per_session": value},
        }

    return {"relay": target(relay), "peer": target(peer), "nginx": target(nginx)}


@pytest.mark.parametrize(
    ("relay", "peer", "nginx", "expected"),
    [
        # relay, peer, nginx -> p99, mixed, append, downstream, memory
        (1.0, 2.0, 1.0, ["PASS", "PASS", "PASS", "PASS", "PASS"]),  # half the peer, nginx's
        (1.5, 2.0, 1.0, ["PASS", "PASS", "PASS", "PASS", "PASS"]),  # exactly 0.75x, 1.5x
        (1.6, 2.0, 1.0, ["PASS", "FAIL", "FAIL", "FAIL", "PASS"]),  # over 0.75x the peer
        (2.0, 2.0, 0.5, ["PASS", "FAIL", "FAIL", "FAIL", "FAIL"]),  # 4x nginx
        (3.1, 8.0, 1.0, ["FAIL", "FAIL", "PASS", "FAIL", "FAIL"]),  # 3.1x nginx, p99 +2.1
    ],
)
def test_the_checks_are_the_issues_targets_against_peer_and_nginx(
    relay: float, peer: float, nginx: float, expected: list[str]
) -> None:
    checks = {c.name: c for c in build_checks(_measured(relay, peer, nginx), [100])}
    names = [
        "p99 @100",
        "CPU per event, mixed @100",
        "CPU per upstream append",
        "CPU per 100 MB downstream",
        "RSS per idle session",
    ]
    assert [checks[name].status for name in names] == expected
    assert checks["CPU per event, mixed @100"].rule == "relay <= 0.75x peer and <= 2.5x nginx"
    assert checks["RSS per idle session"].rule == "relay <= peer and <= 2x nginx"
    assert checks["p99 @100"].rule == "relay <= nginx + 2 ms"


def test_a_check_whose_reference_was_not_run_is_not_applicable() -> None:
    results = _measured(1.0, 2.0, 1.0)
    del results["peer"]
    checks = {c.name: c for c in build_checks(results, [100])}
    assert checks["CPU per upstream append"].status == "n/a"
    assert checks["CPU per upstream append"].detail == "relay 1.00, peer n/a"
    assert checks["RSS per idle session"].status == "n/a"  # one of its two references
    assert checks["CPU per 100 MB downstream"].status == "PASS"  # nginx alone


def test_the_floor_runs_only_when_named_and_is_shown_against_the_peer() -> None:
    assert "floor" not in parse_args([]).targets
    targets = parse_args(["--targets", "floor,relay,peer"]).targets
    assert targets == ["peer", "relay", "floor"]
    results = {
        "peer": {"upstream": {"cpu_s_per_1k_appends": 0.02}},
        "relay": {"upstream": {"cpu_s_per_1k_appends": 0.01}},
        "floor": {"upstream": {"cpu_s_per_1k_appends": 0.005}},
    }
    rows = {row.label: row for row in build_rows(results, targets, [])}
    assert rows["CPU s/1k appends (flood)"].cells(targets)[-2:] == ["0.50x", "0.25x"]
    assert ratio_columns(targets) == ["relay/nginx", "relay/peer", "floor/peer"]
