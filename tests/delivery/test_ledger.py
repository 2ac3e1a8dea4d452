"""The ledger (ledger.py): a row is claimed by one caller only."""

from __future__ import annotations

from tests.delivery.helpers import (
    queue_rows,
    stage_edition,
)
from worker import db
from worker.delivery import ledger
from worker.settings import Settings


def test_claim_is_atomic(any_db_settings: Settings) -> None:
    digest_id = stage_edition(any_db_settings, count=4)
    with db.session_scope(any_db_settings) as session:
        ids = [i for batch in queue_rows(session, any_db_settings, digest_id, 10) for i in batch]
    engine = db.get_engine(any_db_settings.database_url)
    with engine.connect() as a, engine.connect() as b:
        first = ledger.claim(a, digest_id, ids, 60)
        second = ledger.claim(b, digest_id, ids, 60)
    assert first == sorted(ids) and second == []
