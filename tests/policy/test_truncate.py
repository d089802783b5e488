"""Truncation against the audio the client was sent: clamped, refused or passed on."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from app.policy import GA, PREVIEW, ClientPolicy, Dialect, Forward, Refuse, Rewrite
from app.policy.audio import AudioLedger, bytes_per_ms
from tests.policy.factories import make_policy


def delta(item_id: str, pcm_bytes: int, kind: str = "response.output_audio.delta") -> str:
    payload = base64.b64encode(bytes(pcm_bytes)).decode()
    return orjson.dumps({"type": kind, "item_id": item_id, "delta": payload}).decode()


def added(item_id: str, role: str = "assistant") -> str:
    item = {"id": item_id, "type": "message", "role": role, "content": []}
    return orjson.dumps({"type": "response.output_item.added", "item": item}).decode()


def truncate(item_id: str, end: Any) -> str:
    return orjson.dumps(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": end,
        }
    ).decode()


def ledger_with(**items: int) -> AudioLedger:
    """Items and the pcm16 bytes delivered of each (0: added, no audio yet)."""
    ledger = AudioLedger()
    for item_id, size in items.items():
        ledger.item_added(added(item_id))
        if size:
            ledger.delta(delta(item_id, size))
    return ledger


@pytest.mark.parametrize("dialect", [GA, PREVIEW], ids=["ga", "preview"])
def test_an_overshooting_truncate_is_clamped_to_the_audio_delivered(dialect: Dialect) -> None:
    policy: ClientPolicy = make_policy(dialect)
    ledger = ledger_with(item_a=48 * 1200)  # 1.2 s of pcm16 at 24 kHz
    decision = policy.decide(truncate("item_a", 57340), None, ledger)
    assert type(decision) is Rewrite
    assert orjson.loads(decision.text)["audio_end_ms"] == 1200


@pytest.mark.parametrize("end", [0, 1, 1199, 1200])
def test_a_truncate_within_the_audio_delivered_is_forwarded_unchanged(end: int) -> None:
    decision = make_policy(GA).decide(truncate("item_a", end), None, ledger_with(item_a=57600))
    assert type(decision) is Forward


def test_a_truncate_of_an_item_with_no_audio_yet_is_refused() -> None:
    decision = make_policy(GA).decide(truncate("item_a", 500), None, ledger_with(item_a=0))
    assert type(decision) is Refuse
    assert (decision.code, decision.param) == ("nothing_to_truncate", "item_id")


def test_a_truncate_of_an_item_the_relay_has_not_seen_is_left_to_the_upstream() -> None:
    decision = make_policy(GA).decide(truncate("item_x", 99999), None, ledger_with(item_a=960))
    assert type(decision) is Forward


@pytest.mark.parametrize("end", [-1, 1.5, "100", None, True])
def test_a_truncate_without_a_non_negative_integer_end_is_invalid(end: Any) -> None:
    decision = make_policy(GA).decide(truncate("item_a", end), None, ledger_with(item_a=960))
    assert type(decision) is Refuse
    assert (decision.code, decision.param) == ("invalid_event", "audio_end_ms")


def test_audio_of_other_roles_and_unknown_frames_is_not_counted() -> None:
    ledger = AudioLedger()
    ledger.item_added(added("user_item", role="user"))
    assert ledger.delivered_ms("user_item") is None
    ledger.delta('{"type":"response.output_audio.delta","delta":"AAAA"}')  # no item id
    ledger.delta('{"type":"response.output_audio.delta","item_id":"i"}')  # no delta
    assert ledger.delivered_ms("i") is None
    assert ledger.delivered_ms(None) is None


@pytest.mark.parametrize(
    ("pcm_bytes", "escaped"), [(960, False), (961, False), (962, False), (4800, True)]
)
def test_the_decoded_size_comes_from_the_base64_length(pcm_bytes: int, escaped: bool) -> None:
    """Padding is subtracted; a JSON escape (`\\/`) counts as the one character it is."""
    frame = delta("i", pcm_bytes)
    if escaped:
        frame = frame.replace("/", "\\/")
    ledger = AudioLedger()
    ledger.per_ms = 1  # count bytes
    ledger.delta(frame)
    ledger.delta(delta("i", 48))
    assert ledger.delivered_ms("i") == pcm_bytes + 48


@pytest.mark.parametrize(
    ("pcm_bytes", "escaped"), [(0, False), (1, False), (2, False), (3, False), (4800, True)]
)
def test_a_delta_in_ascii_bytes_counts_as_its_text_does(pcm_bytes: int, escaped: bool) -> None:
    """`ascii_delta` (the frame as it came, undecoded) adds what `delta` adds for its text."""
    frame = delta("i", pcm_bytes)
    if escaped:
        frame = frame.replace("/", "\\/")
    as_text, as_bytes = AudioLedger(), AudioLedger()
    for ledger in (as_text, as_bytes):
        ledger.per_ms = 1
    as_text.delta(frame)
    as_bytes.ascii_delta(frame.encode())
    assert as_bytes.delivered_ms("i") == as_text.delivered_ms("i") == pcm_bytes


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type":"response.output_audio.delta","delta":"AAAA"}',
        b'{"type":"response.output_audio.delta","item_id":"i"}',
        b'{"type":"response.output_audio.delta","item_id":"i","delta":"AAAA',
        b'{"type":"response.output_audio.delta","item_id":"i\\u0041","delta":"AAAA"}',
    ],
    ids=["no-item-id", "no-delta", "unterminated-delta", "escaped-item-id"],
)
def test_an_ascii_delta_without_a_plain_item_and_payload_is_not_counted(frame: bytes) -> None:
    ledger = AudioLedger()
    ledger.ascii_delta(frame)
    assert ledger.delivered_ms("i") is None
    assert ledger.delivered_ms("iA") is None


def test_an_assistant_item_spelled_with_spaces_is_still_seen() -> None:
    ledger = AudioLedger()
    ledger.item_added(
        '{"type": "response.output_item.added", "item": {"id": "i", "role": "assistant"}}'
    )
    assert ledger.delivered_ms("i") == 0


@pytest.mark.parametrize(
    ("session", "per_ms"),
    [
        ({"audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}}, 48),
        ({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}, 8),
        ({"audio": {"output": {"format": {"type": "audio/pcma"}}}}, 8),
        ({"output_audio_format": "pcm16"}, 48),
        ({"output_audio_format": "g711_ulaw"}, 8),
        ({"audio": {"output": {}}}, None),
        ({}, None),
    ],
)
def test_the_output_format_sets_the_bytes_per_millisecond(
    session: dict[str, Any], per_ms: int | None
) -> None:
    assert bytes_per_ms(session) == per_ms


def test_g711_audio_is_eight_bytes_per_millisecond() -> None:
    ledger = ledger_with(item_a=800)
    ledger.per_ms = 8
    assert ledger.delivered_ms("item_a") == 100


def test_the_ledger_is_bounded() -> None:
    ledger = AudioLedger()
    for index in range(300):
        ledger.item_added(added(f"item_{index}"))
    assert ledger.delivered_ms("item_0") is None  # forgotten, oldest first
    assert ledger.delivered_ms("item_299") == 0
