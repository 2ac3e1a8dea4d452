"""worker/audio/espeak.py: the offline espeak-ng engine through ctypes (real library)."""

from __future__ import annotations

import array

import pytest

from worker.audio.espeak import SAMPLE_RATE, sample_rate, silence_pcm, synthesize_pcm, voice_for


def _peak(pcm: bytes) -> int:
    samples = array.array("h", pcm)
    return max((abs(s) for s in samples), default=0)


def test_voice_for_language_tags_and_unknown_languages() -> None:
    assert voice_for("uk") == "uk"
    assert voice_for("UK-ua") == "uk"
    assert voice_for("en-GB") == "en-us"
    assert voice_for("de") == "en-us"  # no voice of its own: English rather than nothing


def test_library_rate_is_the_one_silence_is_made_at() -> None:
    assert sample_rate() == SAMPLE_RATE
    assert silence_pcm(0.5) == b"\0\0" * (SAMPLE_RATE // 2)
    assert silence_pcm(0) == b""


def test_synthesis_is_audible_16_bit_pcm_and_longer_text_is_longer() -> None:
    short = synthesize_pcm("News.", "en")
    longer = synthesize_pcm("News from Kyiv this morning, and more.", "en")
    assert len(short) % 2 == 0 and len(short) > SAMPLE_RATE * 2 // 10  # over 0.1 s
    assert _peak(short) > 1000
    assert len(longer) > len(short)


def test_ukrainian_voice_and_repeated_calls_do_not_leak_samples() -> None:
    first = synthesize_pcm("Доброго ранку.", "uk")
    second = synthesize_pcm("Доброго ранку.", "uk")
    assert _peak(first) > 1000
    # espeak-ng varies a few samples between runs; a leaked buffer would double the length
    assert len(second) == pytest.approx(len(first), rel=0.05)


def test_slower_rate_gives_longer_audio() -> None:
    text = "The council met on Tuesday to discuss the budget."
    slow = synthesize_pcm(text, "en", rate_wpm=100)
    fast = synthesize_pcm(text, "en", rate_wpm=250)
    assert len(slow) > 1.5 * len(fast)
