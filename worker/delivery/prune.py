"""`digestcast db prune --older-than 400d`: the ledger rows of old editions go, their totals stay.

The ledger grows by one row per subscriber per edition (a million rows a day at a million
readers). An edition older than the cut-off that is finished (sent, cancelled, skipped,
missed) keeps one `edition_totals` row, {state: rows} as the counters had them, and loses its
`deliveries` rows and their `delivery_events`; `digestcast status` and the console read the
totals for it (worker/delivery/counters.py). Rows go in chunks, each its own transaction, so a
prune never holds a long lock on the ledger the day's send is using, and a prune interrupted
half-way is finished by the next run (the totals are written first, once).

On PostgreSQL the ledger is partitioned by month (worker/models/partitions.py): a month that
ends before the cut-off and holds only finished editions is dropped whole (its events deleted
first, in chunks), which leaves no dead rows behind; the editions of a month only partly
older than the cut-off, and every edition on SQLite, lose their rows by chunked deletes.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from worker.delivery import counters
from worker.delivery.ledger_models import DeliveryCount, EditionTotal
from worker.models import Delivery, DeliveryEvent, Digest, DigestState, partitions

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
        if session.get(EditionTotal, digest.id) is None:  # a prune cut short: totals kept
            session.add(EditionTotal(digest_id=digest.id, counts=totals, rows=rows))
            session.commit()
    months = whole_months(session, before)
    result["partitions"] = [month.name for month in months]
    result["dry_run"] = dry_run
    if dry_run:
        return result
    for month in months:  # every edition in it has its totals now
        _drop_month(session, month)
    for digest in editions:
        _delete_rows(session, digest.id)
    return result


def whole_months(session: Session, before: date) -> list[partitions.Partition]:
    """The ledger's monthly partitions (PostgreSQL) that end before `before` and hold no
    edition that is still unfinished: they can go whole."""
    found = []
    for month in partitions.existing(session.connection()):
        if not month.holds_only_before(before):
            continue
        unfinished = session.scalar(
            select(func.count(Digest.id)).where(
                Digest.date >= month.first, Digest.date < month.end, Digest.state.not_in(FINISHED)
            )
        )
        if not unfinished:
            found.append(month)
    return found


def _drop_month(session: Session, month: partitions.Partition) -> None:
    table = text(f'"{month.name}"')  # a name made from a date (partitions.partition_for)
    after = 0
    while True:  # the events first, a chunk a transaction (they have no foreign key to it)
        ids = list(
            session.scalars(
                select(text("id"))
                .select_from(table)
                .where(text("id > :after"))
                .order_by(text("id"))
                .limit(CHUNK),
                {"after": after},
            )
        )
        if not ids:
            break
        session.execute(delete(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(ids)))
        session.commit()
        after = ids[-1]
    digest_ids = select(Digest.id).where(Digest.date >= month.first, Digest.date < month.end)
    partitions.drop(session.connection(), month)
    # no trigger runs for a dropped table: its editions' counters go by hand (totals kept)
    session.execute(delete(DeliveryCount).where(DeliveryCount.digest_id.in_(digest_ids)))
    session.commit()


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
