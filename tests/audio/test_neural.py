"""The offline neural English voice (the `neural` extra; CI installs it through the dev extra)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mutagen.mp3 import MP3
from sqlalchemy.orm import Session

from tests.audio.levels import assert_podcast_grade, ffprobe
from tests.conftest import unavailable
from worker.audio import engines, master, mp3, neural
from worker.audio.gtts_engine import tokenize_text
from worker.audio.synthesis import render, synthesize_article
from worker.audio.text import prepare
from worker.models import Article
from worker.settings import Settings
from worker.storage import LocalStorage

SHORT = "The grid operator said that power had returned to most districts of the capital by noon."
LONGER = (
    f"{SHORT} Repair crews worked through the night at several substations in the east, and "
    "the operator asked households to save electricity in the evening, when demand is highest."
)


@pytest.fixture(autouse=True)
def _needs_the_extra() -> None:
    if not neural.installed():
        unavailable("the neural extra is not installed: pip install 'digestcast[neural]'")


def _speak(text: str) -> tuple[bytes, master.Encoded]:
    speech = prepare(text, "", "en")
    plan = speech.plan(lambda t: tokenize_text(t, "en"))
    rendered = render(engines.speak_neural(plan), plan, master.Mastering())
    return mp3.tag(rendered.encoded.data, mp3.Tags("t", "a", "b")), rendered.encoded


def test_a_short_english_text_becomes_a_valid_mp3_as_long_as_its_words(tmp_path: Path) -> None:
    data, _ = _speak(SHORT)
    path = tmp_path / "neural.mp3"
    path.write_bytes(data)
    info = MP3(io.BytesIO(data)).info
    words = len(SHORT.split())
    # a newsreader's pace: 130 to 210 words a minute, plus the short pauses at the ends
    assert words / 3.5 + 0.3 < info.length < words / 2.0 + 1.5, info.length
    stream = ffprobe(path)["streams"][0]
    assert stream["codec_name"] == "mp3" and int(stream["sample_rate"]) == 44100
    assert int(stream["channels"]) == 1
    assert float(stream["duration"]) == pytest.approx(info.length, abs=0.1)
    assert_podcast_grade(data)
    # more words, proportionally more speech
    longer, _ = _speak(LONGER)
    ratio = MP3(io.BytesIO(longer)).info.length / info.length
    assert ratio == pytest.approx(len(LONGER.split()) / words, rel=0.3)


def test_the_same_text_always_gives_the_same_speech() -> None:
    first = neural.synthesize("Good morning, this is the briefing.")
    again = neural.synthesize("Good morning, this is the briefing.")
    assert len(first) > neural.SAMPLE_RATE // 2 and (first == again).all()


def test_a_chunk_keeps_the_punctuation_that_ended_its_piece() -> None:
    # over 100 characters, so gTTS's tokenizer cuts it at the comma and drops the comma
    speech = prepare(LONGER, "", "en")
    plan = speech.plan(lambda t: tokenize_text(t, "en"))
    pieces = [p for ps in plan for p in ps]
    assert len(pieces) > 2 and not pieces[1].chunks[-1].endswith(",")
    spoken = [engines.neural_text(p, i) for p in pieces for i in range(len(p.chunks))]
    assert spoken[0].endswith(".") and spoken[1].endswith(",") and spoken[-1].endswith(".")


def test_the_neural_engine_reads_english_and_leaves_ukrainian_to_espeak(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    chosen = settings.model_copy(update={"tts_engine": "neural"})
    english = make_article()
    ukrainian = make_article(title="Рада ухвалила бюджет", language="uk", body_html="<p>Так.</p>")
    first = synthesize_article(session, chosen, storage, english.id)
    assert first["status"] == "synthesized" and first["engine"] == "neural"
    assert first["fallback"] is False  # chosen, not a fallback
    meta = json.loads(storage.read_bytes(f"{english.storage_prefix}/audio.json"))
    assert meta["voice"] == "hibari:heart" and meta["sample_rate"] == 44100
    assert_podcast_grade(storage.read_bytes(f"{english.storage_prefix}/audio.mp3"))
    second = synthesize_article(session, chosen, storage, ukrainian.id)
    assert second["engine"] == "espeak"
