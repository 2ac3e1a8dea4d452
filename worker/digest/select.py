"""Choosing the day's items and claiming them for the digest (`digest_id`).

What is eligible for digest D (all still unclaimed, `digest_id IS NULL`, so no item is ever in
two digests):
- articles (not editors' picks) and news-feed items published inside D's window;
- late arrivals: items published up to LATE_GRACE before the window whose first collection
  happened after the previous digest was built (they could not have been in it);
- editors' picks published up to D's cut-off and either at most PICK_MAX_AGE old or first
  seen inside the window (a newsroom may feature an older piece); at most MAX_PICKS, newest
  first; the rest stay unclaimed and may appear later while still fresh.

Order: the lead story is the longest article with an image (the lead slot shows a large
picture; a feature makes a better lead than a brief published at 06:55), else the longest
article; the other stories follow newest first. The news feed reads as a
timeline, newest first, like a live page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, or_, select, true, update
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from worker import newsletters
from worker.digest.window import Window, digest_window, send_moment
from worker.models import Article, Digest, DigestState, FeedItem, Source
from worker.newsletters import Newsletter
from worker.settings import Settings

LATE_GRACE = timedelta(hours=24)
PICK_MAX_AGE = timedelta(days=14)
MAX_PICKS = 5


@dataclass
class Selection:
    window: Window
    articles: list[Article]  # the lead first
    feed_items: list[FeedItem]  # newest first
    picks: list[Article]

    @property
    def empty(self) -> bool:
        return not (self.articles or self.feed_items or self.picks)


def previous_digest(session: Session, day: date, newsletter: str = "daily") -> Digest | None:
    """The newsletter's latest earlier digest that holds a window (skipped days claimed
    nothing)."""
    stmt = (
        select(Digest)
        .where(Digest.newsletter == newsletter)
        .where(Digest.date < day, Digest.window_end.is_not(None))
        .where(Digest.state.not_in((DigestState.skipped, DigestState.missed)))
        .order_by(Digest.date.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def window_for(session: Session, settings: Settings, day: date) -> tuple[Window, Digest | None]:
    newsletter = newsletters.current(settings)
    if newsletter.weekly:  # the seven days before this send (worker/digest/weekly.py)
        end = send_moment(day, settings.send_time, settings.tz)
        return Window(start=end - timedelta(days=7), end=end, start_inclusive=False), None
    prev = previous_digest(session, day, newsletter.slug)
    cutoff = prev.window_end if prev is not None else None
    return digest_window(day, settings.send_time, settings.tz, cutoff), prev


def _published_in(col: InstrumentedAttribute[datetime], window: Window) -> ColumnElement[bool]:
    lower = col >= window.start if window.start_inclusive else col > window.start
    return and_(lower, col <= window.end)


def _late(
    model: type[Article] | type[FeedItem], window: Window, built_at: datetime | None
) -> ColumnElement[bool]:
    if built_at is None or window.start_inclusive:
        return false()
    return and_(
        model.published_at > window.start - LATE_GRACE,
        model.published_at <= window.start,
        model.first_seen_at > built_at,
    )


def _weight(article: Article) -> tuple[int, datetime]:
    """The lead is the longest story (a feature beats a brief), newer first on a tie."""
    return (len(article.body_html or article.summary or ""), article.published_at)


def lead_first(articles: list[Article]) -> list[Article]:
    """Newest first (as given), with the lead moved to the top: the longest story with an
    image (any story when none has one)."""
    with_image = [a for a in articles if a.image_url]
    lead = max(with_image or articles, key=_weight, default=None)
    if lead is None:
        return list(articles)
    return [lead, *(a for a in articles if a is not lead)]


def release(session: Session, digest_id: int) -> None:
    """Unclaim a digest's items before it is rebuilt (only ever before sending)."""
    session.execute(update(Article).where(Article.digest_id == digest_id).values(digest_id=None))
    session.execute(update(FeedItem).where(FeedItem.digest_id == digest_id).values(digest_id=None))


def fed_by(
    newsletter: Newsletter | None, model: type[Article] | type[FeedItem] = Article
) -> ColumnElement[bool]:
    """SQL: the item's source is of a kind and language that feed the newsletter."""
    if newsletter is None or not (newsletter.source_kinds or newsletter.source_languages):
        return true()
    sources = select(Source.id)
    if newsletter.source_kinds:
        sources = sources.where(Source.kind.in_(newsletter.source_kinds))
    if newsletter.source_languages:
        sources = sources.where(Source.language.in_(newsletter.source_languages))
    return model.source_id.in_(sources)


def select_items(
    session: Session,
    window: Window,
    previous: Digest | None,
    digest_id: int,
    newsletter: Newsletter | None = None,
) -> Selection:
    """Pick D's items of the newsletter's sources and claim them for `digest_id` (flushes;
    the caller commits). A story goes in one daily edition: the first built claims it."""
    built_at = previous.built_at if previous is not None else None
    feeds = fed_by(newsletter)
    articles = list(
        session.scalars(
            select(Article)
            .options(selectinload(Article.audio), selectinload(Article.source))
            .where(Article.digest_id.is_(None), Article.editors_pick.is_(False), feeds)
            .where(
                or_(_published_in(Article.published_at, window), _late(Article, window, built_at))
            )
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
    )
    articles = lead_first(articles)
    feed_items = list(
        session.scalars(
            select(FeedItem)
            .where(FeedItem.digest_id.is_(None), fed_by(newsletter, FeedItem))
            .where(
                or_(_published_in(FeedItem.published_at, window), _late(FeedItem, window, built_at))
            )
            .order_by(FeedItem.published_at.desc(), FeedItem.id.desc())
        )
    )
    picks = list(
        session.scalars(
            select(Article)
            .options(selectinload(Article.audio), selectinload(Article.source))
            .where(Article.digest_id.is_(None), Article.editors_pick.is_(True), feeds)
            .where(Article.published_at <= window.end)
            .where(
                or_(
                    Article.published_at > window.end - PICK_MAX_AGE,
                    _published_in(Article.first_seen_at, window),
                )
            )
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(MAX_PICKS)
        )
    )
    for article in [*articles, *picks]:
        article.digest_id = digest_id
    for feed_item in feed_items:
        feed_item.digest_id = digest_id
    session.flush()
    return Selection(window=window, articles=articles, feed_items=feed_items, picks=picks)
