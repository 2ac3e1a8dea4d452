"""Feed bytes -> sanitized items (pure: no I/O, `now` is a parameter).

feedparser reads RSS 0.9x/1.0/2.0, RDF and Atom (it drops nested entity declarations, so no
billion laughs, and never fetches external entities) and decides the charset from the HTTP
headers as received (worker.collect.charset); JSON Feed is read in worker.collect.jsonfeed.
Which entry is which is decided in worker.collect.identity. An entry with no title, text or
link at all is reported in `ParsedFeed.skipped`, not stored.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from functools import partial
from typing import Any

import feedparser

from worker.collect import charset, media
from worker.collect import items as it
from worker.collect.identity import identify, make_guid
from worker.collect.items import FeedError, ParsedFeed, ParsedItem, SkippedEntry
from worker.collect.jsonfeed import parse_json_feed
from worker.collect.text import clean_text, html_to_text, plain_to_html, sanitize_html

__all__ = ["FeedError", "ParsedFeed", "ParsedItem", "SkippedEntry", "parse_feed"]

_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}


def parse_feed(
    content: bytes,
    *,
    url: str,
    content_type: str = "",
    now: datetime | None = None,
    clamp_future: bool = True,
    encoding: str | None = None,
    guid_namespace: str = "",
) -> ParsedFeed:
    """Parse feed bytes fetched from `url` (the base for relative links). Raises FeedError.

    `content_type` is the HTTP Content-Type as received (its charset counts); `encoding` is a
    source's override for a server that lies; `guid_namespace` (the source name) scopes ids
    that are not absolute URIs.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if charset.looks_like_json(content, content_type):
        text = charset.json_text(content, content_type, encoding)
        return parse_json_feed(
            text, url=url, now=now, clamp_future=clamp_future, namespace=guid_namespace
        )
    data, headers = charset.feedparser_input(content, content_type, encoding)
    headers["content-location"] = url
    try:
        parsed = feedparser.parse(
            # a stream, never bytes: feedparser tries bytes as a local file name first
            io.BytesIO(data),
            response_headers=headers,
            sanitize_html=True,
            resolve_relative_uris=True,
        )
    except Exception as exc:  # feedparser is lenient, but hostile bytes must never escape
        raise FeedError(f"not a feed: {type(exc).__name__}: {exc}") from exc
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS, Atom or JSON Feed found"
        raise FeedError(f"not a feed: {clean_text(str(reason), limit=300)}")
    used = str(parsed.get("encoding") or "")
    # captions, credits and the ids as written come from an lxml pass over the same text
    utf8 = data if encoding else charset.as_utf8(data, used)
    extras = _extras(utf8, len(parsed.entries))
    items: list[ParsedItem] = []
    skipped: list[SkippedEntry] = []
    for index, entry in enumerate(parsed.entries):
        extra = extras[index] if extras else media.Extras()
        raw_id = extra.guid or _text(entry.get("id")) or None
        guid = make_guid(raw_id, None, "", "", guid_namespace) if raw_id else None
        read = partial(_from_entry, entry, url, now, clamp_future, raw_id)
        item = it.read_entry(read, guid, index, guid_namespace, skipped)
        if item is None:
            continue
        item.image_caption = extra.caption or item.image_caption
        item.image_credit = extra.credit or item.image_credit
        items.append(item.finish())
    feed_link = it.link(_text(parsed.feed.get("link")), url)
    return ParsedFeed(
        format=parsed.get("version") or "unknown",
        title=clean_text(html.unescape(_text(parsed.feed.get("title"))), limit=300),
        items=identify(items, guid_namespace, feed_link),
        link=feed_link,
        encoding=used,
        skipped=skipped,
    )


def _extras(utf8: bytes | None, expected: int) -> list[media.Extras] | None:
    """Captions, credits and raw ids: a bonus, so a document lxml cannot read gives none."""
    if utf8 is None:
        return None
    try:
        return media.extract(utf8, expected)
    except Exception:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _entry_body(entry: Any) -> str:
    contents = [c for c in entry.get("content", []) if c.get("value")]
    html_contents = [c for c in contents if c.get("type", "") in _HTML_TYPES]
    if html_contents:
        return sanitize_html(max(html_contents, key=lambda c: len(c["value"]))["value"])
    if contents:  # text/plain content is not sanitized by feedparser: escape it ourselves
        return plain_to_html(contents[0]["value"])
    detail = entry.get("summary_detail") or {}
    summary = _text(entry.get("summary"))
    if summary and detail.get("type", "text/html") not in _HTML_TYPES:
        return plain_to_html(summary)
    return sanitize_html(summary)


def _struct_date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)  # plain dict access: no feedparser key-mapping warnings
        if value:
            try:
                year, month, day, hour, minute, second = value[:6]
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _from_entry(
    entry: Any, base: str, now: datetime, clamp: bool, raw_guid: str | None
) -> ParsedItem | None:
    link = it.link(_text(entry.get("link")), base)
    body = _entry_body(entry)
    title_detail = entry.get("title_detail") or {}
    title = it.title_text(_text(entry.get("title")), title_detail.get("type") in _HTML_TYPES)
    summary_raw = _text(entry.get("summary"))
    # feedparser copies content into `summary` without a summary_detail when there is none
    detail = entry.get("summary_detail") or (entry.get("content") or [{}])[0]
    summary_type = detail.get("type", "text/html")
    # text/plain summaries are text: "<b>" in them is literal, not markup to strip
    summary = html_to_text(summary_raw) if summary_type in _HTML_TYPES else clean_text(summary_raw)
    if not (title or body or summary or link):
        return None
    published, dated = it.when(_struct_date(entry), now, clamp)
    categories: list[str] = []
    for tag in entry.get("tags", []) or []:
        term = clean_text(_text(tag.get("label")) or _text(tag.get("term")), limit=100)
        if term and term not in categories:
            categories.append(term)
    return ParsedItem(
        guid="",
        raw_guid=raw_guid,
        url=link,
        canonical_url=link,
        title=title,
        summary=it.summary_text(summary, body),
        body_html=body,
        author=clean_text(_text(entry.get("author")), limit=200) or None,
        categories=categories[:20],
        image_url=media.image_from_entry(entry, base),
        published_at=published,
        dated=dated,
    )
