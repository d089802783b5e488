"""The README stays true to the code: its configuration table, paths and metric names.

These read README.md, .env.example and the Settings class; nothing is started.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.api.realtime import REALTIME_PATHS
from app.config import Settings, env_names
from app.metrics import RelayMetrics

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"

CONFIGURATION_HEADING = "## Configuration"
_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _env_names(field_name: str) -> list[str]:
    """The env var names of one Settings field, canonical first."""
    return list(env_names(field_name))


def _canonical_names() -> dict[str, str]:
    """{canonical env var name: Settings field name}."""
    return {_env_names(name)[0]: name for name in Settings.model_fields}


def _configuration_section() -> str:
    """The README text from the Configuration heading up to the next `## ` heading."""
    lines = _readme().splitlines()
    assert CONFIGURATION_HEADING in lines, "the README has no '## Configuration' section"
    start = lines.index(CONFIGURATION_HEADING) + 1
    section: list[str] = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        section.append(line)
    return "\n".join(section)


def _configuration_rows() -> dict[str, list[str]]:
    """{env var name: the row's cells} for every table row of the Configuration section."""
    rows: dict[str, list[str]] = {}
    for line in _configuration_section().splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        name = match.group(1)
        assert name not in rows, f"{name} appears twice in the configuration table"
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"the row for {name} does not have 3 cells: {cells}"
        rows[name] = cells
    return rows


def _expected_default_found(default: Any, cell: str) -> bool:
    """Whether the README's default cell states the Settings default."""
    if default is None:
        return "unset" in cell.lower()
    if isinstance(default, bool):
        return f"`{str(default).lower()}`" in cell
    if isinstance(default, int | float):
        number = _NUMBER.search(cell)
        return number is not None and float(number.group()) == float(default)
    if isinstance(default, str):
        return f"`{default}`" in cell
    if isinstance(default, tuple):
        if not default:
            return "empty" in cell.lower()
        return all(f"`{item}`" in cell for item in default)
    if isinstance(default, dict) and not default:
        return "`{}`" in cell
    raise AssertionError(f"no rule for a default of type {type(default).__name__}")


def test_readme_configuration_table_lists_exactly_the_settings_variables() -> None:
    """The configuration table names every canonical Settings env var and nothing else."""
    documented = set(_configuration_rows())
    expected = set(_canonical_names())
    assert documented == expected, (
        f"missing from the README: {sorted(expected - documented)}; "
        f"not Settings variables: {sorted(documented - expected)}"
    )


def test_every_readme_configuration_variable_is_in_env_example() -> None:
    """Each variable in the README's configuration table is listed in .env.example."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    missing = [
        name
        for name in _configuration_rows()
        if not re.search(rf"^(?:#\s*)?{re.escape(name)}=", text, re.MULTILINE)
    ]
    assert not missing, f".env.example does not list {missing}"


def test_readme_configuration_rows_note_every_alias() -> None:
    """Each alternative env var name is mentioned in its canonical variable's row."""
    rows = _configuration_rows()
    missing = [
        alias
        for name in Settings.model_fields
        for alias in _env_names(name)[1:]
        if f"`{alias}`" not in rows.get(_env_names(name)[0], ["", "", ""])[2]
    ]
    assert not missing, f"aliases not noted in the configuration table: {missing}"


@pytest.mark.parametrize("field_name", list(Settings.model_fields))
def test_readme_configuration_default_matches_settings(field_name: str) -> None:
    """The default the README states for a variable is the Settings field's default."""
    name = _env_names(field_name)[0]
    row = _configuration_rows().get(name)
    assert row is not None, f"{name} is not in the configuration table"
    default = Settings.model_fields[field_name].get_default(call_default_factory=True)
    assert _expected_default_found(default, row[1]), (
        f"{name}: the README says {row[1]!r}, Settings defaults to {default!r}"
    )


def test_readme_names_every_realtime_path() -> None:
    """Every WebSocket path the relay serves is documented."""
    text = _readme()
    missing = [path for path in REALTIME_PATHS if f"`{path}`" not in text]
    assert not missing, f"realtime paths not in the README: {missing}"


def test_readme_lists_every_metric_by_its_exposed_name() -> None:
    """Each metric family appears under the name Prometheus exposes (`_total` for counters)."""
    metrics = RelayMetrics(list)
    metrics.per_identity = True
    exposed = {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in metrics.registry.collect()
    }
    text = _readme()
    missing = sorted(name for name in exposed if f"`{name}`" not in text)
    assert not missing, f"metrics not in the README: {missing}"
