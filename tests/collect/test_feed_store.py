"""News-feed items into rows: stored once, updated when their text changes, left alone when
another source has them, and linked to the feed's page when they have no link."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.collect.feed_store import apply_feed_items
from worker.collect.items import ParsedItem
from worker.models import FeedItem, Source, SourceKind

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def _source(session: Session, name: str) -> Source:
    source = Source(name=name, url=f"https://{name}.example/feed", kind=SourceKind.news_feed)
    session.add(source)
    session.flush()
    return source


def _item(guid: str, summary: str, url: str | None = "https://example.org/a") -> ParsedItem:
    return ParsedItem(
        guid=guid,
        url=url,
        canonical_url=url,
        title="Power restored in Kharkiv",
        summary=summary,
        body_html="",
        published_at=NOW,
    )


def test_stored_once_then_updated_only_when_the_text_changes(session: Session) -> None:
    source = _source(session, "wire")
    first = apply_feed_items(session, source, [_item("g1", "Crews worked overnight.")], NOW)
    assert (first.new_feed_items, first.updated_feed_items) == (1, 0)
    again = apply_feed_items(session, source, [_item("g1", "Crews worked overnight.")], NOW)
    assert (again.new_feed_items, again.updated_feed_items) == (0, 0)
    assert again.stored_guids == ["g1"]
    edited = apply_feed_items(session, source, [_item("g1", "Crews finished at dawn.")], NOW)
    assert edited.updated_feed_items == 1
    row = session.scalars(select(FeedItem)).one()
    assert row.summary == "Crews finished at dawn." and row.updated_at == NOW


def test_another_sources_item_is_left_alone(session: Session) -> None:
    one, two = _source(session, "one"), _source(session, "two")
    apply_feed_items(session, one, [_item("g1", "First telling.")], NOW)
    out = apply_feed_items(session, two, [_item("g1", "Second telling.")], NOW)
    assert (out.new_feed_items, out.updated_feed_items) == (0, 0)
    row = session.scalars(select(FeedItem)).one()
    assert (row.source_id, row.summary) == (one.id, "First telling.")


def test_the_same_item_twice_in_one_feed_is_stored_once(session: Session) -> None:
    source = _source(session, "wire")
    items = [_item("g1", "Once."), _item("g1", "Once.")]
    assert apply_feed_items(session, source, items, NOW).new_feed_items == 1
    assert len(session.scalars(select(FeedItem)).all()) == 1


def test_a_linkless_item_links_to_the_feed_page(session: Session) -> None:
    source = _source(session, "wire")
    item = _item("g2", "No link of its own.", url=None)
    apply_feed_items(session, source, [item], NOW, feed_link="https://wire.example/live")
    assert session.scalars(select(FeedItem.url)).one() == "https://wire.example/live"
