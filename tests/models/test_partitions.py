"""The ledger's monthly partitions on PostgreSQL (worker/models/partitions.py, migration 0011):
rows land in their edition's month, months are made ahead and on demand, prune drops a whole
finished month and keeps its editions' totals; SQLite keeps one table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select, text, update

from tests.conftest import make_settings
from tests.delivery.helpers import add_subscribers, queue_rows, stage_digest
from worker import db
from worker.delivery import counters, prune
from worker.delivery.ledger_models import EditionTotal
from worker.models import Delivery, DeliveryEvent, DeliveryState, Digest, DigestState, partitions
from worker.settings import Settings

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def test_months_across_a_year_end() -> None:
    assert partitions.partition_for(date(2026, 12, 31)).name == "deliveries_y2026m12"
    assert partitions.partition_for(date(2026, 12, 31)).end == date(2027, 1, 1)
    names = [p.name for p in partitions.months(date(2026, 11, 15), date(2027, 2, 1))]
    assert names == [
        "deliveries_y2026m11",
        "deliveries_y2026m12",
        "deliveries_y2027m01",
        "deliveries_y2027m02",
    ]
    assert partitions.is_partition("deliveries_y2027m02")
    assert not partitions.is_partition("deliveries")
    assert not partitions.is_partition("deliveries_y2027m02; DROP TABLE x")


def test_sqlite_keeps_one_plain_table(settings: Settings) -> None:
    with db.get_engine(settings.database_url).begin() as conn:
        assert not partitions.partitioned(conn)
        assert partitions.ensure_ahead(conn, date(2026, 12, 7)) == []
        assert partitions.existing(conn) == []


def _month_of_rows(conn: sa.Connection, digest_id: int) -> set[str]:
    return set(
        conn.scalars(
            text("SELECT DISTINCT tableoid::regclass::text FROM deliveries WHERE digest_id = :d"),
            {"d": digest_id},
        )
    )


def _edition(settings: Settings, day: date, state: DigestState) -> int:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, day=day)
        queue_rows(session, settings, digest_id, 10)
        session.execute(
            update(Delivery).where(Delivery.digest_id == digest_id).values(state="sent")
        )
        first = session.scalar(select(func.min(Delivery.id)).where(Delivery.digest_id == digest_id))
        session.add(DeliveryEvent(delivery_id=first, kind="sent"))
        session.execute(update(Digest).where(Digest.id == digest_id).values(state=state))
    return digest_id


@pytest.fixture
def pg_settings(tmp_path: Path, migrated_pg: str) -> Iterator[Settings]:
    from tests.conftest import pg_database

    with pg_database(migrated_pg) as url:
        yield make_settings(tmp_path, database_url=url)
        db.get_engine(url).dispose()


def test_rows_land_in_their_editions_month_made_on_demand(pg_settings: Settings) -> None:
    s = pg_settings
    with db.session_scope(s) as session:
        add_subscribers(session, 4)
    long_ago = date(2024, 3, 9)  # no partition: the fan-out makes it
    digest_id = _edition(s, long_ago, DigestState.sent)
    with db.get_engine(s.database_url).begin() as conn:
        assert partitions.partitioned(conn)
        assert _month_of_rows(conn, digest_id) == {"deliveries_y2024m03"}
        made = partitions.ensure_ahead(conn, date(2031, 1, 20))
        assert made == ["deliveries_y2031m01", "deliveries_y2031m02", "deliveries_y2031m03"]
        assert partitions.ensure_ahead(conn, date(2031, 1, 20)) == []  # once
        names = [p.name for p in partitions.existing(conn)]
        assert "deliveries_y2024m03" in names and names == sorted(names)


def test_prune_drops_a_finished_month_whole_and_keeps_its_totals(pg_settings: Settings) -> None:
    s = pg_settings
    with db.session_scope(s) as session:
        add_subscribers(session, 5)
    march = [_edition(s, date(2024, 3, d), DigestState.sent) for d in (4, 25)]
    paused_april = _edition(s, date(2024, 4, 2), DigestState.paused)  # unfinished: April stays
    may = _edition(s, date(2024, 5, 30), DigestState.sent)  # May ends after the cut-off
    with db.session_scope(s) as session:
        result = prune.prune(session, date(2025, 7, 1), prune.parse_age("400d"))  # < 2024-05-27
        assert result["partitions"] == ["deliveries_y2024m03"]
        assert {e["date"] for e in result["editions"]} == {"2024-03-04", "2024-03-25"}
        names = [p.name for p in partitions.existing(session.connection())]
        assert "deliveries_y2024m03" not in names and "deliveries_y2024m04" in names
        for digest_id in march:
            assert counters.counts(session, digest_id) == {"sent": 5}  # from the totals
            assert session.get(EditionTotal, digest_id) is not None
        left = dict(
            session.execute(
                select(Delivery.digest_id, func.count()).group_by(Delivery.digest_id)
            ).all()
        )
        assert left == {paused_april: 5, may: 5}
        # the dropped month's events went with it, the others' stayed
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 2
        assert counters.counts(session, may) == {"sent": 5}
        again = prune.prune(session, date(2025, 7, 1), prune.parse_age("400d"))
        assert again["partitions"] == [] and again["editions"] == []


def _fill_0010(settings: Settings) -> None:
    engine = db.get_engine(settings.database_url)
    meta = sa.MetaData()
    meta.reflect(engine, only=["subscribers", "digests", "deliveries", "delivery_events"])
    t = meta.tables
    with engine.begin() as conn:
        for i in (1, 2):
            conn.execute(
                t["subscribers"].insert().values(
                    id=i, email=f"r{i}@example.org", domain="example.org", state="active",
                    wants_daily=True, wants_audio_links=True, created_at=NOW,
                    token_nonce=f"nonce-{i}",
                )
            )  # fmt: skip
        for digest_id, day in ((1, date(2026, 10, 31)), (2, date(2026, 11, 1))):
            conn.execute(
                t["digests"].insert().values(
                    id=digest_id, date=day, newsletter="daily", state="sent", subject="The day",
                    article_count=8, feed_item_count=10, html_bytes=1000, degradations=[],
                    built_at=NOW, pick_count=2, ledger_rows=2, sent_at=NOW,
                )
            )  # fmt: skip
            for subscriber in (1, 2):
                conn.execute(
                    t["deliveries"].insert().values(
                        digest_id=digest_id, subscriber_id=subscriber, state="sent",
                        message_id=f"<m{digest_id}.{subscriber}@example.org>", attempts=1,
                        resend_count=0, created_at=NOW, sent_at=NOW,
                    )
                )  # fmt: skip
        conn.execute(
            t["delivery_events"].insert().values(delivery_id=1, at=NOW, kind="sent", detail="ok")
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0010(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A database made by the release before partitions (revision 0010), with data."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'digestcast.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    settings = make_settings(tmp_path, database_url=url)
    db.upgrade(settings, "0010")
    _fill_0010(settings)
    yield settings
    db.get_engine(settings.database_url).dispose()


def test_upgrade_from_0010_keeps_every_row_count_and_event(at_0010: Settings) -> None:
    s = at_0010
    db.upgrade(s)
    with db.session_scope(s) as session:
        rows = session.execute(
            select(Delivery.digest_id, Delivery.edition_date, Delivery.state).order_by(Delivery.id)
        ).all()
        assert [(r[0], r[1]) for r in rows] == [
            (1, date(2026, 10, 31)),
            (1, date(2026, 10, 31)),
            (2, date(2026, 11, 1)),
            (2, date(2026, 11, 1)),
        ]
        assert counters.counts(session, 1) == {"sent": 2} == counters.counts(session, 2)
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 1
        # the counters' triggers are on the new table
        session.execute(
            update(Delivery).where(Delivery.digest_id == 2).values(state=DeliveryState.failed)
        )
        assert counters.counts(session, 2) == {"failed": 2}
        conn = session.connection()
        if partitions.partitioned(conn):
            assert _month_of_rows(conn, 1) == {"deliveries_y2026m10"}
            assert _month_of_rows(conn, 2) == {"deliveries_y2026m11"}
    from alembic import command

    command.downgrade(db.alembic_config(s.database_url), "0010")  # back: the same rows

    with db.get_engine(s.database_url).begin() as conn:
        assert conn.scalar(text("SELECT count(*) FROM deliveries")) == 4
        assert conn.scalar(text("SELECT count(*) FROM delivery_counts WHERE n <> 0")) >= 2


def test_making_a_month_waits_a_bounded_time_for_a_busy_ledger(
    pg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long transaction on the ledger (a report, a stuck session) must not make a fan-out
    that needs a new month wait for ever, with every worker queued behind its lock request."""
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT_SECONDS", 0.3)
    engine = db.get_engine(pg_settings.database_url)
    with engine.connect() as reader, engine.connect() as maker:
        reader.execute(text("SELECT count(*) FROM deliveries"))  # holds its lock until the end
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            partitions.ensure(maker, date(2033, 5, 1))
        maker.rollback()
        reader.rollback()  # the reader is done: now it goes through
        assert partitions.ensure(maker, date(2033, 5, 1))
        maker.commit()
