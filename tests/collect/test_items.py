"""One entry at a time: an entry that cannot be stored is skipped with its reason, the rest of its
feed is stored and the source stays healthy; link-less entries are real articles and news items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from tests.collect.helpers import NOW, collect_all, feed_file, write_sources
from worker import db
from worker.collect.health import skipped_items, source_health
from worker.digest.content import build_view
from worker.digest.render import render
from worker.models import Article, FeedItem, SkippedItem
from worker.settings import Settings, get_settings
from worker.status import gather_status

REFUSE_SQLITE = """
CREATE TRIGGER refuse_tagged BEFORE INSERT ON articles WHEN NEW.title LIKE '%refuse me%'
BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END
"""
REFUSE_PG = [
    """CREATE FUNCTION refuse_tagged() RETURNS trigger AS $$ BEGIN
         IF NEW.title LIKE '%refuse me%' THEN
           RAISE EXCEPTION 'refused by the test trigger' USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER refuse_tagged BEFORE INSERT ON articles
       FOR EACH ROW EXECUTE FUNCTION refuse_tagged()""",
]


def rss(*items: str, link: str = "https://live.example.org/") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>{link}</link>" + "".join(items) + "</channel></rss>"
    ).encode()


def entry(title: str, *, guid: str = "", link: str = "", text: str = "Body text.") -> str:
    parts = [f"<title>{title}</title>", f"<description>{text}</description>"]
    if guid:
        parts.append(f"<guid isPermaLink='false'>{guid}</guid>")
    if link:
        parts.append(f"<link>{link}</link>")
    parts.append("<pubDate>Thu, 26 Nov 2026 08:00:00 GMT</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


def refuse(settings: Settings) -> None:
    with db.get_engine(settings.database_url).begin() as conn:
        statements = REFUSE_PG if conn.dialect.name == "postgresql" else [REFUSE_SQLITE]
        for statement in statements:
            conn.execute(text(statement))


def allow(settings: Settings) -> None:
    with db.get_engine(settings.database_url).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER refuse_tagged ON articles"))
        else:
            conn.execute(text("DROP TRIGGER refuse_tagged"))


def test_an_entry_that_cannot_be_stored_is_skipped_and_shown(
    any_db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = rss(
        entry("First story", guid="a-1", link="https://n.example.org/1"),
        entry("Please refuse me", guid="a-2", link="https://n.example.org/2"),
        entry("Third story", guid="a-3", link="https://n.example.org/3"),
    )
    settings = write_sources(
        any_db_settings,
        {"name": "A", "url": feed_file(any_db_settings, "a.xml", body), "kind": "articles"},
    )
    refuse(settings)
    result = collect_all(settings)["A"]
    assert result["ok"] and len(result["new_articles"]) == 2  # type: ignore[arg-type]
    assert result["skipped_items"] == 1
    assert "refused by the test trigger" in result["skip_reasons"][0]  # type: ignore[index]
    with db.session_scope(settings) as session:
        (health,) = source_health(session)
        assert health["healthy"] and health["skipped"] == 1 and health["last_error"] is None
        (skip,) = skipped_items(session)
        assert skip["source"] == "A" and skip["title"] == "Please refuse me"
        assert "refused by the test trigger" in skip["reason"]
        status = gather_status(session, settings, NOW.date())
        assert status["Sources"][0]["skipped"] == 1
        assert status["Skipped entries"][0]["title"] == "Please refuse me"
        stored = sorted(session.scalars(select(Article.title)))
    assert stored == ["First story", "Third story"]
    # ops see it in `digestcast sources list`, with the reason
    for key, value in {
        "DATABASE_URL": settings.database_url,
        "SOURCES": str(settings.sources),
        "DATA_DIR": str(settings.data_dir),
    }.items():
        monkeypatch.setenv(f"DIGESTCAST_{key}", value)
    get_settings.cache_clear()
    from worker.cli import app

    try:
        listing = CliRunner().invoke(app, ["sources", "list"], env={"COLUMNS": "250"})
    finally:
        get_settings.cache_clear()
    assert listing.exit_code == 0, listing.output
    assert "Skipped entries" in listing.output and "refused by the test trigger" in listing.output

    # the same entry skipped again is one row seen twice; once storable, it is stored and gone
    feed_file(settings, "a.xml", body + b"\n")
    assert collect_all(settings)["A"]["skipped_items"] == 1
    with db.session_scope(settings) as session:
        assert session.scalars(select(SkippedItem.times)).one() == 2
    allow(settings)
    feed_file(settings, "a.xml", body + b"\n\n")
    again = collect_all(settings)["A"]
    assert again["ok"] and len(again["new_articles"]) == 1 and again["skipped_items"] == 0  # type: ignore[arg-type]
    with db.session_scope(settings) as session:
        assert session.scalars(select(SkippedItem)).all() == []


def test_an_empty_entry_is_recorded_not_stored(settings: Settings) -> None:
    body = rss("<item><author>nobody@example.org (Nobody)</author></item>", entry("Real one"))
    settings = write_sources(
        settings, {"name": "E", "url": feed_file(settings, "e.xml", body), "kind": "articles"}
    )
    result = collect_all(settings)["E"]
    assert result["ok"] and len(result["new_articles"]) == 1  # type: ignore[arg-type]
    assert result["skipped_items"] == 1
    assert "empty entry" in result["skip_reasons"][0]  # type: ignore[index]


LINKLESS_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:a</id>
<updated>2026-11-26T08:00:00Z</updated>
<entry><title>Atom without a link</title><id>urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427</id>
<updated>2026-11-26T08:00:00Z</updated><content type="html">&lt;p&gt;Atom body.&lt;/p&gt;</content>
</entry></feed>"""
LINKLESS_JSON = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [
            {"id": "j-1", "title": "JSON without a link", "content_text": "JSON body."},
            {"title": "JSON without id or link", "content_text": "Same text everywhere."},
        ],
    }
).encode()


def test_linkless_entries_are_articles_without_a_read_link(any_db_settings: Settings) -> None:
    same = entry("No link, no id", text="Same text everywhere.")
    feeds = {
        "R": rss(entry("RSS without a link", guid="r-1"), same),
        "A": LINKLESS_ATOM,
        "J": LINKLESS_JSON,
        "R2": rss(same),  # the same link-less, id-less entry in another source: its own article
    }
    specs = [
        {"name": name, "url": feed_file(any_db_settings, f"{name}.feed", body), "kind": "articles"}
        for name, body in feeds.items()
    ]
    settings = write_sources(any_db_settings, *specs)
    results = collect_all(settings)
    assert all(r["ok"] and not r["skipped_items"] for r in results.values()), results
    assert {n: len(r["new_articles"]) for n, r in results.items()} == {  # type: ignore[arg-type]
        "R": 2,
        "A": 1,
        "J": 2,
        "R2": 1,
    }
    with db.session_scope(settings) as session:
        articles = list(session.scalars(select(Article).order_by(Article.id)))
        assert all(a.url is None and a.canonical_url is None for a in articles)
        # the same text in three sources: three articles, each GUID from its source and entry
        twins = [a for a in articles if "everywhere" in a.summary]
        assert len(twins) == 3 and len({a.guid for a in twins}) == 3
        view = build_view(settings, NOW.date(), articles, [], [], None)
        rendered = render(view, settings.digest_html_budget_bytes)
        documents = [
            json.loads((settings.data_dir / a.storage_prefix / "article.json").read_text())
            for a in articles
        ]
    assert "Read:" not in rendered.text
    assert "RSS without a link" in rendered.html and 'href="None"' not in rendered.html
    assert all(d["url"] is None for d in documents)
    # a second run finds the same GUIDs: nothing new, nothing duplicated
    for name, body in feeds.items():
        feed_file(settings, f"{name}.feed", body + b" ")
    again = collect_all(settings)
    assert all(r["ok"] and not r["new_articles"] for r in again.values()), again


def test_linkless_news_items_link_to_the_feed_page(any_db_settings: Settings) -> None:
    body = rss(
        entry("Air raid alert ends", guid="n-1"),
        entry("Power back in Kharkiv", guid="n-2", link="https://live.example.org/n-2"),
        link="https://live.example.org/live",
    )
    settings = write_sources(
        any_db_settings,
        {"name": "N", "url": feed_file(any_db_settings, "n.xml", body), "kind": "news-feed"},
    )
    assert collect_all(settings)["N"]["new_feed_items"] == 2
    with db.session_scope(settings) as session:
        rows = {r.title: r for r in session.scalars(select(FeedItem))}
    assert rows["Air raid alert ends"].url == "https://live.example.org/live"
    assert rows["Air raid alert ends"].canonical_url is None  # the feed's page is no identity
    assert rows["Power back in Kharkiv"].url == "https://live.example.org/n-2"


def test_a_web_page_without_a_link_has_no_read_link(settings: Settings, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    body = rss(entry("Listen only", guid="l-1", text="Spoken text."))
    settings = write_sources(
        settings, {"name": "L", "url": feed_file(settings, "l.xml", body), "kind": "articles"}
    )
    (article_id,) = collect_all(settings)["L"]["new_articles"]  # type: ignore[misc]
    with TestClient(create_app(settings), base_url="https://daily.example.org") as client:
        page = client.get(f"/listen/{article_id}")
    assert page.status_code == 200 and "Listen only" in page.text
    assert "Read the article" not in page.text


def test_huge_fields_are_stored_within_the_columns(any_db_settings: Settings) -> None:
    """A 1 MB body, a 20,000-character title, a 5,000-character id and link (with non-ASCII):
    stored, the id hashed and the link dropped, so no index entry is ever too big."""
    long_id = "тег-" * 1250
    long_link = "https://n.example.org/" + "дуже-довгий-шлях/" * 300
    body = rss(
        entry("T" * 20_000, guid=long_id, link=long_link, text="<p>" + "word " * 200_000 + "</p>"),
        entry("Normal story", guid="n-1", link="https://n.example.org/n-1"),
    )
    settings = write_sources(
        any_db_settings,
        {"name": "H", "url": feed_file(any_db_settings, "h.xml", body), "kind": "articles"},
    )
    result = collect_all(settings)["H"]
    assert result["ok"] and len(result["new_articles"]) == 2, result  # type: ignore[arg-type]
    with db.session_scope(settings) as session:
        huge = session.scalars(select(Article).where(Article.title.startswith("TTT"))).one()
        assert len(huge.title) <= 400 and huge.guid.startswith("sha256:")
        assert huge.url is None and huge.canonical_url is None
        assert len(huge.body_html) > 900_000
