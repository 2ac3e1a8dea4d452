"""The daily briefing: intro, top stories, outro, chapters at story boundaries, its feed."""

from __future__ import annotations

import io
import itertools
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from mutagen.id3 import ID3
from sqlalchemy.orm import Session

from tests.audio.conftest import gtts_settings
from tests.audio.gtts_emulator import Emulator
from tests.audio.levels import assert_podcast_grade, chapter_times, decode, lufs, to_m4a
from worker.audio import engines, mp3
from worker.audio.briefing import build_briefing
from worker.models import Article, Digest
from worker.settings import Settings
from worker.storage import LocalStorage

DAY = date(2026, 11, 27)


def _digest(session: Session) -> Digest:
    digest = Digest(date=DAY)
    session.add(digest)
    session.commit()
    return digest


def test_briefing_has_intro_stories_outro_as_chapters(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    digest = _digest(session)
    first = make_article(title="Grid holds", digest_id=digest.id)
    second = make_article(
        title="Рада ухвалила бюджет",
        language="uk",
        body_html="<p>Депутати ухвалили бюджет на 2027 рік.</p>",
        digest_id=digest.id,
    )
    make_article(title="A pick", editors_pick=True, digest_id=digest.id)  # not a top story
    make_article(title="Another day")  # not in this digest

    result = build_briefing(session, settings, storage, digest.id)
    assert result is not None and result["key"] == "digests/2026-11-27/briefing.mp3"
    data = storage.read_bytes(result["key"])
    assert result["bytes"] == len(data)
    assert result["duration_seconds"] == pytest.approx(mp3.probe(data).duration, abs=0.001)

    titles = [c["title"] for c in result["chapters"]]
    assert titles[0] == "Intro" and titles[-1] == "Outro"
    assert sorted(titles[1:-1]) == sorted([first.title, second.title])
    tags = ID3(io.BytesIO(data))
    chaps = tags.getall("CHAP")  # in file order: that is the order ffmpeg and apps list
    assert [c.sub_frames["TIT2"].text[0] for c in chaps] == titles
    assert chaps[0].start_time == 0
    for a, b in itertools.pairwise(chaps):
        assert a.end_time == b.start_time > a.start_time  # contiguous: the story boundaries
    assert chaps[-1].end_time == pytest.approx(result["duration_seconds"] * 1000, abs=1)
    toc = tags.getall("CTOC")[0]
    assert toc.child_element_ids == [c.element_id for c in chaps]
    assert toc.flags & 0x01 and toc.flags & 0x02  # ordered, top level

    # every story at the target on its own (the Ukrainian voice is no louder than the English)
    assert_podcast_grade(data)
    samples, rate = decode(data)
    for chapter in result["chapters"]:
        part = samples[round(chapter["start"] * rate) : round(chapter["end"] * rate)]
        assert lufs(part, rate) == pytest.approx(-16.0, abs=1.0), chapter["title"]

    # Podcasting 2.0 JSON chapters next to it, linked from the feed
    json_chapters = json.loads(storage.read_bytes("digests/2026-11-27/briefing.chapters.json"))
    assert json_chapters["version"] == "1.2.0"
    assert [c["title"] for c in json_chapters["chapters"]] == titles
    assert [c["startTime"] for c in json_chapters["chapters"]] == [
        round(c.start_time / 1000, 3) for c in chaps
    ]
    assert json_chapters["chapters"][1]["url"] == result["chapters"][1]["url"]

    meta = json.loads(storage.read_bytes("digests/2026-11-27/briefing.json"))
    assert meta["stories"] == 2 and meta["duration_seconds"] == result["duration_seconds"]
    vtt = storage.read_bytes("digests/2026-11-27/briefing.vtt").decode()
    assert "27 November 2026" in vtt and "Рада ухвалила бюджет" in vtt

    # the briefing feed is refreshed with the new episode
    channel = ET.fromstring(storage.read_bytes("briefing.xml")).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert len(items) == 1
    enclosure = items[0].find("enclosure")
    assert enclosure is not None and int(enclosure.get("length", "0")) == len(data)
    link = items[0].find("{https://podcastindex.org/namespace/1.0}chapters")
    assert link is not None and link.get("type") == "application/json+chapters"
    assert link.get("url") == (
        "https://daily.example.org/media/digests/2026-11-27/briefing.chapters.json"
    )

    again = build_briefing(session, settings, storage, digest.id)
    assert again is not None and again["status"] == "unchanged" and again["bytes"] == len(data)


def test_no_top_stories_means_no_briefing(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    digest = _digest(session)
    assert build_briefing(session, settings, storage, digest.id) is None
    assert build_briefing(session, settings, storage, 12345) is None
    assert not storage.exists("digests/2026-11-27/briefing.mp3")


def test_briefing_with_gtts_and_the_whole_programme_falls_back_together(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    emulator: Emulator,
) -> None:
    digest = _digest(session)
    make_article(title="Grid holds", digest_id=digest.id)
    online = gtts_settings(settings, emulator.url)
    result = build_briefing(session, online, storage, digest.id)
    assert result is not None and result["engine"] == "gtts"

    other = _other_digest(session)
    make_article(title="Later story", digest_id=other.id, day=date(2026, 11, 28))
    emulator.fail(*["500"] * 200)
    failing = gtts_settings(settings, emulator.url, gtts_retries=0)
    result = build_briefing(session, failing, storage, other.id)
    # no gTTS left in it: the whole programme is read offline
    assert result is not None and result["engine"] == engines.offline_engine("en")
    meta = json.loads(storage.read_bytes("digests/2026-11-28/briefing.json"))
    assert "gtts" not in meta["engines"] and meta["requests"] >= 1


def _other_digest(session: Session) -> Digest:
    digest = Digest(date=date(2026, 11, 28))
    session.add(digest)
    session.commit()
    return digest


def test_chapters_stay_in_order_in_ffmpeg_and_after_conversion_to_m4a(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
    tmp_path: Path,
) -> None:
    """Titles of very different lengths: mutagen's own frame order would scramble them."""
    digest = _digest(session)
    titles = ["A", "A much, much longer headline about the grid, the winter and repairs", "Mid"]
    for title in titles:
        make_article(title=title, digest_id=digest.id, body_html="<p>Short story.</p>")
    result = build_briefing(session, settings, storage, digest.id)
    assert result is not None
    path = storage.local_path(result["key"])
    assert path is not None
    expected = [(c["title"], c["start"], c["end"]) for c in result["chapters"]]
    assert len(expected) == 5
    for got, want in zip(chapter_times(path), expected, strict=True):
        assert got[0] == want[0]
        assert got[1] == pytest.approx(want[1], abs=0.002)
        assert got[2] == pytest.approx(want[2], abs=0.002)
    converted = chapter_times(to_m4a(path, tmp_path / "briefing.m4a"))
    assert [c[0] for c in converted] == [c[0] for c in expected]
    for (_, start, end), (_, want_start, want_end) in zip(converted, expected, strict=True):
        assert end - start == pytest.approx(want_end - want_start, abs=0.05)  # not 1 ms
        assert start == pytest.approx(want_start, abs=0.05)
