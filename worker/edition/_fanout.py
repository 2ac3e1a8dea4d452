"""The fan-out: one ledger row per active subscriber of the edition's newsletter, dispatched
in batches.

Private to the lifecycle (tests/edition/test_one_road.py checks that nothing else imports
it): a send exists only once lifecycle.start has put the edition in `sending`, and the fan-out
stops between chunks when the edition is no longer `sending` (paused, cancelled). Idempotent:
the rows are unique per (digest, subscriber), so a fan-out run again (resume, a redelivered
task, a fan-out that died half-way) creates only what is missing and dispatches what is queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, case, cast, literal, select, text, update
from sqlalchemy.orm import Session

from worker.delivery import ledger
from worker.delivery.batch import chunks
from worker.delivery.sender import dispatch_batch
from worker.models import (
    Delivery,
    DeliveryState,
    Digest,
    DigestState,
    Subscriber,
    SubscriberState,
    Suppression,
    partitions,
    utcnow,
)
from worker.settings import Settings
from worker.subscriptions import receives

_DT = Delivery.created_at.type
_COLUMNS = [
    "digest_id",
    "edition_date",
    "subscriber_id",
    "state",
    "message_id",
    "attempts",
    "resend_count",
    "created_at",
    "dispatched_at",
]


def create_rows(
    session: Session, settings: Settings, digest_id: int, batch_size: int
) -> Iterator[list[int]]:
    """Create the rows for every active subscriber, `batch_size` subscribers at a time.

    Yields the ids of queued rows of each batch (including rows left queued by an earlier,
    interrupted fan-out), committed, counted in `Digest.ledger_rows` in the same transaction
    and marked dispatched. Subscribers are walked by id (keyset pagination), so memory stays
    flat however long the list is.
    """
    after = 0
    slug, day = session.execute(
        select(Digest.newsletter, Digest.date).where(Digest.id == digest_id)
    ).one()
    slug = slug or "daily"  # only this newsletter's subscribers
    # the month's partition is made ahead by the beat; a missed beat must not stop the send
    partitions.ensure(session.connection(), day)
    session.commit()
    postgres = session.get_bind().dialect.name == "postgresql"
    while True:
        now = utcnow()
        if postgres:
            # no wait for the WAL flush per chunk: a chunk lost in a database crash is made
            # again by the next fan-out (rows and Digest.ledger_rows are lost together), and its
            # batch finds no rows to claim
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        ids = list(
            session.scalars(
                select(Subscriber.id)
                .where(
                    Subscriber.id > after,
                    Subscriber.state == SubscriberState.active,
                    Subscriber.wants_daily.is_(True),
                    receives(slug, after),
                )
                .order_by(Subscriber.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return
        upper = ids[-1]
        # the Message-ID is signed (worker/delivery/rowtag.py): made here, joined in as JSON
        mids = ledger.json_pairs(
            session.get_bind(), ledger.message_ids(settings, digest_id, dict.fromkeys(ids, 0))
        )
        state = case(
            (Suppression.id.is_not(None), literal(DeliveryState.suppressed.value)),
            else_=literal(DeliveryState.queued.value),
        )
        rows = (
            select(
                literal(digest_id).label("digest_id"),
                literal(day, Delivery.edition_date.type).label("edition_date"),
                Subscriber.id.label("subscriber_id"),
                state.label("state"),
                mids.c.value.label("message_id"),
                literal(0).label("attempts"),
                literal(0).label("resend_count"),
                literal(now, _DT).label("created_at"),
                literal(now, _DT).label("dispatched_at"),
            )
            .select_from(Subscriber)
            .join(mids, cast(mids.c.key, Integer) == Subscriber.id)
            .outerjoin(Suppression, Suppression.email == Subscriber.email)
            .where(
                Subscriber.id > after,
                Subscriber.id <= upper,
                Subscriber.state == SubscriberState.active,
                Subscriber.wants_daily.is_(True),
                receives(slug, after, upper),
            )
        )
        # rows left queued by an interrupted fan-out are dispatched again; fresh rows come
        # back from the insert itself (updating them too cost a second write per subscriber)
        queued = list(
            session.execute(
                update(Delivery)
                .where(
                    Delivery.digest_id == digest_id,
                    Delivery.subscriber_id > after,
                    Delivery.subscriber_id <= upper,
                    Delivery.state == DeliveryState.queued,
                )
                .values(dispatched_at=now)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        stmt = (
            ledger._insert(session.get_bind(), Delivery)
            .from_select(_COLUMNS, rows)
            .on_conflict_do_nothing(index_elements=["digest_id", "subscriber_id", "edition_date"])
            .returning(Delivery.id, Delivery.state)
        )
        inserted = list(session.execute(stmt))
        queued += [i for i, state in inserted if state == DeliveryState.queued]
        # the progress total and the fan-out's heartbeat, committed with the rows themselves
        session.execute(
            update(Digest)
            .where(Digest.id == digest_id)
            .values(ledger_rows=Digest.ledger_rows + len(inserted), send_claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        after = upper
        if queued:
            yield sorted(queued)


def still_sending(session: Session, digest_id: int) -> bool:
    state = session.scalar(select(Digest.state).where(Digest.id == digest_id))
    return state == DigestState.sending


def fan_out(session: Session, settings: Settings, digest_id: int) -> dict[str, Any]:
    """Create and dispatch the rows of an edition in `sending`; stops when it no longer is.

    Returns what was done; `complete` once every subscriber has a row (`fanned_out_at`)."""
    if not still_sending(session, digest_id):
        return {"digest_id": digest_id, "batches": 0, "queued": 0, "complete": False}
    batches = queued = 0
    for ids in create_rows(session, settings, digest_id, settings.send_batch_size):
        dispatch_batch(settings, digest_id, ids)
        batches += 1
        queued += len(ids)
        if not still_sending(session, digest_id):
            return {"digest_id": digest_id, "batches": batches, "queued": queued, "complete": False}
    session.execute(
        update(Digest)
        .where(Digest.id == digest_id, Digest.fanned_out_at.is_(None))
        .values(fanned_out_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return {"digest_id": digest_id, "batches": batches, "queued": queued, "complete": True}


def dispatch_queued(session: Session, settings: Settings, digest_id: int) -> int:
    """Dispatch every queued row of the edition now (resume, resend); returns how many."""
    now = utcnow()
    ids = list(
        session.scalars(
            update(Delivery)
            .where(Delivery.digest_id == digest_id, Delivery.state == DeliveryState.queued)
            .values(dispatched_at=now)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    for batch in chunks(sorted(ids), settings.send_batch_size):
        dispatch_batch(settings, digest_id, batch)
    return len(ids)
