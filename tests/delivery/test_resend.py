"""Ops resends (resend.py, through lifecycle.resend) and the per-day delivery status."""

from __future__ import annotations

from sqlalchemy import select, update

from tests.delivery.helpers import (
    DAY,
    queue_rows,
    read_maildir,
    stage_edition,
    start_edition,
)
from worker import db
from worker.delivery import ledger, resend
from worker.edition import lifecycle
from worker.edition.progress import wait_for_drain
from worker.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Resend,
)
from worker.settings import Settings


def test_resend_to_one_address_records_and_sends_fresh_copy(any_db_settings: Settings) -> None:
    settings = any_db_settings
    digest_id = stage_edition(settings, count=3)
    start_edition(settings, digest_id)
    wait_for_drain(settings, digest_id, timeout=30)
    dry = lifecycle.resend(settings, DAY, to="reader000001@example.net", dry_run=True)
    assert dry["selected"] == 1 and len(read_maildir(settings.outbox_dir)) == 3
    result = lifecycle.resend(
        settings, DAY, to="Reader000001@example.net", requested_by="ops-anna", reason="lost it"
    )
    assert result["queued"] == 1
    messages = read_maildir(settings.outbox_dir)
    assert len(messages) == 4
    ids = [m["Message-ID"] for m in messages if "reader000001" in str(m["To"])]
    # the copy has a Message-ID of its own, signed like the first (worker/delivery/rowtag.py)
    assert sorted(ids) == sorted(
        [ledger.message_id(settings, digest_id, 2, 1), ledger.message_id(settings, digest_id, 2)]
    )
    assert ".sub-2.r1." in max(ids, key=len)
    with db.session_scope(settings) as session:
        row = session.scalar(select(Delivery).where(Delivery.resend_count == 1))
        assert row is not None and row.state == DeliveryState.sent
        events = list(session.scalars(select(DeliveryEvent).where(DeliveryEvent.kind == "resend")))
        assert len(events) == 1 and "ops-anna" in events[0].detail
        records = list(session.scalars(select(Resend).order_by(Resend.id)))
        assert [(r.mode, r.dry_run, r.requested_by) for r in records] == [
            ("to", True, records[0].requested_by),
            ("to", False, "ops-anna"),
        ]
    status = resend.delivery_status(db.session_factory(settings)(), DAY)
    assert status["counts"] == {"sent": 3, "suppressed": 1}
    assert status["resends"][0]["by"] == "ops-anna"


def test_resend_refused_while_rows_in_flight(any_db_settings: Settings) -> None:
    settings = any_db_settings
    digest_id = stage_edition(settings, count=3)
    with db.session_scope(settings) as session:
        list(queue_rows(session, settings, digest_id, 10))
    refused = lifecycle.resend(settings, DAY, everyone=True)
    assert "still queued or sending" in str(refused["refused"])
    assert read_maildir(settings.outbox_dir) == [] if settings.outbox_dir.exists() else True


def test_resend_failed_only_and_all(any_db_settings: Settings) -> None:
    settings = any_db_settings
    digest_id = stage_edition(settings, count=4)
    start_edition(settings, digest_id)
    wait_for_drain(settings, digest_id, timeout=30)
    with db.session_scope(settings) as session:
        first = session.scalar(select(Delivery.id).order_by(Delivery.id))
        session.execute(
            update(Delivery).where(Delivery.id == first).values(state=DeliveryState.failed)
        )
    assert lifecycle.resend(settings, DAY, failed=True)["queued"] == 1
    assert len(read_maildir(settings.outbox_dir)) == 5
    result = lifecycle.resend(settings, DAY, everyone=True, reason="broken link")
    assert result["queued"] == 4  # never the suppressed address
    assert len(read_maildir(settings.outbox_dir)) == 9
    # each resend is recorded with who, why and its outcome (rows by their state now)
    with db.session_scope(settings) as session:
        status = resend.delivery_status(session, DAY)
    latest, earlier = status["resends"][0], status["resends"][1]
    assert latest["mode"] == "all" and latest["reason"] == "broken link"
    assert latest["outcome"] == {"sent": 4}
    assert earlier["mode"] == "failed" and earlier["outcome"] == {}  # its row was taken over
