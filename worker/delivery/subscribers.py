"""The subscriber list: add, list, remove (wipe one person), suppression; CSV import and export
are subscriber_csv.py.

Validation is a pure function (`validate_address`) on top of email-validator.
Addresses are stored lower-cased whole: mailbox providers treat local parts case-insensitively
in practice, and two rows for "Ann@x.org" and "ann@x.org" would mail one person twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from worker import subscriptions
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
