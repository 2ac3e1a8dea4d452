"""synthesize_article end to end: engines, files next to article.json, skip, fallback, upgrade."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.audio.conftest import gtts_settings
from tests.audio.gtts_emulator import Emulator
from tests.audio.levels import assert_podcast_grade
from tests.conftest import unavailable
from worker.audio import engines, mp3, neural, pcm
from worker.audio.gtts_engine import tokenize_text
from worker.audio.synthesis import (
    article_speech,
    audio_status,
    synthesize_article,
    upgrade_fallbacks,
)
from worker.models import Article, Audio, AudioState
from worker.settings import Settings
from worker.storage import LocalStorage


def _files(storage: LocalStorage, article: Article) -> dict[str, bytes]:
    prefix = article.storage_prefix
    return {
        name: storage.read_bytes(f"{prefix}/{name}")
        for name in ("audio.mp3", "audio.json", "audio.vtt", "audio.txt")
    }


def test_espeak_writes_mp3_and_json_next_to_the_article(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    article = make_article()
    result = synthesize_article(session, settings, storage, article.id)
    assert result["status"] == "synthesized" and result["engine"] == "espeak"
    files = _files(storage, article)
    meta = json.loads(files["audio.json"])
    probe = mp3.probe(files["audio.mp3"])
    assert probe.duration > 1 and meta["duration_seconds"] == round(probe.duration, 3)
    assert (
        meta["bytes"]
        == len(files["audio.mp3"])
        == storage.size(f"{article.storage_prefix}/audio.mp3")
    )
    assert meta["engine"] == "espeak" and meta["language"] == "en" and len(meta["text_hash"]) == 64
    # podcast grade, measured on the file itself and recorded as measured
    level, peak = assert_podcast_grade(files["audio.mp3"])
    assert probe.sample_rate == meta["sample_rate"] == 44100 and meta["bitrate_kbps"] == 96
    assert probe.bitrate == 96000
    record = meta["loudness"]
    assert record["integrated_lufs"] == pytest.approx(level, abs=0.1)
    assert record["true_peak_dbtp"] == pytest.approx(peak, abs=0.15)
    assert record["target_lufs"] == -16.0 and record["ceiling_dbtp"] == -1.0
    vtt = files["audio.vtt"].decode()
    assert vtt.startswith("WEBVTT") and "Grid holds after night of strikes" in vtt
    assert "caption" not in files["audio.txt"].decode()  # the figure caption is not spoken
    row = session.scalar(select(Audio).where(Audio.article_id == article.id))
    assert row is not None and row.state == AudioState.done and row.engine == "espeak"
    assert audio_status(session)["done"] == 1


def test_unchanged_text_is_not_synthesized_again_and_an_edit_is(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    article = make_article()
    synthesize_article(session, settings, storage, article.id)
    again = synthesize_article(session, settings, storage, article.id)
    assert again["status"] == "unchanged"
    article.body_html += "<p>An added paragraph about the weather.</p>"
    session.commit()
    edited = synthesize_article(session, settings, storage, article.id)
    assert edited["status"] == "synthesized"
    assert "weather" in storage.read_bytes(f"{article.storage_prefix}/audio.txt").decode()


def test_auto_uses_gtts_through_the_emulator(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    emulator: Emulator,
) -> None:
    article = make_article()
    s = gtts_settings(settings, emulator.url)
    result = synthesize_article(session, s, storage, article.id)
    assert result["status"] == "synthesized" and result["engine"] == "gtts"
    assert result["requests"] == emulator.requests - 1  # minus the one reachability probe
    meta = json.loads(storage.read_bytes(f"{article.storage_prefix}/audio.json"))
    assert meta["engine"] == "gtts" and meta["voice"] == "gtts:en:com"
    data = storage.read_bytes(f"{article.storage_prefix}/audio.mp3")
    assert mp3.probe(data).sample_rate == 44100  # Google's 24 kHz, resampled
    assert_podcast_grade(data)

    # captions: cues end exactly on gTTS chunk boundaries (heard after the codec's delay), with
    # the text as written, not respelled
    blocks = storage.read_bytes(f"{article.storage_prefix}/audio.vtt").decode().split("\n\n")[1:]
    cues = [b.splitlines() for b in blocks if b.strip()]
    plan = article_speech(article).plan(lambda t: tokenize_text(t, "en"))
    chunks = [c for paragraph in plan for piece in paragraph for c in piece.chunks]
    assert len(chunks) == meta["chunks"] and len(cues) <= len(chunks)
    edges = [pcm.CODEC_DELAY_SAMPLES / 44100]
    for chunk in chunks:
        edges.append(edges[-1] + mp3.duration_of(emulator.audio_for(chunk)))

    def seconds(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    position = edges[0]
    for _number, timing, _text in cues:
        start, end = (seconds(t) for t in timing.split(" --> "))
        assert start == pytest.approx(position, abs=0.001)
        assert min(abs(end - e) for e in edges) < 0.001  # a real chunk boundary
        position = end
    assert position == pytest.approx(edges[-1], abs=0.001)
    captions = " ".join(c[2] for c in cues)
    assert "restored power to 1200 homes 15 kilometres from the city centre." in captions
    assert "Keev" not in "".join(c[2] for c in cues) and "Kyiv" in "".join(c[2] for c in cues)


def test_auto_falls_back_to_espeak_when_the_endpoint_is_unreachable_and_upgrades_later(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    emulator: Emulator,
    closed_port_url: str,
) -> None:
    article = make_article()
    offline = gtts_settings(settings, closed_port_url)
    result = synthesize_article(session, offline, storage, article.id)
    voice = engines.offline_engine("en")  # the neural voice where the extra is installed
    assert result["status"] == "synthesized" and result["engine"] == voice
    assert result["fallback"] is True and "unreachable" in result["error"]
    row = session.scalar(select(Audio).where(Audio.article_id == article.id))
    assert row is not None and row.state == AudioState.fallback
    meta = json.loads(storage.read_bytes(f"{article.storage_prefix}/audio.json"))
    assert meta["engine"] == voice and meta["fallback_reason"]
    old_mp3 = storage.read_bytes(f"{article.storage_prefix}/audio.mp3")

    # still offline: the upgrade leaves the fallback in place
    assert upgrade_fallbacks(session, offline, storage)["upgraded"] == 0
    # online but failing: the espeak file stays, byte for byte, and the row stays a fallback
    emulator.fail("ok", *["500"] * 50)
    failing = gtts_settings(settings, emulator.url, gtts_retries=0)
    assert upgrade_fallbacks(session, failing, storage)["failed"] == 1
    assert storage.read_bytes(f"{article.storage_prefix}/audio.mp3") == old_mp3
    session.refresh(row)
    assert row.state == AudioState.fallback
    emulator.script.clear()

    online = gtts_settings(settings, emulator.url)
    summary = upgrade_fallbacks(session, online, storage)
    assert summary["upgraded"] == 1 and summary["candidates"] == 1
    new_mp3 = storage.read_bytes(f"{article.storage_prefix}/audio.mp3")
    assert new_mp3 != old_mp3
    assert (
        json.loads(storage.read_bytes(f"{article.storage_prefix}/audio.json"))["engine"] == "gtts"
    )
    session.refresh(row)
    assert row.state == AudioState.done and row.engine == "gtts" and row.error is None
    # no temporary files left behind by the atomic replacement
    folder = storage.local_path(article.storage_prefix)
    assert folder is not None
    assert sorted(p.name for p in folder.iterdir()) == [
        "audio.json",
        "audio.mp3",
        "audio.txt",
        "audio.vtt",
    ]


def test_gtts_failure_after_retries_falls_back_per_article(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    emulator: Emulator,
) -> None:
    article = make_article()
    s = gtts_settings(settings, emulator.url, gtts_retries=1, gtts_concurrency=1)
    emulator.fail("ok", *["500"] * 10)  # the probe succeeds, then every chunk fails
    result = synthesize_article(session, s, storage, article.id)
    assert result["engine"] == engines.offline_engine("en") and result["fallback"] is True
    assert "500" in result["error"]
    assert result["requests"] == 2  # one chunk: 1 try + 1 retry, the others were not sent

    # the next article does not wait out gTTS's retries again: straight to espeak for a while
    other = make_article(title="Second article")
    before = emulator.requests
    second = synthesize_article(session, s, storage, other.id)
    assert second["engine"] == engines.offline_engine("en") and "cooling down" in second["error"]
    assert emulator.requests == before


def test_missing_article_and_empty_text_are_recorded_not_raised(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    assert synthesize_article(session, settings, storage, 9999)["status"] == "failed"
    article = make_article(
        title="   ",
        body_html="<figure><figcaption>only a caption</figcaption></figure>",
        summary="",
    )
    result = synthesize_article(session, settings, storage, article.id)
    assert result["status"] == "failed" and result["error"] == "nothing to speak"
    assert audio_status(session)["failed"] == 1


def test_a_lexicon_edit_respeaks_exactly_the_articles_that_use_the_word(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    tmp_path: Path,
) -> None:
    lexicon = tmp_path / "lexicon.toml"
    lexicon.write_text('[en]\n"Bucha" = "Boocha"\n', encoding="utf-8")
    s = settings.model_copy(update={"tts_lexicon": lexicon})
    with_word = make_article(body_html="<p>Residents of Irpin returned home.</p>")
    without = make_article(body_html="<p>Prices rose again in the capital.</p>")
    for article in (with_word, without):
        assert synthesize_article(session, s, storage, article.id)["status"] == "synthesized"
    lexicon.write_text('[en]\n"Bucha" = "Boocha"\n"Irpin" = "Irpeen"\n', encoding="utf-8")
    os.utime(lexicon, (time.time() + 5, time.time() + 5))  # a new mtime even on coarse clocks
    assert synthesize_article(session, s, storage, with_word.id)["status"] == "synthesized"
    assert synthesize_article(session, s, storage, without.id)["status"] == "unchanged"
    vtt = storage.read_bytes(f"{with_word.storage_prefix}/audio.vtt").decode()
    assert "Irpin" in vtt and "Irpeen" not in vtt  # captions stay as written


class FlakyStorage(LocalStorage):
    """Fails the first write of audio.json, like a worker killed between two files."""

    failed = False

    def write_bytes(self, key: str, data: bytes) -> None:
        if key.endswith("audio.json") and not self.failed:
            self.failed = True
            raise OSError("disk full")
        super().write_bytes(key, data)


def test_an_interrupted_write_is_recorded_and_redone_on_the_next_run(
    session: Session,
    settings: Settings,
    make_article: Callable[..., Article],
) -> None:
    storage = FlakyStorage(settings.data_dir)
    article = make_article()
    first = synthesize_article(session, settings, storage, article.id)
    assert first["status"] == "failed" and "disk full" in first["error"]
    assert storage.exists(f"{article.storage_prefix}/audio.mp3")  # but no audio.json
    second = synthesize_article(session, settings, storage, article.id)
    assert second["status"] == "synthesized"
    assert storage.exists(f"{article.storage_prefix}/audio.json")
    assert synthesize_article(session, settings, storage, article.id)["status"] == "unchanged"


def test_garbage_audio_from_the_endpoint_falls_back_to_espeak(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    emulator: Emulator,
) -> None:
    article = make_article(title="Short", body_html="<p>Tiny.</p>")
    emulator.fail("ok", *["garbage"] * 20)
    result = synthesize_article(session, gtts_settings(settings, emulator.url), storage, article.id)
    assert result["status"] == "synthesized" and result["engine"] == engines.offline_engine("en")
    assert "not MP3" in result["error"]
    assert list(storage.list("cache")) == []  # nothing unusable was cached


def test_offline_upgrade_ladder_espeak_then_neural_then_gtts(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    emulator: Emulator,
    closed_port_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not neural.installed():
        unavailable("the neural extra is not installed: pip install 'digestcast[neural]'")
    english = make_article()
    ukrainian = make_article(title="Рада ухвалила бюджет", language="uk", body_html="<p>Так.</p>")
    offline = gtts_settings(settings, closed_port_url)
    with monkeypatch.context() as patch:  # as made before the extra was installed
        patch.setattr(neural, "installed", lambda: False)
        for article in (english, ukrainian):
            assert synthesize_article(session, offline, storage, article.id)["engine"] == "espeak"

    summary = upgrade_fallbacks(session, offline, storage)
    assert summary["neural"] == 1 and summary["upgraded"] == 0 and summary["candidates"] == 2
    meta = json.loads(storage.read_bytes(f"{english.storage_prefix}/audio.json"))
    assert meta["engine"] == "neural" and "unreachable" in meta["fallback_reason"]
    row = session.scalar(select(Audio).where(Audio.article_id == english.id))
    assert row is not None and row.state == AudioState.fallback and row.engine == "neural"
    # nothing better offline for Ukrainian, and nothing more to do for English
    assert upgrade_fallbacks(session, offline, storage)["neural"] == 0

    online = gtts_settings(settings, emulator.url)
    assert upgrade_fallbacks(session, online, storage)["upgraded"] == 2
    for article in (english, ukrainian):
        meta = json.loads(storage.read_bytes(f"{article.storage_prefix}/audio.json"))
        assert meta["engine"] == "gtts"
