"""Shared helpers for the delivery tests: a staged digest (the compiled email files the digest
stage writes) and subscribers, so the real MessageTemplate personalizes every message."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import exists, insert, literal, select, update
from sqlalchemy.orm import Session

from worker.models import (
    Delivery,
    Digest,
    DigestState,
    Subscriber,
    SubscriberState,
    Subscription,
    Suppression,
    utcnow,
)
from worker.settings import Settings
from worker.storage import get_storage

DAY = date(2026, 11, 27)


def digest_bodies(kb: float = 8) -> tuple[str, str]:
    """The compiled email's html and text, with the digest placeholders; about `kb` KiB of
    html (quoted-printable makes the message on the wire larger: bench/send.py sizes it)."""
    paragraph = "<p>Kyiv — the city council met on Thursday to discuss heating. " * 4 + "</p>\n"
    body = paragraph * max(1, int(kb * 1024) // len(paragraph))
    html = (
        "<html><body><p>@@DC_GREETING@@</p>\n"
        f"<h1>Top stories</h1>\n{body}"
        '<p><a href="@@DC_UNSUBSCRIBE_URL@@">Unsubscribe</a> · '
        '<a href="@@DC_PREFERENCES_URL@@">Preferences</a></p></body></html>\n'
    )
    text = "@@DC_GREETING@@\n\nTop stories\n\nUnsubscribe: @@DC_UNSUBSCRIBE_URL@@\n"
    return html, text


def stage_digest(session: Session, settings: Settings, day: date = DAY, kb: float = 8) -> int:
    """A built digest whose compiled email (html/txt with the digest placeholders) is stored."""
    html, text = digest_bodies(kb)
    storage = get_storage(settings)
    prefix = f"digests/{day.isoformat()}"
    storage.write_bytes(f"{prefix}/email.html", html.encode())
    storage.write_bytes(f"{prefix}/email.txt", text.encode())
    storage.write_bytes(f"{prefix}/email.json", json.dumps({"subject": "Ukraine Daily"}).encode())
    window_end = datetime.combine(day, time(7), tzinfo=ZoneInfo("Europe/Kyiv"))
    digest = Digest(
        date=day,
        subject="Ukraine Daily",
        state=DigestState.built,
        window_start=window_end - timedelta(days=1),
        window_end=window_end,
        article_count=5,  # a normal day: the lifecycle sends it under every quiet-day policy
        feed_item_count=3,
    )
    session.add(digest)
    session.commit()
    return digest.id


def queue_rows(
    session: Session, settings: Settings, digest_id: int, batch_size: int = 100
) -> list[list[int]]:
    """What the lifecycle's start leaves for the batches, without dispatching them: the
    edition `sending`, every row created and queued. Returns the batches of row ids."""
    from worker.edition import _fanout

    session.execute(
        update(Digest)
        .where(Digest.id == digest_id)
        .values(state=DigestState.sending, send_claimed_at=utcnow())
    )
    session.commit()
    batches = list(_fanout.create_rows(session, settings, digest_id, batch_size))
    session.execute(update(Digest).where(Digest.id == digest_id).values(fanned_out_at=utcnow()))
    session.commit()
    return batches


def add_subscribers(session: Session, count: int, domain: str = "example.net") -> list[str]:
    emails = [f"reader{i:06d}@{domain}" for i in range(count)]
    for start in range(0, count, 5000):
        session.execute(
            insert(Subscriber),
            [
                {
                    "email": e,
                    "domain": domain,
                    "name": f"Reader {i}",
                    "state": SubscriberState.active,
                }
                for i, e in enumerate(emails[start : start + 5000], start)
            ],
        )
    # every one on the default newsletter, as `subscribers import` does
    now, when = utcnow(), Subscription.created_at.type
    session.execute(
        insert(Subscription).from_select(
            ["subscriber_id", "newsletter", "created_at", "confirmed_at"],
            select(Subscriber.id, literal("daily"), literal(now, when), literal(now, when))
            .where(Subscriber.domain == domain)
            .where(~exists().where(Subscription.subscriber_id == Subscriber.id)),
        )
    )
    session.commit()
    return emails


def read_maildir(path: Path) -> list[EmailMessage]:
    messages = []
    for file in sorted((path / "new").iterdir()):
        msg = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        messages.append(msg)
    return messages


def sent_rows(settings: Settings, count: int = 3) -> tuple[int, list[Delivery]]:
    """A staged digest sent to `count` new subscribers (Maildir or SETTINGS' SMTP): its id and
    its ledger rows, detached, in id order."""
    from worker import db
    from worker.delivery import sender

    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings)
        add_subscribers(session, count)
        ids = [i for batch in queue_rows(session, settings, digest_id, 100) for i in batch]
    assert sender.send_batch(settings, digest_id, ids)["sent"] == count
    with db.session_scope(settings) as session:
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        session.expunge_all()
    return digest_id, rows


def email_of(settings: Settings, subscriber_id: int) -> str:
    from worker import db

    with db.session_scope(settings) as session:
        return str(session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id)))


def token_of(settings: Settings, subscriber_id: int) -> str:
    """The unsubscribe token the reader's messages carry (bound to the row's nonce)."""
    from worker import db
    from worker.tokens import unsubscribe_token

    with db.session_scope(settings) as session:
        nonce = session.scalar(select(Subscriber.token_nonce).where(Subscriber.id == subscriber_id))
    return unsubscribe_token(settings, subscriber_id, nonce)


def stage_edition(settings: Settings, count: int = 5) -> int:
    """A staged digest with `count` active subscribers, one who left and one suppressed."""
    from worker import db
    from worker.delivery import subscribers

    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings)
        add_subscribers(session, count)
        subscribers.add(session, "left@example.org")
        subscribers.remove(session, "left@example.org")
        subscribers.add(session, "bounced@example.org")
        session.add(Suppression(email="bounced@example.org", reason="550 earlier"))
    return digest_id


def start_edition(settings: Settings, digest_id: int) -> dict[str, object]:
    """The lifecycle's start of DAY's edition: {"claimed": started, **its detail}."""
    from worker.edition import lifecycle

    outcome = lifecycle.start(settings, DAY, by="test")
    assert outcome.digest_id == digest_id
    return {"claimed": outcome.ok, **outcome.detail}
