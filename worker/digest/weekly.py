"""A weekly edition's stories: the week's top N, without claiming them.

The daily editions claim their stories (`digest_id`); a roundup re-reads the week's stories
(published inside its seven-day window, from the newsletter's sources, whatever edition had
them) and ranks them by the editors' order (editors' picks first, then the lead rule: the
longest story, newer first on a tie) or by listens (plays from the player's beacons, then
the editors' order). No news feed: a week of briefs is no summary.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from worker.digest.select import Selection, fed_by
from worker.digest.window import Window
from worker.models import Article, ListenCount
from worker.newsletters import Newsletter


def _editors_rank(article: Article) -> tuple[bool, int, float]:
    body = len(article.body_html or article.summary or "")
    return (not article.editors_pick, -body, -article.published_at.timestamp())


def select_week(session: Session, newsletter: Newsletter, window: Window) -> Selection:
    articles = list(
        session.scalars(
            select(Article)
            .options(selectinload(Article.audio), selectinload(Article.source))
            .where(fed_by(newsletter))
            .where(Article.published_at > window.start, Article.published_at <= window.end)
        )
    )
    ranked = sorted(articles, key=_editors_rank)
    if newsletter.rank_by == "listens" and ranked:
        plays = dict(
            session.execute(
                select(ListenCount.target_id, func.sum(ListenCount.count))
                .where(ListenCount.kind == "article", ListenCount.event == "play")
                .where(ListenCount.target_id.in_([a.id for a in ranked]))
                .group_by(ListenCount.target_id)
            ).all()
        )
        # stable: equal plays keep the editors' order
        ranked.sort(key=lambda a: -int(plays.get(a.id) or 0))
    return Selection(window=window, articles=ranked[: newsletter.top], feed_items=[], picks=[])
