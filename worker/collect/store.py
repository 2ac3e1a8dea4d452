"""Parsed items -> Article / FeedItem rows: identity (GUID, then canonical URL, across sources),
edits (content hash), editors' picks, slugs, and the `article.json` next to each article."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.collect.parse import ParsedItem
from worker.collect.slugs import unique_slug
from worker.collect.text import html_to_text, sha256, shorten
from worker.models import Article, FeedItem, Source, SourceKind
from worker.storage import Storage

Row = TypeVar("Row", Article, FeedItem)


def entry_hash(item: ParsedItem) -> str:
    """Everything the feed says about an entry: a change means the row (and article.json) follow."""
    return sha256(
        json.dumps(
            [
                item.title,
                item.summary,
                item.body_html,
                item.url,
                item.author,
                item.categories,
                item.image_url,
                item.image_caption,
                item.image_credit,
            ],
            ensure_ascii=False,
        )
    )


@dataclass
class Plan:
    """What to do with one parsed item, decided before any write (and any page fetch)."""

    item: ParsedItem
    article: Article | None = None
    take_over: bool = False  # an `articles` source adopting an article first seen as a pick
    needs_full_text: bool = False
    full_text: str | None = None


@dataclass
class Outcome:
    new_articles: list[Article] = field(default_factory=list)
    updated_articles: list[Article] = field(default_factory=list)
    touched_articles: list[Article] = field(default_factory=list)  # metadata only: rewrite json
    new_feed_items: int = 0
    updated_feed_items: int = 0


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


class Index(Generic[Row]):
    """Existing rows by GUID and by canonical URL, loaded with a few IN queries per feed."""

    def __init__(self, session: Session, model: type[Row], items: list[ParsedItem]) -> None:
        self.by_guid: dict[str, Row] = {}
        self.by_url: dict[str, Row] = {}
        guids = sorted({i.guid for i in items})
        urls = sorted({i.canonical_url for i in items if i.canonical_url})
        for chunk in _chunks(guids):
            for row in session.scalars(select(model).where(model.guid.in_(chunk))):
                self.by_guid[row.guid] = row
        for chunk in _chunks(urls):
            query = select(model).where(model.canonical_url.in_(chunk)).order_by(model.id)
            for row in session.scalars(query):
                self.by_url.setdefault(row.canonical_url, row)

    def find(self, item: ParsedItem) -> Row | None:
        found = self.by_guid.get(item.guid)
        if found is None and item.canonical_url:
            found = self.by_url.get(item.canonical_url)
        return found

    def add(self, row: Row) -> None:
        """A row created in this batch: a later item with its GUID or URL is the same story."""
        self.by_guid.setdefault(row.guid, row)
        if row.canonical_url:
            self.by_url.setdefault(row.canonical_url, row)


def plan_articles(session: Session, source: Source, items: list[ParsedItem]) -> list[Plan]:
    index = Index(session, Article, items)
    plans = []
    for item in items:
        article = index.find(item)
        plan = Plan(item=item, article=article)
        if article is not None and article.source_id != source.id:
            owner_kind = article.source.kind if article.source is not None else None
            plan.take_over = (
                source.kind == SourceKind.articles and owner_kind == SourceKind.editors_picks
            )
        owns = article is None or article.source_id == source.id or plan.take_over
        changed = article is None or article.feed_hash != entry_hash(item) or plan.take_over
        plan.needs_full_text = bool(source.full_text and owns and changed and item.url)
        plans.append(plan)
    return plans


def _apply_content(article: Article, item: ParsedItem, body: str) -> None:
    article.url = item.url or article.url
    article.title = item.title
    article.author = item.author
    article.summary = item.summary or shorten(html_to_text(body), 600)
    article.body_html = body
    article.image_url = item.image_url
    article.image_caption = item.image_caption
    article.image_credit = item.image_credit
    article.categories = item.categories
    article.feed_hash = entry_hash(item)


def apply_articles(
    session: Session, source: Source, plans: list[Plan], tz: tzinfo, now: datetime
) -> Outcome:
    out = Outcome()
    is_pick = source.kind == SourceKind.editors_picks
    created = Index(session, Article, [])
    handled: set[int] = set()
    taken: dict[date, set[str]] = {}
    for plan in plans:
        item, article = plan.item, plan.article
        if (article is None and created.find(item) is not None) or (
            article is not None and id(article) in handled
        ):
            continue  # the same story twice in one feed (another GUID, same URL): once
        if article is not None:
            handled.add(id(article))
        body = plan.full_text or item.body_html
        if plan.needs_full_text and plan.full_text is None and article is not None:
            # the page could not be read this time: keep the text we have, not the teaser
            body = article.body_html
        new_hash = sha256(item.title + "\n" + html_to_text(body))
        if article is None:
            day = item.published_at.astimezone(tz).date()
            if day not in taken:
                query = select(Article.slug).where(Article.published_day == day)
                taken[day] = set(session.scalars(query))
            article = Article(
                source_id=source.id,
                guid=item.guid,
                canonical_url=item.canonical_url,
                slug=unique_slug(item.title, taken[day]),
                language=source.language,
                editors_pick=is_pick,
                published_at=item.published_at,
                published_day=day,
                first_seen_at=now,
                content_hash=new_hash,
            )
            _apply_content(article, item, body)
            session.add(article)
            taken[day].add(article.slug)
            created.add(article)
            out.new_articles.append(article)
            continue
        touched = False
        if is_pick and not article.editors_pick:
            article.editors_pick = True
            touched = True
        owns = article.source_id == source.id or plan.take_over
        if owns and (article.feed_hash != entry_hash(item) or plan.take_over):
            if plan.take_over:
                article.source_id = source.id
                article.language = source.language
            _apply_content(article, item, body)
            touched = True
            if new_hash != article.content_hash:
                # an edit: audio re-synthesizes; the slug and day stay, so links stay valid
                article.content_hash = new_hash
                article.updated_at = now
                out.updated_articles.append(article)
                continue
        if touched:
            out.touched_articles.append(article)
    return out


def apply_feed_items(
    session: Session, source: Source, items: list[ParsedItem], now: datetime, out: Outcome
) -> None:
    index = Index(session, FeedItem, items)
    handled: set[int] = set()
    for item in items:
        text = shorten(item.summary or html_to_text(item.body_html), 1500)
        digest = sha256(item.title + "\n" + text)
        row = index.find(item)
        if row is not None and id(row) in handled:
            continue  # the same item twice in one feed: once
        if row is None:
            row = FeedItem(
                source_id=source.id,
                guid=item.guid,
                canonical_url=item.canonical_url,
                url=item.url,
                title=item.title,
                summary=text,
                published_at=item.published_at,
                first_seen_at=now,
                content_hash=digest,
            )
            session.add(row)
            index.add(row)
            handled.add(id(row))
            out.new_feed_items += 1
            continue
        handled.add(id(row))
        if row.source_id == source.id and row.content_hash != digest:
            row.title, row.summary, row.content_hash = item.title, text, digest
            row.url = item.url or row.url
            row.updated_at = now
            out.updated_feed_items += 1


def article_document(article: Article, source_name: str, tz: tzinfo) -> dict[str, Any]:
    """The `article.json` next to the article: metadata plus the sanitized body."""
    return {
        "id": article.id,
        "guid": article.guid,
        "slug": article.slug,
        "title": article.title,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "published": article.published_at.astimezone(tz).isoformat(),
        "published_day": article.published_day.isoformat(),
        "updated": article.updated_at.astimezone(tz).isoformat() if article.updated_at else None,
        "source": source_name,
        "language": article.language,
        "author": article.author,
        "summary": article.summary,
        "body_html": article.body_html,
        "categories": list(article.categories or []),
        "image": (
            {
                "url": article.image_url,
                "caption": article.image_caption,
                "credit": article.image_credit,
            }
            if article.image_url
            else None
        ),
        "image_url": article.image_url,
        "image_caption": article.image_caption,
        "image_credit": article.image_credit,
        "editors_pick": article.editors_pick,
        "content_hash": article.content_hash,
    }


def article_json(article: Article, source_name: str, tz: tzinfo) -> tuple[str, bytes]:
    """The storage key and bytes of the article's `article.json`."""
    key = article.storage_prefix + "/article.json"
    data = json.dumps(article_document(article, source_name, tz), ensure_ascii=False, indent=2)
    return key, data.encode("utf-8")


def write_article_json(storage: Storage, article: Article, source_name: str, tz: tzinfo) -> str:
    key, data = article_json(article, source_name, tz)
    storage.write_bytes(key, data)
    return key
