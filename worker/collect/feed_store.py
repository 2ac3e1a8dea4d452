"""Parsed news-feed items -> FeedItem rows: the same identity rules as articles (GUID, then
canonical URL, across sources), written the way worker/collect/store.py writes a feed (one
savepoint, else item by item). A change is a change of the title or the summary text (its hash);
an item stored by another source stays that source's.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from worker.collect.items import ParsedItem
from worker.collect.store import (
    Index,
    Stored,
    batch_then_items,
    error_reason,
    isolated,
    skipped_entry,
)
from worker.collect.text import html_to_text, sha256, shorten
from worker.models import FeedItem, Source


def _fill_feed_item(
    session: Session,
    row: FeedItem,
    item: ParsedItem,
    summary: str,
    digest: str,
    feed_link: str | None,
    now: datetime,
) -> None:
    row.title, row.summary, row.content_hash = item.title, summary, digest
    row.url = item.url or row.url or feed_link
    if row.id is None:
        session.add(row)
    else:
        row.updated_at = now


def apply_feed_items(
    session: Session,
    source: Source,
    items: list[ParsedItem],
    now: datetime,
    feed_link: str | None = None,
) -> Stored:
    """News-feed items; one without a link of its own links to the feed's page (`feed_link`)."""
    return batch_then_items(
        session, partial(_write_feed_items, session, source, items, now, feed_link)
    )


def _write_feed_items(
    session: Session,
    source: Source,
    items: list[ParsedItem],
    now: datetime,
    feed_link: str | None,
    isolate: bool,
) -> Stored:
    out = Stored()
    index = Index(session, FeedItem, items)
    handled: set[int] = set()
    for item in items:
        text_ = shorten(item.summary or html_to_text(item.body_html), 1500)
        digest = sha256(item.title + "\n" + text_)
        row = index.find(item)
        if row is not None and id(row) in handled:
            continue  # the same item twice in one feed: once
        if row is not None:
            handled.add(id(row))
            if row.source_id != source.id or row.content_hash == digest:
                out.stored_guids.append(item.guid)
                continue
        target = (
            row
            if row is not None
            else FeedItem(
                source_id=source.id,
                guid=item.guid,
                canonical_url=item.canonical_url,
                published_at=item.published_at,
                first_seen_at=now,
            )
        )
        fill = partial(_fill_feed_item, session, target, item, text_, digest, feed_link, now)
        if isolate:
            error = isolated(session, fill)
        else:
            fill()  # the batch's savepoint holds it; an error is the whole batch's
            error = None
        if error is not None:
            out.skipped.append(skipped_entry(item, error_reason(error)))
            continue
        out.stored_guids.append(item.guid)
        if row is None:
            index.add(target)
            handled.add(id(target))
            out.new_feed_items += 1
        else:
            out.updated_feed_items += 1
    return out
