"""Ops resend (the rows' side; the edition's side is lifecycle.resend) and delivery status.

A resend is explicit and recorded: a `resends` row (who, when, why, mode, how many selected)
and a `resend` event on every ledger row it puts back in the queue. Re-sent rows get a fresh
Message-ID suffix (`.rN`) so the copy is a new message for the recipient's client, and their
`resend_count` goes up. While any row of the digest is queued or sending (the daily send, or
another resend), `--failed` and `--all` are refused: two resends can never overlap.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import Integer, and_, cast, func, insert, select, update
from sqlalchemy.orm import Session

from worker.delivery import ledger, recovery
from worker.delivery.subscribers import get as get_subscriber
from worker.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Digest,
    Resend,
    Subscriber,
    SubscriberState,
    Suppression,
    partitions,
    utcnow,
)
from worker.settings import Settings

RESENDABLE = (DeliveryState.sent, DeliveryState.failed, DeliveryState.bounced)


def _in_flight(session: Session, digest_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.digest_id == digest_id, Delivery.state.in_(ledger.IN_FLIGHT)
            )
        )
        or 0
    )


def _selection(digest_id: int, mode: str, delivery_id: int | None) -> Any:
    """Rows a resend puts back in the queue: never suppressed or unsubscribed people."""
    active = select(Subscriber.id).where(
        Subscriber.state == SubscriberState.active,
        ~Subscriber.email.in_(select(Suppression.email)),
    )
    condition = and_(Delivery.digest_id == digest_id, Delivery.subscriber_id.in_(active))
    if mode == "to":
        return and_(condition, Delivery.id == delivery_id, ~Delivery.state.in_(ledger.IN_FLIGHT))
    if mode == "failed":
        return and_(condition, Delivery.state.in_((DeliveryState.failed, DeliveryState.bounced)))
    return and_(condition, Delivery.state.in_(RESENDABLE))


def requeue(
    session: Session,
    settings: Settings,
    digest: Digest,
    *,
    mode: str,
    to: str | None,
    dry_run: bool,
    who: str,
    reason: str,
) -> dict[str, Any]:
    """Put the rows a resend selects back in the queue, recorded (the lifecycle holds the
    edition's lock, moves its state and dispatches). Refusals come back as {"refused": ...}."""
    day = digest.date
    base = {"digest_id": digest.id, "date": day.isoformat(), "mode": mode, "dry_run": dry_run}
    delivery_id = None
    if mode == "to":
        subscriber = get_subscriber(session, to or "")
        if subscriber is None:
            return {**base, "refused": f"{to} is not a subscriber"}
        if subscriber.state != SubscriberState.active:
            return {**base, "refused": f"{subscriber.email} is {subscriber.state.value}"}
        suppressed = session.scalar(
            select(Suppression.reason).where(Suppression.email == subscriber.email)
        )
        if suppressed is not None:
            return {**base, "refused": f"{subscriber.email} is suppressed: {suppressed}"}
        row = session.scalar(
            select(Delivery).where(
                Delivery.digest_id == digest.id, Delivery.subscriber_id == subscriber.id
            )
        )
        if row is None and dry_run:
            return {**base, "selected": 1, "sample": [subscriber.email], "resend_id": None}
        if row is None:  # subscribed after the send: create the row, requeued below
            partitions.ensure(session.connection(), digest.date)  # a pruned month is made again
            row = Delivery(
                digest_id=digest.id,
                edition_date=digest.date,
                subscriber_id=subscriber.id,
                state=DeliveryState.sent,
                message_id=ledger.message_id(settings, digest.id, subscriber.id),
            )
            session.add(row)
            digest.ledger_rows += 1
            session.flush()
        elif row.state in ledger.IN_FLIGHT:
            return {**base, "refused": f"{subscriber.email} is {row.state.value} right now"}
        delivery_id = row.id
    else:
        busy = _in_flight(session, digest.id)
        if busy:
            return {
                **base,
                "refused": f"{busy} deliveries of {day.isoformat()} are still queued or "
                "sending (a send or another resend is running); try again when it is done",
            }
    where = _selection(digest.id, mode, delivery_id)
    selected = int(session.scalar(select(func.count()).where(where)) or 0)
    sample = list(
        session.scalars(
            select(Subscriber.email)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(where)
            .order_by(Delivery.id)
            .limit(10)
        )
    )
    record = Resend(
        digest_id=digest.id,
        mode=mode,
        target=to,
        requested_by=who[:200],
        reason=reason,
        dry_run=dry_run,
        selected=selected,
    )
    session.add(record)
    session.flush()
    result = {**base, "resend_id": record.id, "selected": selected, "sample": sample}
    if dry_run or not selected:
        return result
    now = utcnow()
    detail = json.dumps({"resend_id": record.id, "by": who, "reason": reason, "mode": mode})
    requeued = [
        (i, sid, n)
        for (i, sid, n) in session.execute(
            update(Delivery)
            .where(where)
            .values(
                state=DeliveryState.queued,
                resend_count=Delivery.resend_count + 1,
                resend_id=record.id,
                attempts=0,
                last_error=None,
                lease_until=None,
                dispatched_at=now,
            )
            .returning(Delivery.id, Delivery.subscriber_id, Delivery.resend_count)
            .execution_options(synchronize_session=False)
        )
    ]
    ids = [i for i, _, _ in requeued]
    # each copy gets a fresh signed Message-ID (`.rN`, worker/delivery/rowtag.py), made in
    # Python and written with one UPDATE ... FROM per chunk
    for start in range(0, len(requeued), 5000):
        chunk = requeued[start : start + 5000]
        mids = ledger.json_pairs(
            session.get_bind(),
            {i: ledger.message_id(settings, digest.id, sid, n) for i, sid, n in chunk},
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == cast(mids.c.key, Integer))
            .values(message_id=mids.c.value)
            .execution_options(synchronize_session=False)
        )
    for start in range(0, len(ids), 1000):
        session.execute(
            insert(DeliveryEvent),
            [
                {"delivery_id": i, "at": now, "kind": "resend", "detail": detail}
                for i in ids[start : start + 1000]
            ],
        )
    result["queued"] = len(ids)
    return result


def resend_outcomes(session: Session, resend_ids: list[int]) -> dict[int, dict[str, int]]:
    """Where the rows of each resend are now: {resend_id: {state: rows}}."""
    outcomes: dict[int, dict[str, int]] = {}
    for resend_id, state, n in session.execute(
        select(Delivery.resend_id, Delivery.state, func.count())
        .where(Delivery.resend_id.in_(resend_ids))
        .group_by(Delivery.resend_id, Delivery.state)
    ):
        if resend_id is not None:
            outcomes.setdefault(resend_id, {})[DeliveryState(state).value] = int(n)
    return outcomes


def delivery_status(session: Session, day: date, newsletter: str = "daily") -> dict[str, Any]:
    """Counts per state, the slowest and failing domains, and the last resends of a day's
    edition of `newsletter`."""
    from worker.edition.lookup import find

    digest = find(session, (newsletter, day))
    if digest is None:
        return {"date": day.isoformat(), "digest_id": None, "counts": {}, "total": 0}
    counts = recovery.counts(session, digest.id)
    failing = session.execute(
        select(Subscriber.domain, func.count())
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(
            Delivery.digest_id == digest.id,
            Delivery.state.in_((DeliveryState.failed, DeliveryState.bounced)),
        )
        .group_by(Subscriber.domain)
        .order_by(func.count().desc())
        .limit(5)
    )
    # slow = needed retries (4xx, drops) or still waiting for one
    slow = session.execute(
        select(Subscriber.domain, func.count(), func.avg(Delivery.attempts))
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.digest_id == digest.id, Delivery.attempts > 1)
        .group_by(Subscriber.domain)
        .order_by(func.count().desc())
        .limit(5)
    )
    resends = list(
        session.scalars(
            select(Resend).where(Resend.digest_id == digest.id).order_by(Resend.id.desc()).limit(5)
        )
    )
    outcomes = resend_outcomes(session, [r.id for r in resends])
    return {
        "date": day.isoformat(),
        "digest_id": digest.id,
        "digest_state": digest.state.value,
        "sent_at": digest.sent_at.isoformat() if digest.sent_at else None,
        "counts": counts,
        "total": sum(counts.values()),
        "failing_domains": [{"domain": d, "failed": int(n)} for d, n in failing],
        "slowest_domains": [
            {"domain": d, "retried": int(n), "avg_attempts": round(float(a or 0), 2)}
            for d, n, a in slow
        ],
        "resends": [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "by": r.requested_by,
                "mode": r.mode,
                "target": r.target,
                "reason": r.reason,
                "dry_run": r.dry_run,
                "selected": r.selected,
                # the rows it queued, by their state now (a later resend takes rows over)
                "outcome": outcomes.get(r.id, {}),
            }
            for r in resends
        ],
    }
