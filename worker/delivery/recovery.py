"""Recovery of ledger rows: what crashes leave behind, repaired (the edition-level part,
fan-outs that died and editions to finish, is the lifecycle's: worker/edition/sending.py).

Leases that expired go back to the queue, and queued rows whose task was lost are dispatched
again, only while their edition is `sending`. Safe to run anywhere, any time, concurrently.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from worker import db
from worker.delivery import counters
from worker.delivery.ledger import IN_FLIGHT
from worker.delivery.sender import dispatch_batch
from worker.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Digest,
    DigestState,
    utcnow,
)
from worker.settings import Settings

log = logging.getLogger(__name__)


def expire_leases(session: Session, settings: Settings) -> int:
    """Rows stuck in `sending` past their lease go back to queued (the worker died)."""
    now = utcnow()
    expired = list(
        session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.sending, Delivery.lease_until < now)
            .values(state=DeliveryState.queued, lease_until=None, dispatched_at=None)
            .returning(Delivery.id, Delivery.attempts)
            .execution_options(synchronize_session=False)
        )
    )
    for delivery_id, attempts in expired:
        session.add(
            DeliveryEvent(
                delivery_id=delivery_id,
                kind="lease_expired",
                detail=json.dumps(
                    {
                        "attempts": attempts,
                        "note": "claimed but not recorded in time; queued again "
                        "(if the relay had accepted it, this is the one possible duplicate)",
                    }
                ),
            )
        )
    session.commit()
    return len(expired)


def stale_queued(
    session: Session, settings: Settings, batch_size: int
) -> Iterator[tuple[int, list[int]]]:
    """Queued rows whose batch task seems lost, as (digest_id, ids) batches, marked re-dispatched.

    With a broker, a row counts as lost once `send_redispatch_seconds` passed since its dispatch
    (or its retry fell due); in-process nothing waits in a queue, so any due row is.
    """
    now = utcnow()
    wait = 0 if settings.embedded else settings.send_redispatch_seconds
    cutoff = now - timedelta(seconds=wait)
    after = 0
    while True:
        batch = list(
            session.execute(
                select(Delivery.id, Delivery.digest_id)
                .join(Digest, Digest.id == Delivery.digest_id)
                .where(
                    Delivery.state == DeliveryState.queued,
                    Delivery.id > after,
                    or_(Delivery.dispatched_at.is_(None), Delivery.dispatched_at <= cutoff),
                    Digest.state == DigestState.sending,
                )
                .order_by(Delivery.id)
                .limit(batch_size)
            )
        )
        if not batch:
            return
        after = batch[-1][0]
        ids = [i for i, _ in batch]
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.queued)
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        by_digest: dict[int, list[int]] = {}
        for i, digest_id in batch:
            by_digest.setdefault(digest_id, []).append(i)
        yield from by_digest.items()


def next_due(session: Session, digest_id: int) -> datetime | None:
    """When the earliest deferred row of the digest falls due (None: nothing queued)."""
    return session.scalar(
        select(func.min(Delivery.dispatched_at)).where(
            Delivery.digest_id == digest_id, Delivery.state == DeliveryState.queued
        )
    )


def counts(session: Session, digest_id: int) -> dict[str, int]:
    """{state: rows} of the edition, from the counters (worker/delivery/counters.py)."""
    return counters.counts(session, digest_id)


def in_flight_count(session: Session, digest_id: int) -> int:
    return counters.count_in(session, digest_id, IN_FLIGHT)


def repair_rows(settings: Settings) -> dict[str, int]:
    """Row-level repairs; the lifecycle's reconcile runs this, then settles the editions.

    - rows `sending` past their lease -> queued (the only place a duplicate can come from);
    - queued rows of a `sending` edition whose task was lost (worker killed, Redis
      restarted) -> dispatched again. A paused or cancelled edition's rows are left alone.
    """
    stats: Counter[str] = Counter()
    with db.session_scope(settings) as session:
        stats["expired"] = expire_leases(session, settings)
        for digest_id, ids in stale_queued(session, settings, settings.send_batch_size):
            try:
                dispatch_batch(settings, digest_id, ids)
            except Exception as exc:  # broker down: these rows come round again later
                log.warning("reconcile: cannot dispatch a batch of %s: %s", digest_id, exc)
                stats["dispatch_errors"] += 1
                break
            stats["redispatched"] += len(ids)
    return dict(stats)
