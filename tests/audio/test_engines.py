"""worker/audio/engines.py: which voice speaks, and the offline voices' output shape.

The gTTS paths (emulated endpoint, failures, cool-down) are in test_synthesis.py.
"""

from __future__ import annotations

from worker.audio import espeak
from worker.audio.engines import (
    RANK,
    chunk_plan,
    neural_text,
    offline_engine,
    speak,
    speak_espeak,
)
from worker.audio.text import Piece
from worker.settings import Settings
from worker.storage import get_storage

PLAN = [
    [Piece("Kyiv, Monday.", ("Kyiv,", "Monday.")), Piece("Power is back", ("Power is back",))],
    [Piece("Second paragraph.", ("Second paragraph.",))],
]


def test_rank_puts_google_over_neural_over_espeak() -> None:
    assert RANK["gtts"] > RANK["neural"] > RANK["espeak"]


def test_chunk_plan_flattens_pieces_per_paragraph() -> None:
    assert chunk_plan(PLAN) == [["Kyiv,", "Monday.", "Power is back"], ["Second paragraph."]]
    assert chunk_plan([]) == []
    assert chunk_plan([[]]) == [[]]


def test_neural_text_gives_the_last_chunk_its_pieces_punctuation() -> None:
    piece = Piece("Crews worked overnight; power is back!", ("Crews worked overnight;", "power"))
    assert neural_text(piece, 0) == "Crews worked overnight;"
    assert neural_text(piece, 1) == "power!"
    assert neural_text(Piece("No stop", ("No stop",)), 0) == "No stop"
    assert neural_text(Piece("Done.", ("Done. ",)), 0) == "Done. "  # already ends with it


def test_ukrainian_has_no_neural_voice() -> None:
    assert offline_engine("uk") == "espeak"
    assert offline_engine("uk-UA") == "espeak"


def test_espeak_speaks_one_clip_per_chunk(settings: Settings) -> None:
    spoken = speak_espeak(settings, PLAN, "uk")
    assert spoken.engine == "espeak" and spoken.voice == "espeak-ng:uk"
    assert [len(p) for p in spoken.paragraphs] == [3, 1]
    assert spoken.chunks == 4 and spoken.requests == 0
    assert spoken.pcm_rate == espeak.SAMPLE_RATE
    assert all(len(clip) > 0 for para in spoken.paragraphs for clip in para)


def test_speak_with_espeak_chosen_is_no_fallback(settings: Settings) -> None:
    result = speak(settings, get_storage(settings), PLAN, "en", engine="espeak")
    assert result.fallback_reason is None
    assert result.spoken.engine == "espeak" and result.spoken.voice == "espeak-ng:en-us"
