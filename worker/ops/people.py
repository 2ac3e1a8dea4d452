"""The console's recipient lookup and subscriber page: reads, plus the admin's unsuppress.

The lookup uses indexes only on the usual questions: an exact address (unique index), the
start of an address (`LIKE 'q%'`, ix_subscribers_email_prefix) or `@domain` (the domain
index); a part from the middle of an address scans, and only when nothing else matched.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.models import Delivery, DeliveryEvent, Digest, Subscriber, Suppression

LIMIT = 50


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def lookup(session: Session, q: str) -> list[Subscriber]:
    query = " ".join(q.split()).lower()[:320]
    if not query:
        return []
    if query.startswith("@"):
        domain = query[1:]
        return list(
            session.scalars(
                select(Subscriber).where(Subscriber.domain == domain).order_by(Subscriber.email)
                .limit(LIMIT)
            )
        )  # fmt: skip
    exact = session.scalar(select(Subscriber).where(Subscriber.email == query))
    found = [exact] if exact is not None else []
    prefix = session.scalars(
        select(Subscriber)
        .where(Subscriber.email.like(f"{_like(query)}%", escape="\\"), Subscriber.email != query)
        .order_by(Subscriber.email)
        .limit(LIMIT - len(found))
    )
    found += list(prefix)
    if not found and len(query) >= 3:
        found = list(
            session.scalars(
                select(Subscriber)
                .where(Subscriber.email.like(f"%{_like(query)}%", escape="\\"))
                .order_by(Subscriber.id)
                .limit(LIMIT)
            )
        )
    return found


def history(session: Session, subscriber_id: int) -> list[dict[str, Any]]:
    """Every ledger row of the person, newest edition first, with its events."""
    rows = session.execute(
        select(Delivery, Digest.date, Digest.newsletter)
        .join(Digest, Digest.id == Delivery.digest_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Digest.date.desc())
        .limit(400)
    ).all()
    ids = [d.id for d, _, _ in rows]
    events: dict[int, list[DeliveryEvent]] = {}
    for event in session.scalars(
        select(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(ids)).order_by(DeliveryEvent.id)
    ):
        events.setdefault(event.delivery_id, []).append(event)
    return [
        {
            "day": day.isoformat(),
            "newsletter": slug,
            "state": d.state.value,
            "attempts": d.attempts,
            "reply": f"{d.smtp_code or ''} {d.last_error or ''}".strip(),
            "message_id": d.message_id,
            "sent_at": d.sent_at,
            "resends": d.resend_count,
            "events": [(e.at, e.kind, e.detail) for e in events.get(d.id, [])],
        }
        for d, day, slug in rows
    ]


def suppression(session: Session, email: str) -> Suppression | None:
    return session.scalar(select(Suppression).where(Suppression.email == email))


def unsuppress(session: Session, email: str) -> str | None:
    """Lift the address's suppression entry; returns the reason it had (None: there was none)."""
    entry = suppression(session, email)
    if entry is None:
        return None
    reason = entry.reason
    session.execute(delete(Suppression).where(Suppression.email == email))
    return reason
