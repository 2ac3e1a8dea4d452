"""collect_source: one source fetched, parsed and stored, its health recorded; never raises.

Phases, so no database lock is held across the network: read the source; fetch and parse (no
transaction); plan against existing rows, commit, fetch full-text pages; take the write turn,
write rows item by item, commit, write the article.json files. An item that cannot be stored is
skipped and recorded with its reason (worker.collect.skipped) and the source stays healthy; a
feed that cannot be fetched or parsed at all fails the source with a readable reason, and after
`source_max_failures` failures in a row the source is paused.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from worker.collect import skipped
from worker.collect.extract import fetch_full_text
from worker.collect.feed_store import apply_feed_items
from worker.collect.fetch import (
    FetchError,
    FetchLimits,
    FetchResult,
    HostSlots,
    RateLimitedError,
    fetch,
)
from worker.collect.parse import FeedError, ParsedFeed, ParsedItem, parse_feed
from worker.collect.politeness import host_slots
from worker.collect.store import Plan, Stored, apply_articles, lock_for_writes, plan_articles
from worker.collect.text import clean_text
from worker.models import Article, Source, SourceKind
from worker.settings import Settings
from worker.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class CollectResult:
    source: str
    ok: bool = True
    error: str | None = None
    not_modified: bool = False
    skipped: bool = False  # paused or no longer in the sources file: not fetched
    new_articles: list[int] = field(default_factory=list)
    updated_articles: list[int] = field(default_factory=list)
    new_feed_items: int = 0
    updated_feed_items: int = 0
    items: int = 0  # entries in the feed after category filters
    deferred: int = 0  # full-text items left for the next run (page budget spent)
    paused: bool = False
    skipped_items: int = 0  # entries not stored (recorded in skipped_items with the reason)
    skip_reasons: list[str] = field(default_factory=list)  # the first few, for the summary

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def limits_for(settings: Settings) -> FetchLimits:
    return FetchLimits(
        timeout=settings.fetch_timeout_seconds,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
    )


def filter_categories(items: list[ParsedItem], options: dict[str, Any]) -> list[ParsedItem]:
    include = set(options.get("include_categories") or [])
    exclude = set(options.get("exclude_categories") or [])
    if not include and not exclude:
        return items
    kept = []
    for item in items:
        cats = {c.casefold() for c in item.categories}
        if include and not cats & include:
            continue
        if cats & exclude:
            continue
        kept.append(item)
    return kept


def fetch_and_parse(
    source: Source, settings: Settings, now: datetime, slots: HostSlots | None = None
) -> tuple[FetchResult, ParsedFeed]:
    """Fetch (conditionally) and parse; raises FetchError / FeedError with a readable reason.
    The feed's items are already filtered by the source's categories."""
    result = fetch(
        source.url,
        local=source.local,
        limits=limits_for(settings),
        etag=source.etag,
        last_modified=source.last_modified,
        slots=slots,
    )
    if result.not_modified:
        return result, ParsedFeed(format="", title="", items=[])
    options = source.options or {}
    feed = parse_feed(
        result.content,
        url=result.url,
        content_type=result.content_type,
        now=now,
        # a bundled/local file is the operator's own: keep its dates even if the clock is behind
        clamp_future=not source.local,
        encoding=options.get("encoding") or None,
        guid_namespace=source.name,
    )
    feed.items = filter_categories(feed.items, options)
    return result, feed


def _fill_full_text(
    plans: list[Plan], source: Source, settings: Settings, slots: HostSlots
) -> tuple[list[Plan], int]:
    """Fetch article pages for the plans that need them, a few at a time, within the budget.

    Items over `full_text_max_pages` are deferred to the next run (not stored half-done).
    A page that fails or has no article-like text leaves the feed's own text in place.
    """
    wanted = [p for p in plans if p.needs_full_text]
    if not wanted:
        return plans, 0
    budget = max(0, settings.full_text_max_pages)
    todo, deferred = wanted[:budget], {id(p) for p in wanted[budget:]}
    limits = limits_for(settings)

    def one(plan: Plan) -> None:
        try:
            plan.full_text = fetch_full_text(
                plan.item.url or "", local=source.local, limits=limits, slots=slots
            )
        except FetchError as exc:
            log.info("full text of %s unavailable: %s", plan.item.url, exc)

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="fulltext") as pool:
        list(pool.map(one, todo))
    return [p for p in plans if id(p) not in deferred], len(deferred)


def record_success(source: Source, now: datetime) -> None:
    source.last_success_at = now
    source.consecutive_failures = 0
    source.retry_after = None


def record_rate_limited(source: Source, reason: str, wait_seconds: float, now: datetime) -> None:
    """A polite "come back later" is not a broken feed: no failure counted, no fetch until then."""
    source.last_error = clean_text(reason, limit=1000)
    source.last_error_at = now
    source.retry_after = now + timedelta(seconds=wait_seconds)


def record_failure(source: Source, reason: str, settings: Settings, now: datetime) -> None:
    source.last_error = clean_text(reason, limit=1000)
    source.last_error_at = now
    source.consecutive_failures = (source.consecutive_failures or 0) + 1
    if source.consecutive_failures >= settings.source_max_failures and source.paused_at is None:
        source.paused_at = now
        log.warning("source %s paused after %d failures", source.name, source.consecutive_failures)


def collect_source(
    session: Session,
    settings: Settings,
    storage: Storage,
    source_id: int,
    *,
    now: datetime | None = None,
    slots: HostSlots | None = None,
) -> CollectResult:
    """Collect one source. `slots`: the per-host fetch slots shared by a run's threads."""
    now = now or datetime.now(UTC)
    slots = slots if slots is not None else host_slots(settings)
    source = session.get(Source, source_id)
    if source is None:
        return CollectResult(source=f"#{source_id}", ok=False, error="no such source")
    name = source.name
    if source.paused_at is not None or not source.enabled:
        why = (
            f"paused since {source.paused_at:%Y-%m-%d %H:%M} UTC after "
            f"{source.consecutive_failures} failures (last: {source.last_error}); "
            f"`digestcast sources resume {name}`"
            if source.paused_at is not None
            else "no longer in the sources file"
        )
        paused = source.paused_at is not None
        return CollectResult(source=name, ok=False, skipped=True, error=why, paused=paused)
    if source.retry_after is not None and now < source.retry_after:
        why = f"the server asked to wait until {source.retry_after:%Y-%m-%d %H:%M} UTC; not fetched"
        return CollectResult(source=name, ok=False, skipped=True, error=why)
    session.commit()  # end any read transaction before going to the network
    reason: str
    for attempt in range(2):
        try:
            return _collect(session, settings, storage, source_id, now, slots)
        except RateLimitedError as exc:
            if not exc.retry_after_seconds:  # 429 without Retry-After: an ordinary failure
                reason = str(exc)
                break
            session.rollback()
            source = session.get(Source, source_id)
            assert source is not None
            record_rate_limited(source, str(exc), exc.retry_after_seconds, now)
            session.commit()
            return CollectResult(source=name, ok=False, error=source.last_error)
        except (FetchError, FeedError) as exc:
            reason = str(exc)
            break
        except (IntegrityError, OperationalError) as exc:
            # another worker stored the same story (or held the SQLite lock) meanwhile: retry once
            session.rollback()
            reason = f"database: {type(exc.orig).__name__}: {exc.orig}"
            if attempt == 0:
                continue
            break
        except Exception as exc:  # one bad source must never stop the others
            log.exception("collecting source %s failed", name)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            break
    session.rollback()
    source = session.get(Source, source_id)
    assert source is not None
    record_failure(source, reason, settings, now)
    paused = source.paused_at is not None
    session.commit()
    return CollectResult(source=name, ok=False, error=source.last_error, paused=paused)


def _storage_failed(
    session: Session,
    settings: Settings,
    source_id: int,
    article_ids: list[int],
    exc: Exception,
    now: datetime,
) -> None:
    """Rows are committed but some article.json files are missing: make the next run redo them
    (forget the entry hashes and the feed validators) and record the failure."""
    log.error("writing article.json failed for source %s: %s", source_id, exc)
    session.rollback()
    if article_ids:
        session.execute(update(Article).where(Article.id.in_(article_ids)).values(feed_hash=None))
    source = session.get(Source, source_id)
    assert source is not None
    source.etag = source.last_modified = None
    record_failure(source, f"storage: {type(exc).__name__}: {exc}", settings, now)
    session.commit()


def _collect(
    session: Session,
    settings: Settings,
    storage: Storage,
    source_id: int,
    now: datetime,
    slots: HostSlots,
) -> CollectResult:
    source = session.get(Source, source_id)
    assert source is not None
    result = CollectResult(source=source.name)
    fetched, feed = fetch_and_parse(source, settings, now, slots)
    items = feed.items
    result.items = len(items)
    if fetched.not_modified:
        record_success(source, now)
        source.etag, source.last_modified = fetched.etag, fetched.last_modified
        session.commit()
        result.not_modified = True
        return result
    out = _store(session, settings, source, items, feed.link, now, slots, result)
    notes = [*feed.skipped, *out.skipped]
    skipped.record(session, source.id, notes, out.stored_guids, now)
    result.skipped_items = len(notes)
    result.skip_reasons = [f"{n.title}: {n.reason}" for n in notes[:5]]
    record_success(source, now)
    # with deferred items the next run must see the whole feed again, not a 304
    keep = not result.deferred
    source.etag = fetched.etag if keep else None
    source.last_modified = fetched.last_modified if keep else None
    result.new_articles = [a.id for a in out.new_articles]
    result.updated_articles = [a.id for a in out.updated_articles]
    result.new_feed_items = out.new_feed_items
    result.updated_feed_items = out.updated_feed_items
    # commit first, then write the files: no database lock is held during file I/O
    session.commit()
    try:
        for _, key, data in out.documents:
            storage.write_bytes(key, data)
    except Exception as exc:
        _storage_failed(session, settings, source_id, [d[0] for d in out.documents], exc, now)
        result.ok = False
        result.error = f"storage: {type(exc).__name__}: {exc}"
    return result


def _store(
    session: Session,
    settings: Settings,
    source: Source,
    items: list[ParsedItem],
    feed_link: str | None,
    now: datetime,
    slots: HostSlots,
    result: CollectResult,
) -> Stored:
    if source.kind == SourceKind.news_feed:
        lock_for_writes(session, source.id)
        return apply_feed_items(session, source, items, now, feed_link)
    plans = plan_articles(session, source, items)
    session.commit()  # no transaction stays open while article pages are fetched
    plans, result.deferred = _fill_full_text(plans, source, settings, slots)
    lock_for_writes(session, source.id)
    return apply_articles(session, source, plans, settings.tz, now)
