"""SentRecorder on PostgreSQL (libpq pipeline mode) and SQLite: every mark lands, a failed
mark is raised rather than lost, and the connection goes back to the pool usable."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update

from tests.conftest import make_settings
from tests.delivery.helpers import add_subscribers, queue_rows, stage_digest
from worker import db
from worker.delivery import ledger, outcomes
from worker.models import Delivery, DeliveryState
from worker.outage import DatabaseUnavailable
from worker.settings import Settings


def _claimed(settings: Settings, count: int) -> list[int]:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings)
        add_subscribers(session, count)
        ids = [i for batch in queue_rows(session, settings, digest_id, 100) for i in batch]
    with db.get_engine(settings.database_url).connect() as conn:
        return ledger.claim(conn, digest_id, ids, 300)


def _pg_claimed(tmp_path: Path, pg_url: str, count: int) -> tuple[Engine, list[int]]:
    settings = make_settings(tmp_path, database_url=pg_url)
    db.upgrade(settings)
    return db.get_engine(settings.database_url), _claimed(settings, count)


def test_every_mark_lands(any_db_settings: Settings) -> None:
    settings = any_db_settings
    ids = _claimed(settings, 300)
    engine = db.get_engine(settings.database_url)
    with engine.connect() as conn:
        recorder = outcomes.SentRecorder(conn, async_commit=True)
        recorder.MAX_PENDING = 50  # also exercise waiting for the oldest results
        for n, delivery_id in enumerate(ids):
            recorder.sent(delivery_id, 250)
            if n % 7 == 0:
                recorder.collect()
        recorder.close()
    with engine.connect() as conn:
        sent = conn.scalar(
            select(func.count()).where(
                Delivery.state == DeliveryState.sent, Delivery.smtp_code == 250
            )
        )
        assert sent == 300
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_failed_mark_is_raised(tmp_path: Path, pg_url: str) -> None:
    """PostgreSQL only: SQLite has no pipeline, its marks are plain statements."""
    engine, ids = _pg_claimed(tmp_path, pg_url, 3)
    with engine.connect() as conn:
        recorder = outcomes.SentRecorder(conn, async_commit=True)
        recorder.sent(ids[0], 250)
        recorder.sent(ids[1], 99999999999)  # out of int range: the UPDATE fails on the server
        recorder.collect(block=True)  # records the failure, never raises while mail is on the wire
        with pytest.raises(RuntimeError, match="recording a sent message failed"):
            recorder.sent(ids[2], 250)
        with pytest.raises(RuntimeError):
            recorder.close()
    with engine.connect() as conn:
        states = dict(conn.execute(select(Delivery.id, Delivery.state)).all())
        assert states[ids[0]] == DeliveryState.sent
        assert states[ids[1]] == states[ids[2]] == DeliveryState.sending
        conn.execute(update(Delivery).values(attempts=Delivery.attempts))  # pool still usable


@pytest.mark.timeout(60)
def test_a_killed_connection_raises_instead_of_waiting_for_ever(
    tmp_path: Path, pg_url: str
) -> None:
    """Its backend terminated mid-batch (what a restart or failover does to every worker):
    the recorder raises DatabaseUnavailable at once (it used to loop on libpq's empty
    results for ever); the marks it could not confirm are the rows left to their lease, and
    no more than MAX_PENDING of them."""
    engine, ids = _pg_claimed(tmp_path, pg_url, 40)
    with engine.connect() as conn:
        recorder = outcomes.SentRecorder(conn, async_commit=True)
        assert recorder.fast is not None
        pid = recorder.fast.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        for delivery_id in ids[:20]:
            recorder.sent(delivery_id, 250)
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()
        with pytest.raises(DatabaseUnavailable):
            for delivery_id in ids[20:]:  # a later mark, or close(), finds the connection gone
                recorder.sent(delivery_id, 250)
            recorder.close()
        assert recorder.pending == 0
        recorder.close()  # closing again after the failure neither hangs nor raises
    with engine.connect() as conn:
        left = conn.scalar(select(func.count()).where(Delivery.state == DeliveryState.sending))
    assert left is not None and 20 <= left <= 20 + outcomes.SentRecorder.MAX_PENDING
