"""Recovery of ledger rows (recovery.py): an expired lease goes back to the queue and is sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from tests.delivery.helpers import (
    queue_rows,
    read_maildir,
    stage_edition,
)
from worker import db
from worker.delivery import ledger
from worker.edition.progress import wait_for_drain
from worker.models import (
    Delivery,
    DeliveryEvent,
    utcnow,
)
from worker.settings import Settings


def test_expired_lease_is_requeued_and_sent(any_db_settings: Settings) -> None:
    settings = any_db_settings
    digest_id = stage_edition(settings, count=3)
    with db.session_scope(settings) as session:
        ids = [i for batch in queue_rows(session, settings, digest_id, 10) for i in batch]
    with db.get_engine(settings.database_url).connect() as conn:
        assert ledger.claim(conn, digest_id, ids, 60) == sorted(ids)  # a worker claims, then dies
    with db.session_scope(settings) as session:
        session.execute(update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1)))
    drained = wait_for_drain(settings, digest_id, timeout=30)
    assert drained["counts"] == {"sent": 3, "suppressed": 1}
    with db.session_scope(settings) as session:
        kinds = list(session.scalars(select(DeliveryEvent.kind)))
    assert kinds.count("lease_expired") == 3
    assert len(read_maildir(settings.outbox_dir)) == 3
