"""Digest fixtures: rows made directly (no feeds, no TTS), so the tests need only SQLite."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.models import Article, Audio, AudioState, FeedItem, Source, SourceKind
from worker.settings import Settings
from worker.storage import LocalStorage

KYIV = ZoneInfo("Europe/Kyiv")
DAY = date(2026, 11, 27)
_counter = itertools.count(1)


def kyiv(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=KYIV).astimezone(UTC)


class Factory:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.sources: dict[SourceKind, Source] = {}

    def source(self, kind: SourceKind) -> Source:
        if kind not in self.sources:
            found = self.session.scalars(
                select(Source).where(Source.name == f"test {kind.value}")
            ).first()
            if found is not None:
                self.sources[kind] = found
                return found
            src = Source(
                name=f"test {kind.value}", url=f"https://example.org/{kind.value}.xml", kind=kind
            )
            self.session.add(src)
            self.session.flush()
            self.sources[kind] = src
        return self.sources[kind]

    def article(
        self,
        title: str,
        published: datetime,
        *,
        pick: bool = False,
        summary: str = "A short dek about the story.",
        words: int = 600,
        image: str | None = "https://example.org/img/{n}.jpg",
        url: str | None = None,
        author: str | None = "Anna Marchenko",
        audio_seconds: float | None = 300.0,
        first_seen: datetime | None = None,
        language: str = "en",
    ) -> Article:
        n = next(_counter)
        kind = SourceKind.editors_picks if pick else SourceKind.articles
        a = Article(
            source_id=self.source(kind).id,
            guid=f"guid-{n}",
            canonical_url=url or f"https://example.org/news/story-{n}",
            url=url or f"https://example.org/news/story-{n}",
            title=title,
            slug=f"story-{n}",
            author=author,
            summary=summary,
            body_html="<p>" + " ".join(["word"] * words) + "</p>",
            image_url=image.format(n=n) if image else None,
            image_caption=f"Caption of picture {n}" if image else None,
            categories=["News"],
            language=language,
            editors_pick=pick,
            published_at=published,
            published_day=published.astimezone(KYIV).date(),
            first_seen_at=first_seen or published + timedelta(minutes=5),
            content_hash=hashlib.sha256(title.encode()).hexdigest(),
        )
        self.session.add(a)
        self.session.flush()
        if audio_seconds:
            self.session.add(
                Audio(article_id=a.id, state=AudioState.done, engine="espeak",
                      duration_seconds=audio_seconds, bytes=1000, text_hash="x")
            )  # fmt: skip
            self.session.flush()
        return a

    def item(
        self,
        title: str,
        published: datetime,
        *,
        summary: str = "One paragraph of news.",
        url: str | None = None,
        first_seen: datetime | None = None,
    ) -> FeedItem:
        n = next(_counter)
        i = FeedItem(
            source_id=self.source(SourceKind.news_feed).id,
            guid=f"item-{n}",
            canonical_url=url or f"https://example.org/feed/{n}",
            url=url or f"https://example.org/feed/{n}",
            title=title,
            summary=summary,
            published_at=published,
            first_seen_at=first_seen or published + timedelta(minutes=5),
            content_hash=hashlib.sha256(title.encode()).hexdigest(),
        )
        self.session.add(i)
        self.session.flush()
        return i


@pytest.fixture
def factory(session: Session) -> Factory:
    return Factory(session)


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.data_dir)


def fixed_briefing(
    _session: Session, _settings: Settings, _storage: object, _digest_id: int
) -> dict[str, Any]:
    """A briefing of known length, passed to build_digest(briefing=...) as the task wires
    the audio stage's (digest tests do not speak; the briefing is tested in tests/audio)."""
    return {"duration_seconds": 372.0, "bytes": 1, "key": "digests/x/briefing.mp3"}


def sample_day(f: Factory, day: date = DAY) -> dict[str, Any]:
    """A normal day: 6 stories (one Cyrillic), 10 news items, 2 picks, hostile text in places."""
    prev = day - timedelta(days=1)
    stories = [
        f.article("Inside the night shift in Kharkiv", kyiv(prev, 8, 30), words=1400),
        f.article("Farmers & exporters count the cost of a wet harvest", kyiv(prev, 10, 45)),
        f.article("Schools move more classes underground", kyiv(prev, 13, 20), image=None),
        f.article("Ветерани у Вінниці відкрили кав'ярню", kyiv(prev, 16, 5), language="uk"),
        f.article("Kyiv's new rules for shelters <script>alert(1)</script>", kyiv(prev, 19, 40),
                  summary="Dek with <b>markup</b> &amp; an\r\ninjected line"),
        f.article("An orchestra rehearses by candlelight", kyiv(day, 6, 10), audio_seconds=None),
    ]  # fmt: skip
    items = [f.item(f"News item {n} at {7 + n}:15", kyiv(prev, 7 + n, 15)) for n in range(9)]
    items.append(
        f.item("Hostile <script>alert('x')</script>\r\nBcc: victim@example.com", kyiv(day, 6, 20),
               summary="<img src=x onerror=alert(1)> plain & simple", url="javascript:alert(1)")
    )  # fmt: skip
    picks = [
        f.article(
            "What four years of blackouts taught Ukraine",
            kyiv(day - timedelta(days=3), 9),
            pick=True,
        ),
        f.article("The last ferryman of the Dnipro delta", kyiv(prev, 12), pick=True),
    ]
    outside = [
        f.article("Yesterday's story (previous window)", kyiv(prev, 6, 59)),
        f.article("Tomorrow's story (after the send time)", kyiv(day, 7, 1)),
        f.item("Item after the send time", kyiv(day, 7, 30)),
    ]
    return {"stories": stories, "items": items, "picks": picks, "outside": outside}


@pytest.fixture
def tmp_out(tmp_path: Path) -> Path:
    return tmp_path / "out"


SampleMaker = Callable[[Factory], dict[str, Any]]
