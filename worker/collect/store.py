"""Parsed items -> Article rows: identity (GUID, then canonical URL, across sources), edits
(content hash), editors' picks, slugs, and the `article.json` bytes of each article; and the
ground the news-feed items' writer (worker/collect/feed_store.py) stands on too.

A feed is first written in one savepoint (one flush: the common case, fast); if anything in it
fails, that savepoint is rolled back and the feed is written again item by item, each in a
savepoint of its own: an item that cannot be stored is rolled back alone and reported in
`Stored.skipped` with the reason, and the rest of the feed is stored. Only a database that is
gone or locked (OperationalError and friends) stops the whole source.

Writers of one database take turns (`lock_for_writes`): SQLite has a single writer anyway, and
on PostgreSQL a transaction-level advisory lock does the same for collect transactions, so the
slugs of a day are read and chosen by one writer at a time, with any number of workers. A slug
taken anyway (a writer outside collect) is retried with the next suffix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Generic, TypeVar

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from worker.collect.documents import article_json
from worker.collect.items import ParsedItem, SkippedEntry
from worker.collect.slugs import unique_slug
from worker.collect.text import clean_text, html_to_text, sha256, shorten
from worker.models import Article, FeedItem, Source, SourceKind

log = logging.getLogger(__name__)
Row = TypeVar("Row", Article, FeedItem)
# PostgreSQL advisory lock key of collect's write phase ("dcollect")
WRITE_LOCK_KEY = int.from_bytes(b"dcollect", "big")
WRITE_LOCK_TIMEOUT = "60s"  # a writer stuck longer fails its source; it never hangs the others
ATTEMPTS = 5  # per item: a slug taken meanwhile, or a story another source stored meanwhile
# the database itself is unusable: not the item's fault, the source fails (and retries)
SYSTEMIC = (OperationalError, InterfaceError, DisconnectionError)


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
class Stored:
    new_articles: list[Article] = field(default_factory=list)
    updated_articles: list[Article] = field(default_factory=list)
    touched_articles: list[Article] = field(default_factory=list)  # metadata only: rewrite json
    new_feed_items: int = 0
    updated_feed_items: int = 0
    documents: list[tuple[int, str, bytes]] = field(default_factory=list)  # article.json files
    stored_guids: list[str] = field(default_factory=list)  # items written or already current
    skipped: list[SkippedEntry] = field(default_factory=list)


def chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


class Index(Generic[Row]):
    """Existing rows by GUID and by canonical URL, loaded with a few IN queries per feed."""

    def __init__(self, session: Session, model: type[Row], items: list[ParsedItem]) -> None:
        self.by_guid: dict[str, Row] = {}
        self.by_url: dict[str, Row] = {}
        guids = sorted({i.guid for i in items})
        urls = sorted({i.canonical_url for i in items if i.canonical_url})
        for chunk in chunks(guids):
            for row in session.scalars(select(model).where(model.guid.in_(chunk))):
                self.by_guid[row.guid] = row
        for chunk in chunks(urls):
            query = select(model).where(model.canonical_url.in_(chunk)).order_by(model.id)
            for row in session.scalars(query):
                if row.canonical_url:
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


def lock_for_writes(session: Session, source_id: int) -> None:
    """Wait (boundedly) for this database's collect writers to finish, then hold the turn until
    commit. Also opens SQLite's transaction with a write, so savepoints nest inside it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = '{WRITE_LOCK_TIMEOUT}'"))
        session.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))
    else:  # the first write takes SQLite's write lock (busy_timeout bounds the wait)
        session.execute(update(Source).where(Source.id == source_id).values(id=Source.id))


def error_reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    cause = orig if orig is not None else exc
    return clean_text(f"{type(cause).__name__}: {cause}", limit=500)


def _slug_taken(error: IntegrityError) -> bool:
    message = str(error.orig)
    return "uq_articles_day_slug" in message or "articles.slug" in message


def skipped_entry(item: ParsedItem, reason: str) -> SkippedEntry:
    log.warning("entry %s skipped: %s", item.guid, reason)
    return SkippedEntry(guid=item.guid, title=item.title, url=item.url, reason=reason)


def isolated(session: Session, write: Callable[[], None]) -> Exception | None:
    """Run `write` in a savepoint; the item's exception (rolled back) or None. The database
    failing as a whole is not an item's problem: those errors propagate."""
    try:
        with session.begin_nested():
            write()
            session.flush()
    except SYSTEMIC:
        raise
    except Exception as exc:
        return exc
    return None


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
    article.canonical_url = article.canonical_url or item.canonical_url
    article.title = item.title
    article.author = item.author
    article.summary = item.summary or shorten(html_to_text(body), 600)
    article.body_html = body
    article.image_url = item.image_url
    article.image_caption = item.image_caption
    article.image_credit = item.image_credit
    article.categories = item.categories
    article.feed_hash = entry_hash(item)


class ArticleWriter:
    """Writes one `articles` or `editors-picks` feed's plans: with `isolate`, each item in its
    own savepoint (flushed, its article.json made inside it); without, all of them at once (the
    caller holds the one savepoint, and any error is the whole batch's)."""

    def __init__(
        self, session: Session, source: Source, tz: tzinfo, now: datetime, *, isolate: bool
    ) -> None:
        self.session, self.source, self.tz, self.now = session, source, tz, now
        self.isolate = isolate
        self.is_pick = source.kind == SourceKind.editors_picks
        self.created: Index[Article] = Index(session, Article, [])
        self.handled: set[int] = set()
        self.taken: dict[date, set[str]] = {}
        self.pending: list[tuple[Article, str]] = []  # batch mode: article.json after the flush
        self.out = Stored()

    def write_all(self, plans: list[Plan]) -> Stored:
        for plan in plans:
            self.write(plan)
        if not self.isolate:
            self.session.flush()
            for article, owner in self.pending:
                self.out.documents.append((article.id, *article_json(article, owner, self.tz)))
        return self.out

    def _run(self, write: Callable[[], None]) -> Exception | None:
        if self.isolate:
            return isolated(self.session, write)
        write()  # an error belongs to the whole batch: it propagates
        return None

    def _document(self, article: Article, owner: str, into: list[tuple[int, str, bytes]]) -> None:
        if self.isolate:
            self.session.flush()
            into.append((article.id, *article_json(article, owner, self.tz)))
        else:
            self.pending.append((article, owner))

    def _taken(self, day: date, refresh: bool = False) -> set[str]:
        if refresh or day not in self.taken:
            query = select(Article.slug).where(Article.published_day == day)
            self.taken[day] = set(self.session.scalars(query))
        return self.taken[day]

    def _refind(self, item: ParsedItem) -> Article | None:
        """The story as another source stored it since this feed was planned."""
        found = self.session.scalar(select(Article).where(Article.guid == item.guid))
        if found is None and item.canonical_url:
            query = select(Article).where(Article.canonical_url == item.canonical_url)
            found = self.session.scalars(query.order_by(Article.id)).first()
        return found

    def write(self, plan: Plan) -> None:
        item = plan.item
        if (plan.article is None and self.created.find(item) is not None) or (
            plan.article is not None and id(plan.article) in self.handled
        ):
            return  # the same story twice in one feed (another GUID, same URL): once
        error: Exception | None = None
        for _attempt in range(ATTEMPTS):
            if plan.article is None:
                error = self._attempt_new(plan)
            else:
                self.handled.add(id(plan.article))
                error = self._attempt_existing(plan, plan.article)
            if error is None:
                self.out.stored_guids.append(item.guid)
                return
            if not isinstance(error, IntegrityError):
                break
            if _slug_taken(error):
                self._taken(item.published_at.astimezone(self.tz).date(), refresh=True)
                continue
            plan.article = plan.article or self._refind(item)
            if plan.article is None:
                break
        assert error is not None
        self.out.skipped.append(skipped_entry(item, error_reason(error)))

    def _body(self, plan: Plan) -> str:
        body = plan.full_text or plan.item.body_html
        if plan.needs_full_text and plan.full_text is None and plan.article is not None:
            # the page could not be read this time: keep the text we have, not the teaser
            body = plan.article.body_html
        return body

    def _attempt_new(self, plan: Plan) -> Exception | None:
        item, body = plan.item, self._body(plan)
        day = item.published_at.astimezone(self.tz).date()
        taken = self._taken(day)
        article = Article(
            source_id=self.source.id,
            guid=item.guid,
            canonical_url=item.canonical_url,
            slug=unique_slug(item.title, taken),
            language=self.source.language,
            editors_pick=self.is_pick,
            published_at=item.published_at,
            published_day=day,
            first_seen_at=self.now,
            content_hash=sha256(item.title + "\n" + html_to_text(body)),
        )
        documents: list[tuple[int, str, bytes]] = []

        def write() -> None:
            _apply_content(article, item, body)
            self.session.add(article)
            self._document(article, self.source.name, documents)

        error = self._run(write)
        if error is None:
            taken.add(article.slug)
            self.created.add(article)
            self.out.new_articles.append(article)
            self.out.documents.extend(documents)
        return error

    def _attempt_existing(self, plan: Plan, article: Article) -> Exception | None:
        item, body = plan.item, self._body(plan)
        new_hash = sha256(item.title + "\n" + html_to_text(body))
        owns = article.source_id == self.source.id or plan.take_over
        changed = owns and (article.feed_hash != entry_hash(item) or plan.take_over)
        becomes_pick = self.is_pick and not article.editors_pick
        if not (changed or becomes_pick):
            return None  # nothing new in the feed for this story
        edited = changed and new_hash != article.content_hash
        documents: list[tuple[int, str, bytes]] = []

        def write() -> None:
            if becomes_pick:
                article.editors_pick = True
            if changed:
                if plan.take_over:
                    article.source_id = self.source.id
                    article.language = self.source.language
                _apply_content(article, item, body)
            if edited:
                # an edit: audio re-synthesizes; the slug and day stay, so links stay valid
                article.content_hash = new_hash
                article.updated_at = self.now
            owner = self.source.name
            if article.source_id != self.source.id and article.source is not None:
                owner = article.source.name
            self._document(article, owner, documents)

        error = self._run(write)
        if error is None:
            target = self.out.updated_articles if edited else self.out.touched_articles
            target.append(article)
            self.out.documents.extend(documents)
        return error


def batch_then_items(session: Session, write: Callable[[bool], Stored]) -> Stored:
    """`write(isolate=False)` in one savepoint; after any error there, `write(isolate=True)`."""
    batch: list[Stored] = []
    error = isolated(session, lambda: batch.append(write(False)))
    if error is None:
        return batch[0]
    log.info("a feed's batch write failed (%s); writing its items one by one", error_reason(error))
    return write(True)


def apply_articles(
    session: Session, source: Source, plans: list[Plan], tz: tzinfo, now: datetime
) -> Stored:
    def write(isolate: bool) -> Stored:
        return ArticleWriter(session, source, tz, now, isolate=isolate).write_all(plans)

    return batch_then_items(session, write)
