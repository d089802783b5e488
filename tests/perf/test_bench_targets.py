"""`make bench` targets: granian (the relay app on a compiled ASGI server) only when asked for."""

from __future__ import annotations

import pytest

from bench.report import build_rows, ratio_columns
from bench.runner import parse_args


def test_the_default_targets_leave_out_granian() -> None:
    assert parse_args([]).targets == ["direct", "nginx", "peer", "relay"]


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
