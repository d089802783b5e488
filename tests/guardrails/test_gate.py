"""Playbooks for the pure guardrail gate: frames in, the commands it asks for out."""

from __future__ import annotations

import re
from typing import Any

import orjson

from app.guardrails import CheckText, GuardClient, GuardEnd, GuardrailGate, GuardUpstream

PREFIX = "relay_guard_x_"


def gate(
    refusal: str | None = None, blocklist: str | None = None, max_violations: int = 3
) -> GuardrailGate:
    pattern = re.compile(blocklist, re.IGNORECASE) if blocklist else None
    return GuardrailGate(
        prefix=PREFIX,
        refusal=refusal,
        max_violations=max_violations,
        blocklist=(lambda text: bool(pattern.search(text))) if pattern else None,
        check_output=True,
        delivered_ms=lambda item_id: 480 if item_id == "out_1" else None,
    )


def frame(**event: Any) -> str:
    return orjson.dumps(event).decode()


def user_item(item_id: str, text: str) -> str:
    item: dict[str, Any] = {"id": item_id, "type": "message", "role": "user"}
    item["content"] = [{"type": "input_text", "text": text}]
    return frame(type="conversation.item.added", item=item)


def take(g: GuardrailGate) -> list[Any]:
    commands = list(g.commands)
    g.commands.clear()
    return commands


def sent(commands: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(c.text) for c in commands if isinstance(c, GuardUpstream)]


CREATE = '{"type":"response.create","event_id":"mine"}'


def item_create(text: str, item_id: str | None = None) -> str:
    item: dict[str, Any] = {"type": "message", "role": "user"}
    item["content"] = [{"type": "input_text", "text": text}]
    if item_id is not None:
        item["id"] = item_id
    return frame(type="conversation.item.create", item=item)


def test_a_text_turn_is_checked_at_once_and_the_held_response_create_goes_on_pass() -> None:
    g = gate()
    assert g.client("conversation.item.create", item_create("hello")) is False
    (check,) = take(g)  # checked from the client's own item, before the upstream echoes it
    assert (check.direction, check.text) == ("input", "hello")
    assert g.client("response.create", CREATE) is True  # held: the turn is pending
    g.verdict(check, True)
    assert [c.text for c in take(g)] == [CREATE]  # the client's own, not a second one
    assert g.client("response.create", CREATE) is False  # nothing pending: forwarded
    assert g.upstream("conversation.item.added", user_item("u1", "hello"))
    assert take(g) == []


def test_a_blocked_text_turn_is_deleted_once_its_id_is_known() -> None:
    g = gate()
    g.client("conversation.item.create", item_create("bad"))
    (check,) = take(g)
    g.verdict(check, False)
    assert [type(c) for c in take(g)] == [GuardClient]  # no id yet: the delete waits
    g.upstream("conversation.item.created", user_item("u9", "bad"))
    g.upstream("conversation.item.added", user_item("u9", "bad"))  # GA echoes twice
    (delete,) = sent(take(g))
    assert delete["item_id"] == "u9"


def test_a_client_named_item_is_deleted_by_its_own_id() -> None:
    g = gate()
    g.client("conversation.item.create", item_create("bad", "mine_1"))
    (check,) = take(g)
    g.verdict(check, False)
    (delete,) = sent(take(g))
    assert delete["item_id"] == "mine_1"


def test_a_passing_turn_without_a_client_request_is_answered_by_the_relay() -> None:
    g = gate()
    g.upstream(
        "input_audio_buffer.committed", frame(type="input_audio_buffer.committed", item_id="a1")
    )
    audio_item = {
        "id": "a1",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio"}],
    }
    g.upstream("conversation.item.added", frame(type="conversation.item.added", item=audio_item))
    assert take(g) == []  # the audio turn waits for its transcript
    assert g.client("response.create", CREATE) is True
    g.upstream(
        "conversation.item.input_audio_transcription.completed",
        frame(
            type="conversation.item.input_audio_transcription.completed",
            item_id="a1",
            transcript="what is the weather",
        ),
    )
    (check,) = take(g)
    assert check.text == "what is the weather"
    g.verdict(check, True)
    assert [c.text for c in take(g)] == [CREATE]


def test_a_block_deletes_the_item_tells_the_client_and_speaks_the_refusal() -> None:
    g = gate(refusal="I can't help with that.")
    g.client("conversation.item.create", item_create("bad words"))
    assert g.client("response.create", CREATE) is True
    g.upstream("conversation.item.added", user_item("u1", "bad words"))
    (check,) = take(g)
    g.verdict(check, False)
    commands = take(g)
    delete, refusal = sent(commands)
    assert delete["type"] == "conversation.item.delete"
    assert delete["item_id"] == "u1"
    assert delete["event_id"].startswith(PREFIX)
    assert refusal["type"] == "response.create"
    assert refusal["response"]["input"] == []
    assert refusal["response"]["instructions"].endswith("I can't help with that.")
    assert GuardClient("guardrail_blocked", "The guardrail blocked this turn.") in commands
    assert CREATE not in [c.text for c in commands if isinstance(c, GuardUpstream)]  # dropped
    assert g.blocks == 1


def test_without_a_refusal_a_block_is_silence_and_enough_blocks_end_the_session() -> None:
    g = gate(max_violations=2)
    for index in range(2):
        g.client("conversation.item.create", item_create("bad"))
        g.upstream("conversation.item.added", user_item(f"u{index}", "bad"))
        (check,) = take(g)
        g.verdict(check, False)
        commands = take(g)
        assert [e["type"] for e in sent(commands)] == ["conversation.item.delete"]
    assert isinstance(commands[-1], GuardEnd)


def test_a_failed_transcription_is_checked_as_no_text() -> None:
    g = gate()
    g.upstream(
        "input_audio_buffer.committed", frame(type="input_audio_buffer.committed", item_id="a1")
    )
    g.upstream(
        "conversation.item.input_audio_transcription.failed",
        frame(type="conversation.item.input_audio_transcription.failed", item_id="a1"),
    )
    assert take(g) == [CheckText("a1", "input", None)]


def test_items_that_are_not_user_text_are_not_held() -> None:
    g = gate()
    output = {"type": "function_call_output", "call_id": "c", "output": "{}"}
    g.client("conversation.item.create", frame(type="conversation.item.create", item=output))
    assert g.client("response.create", CREATE) is False
    assert take(g) == []


def test_an_upstream_error_forgets_the_oldest_unnamed_turn() -> None:
    g = gate()
    g.client("conversation.item.create", item_create("bad"))
    (check,) = take(g)
    g.upstream("error", frame(type="error", error={"code": "invalid_value"}))
    g.verdict(check, False)
    g.upstream("conversation.item.added", user_item("later", "other"))
    assert sent(take(g)) == []  # the later item is not taken for the refused one


def test_an_output_blocklist_hit_cancels_mutes_and_truncates_at_the_delivered_audio() -> None:
    g = gate(blocklist=r"launch\s+code")
    delta = "response.output_audio_transcript.delta"
    assert g.upstream(delta, frame(type=delta, item_id="out_1", delta="The launch "))
    assert not g.upstream(delta, frame(type=delta, item_id="out_1", delta="code is 7"))
    commands = take(g)
    cancel, truncate = sent(commands)
    assert cancel["type"] == "response.cancel"
    assert truncate == {
        "type": "conversation.item.truncate",
        "event_id": truncate["event_id"],
        "item_id": "out_1",
        "content_index": 0,
        "audio_end_ms": 480,
    }
    assert GuardClient("guardrail_blocked", "The guardrail stopped this answer.") in commands
    audio = '{"type":"response.output_audio.delta","item_id":"out_1","delta":"AAAA"}'
    assert g.is_muted(audio)
    assert g.is_muted(audio.encode())  # the same delta still in its ASCII bytes
    assert not g.is_muted(audio.replace("out_1", "out_9").encode())
    assert g.is_muted(b'{"type":"response.output_audio.delta","item_id":"out\\u005f1"}')
    assert not g.upstream("response.output_audio.delta", audio)
    assert not g.upstream(delta, frame(type=delta, item_id="out_1", delta="more"))
    done = "response.output_audio_transcript.done"
    assert not g.upstream(done, frame(type=done, item_id="out_1", transcript="x"))
    assert g.blocks == 0  # the model's answer, not the user's turn: no violation


def test_a_completed_output_is_checked_and_a_block_mutes_it() -> None:
    g = gate()
    done = "response.output_text.done"
    assert g.upstream(done, frame(type=done, item_id="out_2", text="final answer"))
    (check,) = take(g)
    assert check == CheckText("out_2", "output", "final answer")
    g.verdict(check, False)
    commands = take(g)
    assert [e["type"] for e in sent(commands)] == ["response.cancel"]  # no audio: no truncate
    assert "out_2" in g.muted
    g.verdict(check, False)  # twice: nothing more
    assert take(g) == []


def test_escaped_deltas_are_read_with_a_parse() -> None:
    g = gate(blocklist="secret")
    delta = "response.output_text.delta"
    assert not g.upstream(delta, frame(type=delta, item_id="o", delta='the "secret"'))
