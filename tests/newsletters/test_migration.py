"""Migration 0009 on a database made by the release before it (revision 0008, with data):
every subscriber, edition and ledger row is kept, and all of them are on the default
newsletter, so the upgrade neither gains nor loses anybody a message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from worker import db, subscriptions
from worker.models import Delivery, Digest, Subscriber, Subscription
from worker.settings import Settings

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def _fill_0008(settings: Settings) -> None:
    engine = db.get_engine(settings.database_url)
    meta = sa.MetaData()
    meta.reflect(engine, only=["subscribers", "digests", "deliveries", "delivery_events"])
    t = meta.tables
    people = [
        ("olena@example.org", "active", NOW, None),
        ("gone@example.org", "unsubscribed", NOW, NOW),
        ("waiting@example.org", "pending", None, None),
    ]
    with engine.begin() as conn:
        for i, (email, state, confirmed, left) in enumerate(people, start=1):
            conn.execute(
                t["subscribers"].insert().values(
                    id=i, email=email, domain="example.org", state=state, wants_daily=True,
                    wants_audio_links=True, created_at=NOW, confirmed_at=confirmed,
                    unsubscribed_at=left, token_nonce=f"nonce-{i}",
                )
            )  # fmt: skip
        conn.execute(
            t["digests"].insert().values(
                id=1, date=date(2026, 11, 27), state="sent", subject="The day", article_count=8,
                feed_item_count=10, html_bytes=1000, degradations=[], built_at=NOW,
                pick_count=2, ledger_rows=2, sent_at=NOW,
            )
        )  # fmt: skip
        for row, subscriber in ((1, 1), (2, 2)):
            conn.execute(
                t["deliveries"].insert().values(
                    id=row, digest_id=1, subscriber_id=subscriber, state="sent",
                    message_id=f"<m{row}@example.org>", attempts=1, resend_count=0,
                    created_at=NOW, sent_at=NOW,
                )
            )  # fmt: skip
        conn.execute(
            t["delivery_events"]
            .insert()
            .values(id=1, delivery_id=1, at=NOW, kind="sent", detail="250 ok")
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0008(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A database created by the release before newsletters (revision 0008), with data."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'digestcast.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    settings = make_settings(tmp_path, database_url=url)
    db.upgrade(settings, "0008")
    _fill_0008(settings)
    yield settings
    db.get_engine(settings.database_url).dispose()


def test_upgrade_from_0008_keeps_every_subscriber_and_ledger_row(at_0008: Settings) -> None:
    settings = at_0008
    db.upgrade(settings)  # 0008 -> 0009
    with db.session_scope(settings) as session:
        assert session.scalar(sa.select(sa.func.count(Subscriber.id))) == 3
        assert session.scalar(sa.select(sa.func.count(Delivery.id))) == 2
        digest = session.get(Digest, 1)
        assert digest is not None and digest.newsletter == "daily" and digest.ledger_rows == 2
        rows = session.scalars(sa.select(Subscription).order_by(Subscription.subscriber_id)).all()
        assert [(r.subscriber_id, r.newsletter) for r in rows] == [
            (1, "daily"),
            (2, "daily"),
            (3, "daily"),
        ]
        # the active reader still receives the default newsletter; nobody is welcomed again
        assert subscriptions.slugs_of(session, 1) == ["daily"]
        assert rows[0].welcomed_at is not None
        receiving = session.scalars(
            sa.select(Subscriber.email).where(
                Subscriber.state == "active", subscriptions.receives("daily")
            )
        ).all()
        assert receiving == ["olena@example.org"]
    # and the default newsletter's edition of that day is the one the ledger rows belong to
    from worker.edition.lookup import find

    with db.session_scope(settings) as session:
        found = find(session, ("daily", date(2026, 11, 27)))
        assert found is not None and found.id == 1
