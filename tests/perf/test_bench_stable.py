"""`make bench --stable`: perf's instruction counts read right, and CPU split user/system."""

from __future__ import annotations

import pytest

from bench.report import build_rows
from bench.stable import instructions_status, parse_instructions


@pytest.mark.parametrize(
    ("output", "count"),
    [
        ("123456789,,instructions,1002003,100.00,,\n", 123456789),
        ("# started on Wed\n\n4521,,instructions:u,1000,100.00,0.52,insn per cycle\n", 4521),
        ("<not supported>,,instructions,0,100.00,,\n", None),
        ("<not counted>,,instructions,0,0.00,,\n", None),
        ("Error:\nThe sys_perf_event_open() syscall returned with 1\n", None),
        ("", None),
    ],
)
def test_perf_stat_csv_gives_the_instruction_count_or_none(output: str, count: int | None) -> None:
    assert parse_instructions(output) == count


def test_without_perf_on_the_path_instructions_are_not_claimed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert instructions_status() == "perf is not installed"


def test_stable_rows_split_cpu_by_the_windows_user_and_system_time() -> None:
    step = {
        "sessions": 100,
        "cpu_s_per_1k_events": 0.08,
        "target_user_s": 3.0,
        "target_system_s": 1.0,
        "instructions_per_event": None,
    }
    results = {"relay": {"latency": [step]}}
    rows = {row.label: row for row in build_rows(results, ["relay"], [100], stable=True)}
    assert rows["  user / system @100"].values["relay"] == "0.06 / 0.02"
    assert rows["  instructions/event @100"].values["relay"] is None
    plain = {row.label for row in build_rows(results, ["relay"], [100])}
    assert "  user / system @100" not in plain
