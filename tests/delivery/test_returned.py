"""worker/delivery/returned.py: which ledger row a bounce or complaint proves it is about."""

from __future__ import annotations

from datetime import date
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from worker import db
from worker.delivery import rowtag
from worker.delivery.returned import address, parse, refs, returned_headers, row_for
from worker.models import Delivery, Digest, Subscriber
from worker.settings import Settings

SECRET = "test-secret-for-row-tags"


def _report(
    *, original_id: str | None = None, to: str = "bounces@example.com", text: str = ""
) -> MIMEMultipart:
    report = MIMEMultipart("report", report_type="delivery-status")
    report["To"] = to
    report.attach(MIMEText(text or "Delivery failed."))
    if original_id is not None:
        original = MIMEText("the digest")
        original["Message-ID"] = original_id
        report.attach(MIMEMessage(original))
    return report


def test_address_reads_report_fields_and_angle_brackets() -> None:
    assert address("rfc822; Reader@Example.NET") == "reader@example.net"
    assert address(" <a@b.org> ") == "a@b.org"
    assert address("rfc822; not-an-address") is None
    assert address(None) is None


def test_message_id_of_the_returned_original_names_the_row() -> None:
    mid = rowtag.message_id(SECRET, "example.com", 7, 42)
    report = parse(_report(original_id=mid).as_bytes())
    assert [h["Message-ID"] for h in returned_headers(report)] == [mid]
    assert refs(SECRET, report) == [rowtag.RowRef(7, 42)]


def test_verp_recipient_names_the_row_when_no_original_comes_back() -> None:
    verp = rowtag.verp_address("bounces@example.com", rowtag.tag(SECRET, 7, 42, 2))
    assert refs(SECRET, _report(to=verp)) == [rowtag.RowRef(7, 42, 2)]


def test_body_text_is_read_only_when_headers_name_nothing() -> None:
    quoted = f"Original message: Message-ID: {rowtag.message_id(SECRET, 'x.org', 3, 4)}"
    assert refs(SECRET, _report(text=quoted)) == [rowtag.RowRef(3, 4)]
    # with a verified Message-ID, another row quoted in the text does not count
    mid = rowtag.message_id(SECRET, "example.com", 7, 42)
    assert refs(SECRET, _report(original_id=mid, text=quoted)) == [rowtag.RowRef(7, 42)]


def test_forged_tags_and_two_different_rows_name_nothing() -> None:
    forged = rowtag.message_id("another-instance", "example.com", 7, 42)
    assert refs(SECRET, _report(original_id=forged)) == []
    mid = rowtag.message_id(SECRET, "example.com", 7, 42)
    other = rowtag.verp_address("bounces@example.com", rowtag.tag(SECRET, 7, 43))
    assert refs(SECRET, _report(original_id=mid, to=other)) == []


def test_row_for_finds_the_row_and_refuses_a_copy_never_sent(settings: Settings) -> None:
    day = date(2026, 11, 27)
    with db.session_scope(settings) as session:
        digest = Digest(date=day)
        reader = Subscriber(email="reader@example.net")
        session.add_all([digest, reader])
        session.flush()
        mid = rowtag.message_id(SECRET, "example.com", digest.id, reader.id)
        session.add(
            Delivery(digest_id=digest.id, subscriber_id=reader.id, edition_date=day, message_id=mid)
        )
        ids = (digest.id, reader.id)
    with db.session_scope(settings) as session:
        target = row_for(session, rowtag.RowRef(*ids))
        assert target is not None and target.subscriber.email == "reader@example.net"
        assert target.delivery.digest_id == ids[0]
        assert row_for(session, rowtag.RowRef(ids[0], ids[1], resend=1)) is None
        assert row_for(session, rowtag.RowRef(ids[0], ids[1] + 1)) is None
