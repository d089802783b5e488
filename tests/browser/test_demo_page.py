"""The demo page in a real Chromium: microphone to relay to simulator and back, both dialects.

Chromium's fake microphone plays a looped wav (1.5 s of 440 Hz, then 1 s of silence, or
only silence for the text tests). The simulator's voice activity detection hears the
tone, and after 500 ms of silence it answers "I heard N milliseconds of audio." with the
user's own audio echoed back; the next tone starts while that echo plays (barge-in).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, WebSocket, expect

from app.simulator import Simulator
from tests.browser.audio import (
    goertzel_power,
    loudest_run,
    samples_of,
    window_rms,
    zero_crossing_frequency,
)
from tests.e2e.harness import RunningRelay, make_settings, running_relay
from tests.support.examples import example_process
from tests.support.tool_server import ToolServer, answer
from tests.tools.support import client_trace, tools_file

TOKEN = "browser-token-0123456789"
PREVIEW_VERSION = "2025-04-01-preview"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 15_000

# Full-scale * 0.5 / sqrt(2): the RMS of the tone in the wav.
TONE_RMS = 32767 * 0.5 / 2**0.5
DIALECT_LABELS = {"ga": "GA", "preview": "preview"}


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator that requires the relay's api-key."""
    async with Simulator(api_key="sim-key") as sim:
        yield sim


def relay_for(sim: Simulator, dialect: str) -> AbstractAsyncContextManager[RunningRelay]:
    """A token-protected relay in front of `sim` in `dialect`."""
    values: dict[str, Any] = {
        "upstream": "simulator",
        "azure_endpoint": sim.url,
        "azure_deployment": "gpt-realtime",
        "azure_api_key": "sim-key",
        "auth": "token",
        "auth_tokens": (f"web:{TOKEN}",),
    }
    if dialect == "preview":
        # Preview runs with input transcription on, so the user's speech gets a transcript.
        values["azure_api_version"] = PREVIEW_VERSION
        values["session"] = {"input_audio_transcription": {"model": "whisper-1"}}
    return running_relay(make_settings(**values))


async def open_page(browser: BrowserContext, relay: RunningRelay) -> tuple[Page, list[str]]:
    """The demo page from the relay's own origin, with page errors collected."""
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{relay.http_url}/")
    await expect(page.locator("#auth")).to_have_text("auth: token", timeout=TIMEOUT_MS)
    return page, errors


async def connect(page: Page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#connect")


async def wait_for_transcript(page: Page, role: str, text: str) -> None:
    """Wait until some transcript line of `role` contains `text`."""
    await page.wait_for_function(
        "([role, text]) => window.relayDemo.transcript"
        ".some((line) => line.role === role && line.text.includes(text))",
        arg=[role, text],
        timeout=TIMEOUT_MS,
    )


def simulator_events(sim: Simulator, direction: str, event_type: str) -> list[dict[str, Any]]:
    """The events of `event_type` the simulator received from, or sent to, the relay."""
    return [
        event
        for connection in sim.connections
        for event in (
            connection.received_events() if direction == "received" else connection.sent_events()
        )
        if event.get("type") == event_type
    ]


def captured_audio(sim: Simulator) -> tuple[list[int], bytes]:
    """Sizes of every `input_audio_buffer.append` chunk upstream, and their pcm joined."""
    chunks = [
        base64.b64decode(event["audio"])
        for connection in sim.connections
        for event in connection.received_events()
        if event.get("type") == "input_audio_buffer.append"
    ]
    return [len(chunk) for chunk in chunks], b"".join(chunks)


def assert_tone_received(pcm: bytes) -> None:
    """Check that `pcm` carries the wav's 1.5 s of 440 Hz tone, then silence.

    Chromium resamples (48 kHz file, device rate, the page's worklet to 24 kHz) and its
    audio processing (echo cancellation, with noise suppression and gain control) fades a
    steady tone, so samples cannot be compared one by one. Instead: the longest run of
    20 ms windows louder than a tenth of the file's RMS is the tone and lasts 1.2-1.6 s;
    its zero-crossing frequency is within 2% of 440 Hz; its Goertzel power at 440 Hz is
    over 100 times the power at each of several other frequencies; its loudest window is
    within a factor of two of the file's RMS; and near-silent windows arrived too.
    """
    samples = samples_of(pcm)
    tone = loudest_run(samples, threshold=TONE_RMS / 10)
    tone_ms = len(tone) // 24
    assert 1200 <= tone_ms <= 1600, f"{tone_ms} ms of tone arrived, the file has 1500"
    frequency = zero_crossing_frequency(tone)
    assert abs(frequency - 440) < 440 * 0.02, f"dominant frequency {frequency:.1f} Hz"
    at_tone = goertzel_power(tone, 440)
    for other in (220, 330, 550, 660, 880, 1320, 2000):
        assert at_tone > 100 * goertzel_power(tone, other), f"{other} Hz rivals 440 Hz"
    peak = max(window_rms(tone))
    assert TONE_RMS / 2 < peak < TONE_RMS * 2, f"tone RMS {peak:.0f}, file {TONE_RMS:.0f}"
    quiet = sum(1 for value in window_rms(samples) if value < 100)
    assert quiet >= 10, "no silent windows arrived"


@pytest.mark.parametrize("dialect", ["ga", "preview"])
async def test_microphone_reaches_upstream_and_spoken_reply_plays(
    simulator: Simulator, tone_browser: BrowserContext, dialect: str
) -> None:
    """Microphone audio arrives upstream as 20 ms pcm16, and the spoken reply is shown and played."""
    async with relay_for(simulator, dialect) as relay:
        page, errors = await open_page(tone_browser, relay)
        await connect(page, TOKEN)
        await expect(page.locator("#status")).to_have_text(
            f"connected ({DIALECT_LABELS[dialect]})", timeout=TIMEOUT_MS
        )
        await wait_for_transcript(page, "assistant", "milliseconds of audio.")
        # Without transcription the user's turn shows as "[voice]"; the simulator's
        # transcript of it is "(N ms of audio)".
        await wait_for_transcript(page, "user", "[voice]" if dialect == "ga" else "ms of audio)")
        await page.wait_for_function(
            "() => window.relayDemo.playedChunks > 0 && window.relayDemo.playerState === 'running'",
            timeout=TIMEOUT_MS,
        )
        # The reply echoes ~2 s of audio; the tone comes back 0.5 s into it: barge-in.
        await page.wait_for_function("() => window.relayDemo.interruptions > 0", timeout=TIMEOUT_MS)
        # 4 s of microphone audio (the loop is 2.5 s) hold one whole tone even when the
        # microphone started in the middle of one.
        await page.wait_for_function(
            "() => window.relayDemo.appendsSent >= 200", timeout=TIMEOUT_MS
        )

        ARTIFACTS.mkdir(exist_ok=True)
        name = "demo-page.png" if dialect == "ga" else "demo-page-preview.png"
        await page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        demo = await page.evaluate("window.relayDemo")
        await page.close()

    assert demo["lastError"] is None
    assert demo["appendsSent"] > 0
    assert not errors
    sizes, pcm = captured_audio(simulator)
    assert sizes, "no input_audio_buffer.append reached the simulator"
    assert set(sizes) == {960}, "every append should carry 20 ms (960 bytes) of pcm16"
    assert_tone_received(pcm)


@pytest.mark.parametrize("dialect", ["ga", "preview"])
async def test_typed_text_gets_reply_rendered(
    simulator: Simulator, silent_browser: BrowserContext, dialect: str
) -> None:
    """A typed message appears at once and the assistant's reply to it is rendered."""
    async with relay_for(simulator, dialect) as relay:
        page, errors = await open_page(silent_browser, relay)
        await connect(page, TOKEN)
        await expect(page.locator("#status")).to_have_text(
            f"connected ({DIALECT_LABELS[dialect]})", timeout=TIMEOUT_MS
        )
        await page.fill("#text", "hello relay")
        await page.press("#text", "Enter")
        await wait_for_transcript(page, "user", "hello relay")
        await wait_for_transcript(page, "assistant", "You said: hello relay")
        await expect(page.locator("#transcript")).to_contain_text("You said: hello relay")
        demo = await page.evaluate("window.relayDemo")
        await page.close()

    assert demo["lastError"] is None
    assert not errors
    sent = [e["type"] for c in simulator.connections for e in c.received_events()]
    assert sent.count("session.update") == 1, "only the relay's own session.update goes up"
    assert "conversation.item.create" in sent
    assert "response.create" in sent


async def test_wrong_token_shows_refusal_in_status_line(
    simulator: Simulator, silent_browser: BrowserContext
) -> None:
    """A token the relay rejects ends in a clear status message, not a silent failure."""
    async with relay_for(simulator, "ga") as relay:
        page, errors = await open_page(silent_browser, relay)
        await connect(page, "not-the-right-token-000")
        await expect(page.locator("#status")).to_have_text(
            "closed: connection refused (check the token)", timeout=TIMEOUT_MS
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "demo-page-refused.png"))
        demo = await page.evaluate("window.relayDemo")
        await page.close()

    assert demo["closeCode"] == 1006
    assert demo["state"] == "closed"
    assert not errors
    assert simulator.connections == [], "a refused client must not reach the upstream"


async def test_auth_none_relay_needs_no_token(
    simulator: Simulator, silent_browser: BrowserContext
) -> None:
    """Against a RELAY_AUTH=none relay the page says so, disables the token field and connects."""
    settings = make_settings(
        upstream="simulator",
        azure_endpoint=simulator.url,
        azure_api_key="sim-key",
        auth="none",
    )
    async with running_relay(settings) as relay:
        page = await silent_browser.new_page()
        await page.goto(f"{relay.http_url}/")
        await expect(page.locator("#auth")).to_have_text("auth: none", timeout=TIMEOUT_MS)
        await expect(page.locator("#token")).to_be_disabled()
        await page.click("#connect")
        await expect(page.locator("#status")).to_have_text("connected (GA)", timeout=TIMEOUT_MS)
        await page.close()


async def test_a_server_tool_answers_typed_text_and_the_page_sees_no_tool_traffic(
    simulator: Simulator, silent_browser: BrowserContext, tmp_path: Path
) -> None:
    """`lookup_order({"id":"42"})` typed in the page is answered with the tool's output;
    no WebSocket frame the browser receives carries the call."""
    async with ToolServer({"/lookup": answer("order 42 shipped")}) as tools:
        values: dict[str, Any] = {
            "upstream": "simulator",
            "azure_endpoint": simulator.url,
            "azure_api_key": "sim-key",
            "auth": "token",
            "auth_tokens": (f"web:{TOKEN}",),
            "tools_file": tools_file(tmp_path, tools, lookup_order="/lookup"),
        }
        async with running_relay(make_settings(**values)) as relay:
            page, errors = await open_page(silent_browser, relay)
            frames: list[str | bytes] = []

            def record(ws: WebSocket) -> None:
                ws.on("framereceived", lambda payload: frames.append(payload))

            page.on("websocket", record)
            await connect(page, TOKEN)
            await expect(page.locator("#status")).to_have_text("connected (GA)", timeout=TIMEOUT_MS)
            await page.fill("#text", 'lookup_order({"id":"42"})')
            await page.press("#text", "Enter")
            await wait_for_transcript(page, "assistant", "Tool lookup_order returned: order 42")
            await page.close()
    assert not errors
    call_id = tools.requests[0].json["call_id"]
    texts = [f if isinstance(f, str) else f.decode() for f in frames]
    assert any("Tool lookup_order returned" in t for t in texts)
    assert client_trace(texts, [call_id]) == []


async def test_the_page_connects_with_a_client_secret_minted_by_the_example_backend(
    simulator: Simulator, silent_browser: BrowserContext
) -> None:
    """The user logs in at examples/backend, lands on the demo page in its client-secret
    mode, and connects with an `ek_` secret the backend minted: no relay token typed."""
    backend_token = "demo-backend-token-0123456789"
    values: dict[str, Any] = {
        "upstream": "simulator",
        "azure_endpoint": simulator.url,
        "azure_api_key": "sim-key",
        "auth": "token",
        "auth_tokens": (f"web:{TOKEN}",),
        "backend_tokens": (f"demo-backend:{backend_token}",),
    }
    async with running_relay(make_settings(**values)) as relay:
        env = {"EXAMPLE_BACKEND_TOKEN": backend_token}
        async with example_process(
            "examples.backend.server", "--relay", relay.http_url, env=env
        ) as port:
            page = await silent_browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            protocols: list[str] = []
            page.on("websocket", lambda ws: protocols.append(ws.url))
            await page.goto(f"http://127.0.0.1:{port}/login")
            await page.fill("input[name=username]", "demo")
            await page.fill("input[name=password]", "demo")
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{relay.http_url}/?backend=*", timeout=TIMEOUT_MS)
            await expect(page.locator("#mode")).to_have_value("backend")
            await expect(page.locator("#token")).to_be_hidden()
            await page.click("#connect")
            await expect(page.locator("#status")).to_have_text("connected (GA)", timeout=TIMEOUT_MS)
            (session,) = relay.runtime.lifecycle.sessions()
            await page.fill("#text", "hello backend")
            await page.press("#text", "Enter")
            await wait_for_transcript(page, "assistant", "You said: hello backend")
            await page.close()
    assert session.identity == "demo-backend:demo"
    assert not errors
    assert protocols == [f"ws://127.0.0.1:{relay.port}/realtime"]  # no credential in the URL


async def test_barge_in_truncates_at_the_played_audio_and_the_page_shows_level_speaker_latency(
    simulator: Simulator, tone_browser: BrowserContext
) -> None:
    """The tone interrupts the echoed reply: the page stops playback and sends a truncate at
    the position its audio clock played (within one 20 ms frame), which the relay passes
    unchanged and the simulator accepts. The level meter, the speaker indicator and the
    reply latency all render."""
    async with relay_for(simulator, "ga") as relay:
        page, errors = await open_page(tone_browser, relay)
        await connect(page, TOKEN)
        await expect(page.locator("#status")).to_have_text("connected (GA)", timeout=TIMEOUT_MS)
        await page.wait_for_function("() => window.relayDemo.micLevel > 0.05", timeout=TIMEOUT_MS)
        await expect(page.locator("#speaker")).to_have_text("you are speaking", timeout=TIMEOUT_MS)
        await expect(page.locator("#latencies li").first).to_contain_text(
            "reply after", timeout=TIMEOUT_MS
        )
        await expect(page.locator("#speaker")).to_have_text(
            "assistant speaking", timeout=TIMEOUT_MS
        )
        await page.wait_for_function(
            "() => window.relayDemo.truncates.length > 0", timeout=TIMEOUT_MS
        )
        demo = await page.evaluate("window.relayDemo")
        (truncate, *_) = demo["truncates"]
        await simulator.wait_for(
            lambda: bool(simulator_events(simulator, "sent", "conversation.item.truncated")), 10
        )
        level = await page.locator("#level").get_attribute("value")
        await page.close()

    played_ms = (truncate["bargeAt"] - truncate["startAt"]) * 1000
    assert abs(truncate["audioEndMs"] - played_ms) <= 20
    assert 0 < truncate["audioEndMs"] <= truncate["scheduledMs"]
    sent = simulator_events(simulator, "received", "conversation.item.truncate")[0]
    assert sent["item_id"] == truncate["itemId"]
    assert sent["audio_end_ms"] == truncate["audioEndMs"]  # within what was delivered: unchanged
    accepted = simulator_events(simulator, "sent", "conversation.item.truncated")[0]
    assert accepted["audio_end_ms"] == truncate["audioEndMs"]
    assert demo["turnLatencies"]
    assert all(ms > 0 for ms in demo["turnLatencies"])
    assert level is not None
    assert demo["lastError"] is None
    assert not errors
