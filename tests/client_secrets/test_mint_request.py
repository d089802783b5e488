"""The mint request body, the OpenAI and Azure GA shape, checked before anything is minted."""

from __future__ import annotations

import orjson
import pytest

from app.client_secrets import MintError, MintRequest, end_user, parse_mint_request


def parse(body: object) -> MintRequest:
    return parse_mint_request(orjson.dumps(body))


def test_the_sdk_shape_gives_the_agent_the_seconds_and_the_session() -> None:
    request = parse(
        {
            "expires_after": {"anchor": "created_at", "seconds": 120},
            "session": {
                "type": "realtime",
                "model": "support",
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            },
        }
    )
    assert request == MintRequest(
        "support", 120, {"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
    )


def test_an_empty_body_mints_the_default_agent_for_600_seconds() -> None:
    assert parse_mint_request(b"") == MintRequest(None, 600, {})
    assert parse({}) == MintRequest(None, 600, {})
    assert parse({"expires_after": {"seconds": 10}}).seconds == 10
    assert parse({"expires_after": {"seconds": 7200}}).seconds == 7200


BAD: list[tuple[str, bytes, str | None]] = [
    ("not json", b"{", None),
    ("not an object", b"[]", None),
    ("unknown top key", b'{"client_secret": {}}', "client_secret"),
    ("too short", b'{"expires_after": {"seconds": 9}}', "expires_after.seconds"),
    ("too long", b'{"expires_after": {"seconds": 7201}}', "expires_after.seconds"),
    ("not an int", b'{"expires_after": {"seconds": 60.5}}', "expires_after.seconds"),
    ("a bool", b'{"expires_after": {"seconds": true}}', "expires_after.seconds"),
    ("other anchor", b'{"expires_after": {"anchor": "now"}}', "expires_after.anchor"),
    ("expires not object", b'{"expires_after": 60}', "expires_after"),
    ("session not object", b'{"session": "x"}', "session"),
    ("transcription", b'{"session": {"type": "transcription"}}', "session.type"),
    ("model not a string", b'{"session": {"model": 5}}', "session.model"),
]


@pytest.mark.parametrize(("case", "body", "param"), BAD, ids=[c[0] for c in BAD])
def test_a_bad_request_is_refused_with_400_naming_the_param(
    case: str, body: bytes, param: str | None
) -> None:
    with pytest.raises(MintError) as refused:
        parse_mint_request(body)
    assert refused.value.status == 400
    assert refused.value.code == "invalid_request_error"
    assert refused.value.param == param


def test_a_huge_body_is_refused_with_413() -> None:
    with pytest.raises(MintError) as refused:
        parse_mint_request(b" " * (64 * 1024 + 1))
    assert refused.value.status == 413


@pytest.mark.parametrize("header", ["", "a b", "x" * 129, "ü", "a\r\nb"])
def test_a_bad_end_user_header_is_refused(header: str) -> None:
    with pytest.raises(MintError):
        end_user(header)


def test_an_end_user_header_is_kept_as_given() -> None:
    assert end_user("alice@example.com") == "alice@example.com"
    assert end_user(None) is None
