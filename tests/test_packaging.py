"""The shipping files: Dockerfile, .dockerignore, docker-compose.yml, .env.example, pins.

These read the real files and need no Docker engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings, env_names

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
CONSTRAINTS = ROOT / "constraints.txt"

SIMULATOR_COMMAND = ["python", "-m", "app.simulator", "--host", "0.0.0.0", "--port", "9000"]


def _env_names(field_name: str) -> list[str]:
    """The env var names of one Settings field, canonical first."""
    return list(env_names(field_name))


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuations joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"
    return result


def _args_of(keyword: str) -> list[str]:
    return [args for instruction, args in _instructions() if instruction == keyword]


def _runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage, the one that becomes the image."""
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _runtime_env() -> dict[str, str]:
    """The RELAY_* variables the image sets for the relay (ENV in the runtime stage)."""
    pairs = (
        word.split("=", 1)
        for keyword, args in _runtime_stage()
        if keyword == "ENV"
        for word in args.split()
    )
    return {name: value for name, value in pairs if name.startswith("RELAY_")}


def _compose_service_block(service: str) -> str:
    """The text of one service in docker-compose.yml, found by indentation alone."""
    lines = COMPOSE.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"  {service}:")
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith("    ") and not line.lstrip().startswith("#"):
            break
        block.append(line)
    return "\n".join(block)


def _compose_yaml() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


# .env.example


def test_env_example_lists_every_settings_variable_by_canonical_name() -> None:
    """Every env var the Settings class reads appears in .env.example as NAME= or # NAME=."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    missing = [
        canonical
        for canonical in (_env_names(name)[0] for name in Settings.model_fields)
        if not re.search(rf"^(?:#\s*)?{re.escape(canonical)}=", text, re.MULTILINE)
    ]
    assert not missing, f".env.example does not list {missing}"


def test_env_example_mentions_every_alias_in_a_comment() -> None:
    """Alternative env var names are documented next to their canonical variable."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    aliases = [alias for name in Settings.model_fields for alias in _env_names(name)[1:]]
    missing = [alias for alias in aliases if not re.search(rf"\b{alias}\b", text)]
    assert not missing, f".env.example does not mention the aliases {missing}"


def test_env_example_sets_only_placeholders() -> None:
    """Uncommented assignments in .env.example are <placeholders>, never usable values."""
    assignments = [
        line
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if re.match(r"[A-Z][A-Z0-9_]*=", line)
    ]
    assert assignments, ".env.example should show the required variables uncommented"
    not_placeholders = [line for line in assignments if not re.search(r"<[^>]+>", line)]
    assert not not_placeholders, f"real-looking values in .env.example: {not_placeholders}"


# docker-compose.yml


def test_compose_relay_runs_against_simulator_without_client_auth_by_text() -> None:
    """The relay service targets the simulator with client auth off, and the simulator runs app.simulator."""
    relay = _compose_service_block("relay")
    assert re.search(r"^\s+RELAY_UPSTREAM: simulator$", relay, re.MULTILINE)
    assert re.search(r"^\s+RELAY_AUTH: none$", relay, re.MULTILINE)
    assert re.search(r"^\s+AZURE_OPENAI_ENDPOINT: http://simulator:9000$", relay, re.MULTILINE)
    assert '"8000:8000"' in relay
    simulator = _compose_service_block("simulator")
    assert re.search(r"command: \[.*\"app\.simulator\"", simulator)


def test_compose_file_parses_with_relay_wired_to_simulator() -> None:
    """docker-compose.yml is valid YAML whose relay depends on a simulator running the same image."""
    services = _compose_yaml()["services"]
    assert set(services) == {"relay", "simulator"}
    simulator, relay = services["simulator"], services["relay"]
    assert simulator["command"] == SIMULATOR_COMMAND
    assert relay["environment"]["RELAY_UPSTREAM"] == "simulator"
    assert relay["environment"]["RELAY_AUTH"] == "none"
    assert relay["environment"]["AZURE_OPENAI_ENDPOINT"] == "http://simulator:9000"
    assert relay["ports"] == ["8000:8000"]
    assert "simulator" in relay["depends_on"]
    assert relay["env_file"] == [{"path": ".env", "required": False}]
    assert relay["image"] == simulator["image"]
    assert relay["build"] == simulator["build"] == "."


def test_compose_relay_environment_is_accepted_by_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The image's RELAY_* defaults plus the relay's compose environment pass Settings validation."""
    environment = {**_runtime_env(), **_compose_yaml()["services"]["relay"]["environment"]}
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.upstream == "simulator"
    assert settings.azure_endpoint == "http://simulator:9000"
    assert settings.host == "0.0.0.0"


def test_compose_grace_period_covers_the_worst_case_shutdown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """compose's stop_grace_period is at least the relay's shutdown budget with its settings."""
    relay = _compose_yaml()["services"]["relay"]
    monkeypatch.chdir(tmp_path)
    for name, value in {**_runtime_env(), **relay["environment"]}.items():
        monkeypatch.setenv(name, str(value))
    grace = str(relay["stop_grace_period"])
    assert grace.endswith("s")
    assert float(grace[:-1]) >= Settings().shutdown_budget_seconds


def test_compose_simulator_healthcheck_is_valid_python() -> None:
    """The simulator's own healthcheck (it has no /healthz) is a compilable python -c probe."""
    test = _compose_yaml()["services"]["simulator"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "<simulator healthcheck>", "exec")


# Dockerfile


def test_dockerfile_builds_on_python_311_slim() -> None:
    """Every stage starts from the slim Python 3.11 image."""
    stages = _args_of("FROM")
    assert stages
    assert all(args.split()[0] == "python:3.11-slim" for args in stages)


def test_dockerfile_starts_the_relay_with_python_m_app() -> None:
    """The image's command is `python -m app`, never a bare uvicorn command line."""
    commands = _args_of("CMD")
    assert json.loads(commands[-1]) == ["python", "-m", "app"]
    assert not _args_of("ENTRYPOINT")
    assert "uvicorn" not in " ".join(commands)


def test_dockerfile_healthcheck_probes_healthz_with_urllib() -> None:
    """The HEALTHCHECK fetches /healthz with the standard library, in exec form with valid Python."""
    (healthcheck,) = _args_of("HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    assert "urllib.request" in command[2]
    compile(command[2], "<healthcheck>", "exec")


def test_dockerfile_runs_as_a_non_root_user() -> None:
    """The runtime stage switches to an unprivileged USER before its command."""
    users = [args for keyword, args in _runtime_stage() if keyword == "USER"]
    assert users, "the runtime stage never sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_installs_with_the_constraints_file() -> None:
    """Every pip install in the Dockerfile is pinned with `-c constraints.txt`."""
    installs = [args for args in _args_of("RUN") if "pip install" in args]
    assert installs
    for args in installs:
        assert "-c constraints.txt" in args
        assert "--no-cache-dir" in args


def test_dockerfile_sets_the_container_defaults() -> None:
    """Listener, logging, port, stop signal and working directory match the brief."""
    env = " ".join(args for keyword, args in _runtime_stage() if keyword == "ENV")
    assert "PYTHONUNBUFFERED=1" in env.split()
    assert _runtime_env() == {
        "RELAY_HOST": "0.0.0.0",
        "RELAY_PORT": "8000",
        "RELAY_LOG_FORMAT": "json",
    }
    runtime = dict(_runtime_stage())
    assert runtime["EXPOSE"] == "8000"
    assert runtime["STOPSIGNAL"] == "SIGTERM"
    assert runtime["WORKDIR"] == "/app"


def test_dockerfile_copies_only_files_that_exist_and_pass_dockerignore() -> None:
    """Each COPY source from the build context exists and is re-included by .dockerignore."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    included = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    sources = [
        source.rstrip("/")
        for args in _args_of("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
        assert source in included, f".dockerignore keeps {source} out of the build context"


def test_dockerignore_keeps_everything_else_out_of_the_build_context() -> None:
    """.dockerignore starts by excluding everything and never re-admits secrets or the venv."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    for private in (".env", ".venv", ".git", "tests"):
        assert f"!{private}" not in patterns
        assert f"!{private}/" not in patterns


# Pins and package sources

_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.!+_-]+")
_INDEX_OPTION = re.compile(
    r"--(?:extra-)?index-url|--find-links|--trusted-host|\bPIP_(?:EXTRA_)?INDEX_URL\b"
    r"|\bPIP_FIND_LINKS\b|\bPIP_TRUSTED_HOST\b|\bindex-url\s*=|/simple/",
    re.IGNORECASE,
)
_PACKAGING_FILES = (
    "Dockerfile",
    ".dockerignore",
    "docker-compose.yml",
    ".env.example",
    "Makefile",
    "pyproject.toml",
    "constraints.txt",
)


def test_constraints_pin_every_line_to_an_exact_version() -> None:
    """constraints.txt holds only name==version lines: no URLs, no options, no ranges."""
    lines = [
        line.strip()
        for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines
    not_pins = [line for line in lines if not _PIN.fullmatch(line)]
    assert not not_pins, f"constraints.txt lines that are not name==version: {not_pins}"


@pytest.mark.parametrize("name", _PACKAGING_FILES)
def test_packaging_file_records_no_package_index(name: str) -> None:
    """No committed build or packaging file names a package index, mirror or find-links source."""
    path = ROOT / name
    assert path.exists(), f"{name} is not in the repository"
    hits = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if _INDEX_OPTION.search(line)
    ]
    assert not hits, f"{name} records a package source: {hits}"
