"""The selection queries on SQLite and PostgreSQL alike (timezone-aware comparisons, claims)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.digest.conftest import DAY, Factory, kyiv, sample_day
from worker import db
from worker.digest.build import build_digest
from worker.models import Article, Digest, FeedItem
from worker.settings import Settings
from worker.storage import LocalStorage


def test_two_days_on_every_database(any_db_settings: Settings) -> None:
    settings = any_db_settings
    storage = LocalStorage(settings.data_dir)
    with db.session_scope(settings) as session:
        sample_day(Factory(session))
    with db.session_scope(settings) as session:
        first = build_digest(session, settings, storage, DAY)
        assert (first.article_count, first.feed_item_count) == (6, 10)
    with db.session_scope(settings) as session:
        f = Factory(session)
        f.article("Next day's story", kyiv(DAY, 12))
        second = build_digest(session, settings, storage, DAY + timedelta(days=1))
        assert second.window_start == kyiv(DAY, 7)
        assert second.article_count == 2  # "Tomorrow's story" (07:01) and the next day's
    with db.session_scope(settings) as session:
        # rebuild both, in the "wrong" order: still no item in two digests
        build_digest(session, settings, storage, DAY + timedelta(days=1))
        build_digest(session, settings, storage, DAY)
    with db.session_scope(settings) as session:
        ids = dict(session.execute(select(Digest.date, Digest.id)).all())
        counts = dict(
            session.execute(
                select(Article.digest_id, func.count()).group_by(Article.digest_id)
            ).all()
        )
        items = dict(
            session.execute(
                select(FeedItem.digest_id, func.count()).group_by(FeedItem.digest_id)
            ).all()
        )
        assert counts[ids[DAY]] == 6 + 2 and counts[ids[DAY + timedelta(days=1)]] == 2
        assert items[ids[DAY]] == 10 and items[ids[DAY + timedelta(days=1)]] == 1
