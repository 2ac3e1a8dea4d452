"""Complaints (ARF, RFC 5965): the RFC's own examples read as reports; a report about one of our
rows unsubscribes and suppresses the complainer once; foreign, forged and mismatched ones change
nothing; the complaint rate per edition with its warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.delivery.helpers import email_of, sent_rows
from worker import db
from worker.delivery import complaints, ledger, returned, rowtag
from worker.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Subscriber,
    SubscriberState,
    Suppression,
)
from worker.settings import Settings

CORPUS = Path(__file__).parent / "corpus"
B1 = CORPUS / "rfc5965-b1-simple.eml"  # RFC 5965 Appendix B.1
B2 = CORPUS / "rfc5965-b2-complete.eml"  # RFC 5965 Appendix B.2
SPAM_ID = "8787KJKJ3K4J3K4J3K4J3.mail@example.net"


def rfc(path: Path) -> bytes:
    return path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def about(path: Path, message_id: str, rcpt_to: str | None = None) -> bytes:
    """The RFC's report, about our message instead of the example's spam."""
    raw = rfc(path).replace(SPAM_ID.encode(), message_id.strip("<>").encode())
    if rcpt_to is not None:
        raw = raw.replace(
            b"Original-Rcpt-To: <user@example.com>", f"Original-Rcpt-To: <{rcpt_to}>".encode()
        )
    return raw


def test_the_rfc_examples_parse_as_feedback_reports() -> None:
    simple = complaints.parse(rfc(B1))
    assert simple == complaints.Complaint(feedback_type="abuse", user_agent="SomeGenerator/1.0")
    complete = complaints.parse(rfc(B2))
    assert complete is not None
    assert complete.feedback_type == "abuse" and complete.counts
    assert complete.original_rcpt_to == ("user@example.com",)
    assert complete.original_mail_from == "somespammer@example.net"
    assert complete.reporting_mta == "dns; mail.example.com"
    assert complete.arrival_date == "Thu, 8 Mar 2005 14:00:00 EDT"
    for path in (B1, B2):
        message = returned.parse(rfc(path))
        assert complaints.is_complaint_report(message)
        (original,) = returned.returned_headers(message)
        assert original["Message-ID"] == SPAM_ID
    assert complaints.parse(b"Subject: hi\r\n\r\nno report\r\n") is None


def _record(settings: Settings, raw: bytes) -> str:
    with db.session_scope(settings) as session:
        return complaints.record(session, settings, returned.parse(raw))


def test_a_complaint_unsubscribes_and_suppresses_the_complainer_once(
    any_db_settings: Settings,
) -> None:
    settings = any_db_settings
    digest_id, rows = sent_rows(settings)
    row = rows[0]
    address = email_of(settings, row.subscriber_id)
    # B.1 carries no Original-Rcpt-To: the signed Message-ID is the proof
    assert _record(settings, about(B1, row.message_id)) == "complained"
    # B.2 names the recipient: it must be the row's
    assert _record(settings, about(B2, row.message_id, address)) == "already"
    with db.session_scope(settings) as session:
        subscriber = session.get(Subscriber, row.subscriber_id)
        assert subscriber is not None and subscriber.state == SubscriberState.unsubscribed
        assert subscriber.unsubscribed_at is not None
        (reason,) = session.scalars(select(Suppression.reason))
        assert reason == "complaint abuse (SomeGenerator/1.0)"
        events = list(
            session.scalars(select(DeliveryEvent.kind).where(DeliveryEvent.kind == "complaint"))
        )
        assert events == ["complaint"]
        assert session.get(Delivery, row.id).state == DeliveryState.sent  # type: ignore[union-attr]
        found = complaints.rate(session, settings, digest_id)
    assert found["complaints"] == 1 and found["delivered"] == 3
    assert found["complaint_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert "above 0.1%" in found["complaint_warning"]


def test_foreign_forged_and_mismatched_reports_change_nothing(settings: Settings) -> None:
    digest_id, rows = sent_rows(settings, count=2)
    row = rows[0]
    # the RFC's examples as printed: about someone else's spam
    assert _record(settings, rfc(B1)) == "not_ours"
    assert _record(settings, rfc(B2)) == "not_ours"
    # the right shape, another instance's secret
    foreign = rowtag.message_id("another secret", "example.org", digest_id, row.subscriber_id)
    assert _record(settings, about(B1, foreign)) == "not_ours"
    # the old guessable shape
    guessed = f"<digest-{digest_id}.sub-{row.subscriber_id}@example.org>"
    assert _record(settings, about(B1, guessed)) == "not_ours"
    # our id, but the report says it was delivered to someone else
    assert _record(settings, about(B2, row.message_id, "user@example.com")) == "wrong_recipient"
    # "not spam" is feedback, not a complaint
    not_spam = about(B1, row.message_id).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    assert _record(settings, not_spam) == "ignored"
    with db.session_scope(settings) as session:
        assert list(session.scalars(select(Suppression.email))) == []
        states = set(session.scalars(select(Subscriber.state)))
        assert states == {SubscriberState.active}
        assert complaints.rate(session, settings, digest_id) == {
            "complaints": 0,
            "delivered": 2,
            "complaint_rate": 0.0,
            "complaint_warning": None,
        }


def test_the_verp_sender_quoted_as_original_mail_from_names_the_row(settings: Settings) -> None:
    s = settings.model_copy(update={"bounce_address": "bounces@example.org", "bounce_verp": True})
    _, rows = sent_rows(s, count=1)
    verp = ledger.Senders(s).of(rows[0].message_id)
    # a report that redacted the original's headers but kept its envelope sender
    raw = rfc(B2).replace(
        b"Original-Mail-From: <somespammer@example.net>", f"Original-Mail-From: <{verp}>".encode()
    )
    raw = raw.replace(b"Original-Rcpt-To: <user@example.com>\r\n", b"")
    assert _record(s, raw) == "complained"


def test_the_rate_warns_only_above_the_threshold(settings: Settings) -> None:
    digest_id, rows = sent_rows(settings, count=3)
    assert _record(settings, about(B1, rows[0].message_id)) == "complained"
    with db.session_scope(settings) as session:
        lenient = settings.model_copy(update={"complaint_rate_warning": 0.5})
        assert complaints.rate(session, lenient, digest_id)["complaint_warning"] is None
        assert complaints.rate(session, settings, digest_id)["complaint_warning"] is not None
