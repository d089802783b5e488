"""`make bench --repeats N`: medians over repeats, and each figure's spread."""

from __future__ import annotations

from bench.repeats import median_results, spread_rows
from bench.report import Row


def run(p50: float, rss: float, ok: bool = True) -> dict[str, dict[str, object]]:
    return {
        "relay": {
            "latency": [{"sessions": 10, "p50_ms": p50, "noisy": False}],
            "memory": {"rss_kib_per_session": rss, "sessions": 500},
            "downstream": {"integrity_ok": ok},
        }
    }


def test_every_number_is_the_median_over_the_repeats() -> None:
    merged = median_results([run(1.0, 40.0), run(3.0, 50.0), run(2.0, 45.0, ok=False)])
    relay = merged["relay"]
    assert relay["latency"] == [{"sessions": 10, "p50_ms": 2.0, "noisy": False}]
    assert relay["memory"] == {"rss_kib_per_session": 45.0, "sessions": 500}
    assert isinstance(relay["memory"]["sessions"], int)
    assert relay["downstream"] == {"integrity_ok": False}  # a check holds only if it always did


def test_a_scenario_run_once_is_taken_from_that_run() -> None:
    first = run(1.0, 40.0)
    later = run(3.0, 0.0)
    del later["relay"]["memory"]  # memory is measured on fresh processes only
    merged = median_results([first, later])
    assert merged["relay"]["memory"] == {"rss_kib_per_session": 40.0, "sessions": 500}


def test_one_repeat_is_returned_as_it_is() -> None:
    only = run(1.0, 40.0)
    assert median_results([only]) is only


def test_the_spread_is_half_the_range_over_the_median() -> None:
    rows = [
        [Row("p50 ms @10", {"relay": 1.0, "nginx": 0.5}), Row("loss", {"relay": "none"})],
        [Row("p50 ms @10", {"relay": 1.2, "nginx": 0.5}), Row("loss", {"relay": "none"})],
        [Row("p50 ms @10", {"relay": 1.1, "nginx": 0.5}), Row("loss", {"relay": "none"})],
    ]
    (spread,) = spread_rows(rows, ["nginx", "relay"])
    assert spread.label == "p50 ms @10"
    assert spread.values == {"nginx": "±0%", "relay": "±9%"}
