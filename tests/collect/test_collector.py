"""collect_source end to end on SQLite and PostgreSQL, with file:// and HTTP feeds."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.collect.helpers import CORPUS, FeedServer, Route, collect_all, feed_file, write_sources
from tests.conftest import EXAMPLES
from worker import db
from worker.collect.collector import collect_source
from worker.collect.runner import run_collect
from worker.collect.sources import sync_sources
from worker.models import Article, FeedItem, Source
from worker.settings import Settings
from worker.storage import LocalStorage

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
LATE = "Thu, 26 Nov 2026 23:30:00 GMT"  # 01:30 on the 27th in Kyiv
MORNING = "Thu, 26 Nov 2026 08:00:00 GMT"


def item(guid: str, title: str, link: str, body: str = "Body text.", when: str = "") -> str:
    date_tag = f"<pubDate>{when}</pubDate>" if when else ""
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>{date_tag}"
        f"<description>{body}</description></item>"
    )


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<link>https://news.example.org/</link>" + "".join(items) + "</channel></rss>"
    ).encode()


def read_json(settings: Settings, article: Article) -> dict[str, object]:
    return json.loads((settings.data_dir / article.storage_prefix / "article.json").read_text())


def test_sample_sources_end_to_end(any_db_settings: Settings, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    settings = any_db_settings.model_copy(update={"sources": tmp_path / "examples/sources.toml"})
    results = run_collect(settings)
    assert results and all(r["ok"] for r in results), results
    with db.session_scope(settings) as session:
        articles = list(session.scalars(select(Article)))
        feed_items = session.scalar(select(func.count()).select_from(FeedItem))
        assert len(articles) >= 6 and feed_items >= 10
        assert any(a.editors_pick for a in articles)
        for article in articles:
            doc = read_json(settings, article)
            for key in ("title", "url", "published", "source", "summary", "body_html"):
                assert doc[key] is not None, key
            assert doc["content_hash"] == article.content_hash
            assert datetime.fromisoformat(str(doc["published"])).utcoffset() is not None
            assert article.slug.isascii() and "/" not in article.slug
    # a second run: nothing new, nothing updated (files unchanged: not modified)
    again = run_collect(settings)
    assert all(r["ok"] and not r["new_articles"] and not r["updated_articles"] for r in again)
    assert all(r["not_modified"] for r in again)


def test_upsert_edit_and_kyiv_day(any_db_settings: Settings) -> None:
    s = any_db_settings
    url = feed_file(
        s,
        "a.xml",
        rss(
            item("g1", "Late night story", "https://n.example.org/late", when=LATE),
            item("g2", "Morning story", "https://n.example.org/morning?utm_source=x", when=MORNING),
        ),
    )
    s = write_sources(s, {"name": "A", "url": url, "kind": "articles"})
    first = collect_all(s)["A"]
    assert first["ok"] and len(first["new_articles"]) == 2  # type: ignore[arg-type]
    with db.session_scope(s) as session:
        late = session.scalar(select(Article).where(Article.guid == "A:g1"))
        assert late is not None
        assert late.published_day == date(2026, 11, 27)  # 01:30 in Kyiv
        assert late.storage_prefix == "articles/2026/11/27/late-night-story"
        morning = session.scalar(select(Article).where(Article.guid == "A:g2"))
        assert morning is not None and morning.canonical_url == "https://n.example.org/morning"
        old_hash, late_id = late.content_hash, late.id
    # the same feed again (forced refetch): nothing new or updated
    with db.session_scope(s) as session:
        for src in session.scalars(select(Source)):
            src.last_modified = None
    same = collect_all(s)["A"]
    assert same["ok"] and not same["new_articles"] and not same["updated_articles"]
    # an edit of the body: same article, updated, article.json rewritten
    feed_file(
        s,
        "a.xml",
        rss(
            item("g1", "Late night story", "https://n.example.org/late", "Corrected.", LATE),
            item("g2", "Morning story", "https://n.example.org/morning", when=MORNING),
        ),
    )
    edited = collect_all(s, now=datetime(2026, 11, 28, 7, 0, tzinfo=UTC))["A"]
    assert edited["updated_articles"] == [late_id] and not edited["new_articles"]
    with db.session_scope(s) as session:
        late = session.get(Article, late_id)
        assert late is not None and late.content_hash != old_hash
        assert late.updated_at == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
        doc = read_json(s, late)
        assert doc["content_hash"] == late.content_hash and "Corrected" in str(doc["body_html"])
        assert doc["updated"] is not None
        assert session.scalar(select(func.count()).select_from(Article)) == 2


def test_same_story_in_two_feeds_and_editors_picks(any_db_settings: Settings) -> None:
    s = any_db_settings
    a = feed_file(s, "a.xml", rss(item("a-1", "Shared story", "https://n.example.org/shared")))
    b = feed_file(
        s, "b.xml", rss(item("b-9", "Shared story (B)", "https://n.example.org/shared?fbclid=1#x"))
    )
    picks = feed_file(
        s,
        "p.xml",
        rss(
            item("p-1", "Pick of a known story", "https://n.example.org/shared"),
            item("p-2", "A pick of its own", "https://other.example.org/essay"),
        ),
    )
    s = write_sources(
        s,
        {"name": "A", "url": a, "kind": "articles"},
        {"name": "B", "url": b, "kind": "articles"},
        {"name": "Picks", "url": picks, "kind": "editors-picks"},
    )
    results = collect_all(s)
    assert len(results["A"]["new_articles"]) == 1  # type: ignore[arg-type]
    assert results["B"]["new_articles"] == []  # the same story: one article
    assert len(results["Picks"]["new_articles"]) == 1  # type: ignore[arg-type]
    with db.session_scope(s) as session:
        shared = session.scalar(select(Article).where(Article.guid == "A:a-1"))
        assert shared is not None and shared.editors_pick and shared.title == "Shared story"
        assert read_json(s, shared)["editors_pick"] is True
        own = session.scalar(select(Article).where(Article.guid == "Picks:p-2"))
        assert own is not None and own.editors_pick
        assert session.scalar(select(func.count()).select_from(Article)) == 2


def test_slugs_unique_per_day_and_safe(any_db_settings: Settings) -> None:
    s = any_db_settings
    url = feed_file(s, "c.xml", (CORPUS / "cyrillic.xml").read_bytes())
    s = write_sources(s, {"name": "Cyr", "url": url, "kind": "articles", "language": "uk"})
    assert collect_all(s)["Cyr"]["ok"]
    with db.session_scope(s) as session:
        slugs = sorted(session.scalars(select(Article.slug)))
    assert len(slugs) == len(set(slugs)) == 4
    assert "iak-u-chernigovi-vidnovliuiut-biblioteku-zruinovanu-u-2022" in slugs
    assert "iak-u-chernigovi-vidnovliuiut-biblioteku-zruinovanu-u-2022-2" in slugs
    assert "article" in slugs  # the title ".." makes no path segment
    for slug in slugs:
        assert slug.isascii() and len(slug) <= 60 and "/" not in slug and "." not in slug


def test_news_feed_items_and_category_filters(any_db_settings: Settings) -> None:
    s = any_db_settings
    tagged = (
        "<item><title>{t}</title><link>https://n.example.org/{t}</link><guid>{t}</guid>"
        "<category>{c}</category><description>Short.</description></item>"
    )
    body = rss(
        tagged.format(t="war", c="War"),
        tagged.format(t="sport", c="Sport"),
        tagged.format(t="ads", c="Sponsored"),
    )
    url = feed_file(s, "n.xml", body)
    s = write_sources(
        s,
        {"name": "News", "url": url, "kind": "news-feed", "exclude_categories": ["sponsored"]},
        {"name": "Only war", "url": url, "kind": "articles", "include_categories": ["war"]},
    )
    results = collect_all(s)
    assert results["News"]["new_feed_items"] == 2
    assert len(results["Only war"]["new_articles"]) == 1  # type: ignore[arg-type]
    with db.session_scope(s) as session:
        titles = sorted(session.scalars(select(FeedItem.title)))
        assert titles == ["sport", "war"]


def test_health_failures_pause_and_resume(any_db_settings: Settings) -> None:
    from worker.collect.health import check_source, resume_source, source_health

    s = any_db_settings.model_copy(update={"source_max_failures": 3})
    url = feed_file(s, "bad.xml", b"<html>not a feed</html>")
    s = write_sources(s, {"name": "Bad", "url": url, "kind": "articles"})
    for _ in range(3):
        result = collect_all(s)["Bad"]
        assert not result["ok"] and str(result["error"]).startswith("not a feed")
    assert result["paused"]
    skipped = collect_all(s)["Bad"]
    assert skipped["skipped"] and "paused since" in str(skipped["error"])
    with db.session_scope(s) as session:
        (row,) = source_health(session)
        assert row["paused"] and row["consecutive_failures"] == 3
        assert str(row["last_error"]).startswith("not a feed")
        assert not check_source(session, s, "Bad")["ok"]
        assert resume_source(session, "Bad") and not resume_source(session, "Nope")
    feed_file(s, "bad.xml", rss(item("ok", "Fixed", "https://n.example.org/fixed")))
    with db.session_scope(s) as session:
        assert check_source(session, s, "Bad")["items"] == 1
        assert (
            session.scalar(select(func.count()).select_from(Article)) == 0
        )  # check stores nothing
    fixed = collect_all(s)["Bad"]
    assert fixed["ok"] and len(fixed["new_articles"]) == 1  # type: ignore[arg-type]
    with db.session_scope(s) as session:
        (row,) = source_health(session)
        assert row["consecutive_failures"] == 0 and not row["paused"] and row["last_success_at"]


def test_good_and_broken_sources_mixed(settings: Settings, feed_server: FeedServer) -> None:
    s = settings
    good_file = feed_file(s, "good.xml", rss(item("gf", "Good file", "https://n.example.org/gf")))
    feed_server.routes["/good"] = Route(
        body=rss(item("gh", "Good http", "https://n.example.org/gh"))
    )
    feed_server.routes["/503"] = Route(status=503)
    feed_server.routes["/slow"] = Route(body=b"", delay=2.0)
    feed_server.routes["/html"] = Route(body=b"<html><p>hi</p></html>", content_type="text/html")
    huge = b"<rss><channel>" + b"<item><title>x</title></item>" * 800_000 + b"</channel></rss>"
    assert len(huge) > 20_000_000  # generated here, never committed
    feed_server.routes["/huge"] = Route(body=huge)
    s = write_sources(
        s.model_copy(update={"fetch_timeout_seconds": 0.5}),
        {"name": "Good file", "url": good_file, "kind": "articles"},
        {"name": "Good http", "url": feed_server.url("/good"), "kind": "news-feed"},
        {"name": "Down", "url": feed_server.url("/503"), "kind": "articles"},
        {"name": "Slow", "url": feed_server.url("/slow"), "kind": "articles"},
        {"name": "Page", "url": feed_server.url("/html"), "kind": "articles"},
        {"name": "Missing", "url": "feeds/missing.xml", "kind": "articles"},
        {"name": "Private", "url": feed_server.url("/good"), "kind": "articles", "local": False},
        {"name": "Huge", "url": feed_server.url("/huge"), "kind": "articles"},
    )
    progress: list[tuple[int, int]] = []
    results = {r["source"]: r for r in run_collect(s, lambda d, t, r: progress.append((d, t)))}
    assert sorted(progress) == [(n, 8) for n in range(1, 9)]
    assert results["Good file"]["ok"] and results["Good http"]["ok"]
    assert results["Good http"]["new_feed_items"] == 1
    reasons = {name: str(r["error"]) for name, r in results.items() if not r["ok"]}
    assert set(reasons) == {"Down", "Slow", "Page", "Missing", "Private", "Huge"}
    assert reasons["Huge"] == f"body over 10000000 bytes from {feed_server.url('/huge')}"
    assert reasons["Down"] == f"HTTP 503 from {feed_server.url('/503')}"
    assert reasons["Slow"].startswith("timed out after 0.5 s")
    assert reasons["Page"].startswith("not a feed")
    assert reasons["Missing"].startswith("file not found")
    assert "not a public address" in reasons["Private"]


def test_same_url_twice_in_one_feed_is_one_article(any_db_settings: Settings) -> None:
    s = any_db_settings
    body = rss(
        item("x-1", "Story", "https://n.example.org/s?utm_medium=a"),
        item("x-2", "Story again", "https://n.example.org/s#part-2"),
    )
    s = write_sources(
        s,
        {"name": "A", "url": feed_file(s, "a.xml", body), "kind": "articles"},
        {"name": "N", "url": feed_file(s, "n.xml", body), "kind": "news-feed"},
    )
    results = collect_all(s)
    assert len(results["A"]["new_articles"]) == 1  # type: ignore[arg-type]
    assert results["N"]["new_feed_items"] == 1


@pytest.mark.parametrize(
    ("published", "day"),
    [
        ("Sat, 28 Mar 2026 22:30:00 GMT", date(2026, 3, 29)),  # +02:00, before the spring change
        ("Sun, 29 Mar 2026 21:30:00 GMT", date(2026, 3, 30)),  # +03:00 after it
        ("Sat, 24 Oct 2026 21:30:00 GMT", date(2026, 10, 25)),  # +03:00, before the autumn change
        ("Sun, 25 Oct 2026 21:30:00 GMT", date(2026, 10, 25)),  # +02:00 after it: 23:30
    ],
)
def test_published_day_across_dst(settings: Settings, published: str, day: date) -> None:
    url = feed_file(
        settings, "d.xml", rss(item("d", "DST", "https://n.example.org/d", when=published))
    )
    s = write_sources(settings, {"name": "D", "url": url, "kind": "articles"})
    assert collect_all(s)["D"]["ok"]
    with db.session_scope(s) as session:
        article = session.scalar(select(Article))
        assert article is not None and article.published_day == day
        doc = read_json(s, article)
        assert datetime.fromisoformat(str(doc["published"])).date() == day


def test_articles_source_takes_over_a_story_first_seen_as_a_pick(settings: Settings) -> None:
    picks = feed_file(
        settings, "p.xml", rss(item("p", "Pick teaser", "https://n.example.org/s", "Teaser."))
    )
    s = write_sources(settings, {"name": "Picks", "url": picks, "kind": "editors-picks"})
    (pick_id,) = collect_all(s)["Picks"]["new_articles"]  # type: ignore[misc]
    full = feed_file(
        s, "a.xml", rss(item("a", "Full story", "https://n.example.org/s", "Full body."))
    )
    s = write_sources(
        s,
        {"name": "Picks", "url": picks, "kind": "editors-picks"},
        {"name": "A", "url": full, "kind": "articles"},
    )
    results = collect_all(s)
    assert results["A"]["updated_articles"] == [pick_id] and not results["A"]["new_articles"]
    with db.session_scope(s) as session:
        article = session.get(Article, pick_id)
        assert article is not None and article.title == "Full story" and article.editors_pick
        assert article.source.name == "A"
        assert read_json(s, article)["source"] == "A"


class FlakyStorage(LocalStorage):
    """Fails the first `failures` writes, like a full disk or an S3 outage."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    def write_bytes(self, key: str, data: bytes) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        super().write_bytes(key, data)


def test_storage_failure_is_recorded_and_repaired_next_run(settings: Settings) -> None:
    url = feed_file(settings, "a.xml", rss(item("a", "Story", "https://n.example.org/a")))
    s = write_sources(settings, {"name": "A", "url": url, "kind": "articles"})
    with db.session_scope(s) as session:
        (source,) = sync_sources(session, s)
        failed = collect_source(session, s, FlakyStorage(s.data_dir, 1), source.id, now=NOW)
        assert not failed.ok and str(failed.error).startswith("storage: OSError")
        assert len(failed.new_articles) == 1  # the row exists; only its file is missing
        session.refresh(source)
        assert source.consecutive_failures == 1 and source.last_modified is None
        repaired = collect_source(session, s, LocalStorage(s.data_dir), source.id, now=NOW)
        assert repaired.ok and not repaired.new_articles and not repaired.updated_articles
        article = session.get(Article, failed.new_articles[0])
        assert article is not None and read_json(s, article)["title"] == "Story"


def test_http_source_conditional_get_and_gzip(settings: Settings, feed_server: FeedServer) -> None:
    body = rss(item("h", "Over HTTP", "https://n.example.org/h"))
    feed_server.routes["/f"] = Route(
        body=body, etag='"abc"', last_modified="Thu, 26 Nov 2026 07:00:00 GMT", gzip=True
    )
    s = write_sources(settings, {"name": "H", "url": feed_server.url("/f"), "kind": "articles"})
    first = collect_all(s)["H"]
    assert first["ok"] and len(first["new_articles"]) == 1  # type: ignore[arg-type]
    with db.session_scope(s) as session:
        source = session.scalar(select(Source))
        assert source is not None and source.etag == '"abc"'
        assert source.last_modified == "Thu, 26 Nov 2026 07:00:00 GMT"
    second = collect_all(s)["H"]
    assert second["ok"] and second["not_modified"]
    hit = feed_server.hits_for("/f")[1]
    assert hit.headers["if-none-match"] == '"abc"' and "gzip" in hit.headers["accept-encoding"]


def test_retry_after_pauses_politely_without_counting_a_failure(
    settings: Settings, feed_server: FeedServer
) -> None:
    body = rss(item("r", "Back later", "https://n.example.org/r"))
    answers = [Route(status=429, headers={"Retry-After": "600"}), Route(body=body)]
    feed_server.routes["/busy"] = lambda: answers[0] if len(feed_server.hits) <= 1 else answers[1]
    s = write_sources(
        settings, {"name": "Busy", "url": feed_server.url("/busy"), "kind": "articles"}
    )
    first = collect_all(s)["Busy"]
    assert not first["ok"] and "asks to wait 600 s" in str(first["error"])
    with db.session_scope(s) as session:
        source = session.scalar(select(Source))
        assert source is not None and source.consecutive_failures == 0
        assert source.retry_after is not None
    # within the server's window nothing is fetched
    during = collect_all(s, now=NOW + timedelta(minutes=5))["Busy"]
    assert during["skipped"] and "asked to wait until" in str(during["error"])
    assert len(feed_server.hits_for("/busy")) == 1
    # after it, the feed is fetched again and the pause is forgotten
    after = collect_all(s, now=NOW + timedelta(minutes=11))["Busy"]
    assert after["ok"] and len(after["new_articles"]) == 1  # type: ignore[arg-type]
    with db.session_scope(s) as session:
        source = session.scalar(select(Source))
        assert source is not None and source.retry_after is None


def test_429_without_retry_after_is_an_ordinary_failure(
    settings: Settings, feed_server: FeedServer
) -> None:
    feed_server.routes["/429"] = Route(status=429)
    s = write_sources(settings, {"name": "T", "url": feed_server.url("/429"), "kind": "articles"})
    result = collect_all(s)["T"]
    assert not result["ok"] and result["error"] == f"HTTP 429 from {feed_server.url('/429')}"
    with db.session_scope(s) as session:
        source = session.scalar(select(Source))
        assert source is not None and source.consecutive_failures == 1
