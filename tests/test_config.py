"""Settings: env var names, validation rules and the dialect they select."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.agents import default_agent
from app.auth.tokens import parse_token_pairs
from app.config import (
    DEFAULT_CLIENT_EVENTS,
    DEFAULT_RESPONSE_FIELDS,
    Settings,
)
from app.launcher import describe_validation_error
from app.net import is_loopback_host
from app.policy import GA, PREVIEW, Dialect

_PREFIXES = ("RELAY_", "AZURE_", "OPENAI_")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An empty relay environment in a directory without `.env`: simulator, no client auth."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RELAY_UPSTREAM", "simulator")
    monkeypatch.setenv("RELAY_AUTH", "none")
    return monkeypatch


@pytest.fixture
def azure_env(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A complete Azure upstream configuration."""
    env.setenv("RELAY_UPSTREAM", "azure")
    env.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    env.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt-realtime")
    return env


# -- defaults and names -----------------------------------------------------


def test_defaults_select_ga_and_the_default_policy(env: pytest.MonkeyPatch) -> None:
    """With nothing set (simulator), the relay is GA with the documented default lists."""
    settings = Settings()
    assert settings.dialect is GA
    assert settings.allowed_client_events == DEFAULT_CLIENT_EVENTS
    assert settings.client_response_fields == DEFAULT_RESPONSE_FIELDS
    assert settings.client_item_roles == ("user",)
    assert settings.client_tool_outputs is False
    assert settings.client_session_fields is None
    assert settings.effective_client_session_fields == GA.default_client_session_fields
    assert settings.session == {}
    assert default_agent(settings).instructions is None
    assert settings.deployment == "gpt-realtime"
    assert settings.port == 8000


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        pytest.param("AZURE_OPENAI_DEPLOYMENT", "azure_deployment", id="AZURE_OPENAI_DEPLOYMENT"),
        pytest.param(
            "AZURE_OPENAI_DEPLOYMENT_NAME", "azure_deployment", id="AZURE_OPENAI_DEPLOYMENT_NAME"
        ),
        pytest.param(
            "AZURE_OPENAI_REALTIME_DEPLOYMENT",
            "azure_deployment",
            id="AZURE_OPENAI_REALTIME_DEPLOYMENT",
        ),
        pytest.param(
            "AZURE_OPENAI_API_VERSION", "azure_api_version", id="AZURE_OPENAI_API_VERSION"
        ),
        pytest.param("OPENAI_API_VERSION", "azure_api_version", id="OPENAI_API_VERSION"),
        pytest.param("AZURE_OPENAI_API_KEY", "azure_api_key", id="AZURE_OPENAI_API_KEY"),
        pytest.param("RELAY_INSTRUCTIONS", "instructions", id="RELAY_INSTRUCTIONS"),
    ],
)
def test_each_env_var_name_sets_its_field(
    env: pytest.MonkeyPatch, name: str, attribute: str
) -> None:
    """Every accepted env var name, aliases included, sets the matching setting."""
    env.setenv(name, "2025-04-01-preview")
    assert getattr(Settings(), attribute) == "2025-04-01-preview"


def test_canonical_deployment_name_wins_over_aliases(env: pytest.MonkeyPatch) -> None:
    """When several deployment names are set, AZURE_OPENAI_DEPLOYMENT is used."""
    env.setenv("AZURE_OPENAI_REALTIME_DEPLOYMENT", "third")
    env.setenv("AZURE_OPENAI_DEPLOYMENT_NAME", "second")
    env.setenv("AZURE_OPENAI_DEPLOYMENT", "first")
    settings = Settings()
    assert settings.azure_deployment == "first"
    assert settings.deployment == "first"


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        pytest.param(
            "RELAY_ALLOWED_CLIENT_EVENTS",
            " session.update, response.create ,,",
            "allowed_client_events",
            ("session.update", "response.create"),
            id="events-trimmed-and-empties-dropped",
        ),
        pytest.param(
            "RELAY_CLIENT_ITEM_ROLES",
            "user,assistant",
            "client_item_roles",
            ("user", "assistant"),
            id="item-roles",
        ),
        pytest.param(
            "RELAY_CLIENT_RESPONSE_FIELDS",
            "conversation",
            "client_response_fields",
            ("conversation",),
            id="response-fields",
        ),
        pytest.param(
            "RELAY_CLIENT_SESSION_FIELDS",
            "output_modalities, audio.input.format",
            "effective_client_session_fields",
            ("output_modalities", "audio.input.format"),
            id="session-fields",
        ),
        pytest.param(
            "RELAY_CLIENT_SESSION_FIELDS",
            "",
            "effective_client_session_fields",
            (),
            id="empty-session-fields-allow-nothing",
        ),
    ],
)
def test_comma_lists_are_split_and_trimmed(
    env: pytest.MonkeyPatch, name: str, value: str, attribute: str, expected: tuple[str, ...]
) -> None:
    """Comma-separated env vars become tuples of trimmed, non-empty names."""
    env.setenv(name, value)
    assert getattr(Settings(), attribute) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("true", True, id="true"),
        pytest.param("1", True, id="one"),
        pytest.param("false", False, id="false"),
    ],
)
def test_tool_outputs_flag_is_parsed_as_boolean(
    env: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    """RELAY_CLIENT_TOOL_OUTPUTS accepts the usual boolean spellings."""
    env.setenv("RELAY_CLIENT_TOOL_OUTPUTS", value)
    assert Settings().client_tool_outputs is expected


def test_log_level_is_case_insensitive(env: pytest.MonkeyPatch) -> None:
    """RELAY_LOG_LEVEL is upper-cased before validation."""
    env.setenv("RELAY_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"


def test_dotenv_file_in_working_directory_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A `.env` file in the working directory supplies settings."""
    (tmp_path / ".env").write_text("RELAY_PORT=9123\n", encoding="utf-8")
    assert Settings().port == 9123


def test_settings_are_frozen(env: pytest.MonkeyPatch) -> None:
    """Settings cannot be changed after they are built."""
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_secrets_are_kept_out_of_repr(env: pytest.MonkeyPatch) -> None:
    """The API key, instructions and session do not appear in the settings' repr."""
    env.setenv("AZURE_OPENAI_API_KEY", "key-sekrit-123")
    env.setenv("RELAY_INSTRUCTIONS", "prompt-sekrit")
    text = repr(Settings())
    assert "key-sekrit-123" not in text
    assert "prompt-sekrit" not in text


# -- upstream ---------------------------------------------------------------


def test_azure_upstream_with_everything_set_is_accepted(azure_env: pytest.MonkeyPatch) -> None:
    """RELAY_UPSTREAM=azure with an https endpoint and a deployment is valid."""
    settings = Settings()
    assert settings.upstream == "azure"
    assert settings.deployment == "gpt-realtime"


def test_azure_is_the_default_upstream(env: pytest.MonkeyPatch) -> None:
    """Without RELAY_UPSTREAM the relay expects Azure and needs its settings."""
    env.delenv("RELAY_UPSTREAM")
    with pytest.raises(
        ValidationError,
        match="RELAY_UPSTREAM=azure needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT",
    ):
        Settings()


@pytest.mark.parametrize(
    ("unset", "named", "not_named"),
    [
        pytest.param(
            "AZURE_OPENAI_ENDPOINT",
            "AZURE_OPENAI_ENDPOINT",
            "AZURE_OPENAI_DEPLOYMENT",
            id="missing-endpoint",
        ),
        pytest.param(
            "AZURE_OPENAI_DEPLOYMENT",
            "AZURE_OPENAI_DEPLOYMENT",
            "AZURE_OPENAI_ENDPOINT",
            id="missing-deployment",
        ),
    ],
)
def test_azure_upstream_names_the_missing_variable(
    azure_env: pytest.MonkeyPatch, unset: str, named: str, not_named: str
) -> None:
    """A missing Azure setting fails with a message naming exactly that variable."""
    azure_env.delenv(unset)
    with pytest.raises(ValidationError) as info:
        Settings()
    message = describe_validation_error(info.value)
    assert f"needs {named};" in message
    assert not_named not in message


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("http://example.openai.azure.com", id="http-remote"),
        pytest.param("ws://example.openai.azure.com", id="ws-remote"),
        pytest.param("http://10.0.0.5:8080", id="http-private-ip"),
        pytest.param("http://localhost.example.com", id="http-localhost-lookalike"),
    ],
)
def test_insecure_endpoint_is_refused_for_non_loopback_hosts(
    azure_env: pytest.MonkeyPatch, endpoint: str
) -> None:
    """http:// and ws:// Azure endpoints are refused unless the host is loopback."""
    azure_env.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    with pytest.raises(ValidationError, match="AZURE_OPENAI_ENDPOINT must use https://"):
        Settings()


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("http://127.0.0.1:9000", id="ipv4-loopback"),
        pytest.param("http://127.0.0.2", id="ipv4-loopback-range"),
        pytest.param("http://localhost:9000", id="localhost"),
        pytest.param("ws://LOCALHOST", id="localhost-upper-case"),
        pytest.param("http://[::1]:9000", id="ipv6-loopback"),
        pytest.param("https://example.openai.azure.com", id="https"),
        pytest.param("wss://example.openai.azure.com", id="wss"),
    ],
)
def test_secure_or_loopback_endpoint_is_accepted(
    azure_env: pytest.MonkeyPatch, endpoint: str
) -> None:
    """https/wss endpoints and plain-text loopback endpoints are accepted."""
    azure_env.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    assert Settings().azure_endpoint == endpoint


def test_simulator_accepts_an_insecure_remote_endpoint(env: pytest.MonkeyPatch) -> None:
    """With RELAY_UPSTREAM=simulator an http:// endpoint on any host is allowed."""
    env.setenv("AZURE_OPENAI_ENDPOINT", "http://simulator.internal:9000")
    assert Settings().azure_endpoint == "http://simulator.internal:9000"


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("ftp://example.com", id="wrong-scheme"),
        pytest.param("example.openai.azure.com", id="no-scheme"),
        pytest.param("https://", id="no-host"),
    ],
)
def test_malformed_endpoint_is_refused(azure_env: pytest.MonkeyPatch, endpoint: str) -> None:
    """Endpoints that are not http(s)/ws(s) URLs with a host are refused."""
    azure_env.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    with pytest.raises(ValidationError, match="AZURE_OPENAI_ENDPOINT must look like https://"):
        Settings()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param(None, False, id="none"),
        pytest.param("", False, id="empty"),
        pytest.param("localhost", True, id="localhost"),
        pytest.param("LocalHost", True, id="localhost-mixed-case"),
        pytest.param("127.0.0.1", True, id="ipv4"),
        pytest.param("127.255.0.9", True, id="ipv4-range"),
        pytest.param("::1", True, id="ipv6"),
        pytest.param("[::1]", True, id="ipv6-bracketed"),
        pytest.param("10.0.0.1", False, id="private-ipv4"),
        pytest.param("::2", False, id="other-ipv6"),
        pytest.param("example.com", False, id="hostname"),
    ],
)
def test_is_loopback_host(host: str | None, expected: bool) -> None:
    """Only `localhost` and loopback IP literals count as loopback."""
    assert is_loopback_host(host) is expected


# -- dialect and enforced session -------------------------------------------


@pytest.mark.parametrize(
    ("version", "dialect"),
    [
        pytest.param(None, GA, id="unset"),
        pytest.param("v1", GA, id="v1"),
        pytest.param("2025-04-01-preview", PREVIEW, id="2025-04-01-preview"),
        pytest.param("2024-10-01-preview", PREVIEW, id="2024-10-01-preview"),
    ],
)
def test_dialect_is_chosen_by_api_version(
    env: pytest.MonkeyPatch, version: str | None, dialect: Dialect
) -> None:
    """Unset or `v1` selects GA; a dated api-version selects preview, with its defaults."""
    if version is not None:
        env.setenv("OPENAI_API_VERSION", version)
    settings = Settings()
    assert settings.dialect is dialect
    assert settings.effective_client_session_fields == dialect.default_client_session_fields


@pytest.mark.parametrize(
    ("version", "session", "expected"),
    [
        pytest.param(
            None,
            '{"audio":{"output":{"voice":"marin"}}}',
            {"audio": {"output": {"voice": "marin"}}},
            id="ga-voice",
        ),
        pytest.param(None, '{"type":"realtime"}', {"type": "realtime"}, id="ga-explicit-type"),
        pytest.param(
            "2025-04-01-preview", '{"voice":"marin"}', {"voice": "marin"}, id="preview-voice"
        ),
    ],
)
def test_relay_session_json_is_parsed(
    env: pytest.MonkeyPatch, version: str | None, session: str, expected: dict[str, object]
) -> None:
    """RELAY_SESSION is read as a JSON object in the dialect's shape."""
    if version is not None:
        env.setenv("AZURE_OPENAI_API_VERSION", version)
    env.setenv("RELAY_SESSION", session)
    assert Settings().session == expected


def test_invalid_relay_session_json_fails(env: pytest.MonkeyPatch) -> None:
    """RELAY_SESSION that is not JSON stops the settings from being built."""
    env.setenv("RELAY_SESSION", "{voice: marin")
    with pytest.raises(ValueError, match="RELAY_SESSION"):
        Settings()


def test_invalid_relay_session_json_is_a_validation_error_naming_the_variable(
    env: pytest.MonkeyPatch,
) -> None:
    """Bad RELAY_SESSION JSON is reported like every other configuration error."""
    env.setenv("RELAY_SESSION", "{voice: marin")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "RELAY_SESSION is not valid JSON" in describe_validation_error(info.value)


@pytest.mark.parametrize(
    "session",
    [
        pytest.param("[1, 2]", id="array"),
        pytest.param('"marin"', id="string"),
        pytest.param("3", id="number"),
    ],
)
def test_relay_session_must_be_an_object(env: pytest.MonkeyPatch, session: str) -> None:
    """RELAY_SESSION JSON that is not an object is refused, naming the variable."""
    env.setenv("RELAY_SESSION", session)
    with pytest.raises(ValidationError) as info:
        Settings()
    # A JSON string is decoded twice (by pydantic-settings, then the validator),
    # so it fails as "not valid JSON" rather than "must be a JSON object".
    assert "\n  RELAY_SESSION: RELAY_SESSION " in describe_validation_error(info.value)


@pytest.mark.parametrize(
    ("version", "session", "field"),
    [
        pytest.param(None, '{"voice":"marin"}', "voice", id="ga-top-level-voice"),
        pytest.param(None, '{"modalities":["text"]}', "modalities", id="ga-preview-modalities"),
        pytest.param(None, '{"temperature":0.7}', "temperature", id="ga-temperature"),
        pytest.param(
            "2025-04-01-preview", '{"audio":{"output":{"voice":"x"}}}', "audio", id="preview-audio"
        ),
        pytest.param("2025-04-01-preview", '{"type":"realtime"}', "type", id="preview-type"),
        pytest.param(
            "2025-04-01-preview",
            '{"output_modalities":["text"]}',
            "output_modalities",
            id="preview-output-modalities",
        ),
    ],
)
def test_relay_session_field_outside_the_dialect_fails(
    env: pytest.MonkeyPatch, version: str | None, session: str, field: str
) -> None:
    """An enforced session field the dialect does not know is refused by name."""
    if version is not None:
        env.setenv("OPENAI_API_VERSION", version)
    env.setenv("RELAY_SESSION", session)
    with pytest.raises(
        ValidationError,
        match=f"RELAY_SESSION has fields that do not belong to the .* dialect: {field}",
    ):
        Settings()


@pytest.mark.parametrize(
    "session_type",
    [pytest.param('"transcription"', id="transcription"), pytest.param("1", id="number")],
)
def test_ga_relay_session_type_must_be_realtime(env: pytest.MonkeyPatch, session_type: str) -> None:
    """In GA the enforced session can only be of type `realtime`."""
    env.setenv("RELAY_SESSION", '{"type":' + session_type + "}")
    with pytest.raises(ValidationError, match='RELAY_SESSION "type" must be "realtime"'):
        Settings()


# -- instructions -----------------------------------------------------------


def test_instructions_file_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """RELAY_INSTRUCTIONS_FILE is read as UTF-8 when instructions are loaded."""
    path = tmp_path / "instructions.md"
    path.write_text("Réponds en français.\n", encoding="utf-8")
    env.setenv("RELAY_INSTRUCTIONS_FILE", str(path))
    settings = Settings()
    assert settings.instructions_file == path
    assert default_agent(settings).instructions == "Réponds en français.\n"


def test_inline_instructions_are_returned(env: pytest.MonkeyPatch) -> None:
    """RELAY_INSTRUCTIONS is returned as the enforced instructions."""
    env.setenv("RELAY_INSTRUCTIONS", "Be brief.")
    assert default_agent(Settings()).instructions == "Be brief."


def test_missing_instructions_file_fails(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A RELAY_INSTRUCTIONS_FILE that does not exist is refused."""
    env.setenv("RELAY_INSTRUCTIONS_FILE", str(tmp_path / "nope.txt"))
    with pytest.raises(ValidationError, match="RELAY_INSTRUCTIONS_FILE does not exist"):
        Settings()


def test_instructions_and_instructions_file_are_exclusive(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Setting both RELAY_INSTRUCTIONS and RELAY_INSTRUCTIONS_FILE is refused."""
    path = tmp_path / "instructions.txt"
    path.write_text("x", encoding="utf-8")
    env.setenv("RELAY_INSTRUCTIONS_FILE", str(path))
    env.setenv("RELAY_INSTRUCTIONS", "y")
    with pytest.raises(
        ValidationError, match="set RELAY_INSTRUCTIONS or RELAY_INSTRUCTIONS_FILE, not both"
    ):
        Settings()


# -- client policy lists ----------------------------------------------------


@pytest.mark.parametrize(
    ("version", "events", "bad"),
    [
        pytest.param(None, "session.update,foo", "foo", id="ga-unknown"),
        pytest.param(
            None,
            "transcription_session.update",
            "transcription_session.update",
            id="ga-preview-only-event",
        ),
        pytest.param("2025-04-01-preview", "response.create,bar", "bar", id="preview-unknown"),
    ],
)
def test_unknown_event_in_allowed_client_events_fails(
    env: pytest.MonkeyPatch, version: str | None, events: str, bad: str
) -> None:
    """RELAY_ALLOWED_CLIENT_EVENTS may only name events the dialect knows."""
    if version is not None:
        env.setenv("OPENAI_API_VERSION", version)
    env.setenv("RELAY_ALLOWED_CLIENT_EVENTS", events)
    with pytest.raises(
        ValidationError, match=f"RELAY_ALLOWED_CLIENT_EVENTS names unknown client events: {bad}"
    ):
        Settings()


def test_preview_may_not_allow_transcription_session_update(env: pytest.MonkeyPatch) -> None:
    """`transcription_session.update` has no policy, so not even preview may allow it."""
    env.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    env.setenv("RELAY_ALLOWED_CLIENT_EVENTS", "transcription_session.update")
    with pytest.raises(ValidationError, match=r"transcription_session\.update"):
        Settings()


@pytest.mark.parametrize(
    ("version", "fields", "bad"),
    [
        pytest.param(None, "voice", "voice", id="ga-preview-field"),
        pytest.param(None, "type", "type", id="ga-type"),
        pytest.param(None, "output_modalities,nope.x", "nope.x", id="ga-unknown-root"),
        pytest.param(
            "2025-04-01-preview", "audio.input.format", "audio.input.format", id="preview-ga-field"
        ),
    ],
)
def test_client_session_field_outside_the_dialect_fails(
    env: pytest.MonkeyPatch, version: str | None, fields: str, bad: str
) -> None:
    """RELAY_CLIENT_SESSION_FIELDS may only name fields of the dialect's session."""
    if version is not None:
        env.setenv("OPENAI_API_VERSION", version)
    env.setenv("RELAY_CLIENT_SESSION_FIELDS", fields)
    with pytest.raises(
        ValidationError,
        match=f"RELAY_CLIENT_SESSION_FIELDS names fields outside the .* session: {bad}",
    ):
        Settings()


# -- error descriptions -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("RELAY_PORT", "eighty", id="port-not-integer"),
        pytest.param("RELAY_PORT", "70000", id="port-out-of-range"),
        pytest.param("RELAY_LOG_LEVEL", "verbose", id="log-level"),
        pytest.param("RELAY_UPSTREAM", "openai", id="upstream"),
        pytest.param("RELAY_MAX_MESSAGE_BYTES", "0", id="max-message-bytes"),
        pytest.param("RELAY_PING_INTERVAL_SECONDS", "-1", id="ping-interval"),
    ],
)
def test_validation_error_description_names_the_env_var(
    env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """`describe_validation_error` starts each field problem with the env var name."""
    env.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    description = describe_validation_error(info.value)
    assert description.startswith("invalid configuration:\n  ")
    assert f"\n  {name}: " in description


def test_validation_error_description_maps_field_names_to_env_vars(
    env: pytest.MonkeyPatch,
) -> None:
    """Errors located at Python field names are reported under the canonical env var."""
    with pytest.raises(ValidationError) as info:
        Settings(port="eighty", AZURE_OPENAI_API_VERSION=1)
    description = describe_validation_error(info.value)
    assert "\n  RELAY_PORT: " in description
    assert "\n  AZURE_OPENAI_API_VERSION: " in description
    assert "port:" not in description


def test_model_level_error_is_described_without_a_location(env: pytest.MonkeyPatch) -> None:
    """A cross-field problem is described by its message alone, without `Value error`."""
    env.setenv("RELAY_ALLOWED_CLIENT_EVENTS", "foo")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert describe_validation_error(info.value) == (
        "invalid configuration:\n  RELAY_ALLOWED_CLIENT_EVENTS names unknown client events: foo"
    )


# -- client trust (RELAY_AUTH) ----------------------------------------------

TOKEN = "t" * 16


@pytest.fixture
def token_env(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The default token auth mode, with no tokens configured yet."""
    env.delenv("RELAY_AUTH")
    return env


def test_token_auth_is_the_default_and_needs_tokens(token_env: pytest.MonkeyPatch) -> None:
    """Without RELAY_AUTH the relay uses token auth and refuses to start without tokens."""
    with pytest.raises(ValidationError, match="RELAY_AUTH=token \\(the default\\) needs"):
        Settings()


def test_auth_tokens_map_tokens_to_identities(token_env: pytest.MonkeyPatch) -> None:
    """RELAY_AUTH_TOKENS pairs become a token → identity mapping."""
    token_env.setenv("RELAY_AUTH_TOKENS", f"web:{TOKEN}, mobile : {'m' * 20}")
    assert parse_token_pairs(Settings().auth_tokens) == {TOKEN: "web", "m" * 20: "mobile"}


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        pytest.param(TOKEN, "entries must be identity:token", id="no-separator"),
        pytest.param(f":{TOKEN}", "entries must be identity:token", id="no-identity"),
        pytest.param("web:short", "shorter than 16 characters", id="short-token"),
        pytest.param(f"a:{TOKEN},b:{TOKEN}", "two identities share one token", id="shared-token"),
    ],
)
def test_malformed_auth_tokens_fail(
    token_env: pytest.MonkeyPatch, tokens: str, message: str
) -> None:
    """Bad RELAY_AUTH_TOKENS entries are refused at startup."""
    token_env.setenv("RELAY_AUTH_TOKENS", tokens)
    with pytest.raises(ValidationError, match=message):
        Settings()


@pytest.fixture
def jwt_env(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """JWT auth with issuer, audience and a long enough shared secret."""
    env.setenv("RELAY_AUTH", "jwt")
    env.setenv("RELAY_JWT_ISSUER", "https://issuer.example.com")
    env.setenv("RELAY_JWT_AUDIENCE", "relay")
    env.setenv("RELAY_JWT_SECRET", "s" * 32)
    return env


def test_jwt_auth_with_secret_is_accepted(jwt_env: pytest.MonkeyPatch) -> None:
    """JWT auth with issuer, audience and a 32-character secret is valid."""
    assert Settings().auth == "jwt"


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        pytest.param("RELAY_JWT_ISSUER", "RELAY_AUTH=jwt needs RELAY_JWT_ISSUER", id="issuer"),
        pytest.param(
            "RELAY_JWT_AUDIENCE", "RELAY_AUTH=jwt needs RELAY_JWT_AUDIENCE", id="audience"
        ),
        pytest.param(
            "RELAY_JWT_SECRET",
            "RELAY_AUTH=jwt needs RELAY_JWT_JWKS_URL or RELAY_JWT_SECRET",
            id="key",
        ),
    ],
)
def test_jwt_auth_names_the_missing_setting(
    jwt_env: pytest.MonkeyPatch, unset: str, message: str
) -> None:
    """JWT auth without issuer, audience or a key source fails naming what is missing."""
    jwt_env.delenv(unset)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert describe_validation_error(info.value) == "invalid configuration:\n  " + message


def test_jwt_secret_must_be_long_enough(jwt_env: pytest.MonkeyPatch) -> None:
    """A JWT secret shorter than 32 characters is refused."""
    jwt_env.setenv("RELAY_JWT_SECRET", "s" * 31)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings()


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        pytest.param("https://login.example.com/keys", True, id="https"),
        pytest.param("http://127.0.0.1:8080/keys", True, id="http-loopback"),
        pytest.param("http://login.example.com/keys", False, id="http-remote"),
        pytest.param("ftp://127.0.0.1/keys", False, id="other-scheme"),
    ],
)
def test_jwks_url_must_be_https_unless_loopback(
    jwt_env: pytest.MonkeyPatch, url: str, accepted: bool
) -> None:
    """RELAY_JWT_JWKS_URL needs https://, or http:// on a loopback host."""
    jwt_env.delenv("RELAY_JWT_SECRET")
    jwt_env.setenv("RELAY_JWT_JWKS_URL", url)
    if accepted:
        assert Settings().jwt_jwks_url == url
    else:
        with pytest.raises(ValidationError, match="RELAY_JWT_JWKS_URL must use https://"):
            Settings()


@pytest.mark.parametrize(
    ("origins", "accepted"),
    [
        pytest.param("https://app.example.com,http://localhost:3000", True, id="exact-origins"),
        pytest.param("*", True, id="wildcard"),
        pytest.param("https://app.example.com/", False, id="trailing-slash"),
        pytest.param("app.example.com", False, id="no-scheme"),
        pytest.param("https://*.example.com/x", False, id="path"),
    ],
)
def test_allowed_origins_must_be_exact_origins(
    env: pytest.MonkeyPatch, origins: str, accepted: bool
) -> None:
    """RELAY_ALLOWED_ORIGINS entries are `*` or scheme://host[:port] with nothing after."""
    env.setenv("RELAY_ALLOWED_ORIGINS", origins)
    if accepted:
        assert Settings().allowed_origins == tuple(origins.split(","))
    else:
        with pytest.raises(ValidationError, match="RELAY_ALLOWED_ORIGINS entries must be exact"):
            Settings()


def test_log_format_is_case_insensitive(env: pytest.MonkeyPatch) -> None:
    """RELAY_LOG_FORMAT is lower-cased before validation."""
    env.setenv("RELAY_LOG_FORMAT", "JSON")
    assert Settings().log_format == "json"


# -- only documented names configure the relay ------------------------------

BARE_NAMES = {
    "AUTH": "none",
    "PORT": "1",
    "HOST": "10.9.9.9",
    "UPSTREAM": "azure",
    "SESSION": '{"voice": "alloy"}',
    "INSTRUCTIONS": "from a bare name",
    "AUTH_TOKENS": "mallory:0123456789abcdef0123",
    "AZURE_ENDPOINT": "https://attacker.example",
    "RELAY_AZURE_ENDPOINT": "https://attacker.example",
}


def test_bare_field_names_in_the_environment_are_ignored(env: pytest.MonkeyPatch) -> None:
    """`AUTH=none`, `PORT=1` and other bare field names never configure the relay."""
    env.setenv("RELAY_AUTH", "token")
    env.setenv("RELAY_AUTH_TOKENS", "web:0123456789abcdef")
    for name, value in BARE_NAMES.items():
        env.setenv(name, value)
    settings = Settings()
    assert settings.auth == "token"
    assert settings.port == 8000
    assert settings.host == "0.0.0.0"
    assert settings.upstream == "simulator"
    assert settings.session == {}
    assert settings.instructions is None
    assert settings.auth_tokens == ("web:0123456789abcdef",)
    assert settings.azure_endpoint is None


def test_bare_field_names_in_the_dotenv_file_are_ignored(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A `.env` file's bare names are ignored too; only RELAY_* and the Azure names count."""
    env.delenv("RELAY_AUTH")
    (tmp_path / ".env").write_text("AUTH=none\nPORT=1\nRELAY_AUTH=none\n")
    settings = Settings()
    assert settings.auth == "none"
    assert settings.port == 8000
