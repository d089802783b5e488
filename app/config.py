"""The relay's configuration: one validated, frozen settings object.

`Settings()` reads the environment (and an optional `.env` file) when it is
built, which happens in the app factory or the launcher, never at import time.
Every rule that can be checked before the first session is checked here, so a
misconfigured relay refuses to start with a message naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import AliasChoices, BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.auth.tokens import parse_token_pairs
from app.net import AddressSet, is_loopback_host
from app.policy.dialect import (
    DEFAULT_CLIENT_EVENTS,
    DEFAULT_RESPONSE_FIELDS,
    Dialect,
    dialect_for_version,
)

__all__ = [
    "DEFAULT_CLIENT_EVENTS",
    "DEFAULT_RESPONSE_FIELDS",
    "POLICY_FIELDS",
    "Settings",
    "endpoint_problem",
    "env_names",
    "policy_problems",
]

DEFAULT_COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"

CLOSE_AFTER_DRAIN_SECONDS = 4.0  # after the drain: sessions told to stop get this long to close
SERVER_SHUTDOWN_SECONDS = 5.0  # uvicorn's timeout_graceful_shutdown

_MIN_SECRET_LENGTH = 32  # the JWT and tool signing secrets
_ORIGIN = re.compile(r"https?://[^/\s?#]+")


def _env(*names: str) -> Any:
    """Bind a field to its contract env var name(s); the first name is canonical."""
    return AliasChoices(*names) if len(names) > 1 else names[0]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _json_object(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"RELAY_SESSION is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("RELAY_SESSION must be a JSON object")
    return value


def _folded(fold: Any) -> BeforeValidator:
    return BeforeValidator(lambda value: fold(value) if isinstance(value, str) else value)


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
JsonObject = Annotated[dict[str, Any], NoDecode, BeforeValidator(_json_object)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], _folded(str.upper)]
LogFormat = Annotated[Literal["json", "text"], _folded(str.lower)]


# The settings of one enforced session and its client policy. With RELAY_AGENTS_FILE they
# belong to each agent, in the file, and setting them in the environment stops startup.
POLICY_FIELDS = (
    "instructions",
    "instructions_file",
    "session",
    "allowed_client_events",
    "client_session_fields",
    "client_response_fields",
    "client_item_roles",
    "client_tool_outputs",
    "tools_file",
)


def endpoint_problem(endpoint: str, upstream: str) -> str | None:
    """What is wrong with an Azure OpenAI endpoint URL, as the end of a sentence, or None."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "wss", "http", "ws") or not parts.hostname:
        return "must look like https://<resource>.openai.azure.com"
    insecure = parts.scheme in ("http", "ws")
    if insecure and upstream == "azure" and not is_loopback_host(parts.hostname):
        return (
            "must use https:// (http:// and ws:// are accepted only for loopback hosts "
            "or with RELAY_UPSTREAM=simulator)"
        )
    return None


def policy_problems(
    dialect: Dialect,
    session: Mapping[str, Any],
    allowed_client_events: Iterable[str],
    client_session_fields: Iterable[str] | None,
) -> list[tuple[str, str]]:
    """What is wrong with an enforced session and client policy: (field, message) pairs."""
    problems: list[tuple[str, str]] = []
    unknown = sorted(set(session) - dialect.session_fields)
    if unknown:
        problems.append(
            (
                "session",
                f"has fields that do not belong to the {dialect.name} dialect: "
                f"{', '.join(unknown)}",
            )
        )
    if dialect.name == "ga" and session.get("type", "realtime") != "realtime":
        problems.append(("session", '"type" must be "realtime"'))
    bad_events = sorted(set(allowed_client_events) - dialect.client_events)
    if bad_events:
        problems.append(
            ("allowed_client_events", f"names unknown client events: {', '.join(bad_events)}")
        )
    bad_fields = sorted(
        path
        for path in client_session_fields or ()
        if path.split(".", 1)[0] not in dialect.session_fields or path == "type"
    )
    if bad_fields:
        problems.append(
            (
                "client_session_fields",
                f"names fields outside the {dialect.name} session: {', '.join(bad_fields)}",
            )
        )
    return problems


class Settings(BaseSettings):
    """Everything the relay can be told, each field bound to its env var name."""

    model_config = SettingsConfigDict(
        frozen=True,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # RELAY_<FIELD> for the relay's own settings; the Azure names are aliases. Bare
        # field names (AUTH, PORT) are never read: no validate_by_name.
        env_prefix="RELAY_",
    )

    # Upstream (Azure OpenAI or the simulator)
    upstream: Literal["azure", "simulator"] = Field("azure")
    azure_endpoint: str | None = Field(None, validation_alias=_env("AZURE_OPENAI_ENDPOINT"))
    azure_deployment: str | None = Field(
        None,
        validation_alias=_env(
            "AZURE_OPENAI_DEPLOYMENT",
            "AZURE_OPENAI_DEPLOYMENT_NAME",
            "AZURE_OPENAI_REALTIME_DEPLOYMENT",
        ),
    )
    azure_api_version: str | None = Field(
        None, validation_alias=_env("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION")
    )
    azure_api_key: str | None = Field(
        None, validation_alias=_env("AZURE_OPENAI_API_KEY"), repr=False
    )
    azure_token_scope: str = Field(
        DEFAULT_COGNITIVE_SCOPE, validation_alias=_env("AZURE_OPENAI_TOKEN_SCOPE")
    )
    token_refresh_margin_seconds: float = Field(300.0, gt=0)
    upstream_connect_timeout_seconds: float = Field(10.0, gt=0)

    # Enforced session and client policy
    instructions: str | None = Field(None, repr=False)
    instructions_file: Path | None = Field(None)
    session: JsonObject = Field(default_factory=dict, repr=False)
    allowed_client_events: CommaList = Field(DEFAULT_CLIENT_EVENTS)
    client_session_fields: CommaList | None = Field(None)
    client_response_fields: CommaList = Field(DEFAULT_RESPONSE_FIELDS)
    client_item_roles: CommaList = Field(("user",))
    client_tool_outputs: bool = Field(False)

    # Server-side tools
    tools_file: Path | None = Field(None)
    tools_signing_secret: str | None = Field(None, repr=False)
    tool_max_output_bytes: int = Field(65536, gt=0)
    tool_max_concurrent_calls: int = Field(4, ge=1)

    # Guardrails
    guardrail_url: str | None = Field(None)
    guardrail_blocklist_file: Path | None = Field(None)
    guardrail_transcription_model: str = Field("whisper-1", min_length=1)
    guardrail_refusal: str | None = Field(None)
    guardrail_max_violations: int = Field(3, ge=1)
    guardrail_timeout_seconds: float = Field(2.0, gt=0)
    guardrail_failure_mode: Literal["closed", "open"] = Field("closed")

    # Agents (several enforced sessions on one relay)
    agents_file: Path | None = Field(None)

    # Shared state (many replicas)
    redis_url: str | None = Field(None, repr=False)  # may carry a password
    redis_failure_mode: Literal["closed", "open"] = Field("closed")
    redis_timeout_seconds: float = Field(1.0, gt=0)
    lease_renew_seconds: float = Field(10.0, gt=0)
    identity_daily_tokens: int | None = Field(None, ge=1)

    # Client trust
    auth: Literal["token", "jwt", "none"] = Field("token")
    auth_tokens: CommaList = Field((), repr=False)
    jwt_jwks_url: str | None = Field(None)
    jwt_secret: str | None = Field(None, repr=False)
    jwt_issuer: str | None = Field(None)
    jwt_audience: str | None = Field(None)
    jwt_identity_claim: str = Field("sub")
    jwt_agent_claim: str | None = Field(None)
    backend_tokens: CommaList = Field((), repr=False)
    max_client_secrets: int = Field(10000, ge=1)
    allowed_origins: CommaList = Field(())

    # Abuse limits
    max_sessions: int = Field(200, ge=1)
    max_sessions_per_identity: int = Field(10, ge=1)
    client_events_per_second: float = Field(100.0, gt=0)
    client_events_burst: int = Field(200, ge=1)
    max_session_seconds: float = Field(1800.0, gt=0)
    idle_timeout_seconds: float = Field(300.0, gt=0)

    # Listener
    host: str = Field("0.0.0.0")
    port: int = Field(8000, ge=0, le=65535)
    max_message_bytes: int = Field(1024 * 1024, gt=0)
    max_upstream_message_bytes: int = Field(32 * 1024 * 1024, gt=0)
    ping_interval_seconds: float = Field(20.0, gt=0)
    ping_timeout_seconds: float = Field(20.0, gt=0)
    log_level: LogLevel = Field("INFO")
    log_format: LogFormat = Field("text")
    trusted_proxies: CommaList = Field(())
    allowed_hosts: CommaList = Field(())
    header_timeout_seconds: float = Field(10.0, gt=0)
    metrics_token: str | None = Field(None, repr=False)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    demo_page: bool = Field(True)

    # Reliability
    max_buffered_bytes: int = Field(4 * 1024 * 1024, gt=0)
    backpressure_timeout_seconds: float = Field(30.0, gt=0)
    drain_seconds: float = Field(25.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self._check_upstream()
        if self.agents_file is None:
            self._check_policy()
        else:
            self._check_agents_file()
        self._check_auth()
        self._check_shared_state()
        self._check_guardrails()
        return self

    def _check_guardrails(self) -> None:
        if self.guardrail_url is not None:
            parts = urlsplit(self.guardrail_url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ValueError("RELAY_GUARDRAIL_URL must be an https:// URL")
            if parts.scheme == "http" and not is_loopback_host(parts.hostname):
                raise ValueError(
                    "RELAY_GUARDRAIL_URL must use https:// (http:// only for loopback hosts)"
                )
        blocklist = self.guardrail_blocklist_file
        if blocklist is not None and not blocklist.is_file():
            raise ValueError(f"RELAY_GUARDRAIL_BLOCKLIST_FILE does not exist: {blocklist}")

    def _check_shared_state(self) -> None:
        if self.redis_url is None:
            return
        parts = urlsplit(self.redis_url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(
                "RELAY_REDIS_URL must look like redis://host:6379/0 or, with TLS, "
                "rediss://:<access key>@<name>.redis.cache.windows.net:6380/0"
            )
        if self.redis_timeout_seconds >= self.upstream_connect_timeout_seconds:
            raise ValueError(
                "RELAY_REDIS_TIMEOUT_SECONDS must be shorter than "
                "RELAY_UPSTREAM_CONNECT_TIMEOUT_SECONDS, so a hung Redis cannot hold a handshake"
            )

    def _check_agents_file(self) -> None:
        assert self.agents_file is not None
        if not self.agents_file.is_file():
            raise ValueError(f"RELAY_AGENTS_FILE does not exist: {self.agents_file}")
        beside = [env_names(name)[0] for name in POLICY_FIELDS if name in self.model_fields_set]
        if beside:
            raise ValueError(
                f"{', '.join(beside)} cannot be set beside RELAY_AGENTS_FILE: move "
                "them into the agents file, as fields of each agent"
            )

    def _check_auth(self) -> None:
        if self.auth == "token":
            if not self.auth_tokens:
                raise ValueError(
                    "RELAY_AUTH=token (the default) needs RELAY_AUTH_TOKENS, a comma list of "
                    "identity:token pairs with tokens of at least 16 characters, e.g. "
                    "RELAY_AUTH_TOKENS=web:<random token>. Use RELAY_AUTH=jwt for signed tokens, "
                    "or RELAY_AUTH=none for a local demo only"
                )
            parse_token_pairs(self.auth_tokens)  # refuses malformed pairs and short tokens
        backend = parse_token_pairs(self.backend_tokens, "RELAY_BACKEND_TOKENS")
        if set(backend) & set(parse_token_pairs(self.auth_tokens)):
            raise ValueError(
                "RELAY_BACKEND_TOKENS and RELAY_AUTH_TOKENS share a token: a backend token "
                "can mint client secrets, so it must never be given to a client"
            )
        elif self.auth == "jwt":
            missing = [
                name
                for name, value in (
                    ("RELAY_JWT_ISSUER", self.jwt_issuer),
                    ("RELAY_JWT_AUDIENCE", self.jwt_audience),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"RELAY_AUTH=jwt needs {' and '.join(missing)}")
            if not self.jwt_jwks_url and not self.jwt_secret:
                raise ValueError("RELAY_AUTH=jwt needs RELAY_JWT_JWKS_URL or RELAY_JWT_SECRET")
            if self.jwt_secret is not None and len(self.jwt_secret) < _MIN_SECRET_LENGTH:
                raise ValueError(
                    f"RELAY_JWT_SECRET must be at least {_MIN_SECRET_LENGTH} characters"
                )
            if self.jwt_jwks_url:
                parts = urlsplit(self.jwt_jwks_url)
                if parts.scheme != "https" and not (
                    parts.scheme == "http" and is_loopback_host(parts.hostname)
                ):
                    raise ValueError(
                        "RELAY_JWT_JWKS_URL must use https:// (http:// only for loopback hosts)"
                    )
        secret = self.tools_signing_secret
        if secret is not None and len(secret) < _MIN_SECRET_LENGTH:
            raise ValueError(
                f"RELAY_TOOLS_SIGNING_SECRET must be at least {_MIN_SECRET_LENGTH} characters"
            )
        try:
            AddressSet(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"RELAY_TRUSTED_PROXIES: {exc}") from None
        for origin in self.allowed_origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"RELAY_ALLOWED_ORIGINS entries must be exact origins like "
                    f"https://app.example.com, or *: got {origin!r}"
                )

    def _check_upstream(self) -> None:
        if self.upstream == "azure" and self.agents_file is None:
            missing = [
                name
                for name, value in (
                    ("AZURE_OPENAI_ENDPOINT", self.azure_endpoint),
                    ("AZURE_OPENAI_DEPLOYMENT", self.azure_deployment),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"RELAY_UPSTREAM=azure needs {' and '.join(missing)}; "
                    "set RELAY_UPSTREAM=simulator to run against the local simulator"
                )
        if self.azure_endpoint:
            problem = endpoint_problem(self.azure_endpoint, self.upstream)
            if problem:
                raise ValueError(f"AZURE_OPENAI_ENDPOINT {problem}")

    def _check_policy(self) -> None:
        if self.instructions is not None and self.instructions_file is not None:
            raise ValueError("set RELAY_INSTRUCTIONS or RELAY_INSTRUCTIONS_FILE, not both")
        if self.instructions_file is not None and not self.instructions_file.is_file():
            raise ValueError(f"RELAY_INSTRUCTIONS_FILE does not exist: {self.instructions_file}")
        if self.tools_file is not None and not self.tools_file.is_file():
            raise ValueError(f"RELAY_TOOLS_FILE does not exist: {self.tools_file}")
        problems = policy_problems(
            self.dialect, self.session, self.allowed_client_events, self.client_session_fields
        )
        if problems:
            field, message = problems[0]
            raise ValueError(f"{env_names(field)[0]} {message}")

    @property
    def shutdown_budget_seconds(self) -> float:
        """The longest a SIGTERM can take to stop the process: the drain, then the
        closing of what is left, then uvicorn's own bounded shutdown."""
        return self.drain_seconds + CLOSE_AFTER_DRAIN_SECONDS + SERVER_SHUTDOWN_SECONDS

    @property
    def dialect(self) -> Dialect:
        """The protocol dialect chosen by the api-version (unset or `v1` is GA)."""
        return dialect_for_version(self.azure_api_version)

    @property
    def deployment(self) -> str:
        """The upstream deployment; the simulator accepts any name."""
        return self.azure_deployment or "gpt-realtime"

    @property
    def effective_client_session_fields(self) -> tuple[str, ...]:
        if self.client_session_fields is not None:
            return self.client_session_fields
        return self.dialect.default_client_session_fields


def env_names(field_name: str) -> tuple[str, ...]:
    """The environment variable names that set a `Settings` field, canonical first."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    if isinstance(alias, str):
        return (alias,)
    return (f"RELAY_{field_name.upper()}",)
