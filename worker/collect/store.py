"""Parsed items -> Article / FeedItem rows: identity (GUID, then canonical URL, across sources),
edits (content hash), editors' picks, slugs, and the `article.json` next to each article."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.collect.parse import ParsedItem
from worker.collect.slugs import unique_slug
from worker.collect.text import html_to_text, sha256, shorten
from worker.models import Article, FeedItem, Source, SourceKind
from worker.storage import Storage


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


def find_article(session: Session, item: ParsedItem) -> Article | None:
    article = session.scalar(select(Article).where(Article.guid == item.guid))
    if article is None and item.canonical_url:
        article = session.scalars(
            select(Article).where(Article.canonical_url == item.canonical_url).order_by(Article.id)
        ).first()
    return article


def plan_articles(session: Session, source: Source, items: list[ParsedItem]) -> list[Plan]:
    plans = []
    for item in items:
        article = find_article(session, item)
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
    for plan in plans:
        item, article = plan.item, plan.article
        body = plan.full_text or item.body_html
        new_hash = sha256(item.title + "\n" + html_to_text(body))
        if article is None:
            day = item.published_at.astimezone(tz).date()
            taken = set(session.scalars(select(Article.slug).where(Article.published_day == day)))
            article = Article(
                source_id=source.id,
                guid=item.guid,
                canonical_url=item.canonical_url,
                slug=unique_slug(item.title, taken),
                language=source.language,
                editors_pick=is_pick,
                published_at=item.published_at,
                published_day=day,
                first_seen_at=now,
                content_hash=new_hash,
            )
            _apply_content(article, item, body)
            session.add(article)
            session.flush()  # the next item's slug check must see this one
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
    for item in items:
        text = shorten(item.summary or html_to_text(item.body_html), 1500)
        digest = sha256(item.title + "\n" + text)
        row = session.scalar(select(FeedItem).where(FeedItem.guid == item.guid))
        if row is None and item.canonical_url:
            row = session.scalars(
                select(FeedItem)
                .where(FeedItem.canonical_url == item.canonical_url)
                .order_by(FeedItem.id)
            ).first()
        if row is None:
            session.add(
                FeedItem(
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
            )
            session.flush()
            out.new_feed_items += 1
        elif row.source_id == source.id and row.content_hash != digest:
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


def write_article_json(storage: Storage, article: Article, source_name: str, tz: tzinfo) -> str:
    key = article.storage_prefix + "/article.json"
    data = json.dumps(article_document(article, source_name, tz), ensure_ascii=False, indent=2)
    storage.write_bytes(key, data.encode("utf-8"))
    return key
