"""The delivery service end to end in-process (Maildir), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from tests.delivery.helpers import DAY, add_subscribers, queue_rows, read_maildir, stage_digest
from worker import db
from worker.delivery import ledger, recovery, resend, sender, subscribers, transactional
from worker.delivery.transport import SendResult
from worker.edition import lifecycle
from worker.edition.progress import wait_for_drain
from worker.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Digest,
    DigestState,
    Resend,
    Suppression,
    utcnow,
)
from worker.settings import Settings


def _setup(settings: Settings, count: int = 5) -> int:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings)
        add_subscribers(session, count)
        subscribers.add(session, "left@example.org")
        subscribers.remove(session, "left@example.org")
        subscribers.add(session, "bounced@example.org")
        session.add(Suppression(email="bounced@example.org", reason="550 earlier"))
    return digest_id


def _start(settings: Settings, digest_id: int) -> dict[str, object]:
    outcome = lifecycle.start(settings, DAY, by="test")
    assert outcome.digest_id == digest_id
    return {"claimed": outcome.ok, **outcome.detail}


def test_send_once_to_each_active_subscriber(any_db_settings: Settings) -> None:
    settings = any_db_settings.model_copy(update={"send_batch_size": 2, "send_claim_chunk": 1})
    digest_id = _setup(settings)
    first = _start(settings, digest_id)
    assert first["claimed"] is True and first["batches"] == 3
    drained = wait_for_drain(settings, digest_id, timeout=30)
    assert drained["drained"] is True
    assert drained["counts"] == {"sent": 5, "suppressed": 1}
    messages = read_maildir(settings.outbox_dir)
    assert len(messages) == 5
    recipients = sorted(str(m["To"]) for m in messages)
    assert recipients[0] == "Reader 0 <reader000000@example.net>"
    for message in messages:
        assert message["List-Unsubscribe"].startswith("<https://daily.example.org/u/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Message-ID"].startswith(f"<digest-{digest_id}.sub-")
        assert message.get_content_type() == "multipart/alternative"
        kinds = [part.get_content_type() for part in message.iter_parts()]
        assert kinds == ["text/plain", "text/html"]
    # a second trigger sends nothing
    second = _start(settings, digest_id)
    assert second["claimed"] is False
    wait_for_drain(settings, digest_id, timeout=30)
    assert len(read_maildir(settings.outbox_dir)) == 5
    with db.session_scope(settings) as session:
        digest = session.get(Digest, digest_id)
        assert digest is not None and digest.state == DigestState.sent


def test_concurrent_triggers_fan_out_once(any_db_settings: Settings) -> None:
    digest_id = _setup(any_db_settings, count=20)
    results: list[dict[str, object]] = []

    def trigger() -> None:
        results.append(_start(any_db_settings, digest_id))

    threads = [threading.Thread(target=trigger) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(bool(r["claimed"]) for r in results) == [False, False, True]
    wait_for_drain(any_db_settings, digest_id, timeout=30)
    assert len(read_maildir(any_db_settings.outbox_dir)) == 20


def test_claim_is_atomic(any_db_settings: Settings) -> None:
    digest_id = _setup(any_db_settings, count=4)
    with db.session_scope(any_db_settings) as session:
        ids = [i for batch in queue_rows(session, any_db_settings, digest_id, 10) for i in batch]
    engine = db.get_engine(any_db_settings.database_url)
    with engine.connect() as a, engine.connect() as b:
        first = ledger.claim(a, digest_id, ids, 60)
        second = ledger.claim(b, digest_id, ids, 60)
    assert first == sorted(ids) and second == []


def test_expired_lease_is_requeued_and_sent(any_db_settings: Settings) -> None:
    settings = any_db_settings
    digest_id = _setup(settings, count=3)
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


def test_resend_to_one_address_records_and_sends_fresh_copy(any_db_settings: Settings) -> None:
    settings = any_db_settings
    digest_id = _setup(settings, count=3)
    _start(settings, digest_id)
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
    digest_id = _setup(settings, count=3)
    with db.session_scope(settings) as session:
        list(queue_rows(session, settings, digest_id, 10))
    refused = lifecycle.resend(settings, DAY, everyone=True)
    assert "still queued or sending" in str(refused["refused"])
    assert read_maildir(settings.outbox_dir) == [] if settings.outbox_dir.exists() else True


def test_resend_failed_only_and_all(any_db_settings: Settings) -> None:
    settings = any_db_settings
    digest_id = _setup(settings, count=4)
    _start(settings, digest_id)
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


def test_unsubscribed_after_fan_out_is_not_mailed(settings: Settings) -> None:
    digest_id = _setup(settings, count=3)
    with db.session_scope(settings) as session:
        batches = list(queue_rows(session, settings, digest_id, 10))
        subscribers.remove(session, "reader000000@example.net")  # clicks unsubscribe now
    result = sender.send_batch(settings, digest_id, batches[0])
    assert (result["sent"], result["skipped"]) == (2, 1)
    assert sender.send_batch(settings, digest_id, batches[0])["not_claimed"] == 3  # idempotent
    assert len(read_maildir(settings.outbox_dir)) == 2
    status = wait_for_drain(settings, digest_id, timeout=10)
    assert status["counts"] == {"sent": 2, "suppressed": 2}


def test_send_transactional_goes_through_the_transport(settings: Settings) -> None:
    transactional.send_transactional(
        settings, "New.Reader@example.org", "Confirm\r\nBcc: x@example.org", "Click", "<p>Click</p>"
    )
    (message,) = read_maildir(settings.outbox_dir)
    assert message["To"] == "new.reader@example.org"
    assert message["Subject"] == "Confirm Bcc: x@example.org"
    assert message["Bcc"] is None


def test_throttled_batch_renews_its_lease(settings: Settings) -> None:
    # 6 messages at 2/s (burst 2) take about 2 s; a 1 s lease would lapse without renewal
    s = settings.model_copy(
        update={"send_rate_per_second": 2.0, "send_lease_seconds": 1, "send_claim_chunk": 10}
    )
    digest_id = _setup(s, count=6)
    with db.session_scope(s) as session:
        (ids,) = list(queue_rows(session, s, digest_id, 10))
    done = threading.Event()
    expired: list[int] = []

    def reconciler() -> None:  # another process reconciling while the batch runs
        while not done.is_set():
            with db.session_scope(s) as session:
                expired.append(recovery.expire_leases(session, s))
            time.sleep(0.1)

    thread = threading.Thread(target=reconciler)
    thread.start()
    try:
        result = sender.send_batch(s, digest_id, ids)
    finally:
        done.set()
        thread.join()
    assert result["sent"] == 6
    assert sum(expired) == 0
    with db.session_scope(s) as session:
        rows = list(session.scalars(select(Delivery.state)))
    assert rows.count(DeliveryState.sent) == 6


def test_duplicate_batch_tasks_running_at_once_send_each_row_once(
    any_db_settings: Settings,
) -> None:
    settings = any_db_settings.model_copy(update={"send_claim_chunk": 5})
    digest_id = _setup(settings, count=40)
    with db.session_scope(settings) as session:
        ids = [i for batch in queue_rows(session, settings, digest_id, 100) for i in batch]
    results: list[dict[str, object]] = []

    def worker() -> None:  # the same task delivered to three workers
        results.append(sender.send_batch(settings, digest_id, ids))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(int(r.get("sent", 0)) for r in results) == 40  # type: ignore[call-overload]
    messages = read_maildir(settings.outbox_dir)
    assert sorted(str(m["Message-ID"]) for m in messages) == sorted(
        {str(m["Message-ID"]) for m in messages}
    )
    assert len(messages) == 40


class _RelayDown:
    """A relay that cannot be reached: every send fails at connect."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, *args: object, **kwargs: object) -> SendResult:
        self.calls += 1
        return SendResult("transient", None, "connect: refused", "connect")

    def close(self) -> None:
        return None


def test_relay_down_gives_back_every_row_including_those_claimed_ahead(
    any_db_settings: Settings,
) -> None:
    """Chunks of 3 (PostgreSQL claims the next one ahead): nothing is left `sending` for its
    lease to find, and only the row actually tried has an attempt counted."""
    settings = any_db_settings.model_copy(update={"send_claim_chunk": 3})
    digest_id = _setup(settings, count=10)
    with db.session_scope(settings) as session:
        ids = [i for batch in queue_rows(session, settings, digest_id, 100) for i in batch]
    relay = _RelayDown()
    result = sender.send_batch(settings, digest_id, ids, transport=relay)
    assert relay.calls == 1
    with db.session_scope(settings) as session:
        rows = session.execute(
            select(Delivery.id, Delivery.state, Delivery.attempts).where(Delivery.id.in_(ids))
        ).all()
    assert {state for _, state, _ in rows} == {DeliveryState.queued}
    assert sorted(attempts for _, _, attempts in rows) == [0] * 9 + [1]
    claimed_ahead = 3 if settings.database_url.startswith("postgresql") else 0
    assert result["deferred"] == 1 and result["released"] == 2 + claimed_ahead
