"""The guardrail checker against a real webhook, and the blocklist file's rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web

from app.guardrails import Guardrails, GuardrailsError, load_blocklist
from app.guardrails.checker import GuardrailChecker
from tests.support.relay_process import run_relay_to_exit
from tests.support.tool_server import ToolRequest, ToolServer


def guardrails(url: str | None, mode: str = "closed", blocklist: str = "") -> Guardrails:
    return Guardrails(
        url=url,
        blocklist=(re.compile(blocklist, re.IGNORECASE),) if blocklist else (),
        refusal=None,
        max_violations=3,
        timeout_seconds=1.0,
        failure_mode=mode,  # type: ignore[arg-type]
        transcription_model="whisper-1",
    )


def reply(body: bytes, status: int = 200):  # type: ignore[no-untyped-def]
    async def behaviour(_: ToolRequest) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type="application/json")

    return behaviour


@pytest.mark.parametrize(
    ("body", "status", "mode", "allowed", "verdict"),
    [
        (b'{"allow":true}', 200, "closed", True, "allow"),
        (b'{"allow":false}', 200, "open", False, "block"),
        (b'{"allow":"yes"}', 200, "closed", False, "error_block"),
        (b'{"allow":true}', 500, "closed", False, "error_block"),
        (b"not json", 200, "open", True, "error_allow"),
    ],
)
async def test_the_webhook_answer_or_the_failure_mode_decides(
    body: bytes, status: int, mode: str, allowed: bool, verdict: str
) -> None:
    seen: list[tuple[str, str]] = []
    async with ToolServer({"/check": reply(body, status)}) as server:
        checker = GuardrailChecker(
            guardrails(server.url("/check"), mode),
            signing_secret=None,
            observe=lambda d, v, _: seen.append((d, v)),
        )
        await checker.start()
        try:
            result = await checker.check(
                "input", "hello", session_id="rs_1", identity=None, agent="default"
            )
        finally:
            await checker.aclose()
    assert result is allowed
    assert seen == [("input", verdict)]
    assert "x-relay-signature" not in {k.lower() for k in server.requests[0].headers}


async def test_the_blocklist_decides_first_and_no_text_follows_the_failure_mode() -> None:
    seen: list[str] = []
    checker = GuardrailChecker(
        guardrails(None, "open", r"\bcode\b"),
        signing_secret=None,
        observe=lambda d, v, _: seen.append(v),
    )
    await checker.start()
    assert not await checker.check("output", "the CODE", session_id="s", identity="a", agent="d")
    assert await checker.check("input", "codec", session_id="s", identity="a", agent="d")
    assert await checker.check("input", None, session_id="s", identity="a", agent="d")
    await checker.aclose()
    assert seen == ["block", "allow", "error_allow"]


def test_a_blocklist_skips_comments_and_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.txt"
    path.write_text("# comment\n\nfoo\\s+bar\n", encoding="utf-8")
    (pattern,) = load_blocklist(path)
    assert pattern.search("FOO   BAR")
    path.write_text("ok\n([unclosed\n", encoding="utf-8")
    with pytest.raises(GuardrailsError, match="line 2"):
        load_blocklist(path)
    with pytest.raises(GuardrailsError, match="cannot be read"):
        load_blocklist(tmp_path / "missing.txt")


async def test_a_bad_blocklist_stops_startup_with_status_2(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.txt"
    path.write_text("([unclosed\n", encoding="utf-8")
    returncode, stderr = await run_relay_to_exit(
        tmp_path,
        RELAY_UPSTREAM="simulator",
        RELAY_AUTH="none",
        RELAY_GUARDRAIL_BLOCKLIST_FILE=str(path),
    )
    assert returncode == 2
    assert b"RELAY_GUARDRAIL_BLOCKLIST_FILE" in stderr
    assert b"line 1" in stderr
