"""Medians over repeats, and how far the repeats spread: `python -m bench --repeats N`.

One run on a shared machine is noise. With repeats, every number in the
results is the median of that number over the repeats (lists are matched by
position, so latency steps pair up by their session count), and each table
cell also gets its spread: (max - min) / median over the repeats.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.report import Results, Row

__all__ = ["median_results", "spread_rows"]


def _median(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, bool) or not isinstance(first, int | float):
        if isinstance(first, dict):
            keys = [k for k in first if all(isinstance(v, dict) and k in v for v in values)]
            return {k: _median([v[k] for v in values]) for k in keys}
        if isinstance(first, list) and all(isinstance(v, list) for v in values):
            size = min(len(v) for v in values)
            return [_median([v[i] for v in values]) for i in range(size)]
        if isinstance(first, bool):
            return all(values)  # a check holds only if it held every time
        return first
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and all(n == numbers[0] for n in numbers):
        return numbers[0]  # counts that do not vary keep their type (100 sessions, not 100.0)
    return statistics.median(numbers) if numbers else None


def median_results(runs: list[Results]) -> Results:
    """The results of several repeats, each number the median over them. A scenario only
    some repeats ran (idle memory, measured on fresh processes) is taken from those."""
    if len(runs) == 1:
        return runs[0]
    merged: Results = {}
    for target in runs[0]:
        present = [run[target] for run in runs if target in run]
        merged[target] = _median(present)
        for scenario in present[0]:
            if scenario not in merged[target]:
                merged[target][scenario] = _median([p[scenario] for p in present if scenario in p])
    return merged


def _spread(values: list[Any]) -> str | None:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < 2:
        return None
    middle = statistics.median(numbers)
    if middle == 0:
        return None
    return f"±{(max(numbers) - min(numbers)) / abs(middle) / 2:.0%}"


def spread_rows(rows_per_run: list[list[Row]], targets: list[str]) -> list[Row]:
    """For every numeric row: each target's spread over the repeats, as ±half-range."""
    spreads: list[Row] = []
    for index, row in enumerate(rows_per_run[0]):
        cells = {
            t: _spread([rows[index].values.get(t) for rows in rows_per_run if index < len(rows)])
            for t in targets
        }
        if any(cells.values()):
            spreads.append(Row(row.label, cells))
    return spreads
