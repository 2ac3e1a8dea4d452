"""The subscriber list: add, CSV import/export, list, remove (wipe one person).

Validation is a pure function (`validate_address`) on top of email-validator; the database
work streams the CSV in chunks so a 500,000-row import never sits in memory at once.
Addresses are stored lower-cased whole: mailbox providers treat local parts case-insensitively
in practice, and two rows for "Ann@x.org" and "ann@x.org" would mail one person twice.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from worker import subscriptions
from worker.delivery.batch import chunks
from worker.edition.lookup import DEFAULT_SLUG
from worker.models import (
    Delivery,
    DeliveryEvent,
    Subscriber,
    SubscriberState,
    Subscription,
    Suppression,
    utcnow,
)

IMPORT_CHUNK = 1000
REMOVED_BY_OPS = "removed by ops (digestcast subscribers remove)"
NAME_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class InvalidAddress(ValueError):
    pass


@dataclass(frozen=True)
class Address:
    email: str
    domain: str


def validate_address(raw: str) -> Address:
    """A syntactically valid address, lower-cased, with its (IDNA-normalised) domain.

    No DNS lookups: imports must work offline and a temporary DNS failure is not a bad row.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidAddress("empty email")
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    email = valid.normalized.lower()
    if len(email) > 320:
        raise InvalidAddress("address longer than 320 characters")
    return Address(email=email, domain=valid.domain.lower())


def clean_name(raw: str | None) -> str | None:
    """Display names reach a header: no CR/LF or other control characters, bounded length."""
    if raw is None:
        return None
    name = _CONTROL.sub(" ", raw).strip()
    return name[:NAME_MAX] or None


# ---------------------------------------------------------------- add / list / remove
def blocks_opt_in(session: Session, email: str) -> bool:
    """Whether a suppression entry stops `email` from subscribing again by double opt-in.

    A bounce or a complaint always does; an ops removal does not: a person who later asks
    again and confirms their own address has given newer consent than the removal."""
    reason = session.scalar(select(Suppression.reason).where(Suppression.email == email))
    return reason is not None and reason != REMOVED_BY_OPS


def lift_ops_removal(session: Session, email: str) -> None:
    """A confirmed opt-in (or an explicit add) lifts ops' own removal entry, never another."""
    session.execute(
        delete(Suppression).where(Suppression.email == email, Suppression.reason == REMOVED_BY_OPS)
    )


def add(
    session: Session,
    email: str,
    name: str | None = None,
    *,
    state: SubscriberState = SubscriberState.active,
    newsletters: Sequence[str] = (DEFAULT_SLUG,),
) -> Subscriber:
    """Add a subscriber, or return the existing one (its name updated when one is given),
    on `newsletters` (slugs) besides any they are on, when added active."""
    address = validate_address(email)
    existing = session.scalar(select(Subscriber).where(Subscriber.email == address.email))
    display = clean_name(name)
    if existing is not None:
        if display and existing.name != display:
            existing.name = display
        if state == SubscriberState.active:
            # ops adding back someone they removed lifts their own suppression entry (never
            # one from a bounce or a complaint)
            lift_ops_removal(session, existing.email)
        if state == SubscriberState.active and existing.state != SubscriberState.active:
            # an explicit add by ops re-activates (an import never does)
            existing.state = SubscriberState.active
            existing.confirmed_at = utcnow()
            existing.unsubscribed_at = None
        if existing.domain is None:
            existing.domain = address.domain
        session.flush()
        if state == SubscriberState.active:
            subscriptions.join(session, existing.id, newsletters)
        return existing
    subscriber = Subscriber(email=address.email, domain=address.domain, name=display, state=state)
    if state == SubscriberState.active:
        subscriber.confirmed_at = utcnow()
    session.add(subscriber)
    session.flush()
    if state == SubscriberState.active:  # a pending row waits for its confirmation link
        subscriptions.join(session, subscriber.id, newsletters)
    return subscriber


def get(session: Session, email: str) -> Subscriber | None:
    try:
        address = validate_address(email)
    except InvalidAddress:
        return None
    return session.scalar(select(Subscriber).where(Subscriber.email == address.email))


def list_(
    session: Session,
    *,
    state: SubscriberState | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.id).offset(offset)
    if state is not None:
        query = query.where(Subscriber.state == state)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count(session: Session, *, state: SubscriberState | None = None) -> int:
    query = select(func.count()).select_from(Subscriber)
    if state is not None:
        query = query.where(Subscriber.state == state)
    return int(session.scalar(query) or 0)


def remove(session: Session, email: str, *, wipe: bool = False) -> bool:
    """Unsubscribe an address (kept, so no later import mails it again), or with `wipe=True`
    erase the person: the subscriber row and their delivery history.

    A suppression entry for the address (hard bounce, complaint) survives a wipe on purpose:
    it is what stops a later import from mailing an address that must not be mailed.
    """
    subscriber = get(session, email)
    if subscriber is None:
        return False
    suppress(session, subscriber.email, REMOVED_BY_OPS)
    if not wipe:
        if subscriber.state != SubscriberState.unsubscribed:
            subscriber.state = SubscriberState.unsubscribed
            subscriber.unsubscribed_at = utcnow()
        session.flush()
        return True
    delivery_ids = select(Delivery.id).where(Delivery.subscriber_id == subscriber.id)
    session.execute(delete(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(delivery_ids)))
    session.execute(delete(Delivery).where(Delivery.subscriber_id == subscriber.id))
    session.execute(delete(Subscription).where(Subscription.subscriber_id == subscriber.id))
    session.delete(subscriber)
    session.flush()
    return True


def standing(state: SubscriberState, suppression: str | None) -> str:
    """What `subscribers list` shows: whether the address is mailed, and if not, why."""
    if state != SubscriberState.active:
        return state.value
    if suppression is None:
        return "active"
    if suppression.startswith("complaint"):
        return "suppressed (complaint)"
    if suppression.startswith("bounce") or suppression[:1] == "5":  # a DSN or a 5xx to RCPT
        return "suppressed (bounced)"
    return "suppressed"


def suppress(session: Session, email: str, reason: str) -> None:
    """Add an address to the suppression list (idempotent)."""
    address = email.strip().lower()
    if session.scalar(select(Suppression.id).where(Suppression.email == address)) is None:
        session.add(Suppression(email=address, reason=reason[:2000]))
        session.flush()


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
