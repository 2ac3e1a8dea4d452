"""Mail that comes back about a message we sent (a bounce, a complaint): which row it names.

A report is trusted only as far as it proves itself against our own records. It names a
ledger row through a signed tag (rowtag.py) found, in this order of authority:

1. the Message-ID of the returned original (a message/rfc822 or text/rfc822-headers part);
2. the address the report was delivered to, when we sent with VERP (`bounces+<tag>@...`):
   Delivered-To, X-Original-To, Envelope-To or To;
3. only when neither is there, anywhere in the text (bounce formats that quote the original
   message as plain text).

Tags whose mac does not verify (guessed, forged, another instance's) are ignored; a report
whose verified tags name two different rows names none. The caller then checks that the
report's recipient is the row's address (`row_for`).
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.delivery import rowtag
from worker.models import Delivery, Subscriber

ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def address(field: object) -> str | None:
    """`rfc822; reader@example.net` (a report field) or `<reader@example.net>` -> the address,
    lower-cased; None when there is none."""
    if field is None:
        return None
    value = str(field)
    if ";" in value:
        value = value.split(";", 1)[1]
    value = value.strip().strip("<>").strip()
    return value.lower() if "@" in value else None


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def returned_headers(message: Message) -> list[Message]:
    """The headers of the original message(s) a report carries back."""
    found: list[Message] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/rfc822-headers", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                found.append(inner)
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            found.append(HeaderParser().parsestr(_text(part)))
    return found


def _body_text(message: Message) -> str:
    return "\n".join(
        _text(part) for part in message.walk() if part.get_content_maintype() == "text"
    )


def refs(secret: str, message: Message) -> list[rowtag.RowRef]:
    """The verified rows a report names (see the module docstring); [] or exactly one."""
    by_id: list[rowtag.RowRef] = []
    for headers in returned_headers(message):
        for name in ("Message-ID", "Message-Id"):
            for ref in rowtag.find(secret, str(headers.get(name) or "")):
                if ref not in by_id:
                    by_id.append(ref)
    by_envelope: list[rowtag.RowRef] = []
    for name in ENVELOPE_HEADERS:
        for value in message.get_all(name) or []:
            for ref in rowtag.find(secret, str(value)):
                if ref not in by_envelope:
                    by_envelope.append(ref)
    found = by_id + [r for r in by_envelope if r not in by_id]
    if not found:
        found = rowtag.find(secret, _body_text(message))
    rows = {(r.digest_id, r.subscriber_id) for r in found}
    return found[:1] if len(rows) == 1 else []


@dataclass(frozen=True)
class Target:
    """The ledger row a report proved it is about, with its subscriber's address."""

    delivery: Delivery
    subscriber: Subscriber


def row_for(session: Session, ref: rowtag.RowRef) -> Target | None:
    found = session.execute(
        select(Delivery, Subscriber)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.digest_id == ref.digest_id, Delivery.subscriber_id == ref.subscriber_id)
    ).first()
    if found is None:
        return None
    delivery, subscriber = found
    if ref.resend > delivery.resend_count:
        return None  # a copy we never sent
    return Target(delivery, subscriber)
