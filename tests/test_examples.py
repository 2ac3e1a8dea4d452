"""The bundled sample data in examples/ is what `make run` uses; keep it honest.

These checks guard the promises the daily job relies on: every feed parses cleanly, the counts
and the long/Cyrillic articles the issue asks for exist, every item falls inside the sample Kyiv
day (so the 2026-11-27 digest is never empty), and the sources and subscribers files resolve.
"""

from __future__ import annotations

import calendar
import csv
import re
import tomllib
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FEEDS = EXAMPLES / "feeds"
KYIV = ZoneInfo("Europe/Kyiv")
WINDOW_START = datetime(2026, 11, 26, 7, 0, tzinfo=KYIV)
WINDOW_END = datetime(2026, 11, 27, 7, 0, tzinfo=KYIV)
ALL_FEEDS = ["articles.xml", "articles-uk.xml", "news-feed.xml", "editors-picks.xml"]
ARTICLE_FEEDS = ["articles.xml", "articles-uk.xml", "editors-picks.xml"]
CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def _parse(name: str) -> Any:
    parsed = feedparser.parse(str(FEEDS / name))
    assert not parsed.bozo, f"{name}: {parsed.get('bozo_exception')!r}"
    return parsed


def _body_html(entry: Any) -> str:
    # feedparser also lists media:description captions in entry.content (as text/plain),
    # so the body is the text/html entry, not simply content[0].
    html = [c.value for c in entry.get("content", []) if c.type == "text/html"]
    assert len(html) == 1, entry.get("title")
    return str(html[0])


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html)).strip()


def _published(entry: Any) -> datetime:
    # published_parsed is normalized to UTC by feedparser.
    return datetime.fromtimestamp(calendar.timegm(entry.published_parsed), tz=UTC)


@pytest.mark.parametrize("name", ALL_FEEDS)
def test_feed_parses_and_items_are_complete(name: str) -> None:
    parsed = _parse(name)
    assert parsed.entries
    for entry in parsed.entries:
        assert entry.title.strip()
        assert entry.link.startswith("https://example.org/")
        assert entry.id and not entry.guidislink
        assert entry.summary.strip()
        # RFC 2822 date with an explicit Kyiv offset, as a real newsroom feed has.
        assert entry.published.endswith("+0200"), entry.published
        assert WINDOW_START <= _published(entry) < WINDOW_END, (entry.title, entry.published)


def test_counts_match_the_issue() -> None:
    articles = _parse("articles.xml").entries + _parse("articles-uk.xml").entries
    assert len(articles) >= 6
    assert len(_parse("news-feed.xml").entries) == 10
    assert len(_parse("editors-picks.xml").entries) == 2


def test_article_bodies_long_and_cyrillic() -> None:
    entries = [e for name in ARTICLE_FEEDS for e in _parse(name).entries]
    lengths = {e.title: len(_text(_body_html(e))) for e in entries}
    assert max(lengths.values()) > 4000, lengths
    assert all(n >= 800 for n in lengths.values()), lengths
    assert any(CYRILLIC.search(title) for title in lengths)
    uk = _parse("articles-uk.xml")
    assert uk.feed.language == "uk"
    assert all(CYRILLIC.search(_text(_body_html(e))) for e in uk.entries)


def test_articles_carry_author_image_and_categories() -> None:
    for name in ARTICLE_FEEDS:
        for entry in _parse(name).entries:
            assert entry.get("author"), entry.title
            assert entry.get("tags"), entry.title
            media = entry.get("media_content") or []
            assert media and media[0]["url"].startswith("https://example.org/images/")
            assert media[0]["url"].endswith(".jpg")
            assert entry.get("media_credit"), entry.title


def test_guids_and_links_unique_across_feeds() -> None:
    entries = [e for name in ALL_FEEDS for e in _parse(name).entries]
    guids = [e.id for e in entries]
    links = [e.link for e in entries]
    assert len(set(guids)) == len(guids)
    assert len(set(links)) == len(links)


def test_feeds_keep_realistic_details() -> None:
    # Things a real feed carries that collectors must cope with.
    titles = [e.title for e in _parse("articles.xml").entries]
    assert any("&" in t for t in titles)  # &amp; decoded by the parser
    bodies = " ".join(_body_html(e) for name in ARTICLE_FEEDS for e in _parse(name).entries)
    assert "<figcaption>" in bodies
    assert "Support our journalism" in bodies
    for token in ("U.S.", "km", "UAH"):
        assert token in bodies


def test_sources_file_resolves() -> None:
    with (EXAMPLES / "sources.toml").open("rb") as f:
        data = tomllib.load(f)
    sources = data["source"]
    assert len(sources) == 4
    assert {s["kind"] for s in sources} == {"articles", "news-feed", "editors-picks"}
    assert {s["language"] for s in sources} == {"en", "uk"}
    assert len({s["name"] for s in sources}) == len(sources)
    for source in sources:
        assert set(source) == {"name", "url", "kind", "language", "full_text", "local"}
        assert source["full_text"] is False
        assert source["local"] is True
        # Relative urls resolve against the sources file's folder.
        assert (EXAMPLES / source["url"]).is_file(), source["url"]
    uk = [s for s in sources if s["language"] == "uk"]
    assert [s["url"] for s in uk] == ["feeds/articles-uk.xml"]


def test_subscribers_csv() -> None:
    with (EXAMPLES / "subscribers.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    emails = [row["email"] for row in rows]
    assert len(set(emails)) == 3
    domains = {e.rsplit("@", 1)[1] for e in emails}
    assert domains == {"example.org", "example.com", "example.net"}
