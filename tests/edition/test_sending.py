"""sending.finish_if_drained against a resend that requeues rows at the same moment, on
PostgreSQL (row locks, READ COMMITTED): the edition must stay `sending` while any row is
queued, or no worker ever sends those rows (seen in the console's browser test: the failed
ones, resent, never went out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import make_settings
from tests.delivery.helpers import sent_rows
from worker import db
from worker.celery_app import configure
from worker.edition import sending
from worker.models import Delivery, DeliveryState, Digest, DigestState, utcnow

pytestmark = pytest.mark.integration


def test_rows_requeued_while_finishing_keep_the_edition_sending(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, database_url=pg_url)
    db.upgrade(settings)
    configure(settings)
    digest_id, rows = sent_rows(settings, 3)
    with db.session_scope(settings) as session:  # a drained send with one failed row
        session.execute(
            update(Digest)
            .where(Digest.id == digest_id)
            .values(state=DigestState.sending, fanned_out_at=utcnow())
        )
        session.execute(
            update(Delivery).where(Delivery.id == rows[0].id).values(state=DeliveryState.failed)
        )

    real_lock = sending.lock

    def resend_lands_first(session: Any, key: Any, **kwargs: Any) -> Any:
        # an ops resend commits its requeued rows just before the reconciler's lock
        with db.session_scope(settings) as other:
            other.execute(
                update(Delivery).where(Delivery.id == rows[0].id).values(state=DeliveryState.queued)
            )
        return real_lock(session, key, **kwargs)

    monkeypatch.setattr(sending, "lock", resend_lands_first)
    assert sending.finish_if_drained(settings, digest_id) is False
    monkeypatch.setattr(sending, "lock", real_lock)
    with db.session_scope(settings) as session:
        assert session.get(Digest, digest_id).state == DigestState.sending  # type: ignore[union-attr]
        session.execute(
            update(Delivery).where(Delivery.id == rows[0].id).values(state=DeliveryState.sent)
        )
    assert sending.finish_if_drained(settings, digest_id) is True
    with db.session_scope(settings) as session:
        assert session.get(Digest, digest_id).state == DigestState.sent  # type: ignore[union-attr]
