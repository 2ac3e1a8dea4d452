"""`digestcast audio --renormalize`: files made before the mastering chain, re-mastered once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.audio.conftest import gtts_settings
from tests.audio.gtts_emulator import Emulator
from tests.audio.levels import assert_podcast_grade, decode, levels, lufs
from worker.audio import espeak, mp3, neural, pcm
from worker.audio.briefing import build_briefing
from worker.audio.renormalize import renormalize
from worker.audio.synthesis import synthesize_article
from worker.models import Article, Audio, Digest
from worker.settings import Settings
from worker.storage import LocalStorage

DELAY = pcm.CODEC_DELAY_SAMPLES / 44100


def _old_style(data: bytes, gains_db: list[tuple[float, float]] | None = None) -> bytes:
    """What the chain before this one wrote: 22.05 kHz, 48 kbit/s, the engine's own level."""
    samples, rate = pcm.decode_mp3(data)
    low = pcm.resample(samples, rate, 22050)
    for start, gain in gains_db or [(0.0, -5.0)]:
        low[round(start * 22050) :] *= 10 ** (gain / 20)
    encoded = mp3.join([pcm.encode_mp3(low, 22050, 48)]).data
    return mp3.tag(encoded, mp3.Tags("old", "Ukraine Daily", "old"))


def _no_speech(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> bytes:
        raise AssertionError("renormalizing must not speak")

    monkeypatch.setattr(espeak, "synthesize_pcm", refuse)
    monkeypatch.setattr(neural, "synthesize", refuse)


def _cue_starts(vtt: str) -> list[float]:
    starts = []
    for line in vtt.splitlines():
        if " --> " in line:
            h, m, s = line.split(" --> ")[0].split(":")
            starts.append(int(h) * 3600 + int(m) * 60 + float(s))
    return starts


def test_old_article_files_are_remastered_once_without_speaking(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    article = make_article()
    assert synthesize_article(session, settings, storage, article.id)["status"] == "synthesized"
    prefix = article.storage_prefix
    old = _old_style(storage.read_bytes(f"{prefix}/audio.mp3"))
    storage.write_bytes(f"{prefix}/audio.mp3", old)
    meta = json.loads(storage.read_bytes(f"{prefix}/audio.json"))
    del meta["loudness"]
    storage.write_bytes(f"{prefix}/audio.json", json.dumps(meta).encode())
    old_vtt = storage.read_bytes(f"{prefix}/audio.vtt").decode()
    level, _, rate = levels(old)
    assert rate == 22050 and level < -17.5

    _no_speech(monkeypatch)
    online = gtts_settings(settings, emulator.url)
    summary = renormalize(session, online, storage)
    assert summary == {"articles": 1, "briefings": 0, "unchanged": 0, "failed": []}
    assert emulator.requests == 0
    data = storage.read_bytes(f"{prefix}/audio.mp3")
    assert_podcast_grade(data)
    meta = json.loads(storage.read_bytes(f"{prefix}/audio.json"))
    assert meta["sample_rate"] == 44100 and meta["bytes"] == len(data)
    assert meta["loudness"]["source_lufs"] == pytest.approx(level, abs=0.3)
    assert meta["duration_seconds"] == pytest.approx(mp3.probe(data).duration, abs=0.001)
    row = session.scalar(select(Audio).where(Audio.article_id == article.id))
    assert row is not None and row.bytes == len(data)
    # captions moved by the new codec delay, and by nothing else
    new_starts = _cue_starts(storage.read_bytes(f"{prefix}/audio.vtt").decode())
    assert new_starts == pytest.approx([s + DELAY for s in _cue_starts(old_vtt)], abs=0.0011)

    again = renormalize(session, online, storage)
    assert again == {"articles": 0, "briefings": 0, "unchanged": 1, "failed": []}
    assert storage.read_bytes(f"{prefix}/audio.mp3") == data


def test_an_old_briefing_is_remastered_story_by_story(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = Digest(date=date(2026, 11, 27))
    session.add(digest)
    session.commit()
    make_article(title="Grid holds", digest_id=digest.id)
    make_article(title="Second story", digest_id=digest.id, body_html="<p>Prices rose.</p>")
    built = build_briefing(session, settings, storage, digest.id)
    assert built is not None
    key, meta_key = built["key"], "digests/2026-11-27/briefing.json"
    chapters = built["chapters"]
    # one story 8 dB louder than the others, as the Ukrainian voice was before
    gains = [(0.0, -6.0), (chapters[1]["start"], 2.0), (chapters[2]["start"], -6.0)]
    storage.write_bytes(key, _old_style(storage.read_bytes(key), gains))
    meta = json.loads(storage.read_bytes(meta_key))
    del meta["loudness"]
    storage.write_bytes(meta_key, json.dumps(meta).encode())

    _no_speech(monkeypatch)
    summary = renormalize(session, settings, storage)
    assert summary["briefings"] == 1 and summary["failed"] == []
    data = storage.read_bytes(key)
    assert_podcast_grade(data)
    meta = json.loads(storage.read_bytes(meta_key))
    assert [c["title"] for c in meta["chapters"]] == [c["title"] for c in chapters]
    samples, rate = decode(data)
    for before, after in zip(chapters, meta["chapters"], strict=True):
        assert after["start"] == pytest.approx(
            before["start"] + (DELAY if before["start"] else 0), abs=0.01
        )
        part = samples[round(after["start"] * rate) : round(after["end"] * rate)]
        assert lufs(part, rate) == pytest.approx(-16.0, abs=1.0), after["title"]
    assert meta["chapters"][-1]["end"] == meta["duration_seconds"]
    json_chapters = json.loads(storage.read_bytes("digests/2026-11-27/briefing.chapters.json"))
    assert [c["startTime"] for c in json_chapters["chapters"]] == [
        c["start"] for c in meta["chapters"]
    ]
    assert meta["bytes"] == len(data)
    again = renormalize(session, settings, storage)
    assert again == {"articles": 0, "briefings": 0, "unchanged": 1, "failed": []}
