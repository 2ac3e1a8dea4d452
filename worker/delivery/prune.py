"""`digestcast db prune --older-than 400d`: the ledger rows of old editions go, their totals stay.

The ledger grows by one row per subscriber per edition (a million rows a day at a million
readers). An edition older than the cut-off that is finished (sent, cancelled, skipped,
missed) keeps one `edition_totals` row, {state: rows} as the counters had them, and loses its
`deliveries` rows and their `delivery_events`; `digestcast status` and the console read the
totals for it (worker/delivery/counters.py). Rows go in chunks, each its own transaction, so a
prune never holds a long lock on the ledger the day's send is using, and a prune interrupted
half-way is finished by the next run (the totals are written first, once).

Both databases keep `deliveries` as one plain table: pruning deletes (PostgreSQL's
declarative partitions by edition date, where dropping a partition replaces the delete, are
not done yet).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from worker.delivery import counters
from worker.delivery.ledger_models import DeliveryCount, EditionTotal
from worker.models import Delivery, DeliveryEvent, Digest, DigestState

FINISHED = (DigestState.sent, DigestState.cancelled, DigestState.skipped, DigestState.missed)
CHUNK = 20_000  # rows per transaction
_AGE = re.compile(r"^\s*(\d{1,5})\s*d?\s*$")


def parse_age(text: str) -> timedelta:
    """ "400d" or "400" -> 400 days (at least 1)."""
    found = _AGE.match(text)
    if not found or int(found.group(1)) < 1:
        raise ValueError(f"expected a number of days such as 400d, not {text!r}")
    return timedelta(days=int(found.group(1)))


def candidates(session: Session, before: date) -> list[Digest]:
    """Finished editions dated before `before` that still have ledger rows."""
    has_rows = select(Delivery.id).where(Delivery.digest_id == Digest.id).exists()
    return list(
        session.scalars(
            select(Digest)
            .where(Digest.date < before, Digest.state.in_(FINISHED), has_rows)
            .order_by(Digest.date)
        )
    )


def prune(
    session: Session, today: date, older_than: timedelta, dry_run: bool = False
) -> dict[str, Any]:
    """Prune every finished edition dated before `today - older_than`."""
    before = today - older_than
    editions = candidates(session, before)
    result: dict[str, Any] = {"before": before.isoformat(), "editions": [], "rows": 0}
    for digest in editions:
        totals = counters.counts(session, digest.id)
        rows = sum(totals.values())
        result["editions"].append({"date": digest.date.isoformat(), "rows": rows})
        result["rows"] += rows
        if dry_run:
            continue
        digest_id = digest.id
        if session.get(EditionTotal, digest_id) is None:  # a prune cut short: totals kept
            session.add(EditionTotal(digest_id=digest_id, counts=totals, rows=rows))
            session.commit()
        _delete_rows(session, digest_id)
    result["dry_run"] = dry_run
    return result


def _delete_rows(session: Session, digest_id: int) -> None:
    while True:
        # the same CHUNK rows in both statements (ordered), events first (their foreign key)
        chunk = (
            select(Delivery.id)
            .where(Delivery.digest_id == digest_id)
            .order_by(Delivery.id)
            .limit(CHUNK)
        )
        session.execute(delete(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(chunk)))
        done = session.execute(delete(Delivery).where(Delivery.id.in_(chunk)))
        gone = done.rowcount  # type: ignore[attr-defined]
        session.commit()
        if not gone:
            break
    # the triggers brought the counters to zero: the totals speak for the edition now
    session.execute(delete(DeliveryCount).where(DeliveryCount.digest_id == digest_id))
    session.commit()


def ledger_rows(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(DeliveryCount.n), 0))) or 0)
