"""The ledger's per-state counters (kept by triggers, worker/delivery/counters.py) equal the
true counts after every kind of move: a send with 4xx and 5xx answers, resends, the reconciler's
lease repair, a pause and a cancel. On SQLite and PostgreSQL, through a real SMTP server."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.delivery.helpers import DAY, add_subscribers, queue_rows, stage_digest
from tests.delivery.smtp_server import Recorder, Rules, Server
from worker import db
from worker.delivery import counters, ledger
from worker.edition import lifecycle
from worker.edition.progress import wait_for_drain
from worker.models import Delivery, Suppression, utcnow
from worker.settings import Settings


def true_counts(settings: Settings) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    with db.session_scope(settings) as session:
        for digest_id, state, n in session.execute(
            select(Delivery.digest_id, Delivery.state, func.count()).group_by(
                Delivery.digest_id, Delivery.state
            )
        ):
            found.setdefault(digest_id, {})[str(state)] = int(n)
    return found


def assert_counters_true(settings: Settings) -> dict[int, dict[str, int]]:
    truth = true_counts(settings)
    with db.session_scope(settings) as session:
        kept = {d: counters.counts(session, d) for d in truth}
    assert kept == truth
    return truth


def test_counters_equal_true_counts_through_every_move(any_db_settings: Settings) -> None:
    rules = Rules(tempfail=r"^reader000002@", tempfail_times=1, reject=r"^reader000001@")
    with Server(Recorder(rules)) as server:
        s = any_db_settings.model_copy(
            update={"smtp_url": server.url, "send_retry_base_seconds": 0.05, "send_batch_size": 3}
        )
        with db.session_scope(s) as session:
            first = stage_digest(session, s)
            add_subscribers(session, 8)
            session.add(Suppression(email="reader000007@example.net", reason="550 earlier"))
        # a send with a 5xx (failed), a 4xx retried (sent) and a suppressed address
        assert lifecycle.start(s, DAY, by="test").ok
        wait_for_drain(s, first, timeout=60)
        truth = assert_counters_true(s)
        assert truth[first] == {"sent": 6, "failed": 1, "suppressed": 1}

        # resends: to one address, then to everyone (the 5xx address is suppressed now)
        assert lifecycle.resend(s, DAY, to="reader000003@example.net")["queued"] == 1
        assert_counters_true(s)
        assert lifecycle.resend(s, DAY, everyone=True)["queued"] == 6
        assert_counters_true(s)

        # the reconciler: rows claimed by a worker that died come back when their lease ends
        second_day = DAY + timedelta(1)
        with db.session_scope(s) as session:
            second = stage_digest(session, s, day=second_day)
            ids = [i for batch in queue_rows(session, s, second, 10) for i in batch]
        with db.get_engine(s.database_url).connect() as conn:
            assert len(ledger.claim(conn, second, ids, 60)) == len(ids)
        assert_counters_true(s)
        with db.session_scope(s) as session:
            session.execute(
                update(Delivery)
                .where(Delivery.digest_id == second)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
        lifecycle.reconcile(s)
        wait_for_drain(s, second, timeout=60)
        assert true_counts(s)[second]["sent"] == 6
        assert_counters_true(s)

        # a pause with rows queued, then a cancel: the queued rows become cancelled
        third_day = DAY + timedelta(2)
        with db.session_scope(s) as session:
            third = stage_digest(session, s, day=third_day)
            queue_rows(session, s, third, 10)
        assert lifecycle.pause(s, third, by="test").ok
        assert_counters_true(s)
        assert lifecycle.cancel(s, third, by="test").ok
        lifecycle.reconcile(s)
        truth = assert_counters_true(s)
        assert truth[third] == {"cancelled": 6, "suppressed": 2}  # the 5xx address is suppressed
