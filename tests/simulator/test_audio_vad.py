"""Audio helpers and the energy VAD, including properties checked with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.simulator.audio import b64decode, b64encode, chunks, duration_ms, rms, silence, tone
from app.simulator.events import split_words
from app.simulator.vad import EnergyVad, VadEvent


def test_tone_is_deterministic_pcm16_of_the_requested_length() -> None:
    """A 600 ms tone is 28 800 bytes, identical on every call, loud but not clipping."""
    audio = tone(440.0, 600)
    assert len(audio) == 600 * 48
    assert audio == tone(440.0, 600)
    assert 5000 < rms(audio) < 6000


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, []), (4800, [4800]), (4801, [4800, 1]), (12_000, [4800, 4800, 2400])],
)
def test_chunks_split_into_100ms_pieces(size: int, expected: list[int]) -> None:
    """Audio is chunked into 4800-byte pieces with a shorter tail."""
    assert [len(c) for c in chunks(bytes(size))] == expected


def test_b64decode_rejects_invalid_base64() -> None:
    """Invalid base64 raises ValueError instead of silently decoding garbage."""
    with pytest.raises(ValueError, match=r"padding|character|Incorrect"):
        b64decode("abc")


def test_duration_and_rms_edges() -> None:
    """Durations drop partial milliseconds; RMS of nothing or a lone byte is 0."""
    assert (duration_ms(bytes(47)), duration_ms(bytes(48))) == (0, 1)
    assert rms(b"") == rms(b"\x01") == 0.0


@given(st.binary(max_size=20_000))
def test_chunks_and_base64_round_trip(data: bytes) -> None:
    """Chunking then base64 round-tripping reproduces the bytes exactly."""
    assert b"".join(b64decode(b64encode(c)) for c in chunks(data)) == data


@given(st.text())
def test_word_deltas_rebuild_the_text(text: str) -> None:
    """Word deltas concatenate to the text minus its leading whitespace."""
    expected = text.lstrip() if text.strip() else ""
    assert "".join(split_words(text)) == expected


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=20))
def test_vad_never_triggers_on_silence_however_it_is_split(sizes: list[int]) -> None:
    """Digital silence fed in arbitrary pieces never starts speech."""
    vad = EnergyVad()
    assert all(vad.feed(bytes(size)) == [] for size in sizes)
    assert vad.position == sum(sizes)


@given(st.integers(min_value=1, max_value=5000))
def test_vad_events_do_not_depend_on_how_audio_is_split(piece: int) -> None:
    """Feeding the same audio in any piece size gives the same start/stop events."""
    audio = silence(100) + tone(440.0, 300) + silence(600)
    whole = EnergyVad().feed(audio)
    vad = EnergyVad()
    pieces = [vad.feed(audio[i : i + piece]) for i in range(0, len(audio), piece)]
    assert [e for p in pieces for e in p] == whole
    assert whole == [VadEvent("start", 100 * 48), VadEvent("stop", 900 * 48)]


def test_vad_respects_silence_duration_and_reset() -> None:
    """Speech stops only after silence_ms of quiet; reset forgets a turn in progress."""
    vad = EnergyVad(silence_ms=200)
    assert vad.feed(tone(440.0, 100) + silence(180)) == [VadEvent("start", 0)]
    assert vad.feed(silence(20)) == [VadEvent("stop", 300 * 48)]
    vad.feed(tone(440.0, 40))
    assert vad.speaking
    vad.reset(10_000)
    assert not vad.speaking
    assert vad.position == 10_000
    assert [e.ms for e in vad.feed(tone(440.0, 20))] == [10_000 // 48]
