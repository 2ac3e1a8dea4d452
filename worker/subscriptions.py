"""Who is on which newsletter: one `subscriptions` row per (subscriber, newsletter slug).

A subscriber is mailed a newsletter's edition while their row for it has no `left_at`, their
own state is `active` and their address is not suppressed (worker/edition/_fanout.py). Leaving
one newsletter (its own List-Unsubscribe) keeps the others; "unsubscribe from everything" is
the subscriber's global state, as before newsletters existed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from worker.models import Subscriber, Subscription, utcnow


def join(session: Session, subscriber_id: int, slugs: Iterable[str]) -> list[str]:
    """Put the subscriber on these newsletters (again); returns the slugs newly joined."""
    joined = []
    for slug in dict.fromkeys(slugs):
        row = session.scalar(
            select(Subscription).where(
                Subscription.subscriber_id == subscriber_id, Subscription.newsletter == slug
            )
        )
        if row is None:
            session.add(Subscription(subscriber_id=subscriber_id, newsletter=slug))
            joined.append(slug)
        elif row.left_at is not None:
            row.left_at = None
            row.welcomed_at = None  # a new confirmation deserves its welcome
            joined.append(slug)
    session.flush()
    return joined


def leave(session: Session, subscriber_id: int, slug: str) -> bool:
    """Take the subscriber off one newsletter; False when they were not on it."""
    row = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.newsletter == slug,
            Subscription.left_at.is_(None),
        )
    )
    if row is None:
        return False
    row.left_at = utcnow()
    session.flush()
    return True


def slugs_of(session: Session, subscriber_id: int) -> list[str]:
    """The newsletters the subscriber is on (not left), in the order they joined."""
    return list(
        session.scalars(
            select(Subscription.newsletter)
            .where(Subscription.subscriber_id == subscriber_id, Subscription.left_at.is_(None))
            .order_by(Subscription.id)
        )
    )


def receives(slug: str) -> ColumnElement[bool]:
    """SQL: the subscriber row in the query is on newsletter `slug` (for the fan-out)."""
    return exists().where(
        and_(
            Subscription.subscriber_id == Subscriber.id,
            Subscription.newsletter == slug,
            Subscription.left_at.is_(None),
        )
    )
