"""What the parsers make of a feed (pure): items, entries left out, and the shared field rules.

Every string here is plain text with no control characters, or HTML through the nh3 allowlist.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from worker.collect.text import (
    canonical_url,
    clean_text,
    content_hash,
    html_to_text,
    sanitize_html,
    sha256,
    shorten,
)

# a publication date this far ahead of `now` is a feed error, not a scheduled post
FUTURE_TOLERANCE = timedelta(minutes=10)
# ids and URLs go into indexed columns: PostgreSQL's b-tree entries are capped near 2.7 KB
MAX_ID_BYTES = 900
MAX_URL_BYTES = 1900


class FeedError(ValueError):
    """The bytes are not a usable feed; str() is the readable reason."""


@dataclass
class ParsedItem:
    guid: str
    url: str | None  # None: the entry has no link (allowed by RSS 2.0, JSON Feed and Atom)
    canonical_url: str | None  # None also when the link identifies no single entry
    title: str
    summary: str
    body_html: str
    author: str | None = None
    categories: list[str] = field(default_factory=list)
    image_url: str | None = None
    image_caption: str | None = None
    image_credit: str | None = None
    published_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    dated: bool = True  # False when the feed gave no usable date (published_at is `now`)
    content_hash: str = ""
    feed_hash: str = ""
    raw_guid: str | None = None  # the id as the feed wrote it (identity.identify makes `guid`)

    def finish(self) -> ParsedItem:
        if not self.title:
            self.title = fallback_title(self)
        # one last pass through the allowlist whatever the path (HTML, text/plain, JSON Feed)
        self.body_html = sanitize_html(self.body_html)
        self.content_hash = content_hash(self.title, self.body_html)
        self.feed_hash = self.content_hash
        return self


@dataclass(frozen=True)
class SkippedEntry:
    """An entry that was not made into an item, or not stored, and why (recorded for ops)."""

    guid: str
    title: str
    url: str | None
    reason: str


@dataclass
class ParsedFeed:
    format: str
    title: str
    items: list[ParsedItem]
    link: str | None = None  # the feed's own page (the link of link-less news-feed items)
    encoding: str = ""  # as feedparser decided it ("" for JSON Feed)
    skipped: list[SkippedEntry] = field(default_factory=list)


def bounded_id(value: str) -> str:
    """An id short enough for its indexed column: absurd ones become a hash (still stable)."""
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        return "sha256:" + sha256(value)
    return value


def link(value: str | None, base: str) -> str | None:
    found = canonical_url(value, base)
    if found is not None and len(found.encode("utf-8")) > MAX_URL_BYTES:
        return None  # too long to index: no identity, and no link a reader could use either
    return found


def when(value: datetime | None, now: datetime, clamp_future: bool) -> tuple[datetime, bool]:
    """The publication time in UTC and whether the feed gave a usable one (else `now`)."""
    if value is None:
        return now, False
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.year < 1990:
        return now, False
    if clamp_future and value > now + FUTURE_TOLERANCE:
        return now, False
    return value, True


def title_text(value: str, is_html: bool) -> str:
    # titles are plain text: markup in an HTML title is dropped, entities decoded once
    text = html_to_text(value) if is_html else clean_text(html.unescape(value))
    return shorten(text, 400)


def summary_text(summary: str, body_html: str) -> str:
    return shorten(summary or html_to_text(body_html), 600)


def fallback_title(item: ParsedItem) -> str:
    text = shorten(item.summary or html_to_text(item.body_html), 120)
    if text:
        return text
    if item.url:
        return shorten(item.url.split("://", 1)[-1].rstrip("/"), 120)
    return "(untitled)"


def empty_entry(guid: str | None, index: int, namespace: str) -> SkippedEntry:
    """An entry with no title, text or link: nothing to store, but ops should know."""
    return SkippedEntry(
        guid=bounded_id(guid or f"{namespace}:entry-{index + 1}"),
        title=f"entry {index + 1}",
        url=None,
        reason="empty entry: no title, text or link",
    )


def unreadable_entry(guid: str | None, index: int, namespace: str, exc: Exception) -> SkippedEntry:
    """An entry whose fields could not be read (a parser quirk): skipped, the rest is kept."""
    detail = clean_text(f"{type(exc).__name__}: {exc}", limit=300)
    return SkippedEntry(
        guid=bounded_id(guid or f"{namespace}:entry-{index + 1}"),
        title=f"entry {index + 1}",
        url=None,
        reason=f"unreadable entry: {detail}",
    )


def read_entry(
    read: Callable[[], ParsedItem | None],
    guid: str | None,
    index: int,
    namespace: str,
    skipped: list[SkippedEntry],
) -> ParsedItem | None:
    """One entry through `read`; one that fails or has nothing in it is noted in `skipped` (one
    odd entry never costs the rest of its feed)."""
    try:
        item = read()
    except Exception as exc:
        skipped.append(unreadable_entry(guid, index, namespace, exc))
        return None
    if item is None:
        skipped.append(empty_entry(guid, index, namespace))
    return item
