"""Feed bytes -> sanitized items (pure: no I/O, `now` is a parameter).

feedparser reads RSS 0.9x/1.0/2.0 and Atom (it drops nested entity declarations, so no billion
laughs, and never fetches external entities); JSON Feed is read here. Every string that leaves
this module is either plain text with no control characters or HTML through the nh3 allowlist.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from worker.collect import media
from worker.collect.text import (
    canonical_url,
    clean_text,
    content_hash,
    html_to_text,
    plain_to_html,
    sanitize_html,
    sha256,
    shorten,
)

# a publication date this far ahead of `now` is a feed error, not a scheduled post
FUTURE_TOLERANCE = timedelta(minutes=10)
_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}
_JSON_FEED = "https://jsonfeed.org/version/"
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:\S")  # a URI with a scheme (not "C:")
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*([\"'])([A-Za-z0-9._:-]+)\1")


class FeedError(ValueError):
    """The bytes are not a usable feed; str() is the readable reason."""


@dataclass
class ParsedItem:
    guid: str
    url: str
    canonical_url: str
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

    def finish(self) -> ParsedItem:
        # one last pass through the allowlist whatever the path (HTML, text/plain, JSON Feed)
        self.body_html = sanitize_html(self.body_html)
        self.content_hash = content_hash(self.title, self.body_html)
        self.feed_hash = self.content_hash
        return self


@dataclass
class ParsedFeed:
    format: str
    title: str
    items: list[ParsedItem]


def _guid(
    raw: str | None, canonical: str | None, title: str, body: str, namespace: str = ""
) -> str:
    value = clean_text(raw or "")
    if value and namespace and not _ABSOLUTE.match(value):
        value = f"{namespace}:{value}"
    value = value or canonical or ""
    if not value:
        value = "sha256:" + sha256(title + "\n" + html_to_text(body))
    if len(value) > 900:  # the column holds 1000; a hash keeps identity for absurd ids
        value = "sha256:" + sha256(value)
    return value


def _date(value: datetime | None, now: datetime, clamp_future: bool) -> tuple[datetime, bool]:
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


def _title(value: str, is_html: bool) -> str:
    # titles are plain text: markup in an HTML title is dropped, entities decoded once
    text = html_to_text(value) if is_html else clean_text(html.unescape(value))
    return shorten(text, 400)


def _summary_from(summary_text: str, body_html: str) -> str:
    return shorten(summary_text or html_to_text(body_html), 600)


def _finish(item: ParsedItem, seen: set[str], items: list[ParsedItem]) -> None:
    if not item.title:
        item.title = shorten(item.summary or html_to_text(item.body_html), 120) or "(untitled)"
    if item.guid in seen:  # duplicate GUIDs in one feed: the first one wins
        return
    seen.add(item.guid)
    items.append(item.finish())


def _declared_charset(content: bytes, content_type: str) -> str | None:
    http = _HTTP_CHARSET.search(content_type)
    if http:
        return http.group(1)
    decl = _XML_DECL.match(content)
    return decl.group(2).decode("ascii", "replace") if decl else None


def to_utf8(content: bytes, content_type: str = "", fallback: str = "windows-1252") -> bytes:
    """The feed re-encoded as UTF-8 with a matching XML declaration.

    Declarations lie (a windows-1251 feed labelled utf-8, or the reverse). Valid UTF-8 with
    non-ASCII bytes is almost never an accident, so it wins; otherwise the declared charset if
    it decodes cleanly; otherwise the source language's usual legacy encoding.
    """
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content  # UTF-16 with a BOM: feedparser handles it
    candidates = ["utf-8", _declared_charset(content, content_type), fallback, "latin-1"]
    for name in candidates:
        if not name:
            continue
        try:
            text = content.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
        break
    else:  # pragma: no cover - latin-1 decodes anything
        text = content.decode("latin-1")
    text = text.lstrip("\ufeff")
    data = text.encode("utf-8")
    match = _XML_DECL.match(data)
    if match:
        data = data[: match.start(2)] + b"utf-8" + data[match.end(2) :]
    return data


def parse_feed(
    content: bytes,
    *,
    url: str,
    content_type: str = "",
    now: datetime | None = None,
    clamp_future: bool = True,
    fallback_encoding: str = "windows-1252",
    guid_namespace: str = "",
) -> ParsedFeed:
    """Parse feed bytes fetched from `url` (the base for relative links). Raises FeedError.

    GUIDs that are not absolute URIs ("123", "post-7") are only unique within their feed, so they
    are prefixed with `guid_namespace` (the source name); absolute ones are global.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    head = content[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    # the body decides; the Content-Type only breaks the tie (servers mislabel feeds often)
    if head.startswith(b"{") or ("json" in content_type.lower() and not head.startswith(b"<")):
        return _parse_json_feed(
            content, url=url, now=now, clamp_future=clamp_future, namespace=guid_namespace
        )
    content = to_utf8(content, content_type, fallback_encoding)
    try:
        parsed = feedparser.parse(
            content,
            response_headers={"content-location": url, "content-type": "application/xml"},
            sanitize_html=True,
            resolve_relative_uris=True,
        )
    except Exception as exc:  # feedparser is lenient, but hostile bytes must never escape
        raise FeedError(f"not a feed: {type(exc).__name__}: {exc}") from exc
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS, Atom or JSON Feed found"
        raise FeedError(f"not a feed: {clean_text(str(reason), limit=300)}")
    extras = media.extract(content, len(parsed.entries))
    items: list[ParsedItem] = []
    seen: set[str] = set()
    for index, entry in enumerate(parsed.entries):
        extra = extras[index] if extras else media.Extras()
        item = _from_entry(entry, url, now, clamp_future, extra.guid, guid_namespace)
        if item is None:
            continue
        item.image_caption = extra.caption or item.image_caption
        item.image_credit = extra.credit or item.image_credit
        _finish(item, seen, items)
    feed_title = clean_text(html.unescape(parsed.feed.get("title", "")), limit=300)
    return ParsedFeed(format=parsed.get("version") or "unknown", title=feed_title, items=items)


def _entry_body(entry: Any) -> str:
    contents = [c for c in entry.get("content", []) if c.get("value")]
    html_contents = [c for c in contents if c.get("type", "") in _HTML_TYPES]
    if html_contents:
        return sanitize_html(max(html_contents, key=lambda c: len(c["value"]))["value"])
    if contents:  # text/plain content is not sanitized by feedparser: escape it ourselves
        return plain_to_html(contents[0]["value"])
    detail = entry.get("summary_detail") or {}
    summary = entry.get("summary", "")
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
            except (TypeError, ValueError):
                continue
    return None


def _from_entry(
    entry: Any, base: str, now: datetime, clamp: bool, raw_guid: str | None, namespace: str
) -> ParsedItem | None:
    link = canonical_url(entry.get("link"), base)
    body = _entry_body(entry)
    title_detail = entry.get("title_detail") or {}
    title = _title(entry.get("title", ""), title_detail.get("type") in _HTML_TYPES)
    summary_raw = entry.get("summary", "")
    # feedparser copies content into `summary` without a summary_detail when there is none
    detail = entry.get("summary_detail") or (entry.get("content") or [{}])[0]
    summary_type = detail.get("type", "text/html")
    # text/plain summaries are text: "<b>" in them is literal, not markup to strip
    summary = html_to_text(summary_raw) if summary_type in _HTML_TYPES else clean_text(summary_raw)
    if not (title or body or summary):
        return None
    published, dated = _date(_struct_date(entry), now, clamp)
    image = media.image_from_entry(entry, base)
    author = clean_text(entry.get("author", ""), limit=200) or None
    categories = []
    for tag in entry.get("tags", []) or []:
        term = clean_text(tag.get("label") or tag.get("term") or "", limit=100)
        if term and term not in categories:
            categories.append(term)
    return ParsedItem(
        guid=_guid(raw_guid or entry.get("id"), link, title, body, namespace),
        url=link or "",
        canonical_url=link or "",
        title=title,
        summary=_summary_from(summary, body),
        body_html=body,
        author=author,
        categories=categories[:20],
        image_url=image,
        published_at=published,
        dated=dated,
    )


def _parse_json_feed(
    content: bytes, *, url: str, now: datetime, clamp_future: bool, namespace: str
) -> ParsedFeed:
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FeedError(f"not a feed: invalid JSON: {clean_text(str(exc), limit=200)}") from exc
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(_JSON_FEED):
        raise FeedError("not a feed: JSON without a JSON Feed version")
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        raise FeedError("not a feed: JSON Feed without an items list")
    base = data.get("home_page_url") if isinstance(data.get("home_page_url"), str) else None
    base = canonical_url(base, url) or url
    items: list[ParsedItem] = []
    seen: set[str] = set()
    for raw in raw_items:
        if isinstance(raw, dict):
            item = _from_json_item(raw, base, now, clamp_future, namespace)
            if item is not None:
                _finish(item, seen, items)
    title = data.get("title")
    return ParsedFeed(
        format="json" + str(data["version"]).removeprefix(_JSON_FEED),
        title=clean_text(title, limit=300) if isinstance(title, str) else "",
        items=items,
    )


def _str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _from_json_item(
    raw: dict[str, Any], base: str, now: datetime, clamp: bool, namespace: str
) -> ParsedItem | None:
    link = canonical_url(_str(raw, "url") or _str(raw, "external_url"), base)
    if _str(raw, "content_html"):
        body = sanitize_html(_str(raw, "content_html"))
    else:
        body = plain_to_html(_str(raw, "content_text"))
    title = _title(_str(raw, "title"), False)
    summary = clean_text(_str(raw, "summary"))
    if not (title or body or summary):
        return None
    published = None
    for key in ("date_published", "date_modified"):
        try:
            published = datetime.fromisoformat(_str(raw, key).replace("Z", "+00:00"))
            break
        except ValueError:
            continue
    when, dated = _date(published, now, clamp)
    authors: list[Any] = raw["authors"] if isinstance(raw.get("authors"), list) else []
    if not authors:
        authors = [raw.get("author")]
    names = [clean_text(str(a["name"])) for a in authors if isinstance(a, dict) and a.get("name")]
    tags: list[Any] = raw["tags"] if isinstance(raw.get("tags"), list) else []
    image = canonical_url(_str(raw, "image") or _str(raw, "banner_image"), base)
    raw_id = raw.get("id")
    return ParsedItem(
        guid=_guid(
            str(raw_id) if isinstance(raw_id, str | int) else None, link, title, body, namespace
        ),
        url=link or "",
        canonical_url=link or "",
        title=title,
        summary=_summary_from(summary, body),
        body_html=body,
        author=", ".join(names)[:200] or None,
        categories=[clean_text(t, limit=100) for t in tags if isinstance(t, str) and t][:20],
        image_url=image,
        published_at=when,
        dated=dated,
    )
