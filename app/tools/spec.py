"""The operator's server-side tools: the `RELAY_TOOLS_FILE` format, validated at startup.

The file is YAML (JSON is valid YAML) holding a list of webhook tools and MCP
servers (entries with `type: mcp`):

    - name: lookup_order
      description: Look up an order by its id.
      parameters: {type: object, properties: {id: {type: string}}, required: [id]}
      url: https://tools.internal.example/lookup_order
      timeout_seconds: 5
      headers: {Authorization: "Bearer ${ORDERS_TOKEN}"}
    - type: mcp
      label: kb                      # its tools are offered as kb__<tool>
      url: https://kb.internal.example/mcp
      allowed_tools: [search]        # none when absent: deny by default

Header values may name environment variables as `${NAME}`; they are read once,
here, so secrets stay out of the file, and a missing one stops startup. Every
problem is reported as a `ToolsFileError` naming the file, the tool and the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.net import is_loopback_host

__all__ = [
    "LoadedMcpServer",
    "LoadedTool",
    "McpServerSpec",
    "ToolSpec",
    "ToolsFileError",
    "field_errors",
    "load_tools",
    "parse_tools",
    "read_yaml",
    "session_tool_names",
    "tool_entries",
]

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "host"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MCP_SEPARATOR = "__"  # an MCP tool is offered as <label>__<tool>


class ToolsFileError(ValueError):
    """The tools file cannot be used; the message names the file, the tool and the field."""


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ValueError("must be an https:// URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("must use https:// (http:// only for loopback hosts)")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; use headers")
    return value


def _check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, header in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS or lowered.startswith("x-relay-"):
            raise ValueError(f"{name!r} is set by the relay")
        if "\r" in header or "\n" in header:
            raise ValueError(f"the value of {name!r} has a line break")
    return value


class _Endpoint(BaseModel):
    """What webhook tools and MCP servers share: where the relay calls, with what headers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _egress(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)


class ToolSpec(_Endpoint):
    """One webhook tool, as the file declares it (header values still unresolved)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str
    parameters: dict[str, Any]

    @field_validator("parameters")
    @classmethod
    def _json_schema_object(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type", "object") != "object":
            raise ValueError('must be a JSON Schema object ("type": "object")')
        return value

    def function(self) -> dict[str, Any]:
        """The tool as the model sees it: a `function` entry of the session's `tools`."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


class McpServerSpec(_Endpoint):
    """One MCP server (Streamable HTTP) whose allowed tools the relay offers and calls."""

    type: Literal["mcp"]
    label: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,32}$")]
    allowed_tools: list[str] = Field(default_factory=list)

    def function_name(self, tool: str) -> str:
        return f"{self.label}{MCP_SEPARATOR}{tool}"


@dataclass(frozen=True, slots=True)
class LoadedMcpServer:
    """An MCP server ready to connect to: its spec with its headers resolved."""

    spec: McpServerSpec
    headers: Mapping[str, str]

    def functions(self) -> frozenset[str]:
        """The function names its allowed tools are offered under."""
        return frozenset(self.spec.function_name(tool) for tool in self.spec.allowed_tools)


@dataclass(frozen=True, slots=True)
class LoadedTool:
    """A tool ready to call: its spec with every `${NAME}` in its headers resolved."""

    spec: ToolSpec
    headers: Mapping[str, str]


def _resolve(value: str, environ: Mapping[str, str], where: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ToolsFileError(f"{where}: environment variable {name} is not set")
        return environ[name]

    return _ENV_REFERENCE.sub(substitute, value)


def _describe(where: str, entry: object, index: int, exc: ValidationError) -> str:
    fields = entry if isinstance(entry, dict) else {}
    name, label = fields.get("name"), fields.get("label")
    if fields.get("type") == "mcp":
        tool = f"MCP server {label!r}" if isinstance(label, str) else f"entry #{index + 1}"
    else:
        tool = f"tool {name!r}" if isinstance(name, str) else f"tool #{index + 1}"
    return field_errors(f"{where}: {tool}", exc)


def field_errors(where: str, exc: ValidationError) -> str:
    """One line per problem of a file's entry: `<where>: <field>: <message>`."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(entry)"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {field}: {message}")
    return "\n".join(lines)


def session_tool_names(session: Mapping[str, Any]) -> set[str]:
    """The names of the tools declared in `RELAY_SESSION` (client tools)."""
    tools = session.get("tools")
    if not isinstance(tools, list):
        return set()
    return {str(tool.get("name")) for tool in tools if isinstance(tool, dict) and "name" in tool}


def load_tools(
    path: Path, environ: Mapping[str, str] | None = None, client_tools: Iterable[str] = ()
) -> tuple[LoadedTool | LoadedMcpServer, ...]:
    """Read and validate the tools file. Raises `ToolsFileError`.

    `client_tools` are the names already declared in `RELAY_SESSION`: a server
    tool of the same name would make a call ambiguous, so it stops startup.
    """
    return parse_tools(read_yaml(path, ToolsFileError), str(path), environ, client_tools)


def read_yaml(path: Path, error: type[ValueError]) -> object:
    """A configuration file's YAML, or `error` naming the file and what is wrong."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: is not valid YAML: {exc}") from None


def parse_tools(
    raw: object,
    where: str,
    environ: Mapping[str, str] | None = None,
    client_tools: Iterable[str] = (),
) -> tuple[LoadedTool | LoadedMcpServer, ...]:
    """Validate a list of tool entries (from a tools file, or an agent's inline `tools`).

    `where` starts every message (the file, or the agent). Raises `ToolsFileError`."""
    environ = os.environ if environ is None else environ
    if not isinstance(raw, list):
        raise ToolsFileError(f"{where}: must hold a list of tools")
    taken = set(client_tools)
    seen: set[str] = set()
    labels: set[str] = set()
    loaded: list[LoadedTool | LoadedMcpServer] = []
    for index, entry in enumerate(raw):
        mcp = isinstance(entry, dict) and entry.get("type") == "mcp"
        try:
            spec: ToolSpec | McpServerSpec = (
                McpServerSpec.model_validate(entry) if mcp else ToolSpec.model_validate(entry)
            )
        except ValidationError as exc:
            raise ToolsFileError(_describe(where, entry, index, exc)) from None
        if isinstance(spec, McpServerSpec):
            label = f"{where}: MCP server {spec.label!r}"
            if spec.label in labels:
                raise ToolsFileError(f"{label}: label: declared twice")
            labels.add(spec.label)
            names = [spec.function_name(tool) for tool in spec.allowed_tools]
            for name in names:
                if not _FUNCTION_NAME.match(name):
                    raise ToolsFileError(f"{label}: allowed_tools: {name!r} is not a valid name")
        else:
            label = f"{where}: tool {spec.name!r}"
            names = [spec.name]
        for name in names:
            if name in seen:
                raise ToolsFileError(f"{label}: name: {name} declared twice")
            if name in taken:
                raise ToolsFileError(f"{label}: name: {name} also declared in the session's tools")
            seen.add(name)
        headers = {
            name: _resolve(value, environ, f"{label}: headers.{name}")
            for name, value in spec.headers.items()
        }
        if isinstance(spec, McpServerSpec):
            loaded.append(LoadedMcpServer(spec, headers))
        else:
            loaded.append(LoadedTool(spec, headers))
    return tuple(loaded)


def tool_entries(tools: Iterable[LoadedTool]) -> list[dict[str, Any]]:
    """The session `tools` entries of the webhook tools."""
    return [tool.spec.function() for tool in tools]
