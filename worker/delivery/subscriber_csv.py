"""CSV import and export of the subscriber list, and one person's data (GDPR export).

The import streams the file in chunks, so a 500,000-row import never sits in memory at once;
each row is validated like any other address (subscribers.py).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.delivery.batch import chunks
from worker.delivery.subscribers import (
    Address,
    InvalidAddress,
    clean_name,
    get,
    validate_address,
)
from worker.edition.lookup import DEFAULT_SLUG
from worker.models import (
    Delivery,
    Subscriber,
    SubscriberState,
    Subscription,
    Suppression,
    utcnow,
)

IMPORT_CHUNK = 1000


# ---------------------------------------------------------------- CSV import
@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # rows repeating an address seen earlier in the same file
    suppressed: int = 0  # imported rows whose address is on the suppression list
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "errors": [{"line": line, "reason": reason} for line, reason in self.errors],
        }


@dataclass(frozen=True)
class ParsedRow:
    line: int
    address: Address
    name: str | None
    newsletters: tuple[str, ...] = ()  # the row's `newsletters` column (slugs), if any


def parse_csv(stream: TextIO, report: ImportReport) -> Iterator[ParsedRow]:
    """Yield valid rows; record bad ones in `report` with their line number and reason."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        report.errors.append((1, "empty file: a header row with an `email` column is required"))
        return
    columns = [c.strip().lstrip("\ufeff").lower() for c in header]
    if "email" not in columns:
        report.errors.append((1, "header row has no `email` column"))
        return
    email_at = columns.index("email")
    name_at = columns.index("name") if "name" in columns else None
    lists_at = columns.index("newsletters") if "newsletters" in columns else None
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(values) <= email_at:
            report.errors.append((line, "missing email value"))
            continue
        try:
            address = validate_address(values[email_at])
        except InvalidAddress as exc:
            report.errors.append((line, f"invalid email {values[email_at]!r}: {exc}"))
            continue
        name = values[name_at] if name_at is not None and len(values) > name_at else None
        lists = values[lists_at] if lists_at is not None and len(values) > lists_at else ""
        slugs = tuple(s for s in lists.replace(";", " ").split() if s)
        yield ParsedRow(line=line, address=address, name=clean_name(name), newsletters=slugs)


def import_csv(
    session: Session, stream: TextIO, newsletters: Sequence[str] = (DEFAULT_SLUG,)
) -> ImportReport:
    """Import `email[,name][,newsletters]` rows: good rows in, bad rows reported, duplicates
    merged. A new subscriber goes on the row's newsletters (slugs separated by spaces or
    `;`), else on `newsletters`.

    Existing subscribers keep their state (an import never re-subscribes someone who left);
    a non-empty name in the file updates theirs. Commits are the caller's (one session).
    """
    report = ImportReport()
    joining: list[tuple[Subscriber, tuple[str, ...]]] = []
    seen: set[str] = set()  # addresses of this file: 500k x ~30 bytes, acceptable
    for chunk in chunks(parse_csv(stream, report), IMPORT_CHUNK):
        emails = [r.address.email for r in chunk]
        existing = {
            s.email: s
            for s in session.scalars(select(Subscriber).where(Subscriber.email.in_(emails)))
        }
        suppressed = set(
            session.scalars(select(Suppression.email).where(Suppression.email.in_(emails)))
        )
        for row in chunk:
            email = row.address.email
            if email in seen:
                report.duplicates += 1
                current = existing.get(email)
                if current is not None and row.name and current.name != row.name:
                    current.name = row.name
                continue
            seen.add(email)
            if email in suppressed:
                report.suppressed += 1
            current = existing.get(email)
            if current is None:
                subscriber = Subscriber(
                    email=email,
                    domain=row.address.domain,
                    name=row.name,
                    state=SubscriberState.active,
                    confirmed_at=utcnow(),
                )
                session.add(subscriber)
                existing[email] = subscriber
                joining.append((subscriber, row.newsletters or tuple(newsletters)))
                report.added += 1
            elif row.name and current.name != row.name:
                current.name = row.name
                report.updated += 1
            else:
                report.unchanged += 1
        session.flush()
        session.add_all(
            Subscription(subscriber_id=sub.id, newsletter=slug, confirmed_at=sub.confirmed_at)
            for sub, slugs in joining
            for slug in dict.fromkeys(slugs)
        )
        session.flush()
        joining.clear()
        for subscriber in existing.values():  # keep the identity map (and memory) bounded
            session.expunge(subscriber)
    return report


# ---------------------------------------------------------------- export
EXPORT_COLUMNS = ["email", "name", "state", "created_at", "confirmed_at", "unsubscribed_at"]


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def export_csv(session: Session, out: TextIO, email: str | None = None) -> int:
    """Write subscribers (all, or one person) as CSV; returns the number of rows written."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    query = select(Subscriber).order_by(Subscriber.id).execution_options(yield_per=1000)
    if email is not None:
        try:
            query = query.where(Subscriber.email == validate_address(email).email)
        except InvalidAddress:
            return 0
    written = 0
    for s in session.scalars(query):
        writer.writerow(
            [
                s.email,
                s.name or "",
                s.state.value,
                _iso(s.created_at),
                _iso(s.confirmed_at),
                _iso(s.unsubscribed_at),
            ]
        )
        written += 1
    return written


def export_person(session: Session, email: str) -> dict[str, Any] | None:
    """Everything held about one person (data-subject access request), JSON-safe."""
    subscriber = get(session, email)
    if subscriber is None:
        return None
    deliveries = session.scalars(
        select(Delivery).where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.id)
    )
    suppression = session.scalar(select(Suppression).where(Suppression.email == subscriber.email))
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "state": subscriber.state.value,
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
        "unsubscribed_at": _iso(subscriber.unsubscribed_at),
        "deliveries": [
            {
                "digest_id": d.digest_id,
                "state": d.state.value,
                "message_id": d.message_id,
                "sent_at": _iso(d.sent_at),
                "resend_count": d.resend_count,
            }
            for d in deliveries
        ],
        "suppressed": None
        if suppression is None
        else {"reason": suppression.reason, "at": _iso(suppression.created_at)},
    }
