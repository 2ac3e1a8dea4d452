"""Complaints: feedback-loop reports in the Abuse Reporting Format (ARF, RFC 5965).

Yahoo's complaint feedback loop and Microsoft's JMRP send one report each time a reader marks a
message as spam: a multipart/report; report-type=feedback-report whose second part
(message/feedback-report) holds fields such as Feedback-Type and Original-Rcpt-To and whose
third part is the original message or its headers (message/rfc822, text/rfc822-headers).

A report counts only when it names one of our rows by a verified tag (returned.py), and, when
it gives Original-Rcpt-To, only when that is the row's address (providers often leave it out or
redact it; the signed Message-ID is then the proof). The complainer is unsubscribed and their
address suppressed (reason `complaint ...`), and a `complaint` event is kept on the row: the
complaint rate of an edition is complained rows / delivered rows (Gmail asks senders to stay
under 0.3%; `status` warns above COMPLAINT_RATE_WARNING, 0.1%).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Literal

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from worker.delivery import counters, returned, rowtag
from worker.delivery.subscribers import suppress
from worker.models import Delivery, DeliveryEvent, DeliveryState, SubscriberState, utcnow
from worker.settings import Settings

ComplaintVerdict = Literal[
    "complained", "already", "ignored", "not_ours", "wrong_recipient", "unreadable"
]
# RFC 5965 3.1 and its registry: `not-spam` (RFC 6430) and `auth-failure` (RFC 6591) are
# reports, but no reader asked to stop
NOT_COMPLAINTS = ("not-spam", "auth-failure")
EVENT = "complaint"


@dataclass(frozen=True)
class Complaint:
    feedback_type: str
    user_agent: str
    original_rcpt_to: tuple[str, ...] = field(default_factory=tuple)
    original_mail_from: str | None = None
    reporting_mta: str = ""
    arrival_date: str = ""

    @property
    def counts(self) -> bool:
        return self.feedback_type not in NOT_COMPLAINTS

    @property
    def reason(self) -> str:
        source = self.user_agent or self.reporting_mta or "unknown reporter"
        return " ".join(f"complaint {self.feedback_type} ({source})".split())[:2000]


def _report_fields(message: Message) -> Message | None:
    """The message/feedback-report part's fields (the email package parses a message/* part
    other than delivery-status as an embedded message: its fields are that message's
    headers)."""
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        if isinstance(payload, str):
            return returned.parse(payload.encode("utf-8", "replace"))
    return None


def is_complaint_report(message: Message) -> bool:
    return message.get_content_type() == "multipart/report" and (
        str(message.get_param("report-type", "")).lower() == "feedback-report"
        or _report_fields(message) is not None
    )


def parse(raw: bytes | Message) -> Complaint | None:
    """The feedback report in `raw`; None if it is not one (RFC 5965 section 3)."""
    message = raw if isinstance(raw, Message) else returned.parse(raw)
    fields = _report_fields(message)
    if fields is None:
        return None
    feedback_type = " ".join(str(fields.get("Feedback-Type", "")).split()).lower()
    if not feedback_type:
        return None
    recipients = tuple(
        a for a in (returned.address(v) for v in fields.get_all("Original-Rcpt-To") or []) if a
    )
    return Complaint(
        feedback_type=feedback_type,
        user_agent=" ".join(str(fields.get("User-Agent", "")).split())[:200],
        original_rcpt_to=recipients,
        original_mail_from=returned.address(fields.get("Original-Mail-From")),
        reporting_mta=" ".join(str(fields.get("Reporting-MTA", "")).split())[:200],
        arrival_date=" ".join(str(fields.get("Arrival-Date", "")).split())[:100],
    )


def record(session: Session, settings: Settings, message: Message) -> ComplaintVerdict:
    """Apply one feedback report (the caller commits)."""
    complaint = parse(message)
    if complaint is None:
        return "unreadable"
    secret = settings.secret_key.get_secret_value()
    refs = returned.refs(secret, message)
    if not refs and complaint.original_mail_from:
        # the VERP envelope sender of the original, as the report quotes it
        refs = rowtag.find(secret, complaint.original_mail_from)[:1]
    target = returned.row_for(session, refs[0]) if refs else None
    if target is None:
        return "not_ours"
    subscriber = target.subscriber
    if complaint.original_rcpt_to and subscriber.email not in complaint.original_rcpt_to:
        return "wrong_recipient"
    if not complaint.counts:
        return "ignored"
    seen = session.scalar(
        select(DeliveryEvent.id).where(
            DeliveryEvent.delivery_id == target.delivery.id, DeliveryEvent.kind == EVENT
        )
    )
    if seen is not None:
        return "already"
    session.add(DeliveryEvent(delivery_id=target.delivery.id, kind=EVENT, detail=complaint.reason))
    if subscriber.state != SubscriberState.unsubscribed:
        subscriber.state = SubscriberState.unsubscribed
        subscriber.unsubscribed_at = utcnow()
    suppress(session, subscriber.email, complaint.reason)
    return "complained"


def rate(session: Session, settings: Settings, digest_id: int) -> dict[str, Any]:
    """An edition's complaints against its delivered messages, with a warning above the
    threshold. Delivered: rows still `sent` (a complaint leaves its row `sent`)."""
    delivered = counters.count_in(session, digest_id, [DeliveryState.sent])
    complaints = int(
        session.scalar(
            select(func.count(distinct(DeliveryEvent.delivery_id)))
            .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
            .where(Delivery.digest_id == digest_id, DeliveryEvent.kind == EVENT)
        )
        or 0
    )
    value = complaints / delivered if delivered else 0.0
    limit = settings.complaint_rate_warning
    warning = None
    if value > limit:
        warning = (
            f"complaint rate {value:.2%} is above {limit:.1%} (Gmail's limit is 0.3%): "
            "look at what changed in this edition and who was added to the list"
        )
    return {
        "complaints": complaints,
        "delivered": delivered,
        "complaint_rate": round(value, 6),
        "complaint_warning": warning,
    }
