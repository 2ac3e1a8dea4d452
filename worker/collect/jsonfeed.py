"""JSON Feed 1.0 / 1.1 text -> items (pure; https://jsonfeed.org/version/1.1)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

from worker.collect import items as it
from worker.collect.identity import identify
from worker.collect.text import clean_text, plain_to_html, sanitize_html

VERSION_PREFIX = "https://jsonfeed.org/version/"


def _str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _date(value: str) -> datetime | None:
    # RFC 3339 allows a lower-case "t" and "z", which fromisoformat (3.11) does not read
    value = value.strip()
    if not value:
        return None
    value = value[:10] + value[10:].upper()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _id(raw: dict[str, Any]) -> str | None:
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def _item(raw: dict[str, Any], base: str, now: datetime, clamp: bool) -> it.ParsedItem | None:
    link = it.link(_str(raw, "url") or _str(raw, "external_url"), base)
    if _str(raw, "content_html"):
        body = sanitize_html(_str(raw, "content_html"))
    else:
        body = plain_to_html(_str(raw, "content_text"))
    title = it.title_text(_str(raw, "title"), False)
    summary = clean_text(_str(raw, "summary"))
    if not (title or body or summary or link):
        return None
    published, dated = it.when(
        _date(_str(raw, "date_published")) or _date(_str(raw, "date_modified")), now, clamp
    )
    authors: list[Any] = raw["authors"] if isinstance(raw.get("authors"), list) else []
    if not authors:
        authors = [raw.get("author")]
    names = [clean_text(str(a["name"])) for a in authors if isinstance(a, dict) and a.get("name")]
    tags: list[Any] = raw["tags"] if isinstance(raw.get("tags"), list) else []
    return it.ParsedItem(
        guid="",
        raw_guid=_id(raw),
        url=link,
        canonical_url=link,
        title=title,
        summary=it.summary_text(summary, body),
        body_html=body,
        author=", ".join(names)[:200] or None,
        categories=[clean_text(t, limit=100) for t in tags if isinstance(t, str) and t][:20],
        image_url=it.link(_str(raw, "image") or _str(raw, "banner_image"), base),
        published_at=published,
        dated=dated,
    )


def parse_json_feed(
    text: str, *, url: str, now: datetime, clamp_future: bool, namespace: str
) -> it.ParsedFeed:
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError) as exc:
        raise it.FeedError(f"not a feed: invalid JSON: {clean_text(str(exc), limit=200)}") from exc
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(VERSION_PREFIX):
        raise it.FeedError("not a feed: JSON without a JSON Feed version")
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        raise it.FeedError("not a feed: JSON Feed without an items list")
    home = it.link(_str(data, "home_page_url"), url)
    items: list[it.ParsedItem] = []
    skipped: list[it.SkippedEntry] = []
    for index, raw in enumerate(raw_items):
        raw_id = _id(raw) if isinstance(raw, dict) else None
        guid = f"{namespace}:{raw_id}" if raw_id else None
        read = partial(_item, raw if isinstance(raw, dict) else {}, home or url, now, clamp_future)
        item = it.read_entry(read, guid, index, namespace, skipped)
        if item is not None:
            items.append(item.finish())
    return it.ParsedFeed(
        format="json" + str(data["version"]).removeprefix(VERSION_PREFIX),
        title=clean_text(_str(data, "title"), limit=300),
        items=identify(items, namespace, home),
        link=home,
        skipped=skipped,
    )
