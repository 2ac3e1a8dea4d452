"""A batch's rows on their way (batch.py): leases renewed while throttled, every claimed row
given back when the relay is down, those claimed ahead included."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from tests.delivery.helpers import (
    queue_rows,
    stage_edition,
)
from worker import db
from worker.delivery import recovery, sender
from worker.delivery.transport import SendResult
from worker.models import (
    Delivery,
    DeliveryState,
)
from worker.settings import Settings


def test_throttled_batch_renews_its_lease(settings: Settings) -> None:
    # 6 messages at 2/s (burst 2) take about 2 s; a 1 s lease would lapse without renewal
    s = settings.model_copy(
        update={"send_rate_per_second": 2.0, "send_lease_seconds": 1, "send_claim_chunk": 10}
    )
    digest_id = stage_edition(s, count=6)
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
    digest_id = stage_edition(settings, count=10)
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
