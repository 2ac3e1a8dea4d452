"""Robustness: the MP3 parser and the text preparation never crash on odd input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.audio.gtts_emulator import tone_mp3
from worker.audio import mp3
from worker.audio.gtts_engine import tokenize_text
from worker.audio.normalize import normalize
from worker.audio.text import Lexicon, body_paragraphs, pieces

TONE = tone_mp3("property", id3=False)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=len(TONE)))
def test_frames_survive_garbage_and_truncation(junk: bytes, cut: int) -> None:
    for header, frame in mp3.frames(junk + TONE[:cut] + junk):
        assert len(frame) == header.length and frame[0] == 0xFF
    assert mp3.duration_of(TONE[:cut]) <= mp3.duration_of(TONE) + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_text_preparation_never_crashes_and_captions_cover_the_text(text: str) -> None:
    for language in ("en", "uk"):
        normal = normalize(text, language)
        assert "  " not in normal
        out = pieces(normal, language, Lexicon(), lambda t, lang=language: tokenize_text(t, lang))
        assert all(0 < len(c) <= 100 for p in out for c in p.chunks)
    body_paragraphs(f"<p>{text}</p><figure>{text}</figure>")
